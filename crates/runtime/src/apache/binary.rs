//! What an httpd binary was built with, read from its bytes (never by running it).
//!
//! `httpd -V` prints the compile-time settings from strings built into `server/main.c`
//! (`show_compile_settings`), one ` -D NAME="value"` each; the same strings sit in the
//! binary's read-only data, which is where they are read from here.
//!
//! `httpd -l` lists the modules built in from `ap_prelinked_module_symbols`
//! (`server/config.c`, generated into `modules.c`): an array of `{ name, modp }` pointer
//! pairs ended by a null name, each `modp` a `module` whose fourth field is its source file
//! name. In a position-independent binary those pointers are relocations
//! (`R_*_RELATIVE` addends); in others they are in the file. Both are read here.

use depclose_elf::LoadedImage;
use memchr::memmem;

/// A module built into the binary: `<IfModule>` knows it by either name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticModule {
    /// The module's identifier (`so_module`).
    pub name: String,
    /// The source file it was built from, as its `module` structure names it (`mod_so.c`).
    pub source: String,
}

/// The modules Debian 12's `apache2` (2.4) has built in, as `apache2 -l` lists them
/// (identifier, source file): what [`Defaults::upstream`] assumes when no binary says.
pub const DEBIAN_STATIC_MODULES: [(&str, &str); 8] = [
    ("core_module", "core.c"),
    ("so_module", "mod_so.c"),
    ("watchdog_module", "mod_watchdog.c"),
    ("http_module", "http_core.c"),
    ("log_config_module", "mod_log_config.c"),
    ("logio_module", "mod_logio.c"),
    ("version_module", "mod_version.c"),
    ("unixd_module", "mod_unixd.c"),
];

/// The compiled-in settings httpd falls back on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// `HTTPD_ROOT`: the server root without `-d`.
    pub httpd_root: String,
    /// `SERVER_CONFIG_FILE`: the configuration file without `-f`.
    pub server_config_file: String,
    /// `AP_TYPES_CONFIG_FILE`: the MIME types file without `TypesConfig`.
    pub types_config: String,
    /// `DEFAULT_PIDLOG`: the pid file without `PidFile`, relative to the run-time directory.
    pub pid_file: String,
    /// `DEFAULT_ERRORLOG`: the error log without `ErrorLog`.
    pub error_log: String,
    /// `DEFAULT_REL_RUNTIMEDIR`: the run-time directory without `DefaultRuntimeDir`,
    /// relative to the server root. `httpd -V` does not print it; upstream's layout uses
    /// `logs`.
    pub runtime_dir: String,
    pub static_modules: Vec<StaticModule>,
}

impl Defaults {
    /// httpd's own defaults (`include/httpd.h`, `include/ap_config.h`), with Debian's
    /// static modules ([`DEBIAN_STATIC_MODULES`]).
    pub fn upstream() -> Defaults {
        Defaults {
            httpd_root: "/usr/local/apache".into(),
            server_config_file: "conf/httpd.conf".into(),
            types_config: "conf/mime.types".into(),
            pid_file: "httpd.pid".into(),
            error_log: "logs/error_log".into(),
            runtime_dir: "logs".into(),
            static_modules: DEBIAN_STATIC_MODULES
                .iter()
                .map(|(name, source)| StaticModule {
                    name: (*name).into(),
                    source: (*source).into(),
                })
                .collect(),
        }
    }

    /// The defaults compiled into the httpd binary whose bytes these are: each
    /// ` -D NAME="value"` string found replaces upstream's value, and its table of static
    /// modules replaces [`DEBIAN_STATIC_MODULES`] when it can be read. `None` when the bytes
    /// hold no `HTTPD_ROOT`, i.e. are not httpd's.
    pub fn from_binary(bytes: &[u8]) -> Option<Defaults> {
        let mut d = Defaults::upstream();
        d.httpd_root = define(bytes, "HTTPD_ROOT")?;
        if let Some(modules) = static_modules(bytes) {
            d.static_modules = modules;
        }
        let fields: [(&str, &mut String); 4] = [
            ("SERVER_CONFIG_FILE", &mut d.server_config_file),
            ("AP_TYPES_CONFIG_FILE", &mut d.types_config),
            ("DEFAULT_PIDLOG", &mut d.pid_file),
            ("DEFAULT_ERRORLOG", &mut d.error_log),
        ];
        for (name, field) in fields {
            if let Some(v) = define(bytes, name) {
                *field = v;
            }
        }
        Some(d)
    }
}

/// The value of the first ` -D NAME="value"` in `bytes`.
fn define(bytes: &[u8], name: &str) -> Option<String> {
    let needle = format!("-D {name}=\"");
    let start = memmem::find(bytes, needle.as_bytes())? + needle.len();
    let rest = &bytes[start..];
    // The value ends at its quote, and never runs past the C string it is in.
    let end = rest.iter().position(|&b| b == b'"' || b == 0)?;
    (rest.get(end) == Some(&b'"')).then(|| String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// More entries than any httpd has built in: a bound for a corrupt table.
const MAX_STATIC_MODULES: usize = 1024;

/// The modules built into an httpd ELF binary (`ap_prelinked_module_symbols`), or `None`
/// when the bytes are no ELF file, lack the symbol, or hold a pointer that cannot be read.
pub fn static_modules(bytes: &[u8]) -> Option<Vec<StaticModule>> {
    let image = LoadedImage::parse(bytes)?;
    let table = image.symbol("ap_prelinked_module_symbols")?;
    let ptr = image.pointer_size();
    let mut out = Vec::new();
    for i in 0..MAX_STATIC_MODULES as u64 {
        let entry = table + i * 2 * ptr;
        let name_at = image.pointer(entry)?;
        if name_at == 0 {
            return Some(out);
        }
        let module = image.pointer(entry + ptr)?;
        // `struct module_struct { int version; int minor_version; int module_index;
        // const char *name; … }`: the name follows three ints, pointer-aligned.
        let source_at = image.pointer(module + 12_u64.next_multiple_of(ptr))?;
        out.push(StaticModule {
            name: image.string(name_at)?,
            source: image.string(source_at)?,
        });
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defines_are_read_from_the_bytes() {
        let bytes = b"\x7fELF junk\0 -D HTTPD_ROOT=\"/etc/apache2\"\0 -D SUEXEC_BIN=\"/x\"\0 -D SERVER_CONFIG_FILE=\"apache2.conf\"\0 -D DEFAULT_ERRORLOG=\"broken\0";
        let d = Defaults::from_binary(bytes).unwrap();
        assert_eq!(d.httpd_root, "/etc/apache2");
        assert_eq!(d.server_config_file, "apache2.conf");
        // Not in the bytes, or not terminated by its quote: upstream's.
        assert_eq!(d.types_config, "conf/mime.types");
        assert_eq!(d.error_log, "logs/error_log");
        assert_eq!(Defaults::from_binary(b"no httpd here"), None);
    }

    #[test]
    fn this_machines_apache2() {
        let Ok(bytes) = std::fs::read("/usr/sbin/apache2") else {
            return;
        };
        let d = Defaults::from_binary(&bytes).unwrap();
        assert_eq!(d.httpd_root, "/etc/apache2");
        assert_eq!(d.server_config_file, "apache2.conf");
        assert_eq!(d.types_config, "mime.types");
        assert_eq!(d.pid_file, "/run/apache2.pid");
        assert_eq!(d.error_log, "logs/error_log");
        // What `apache2 -l` prints on Debian 12.
        let expected: Vec<StaticModule> = DEBIAN_STATIC_MODULES
            .iter()
            .map(|(name, source)| StaticModule {
                name: (*name).into(),
                source: (*source).into(),
            })
            .collect();
        assert_eq!(static_modules(&bytes).unwrap(), expected);
        assert_eq!(d.static_modules, expected);
    }

    #[test]
    fn static_modules_need_an_elf_file_with_the_table() {
        assert_eq!(static_modules(b"\x7fELF but not really"), None);
        let Ok(bytes) = std::fs::read("/usr/sbin/nginx") else {
            return;
        };
        assert_eq!(static_modules(&bytes), None);
    }
}
