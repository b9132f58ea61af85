//! What an nginx binary was built with, read from its bytes (never by running it).
//!
//! `nginx -V` prints `configure arguments: …` from `NGX_CONFIGURE`, a string built into
//! the binary (`src/core/nginx.c` `ngx_show_version_info`); the paths it does not set take
//! configure's defaults (`auto/options`, `auto/unix`).

use memchr::memmem;

/// The compiled-in paths and user nginx falls back on, as configure set them (relative
/// ones are relative to the prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// `--prefix` (`-p`'s default).
    pub prefix: String,
    /// `--conf-path` (`-c`'s default).
    pub conf_path: String,
    /// `--modules-path`: where the build installed its dynamic modules (`load_module`
    /// names its file itself; this is for hints).
    pub modules_path: String,
    /// `--error-log-path`: the log nginx opens before it reads its configuration (`-e`'s
    /// default); `stderr` for standard error.
    pub error_log_path: String,
    /// `--http-log-path`: the access log of an `http` block that sets none.
    pub http_log_path: String,
    /// `--pid-path`.
    pub pid_path: String,
    /// `--lock-path`.
    pub lock_path: String,
    /// `--user`: the worker processes' user when `user` is not set.
    pub user: String,
    /// `--group`; when absent configure chose one from the build machine's groups.
    pub group: Option<String>,
    /// The temporary directories of an `http` block that sets none, by directive
    /// (`client_body_temp_path` ← `--http-client-body-temp-path`, …).
    pub temp_paths: Vec<(&'static str, String)>,
    /// The configure arguments, split as the shell split them (empty for upstream's).
    pub configure: Vec<String>,
}

/// Temp-path directives, their configure option and its default (`auto/options`).
const TEMP_PATHS: [(&str, &str, &str); 5] = [
    (
        "client_body_temp_path",
        "--http-client-body-temp-path",
        "client_body_temp",
    ),
    ("proxy_temp_path", "--http-proxy-temp-path", "proxy_temp"),
    (
        "fastcgi_temp_path",
        "--http-fastcgi-temp-path",
        "fastcgi_temp",
    ),
    ("uwsgi_temp_path", "--http-uwsgi-temp-path", "uwsgi_temp"),
    ("scgi_temp_path", "--http-scgi-temp-path", "scgi_temp"),
];

impl Defaults {
    /// configure's defaults, as for `./configure` with no options.
    pub fn upstream() -> Defaults {
        Defaults::from_configure(Vec::new())
    }

    /// The defaults of the binary whose bytes these are; `None` when they hold no
    /// `configure arguments:` string (an nginx built without options says nothing there,
    /// and has [`Defaults::upstream`]).
    pub fn from_binary(bytes: &[u8]) -> Option<Defaults> {
        let tag = b"configure arguments:";
        let start = memmem::find(bytes, tag)? + tag.len();
        let rest = &bytes[start..];
        let end = rest
            .iter()
            .position(|&b| b == 0 || b == b'\n')
            .unwrap_or(rest.len());
        let text = String::from_utf8_lossy(&rest[..end]);
        Some(Defaults::from_configure(shell_words(&text)))
    }

    /// The defaults of a build configured with these arguments (`--prefix=/usr/share/nginx`,
    /// …); the last of an option wins, as in configure.
    pub fn from_configure(args: Vec<String>) -> Defaults {
        let get = |opt: &str| {
            args.iter()
                .rev()
                .find_map(|a| a.strip_prefix(opt)?.strip_prefix('='))
                .map(str::to_owned)
        };
        let or = |opt: &str, default: &str| get(opt).unwrap_or_else(|| default.to_owned());
        Defaults {
            prefix: or("--prefix", "/usr/local/nginx"),
            conf_path: or("--conf-path", "conf/nginx.conf"),
            modules_path: or("--modules-path", "modules"),
            error_log_path: or("--error-log-path", "logs/error.log"),
            http_log_path: or("--http-log-path", "logs/access.log"),
            pid_path: or("--pid-path", "logs/nginx.pid"),
            lock_path: or("--lock-path", "logs/nginx.lock"),
            user: or("--user", "nobody"),
            group: get("--group"),
            temp_paths: TEMP_PATHS
                .iter()
                .map(|(directive, opt, default)| (*directive, or(opt, default)))
                .collect(),
            configure: args,
        }
    }
}

/// Split a command line as `sh` would: blanks separate words, `'…'` and `"…"` quote, a
/// backslash escapes the next character.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for c in it.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = it.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(it.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(it.next());
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn configure_arguments_are_split_like_the_shell() {
        let bytes = b"junk\0nginx version\0configure arguments: --with-cc-opt='-g -O2 -D X=\"y\"' --prefix=/opt/n --user=www --prefix=/usr/share/nginx --http-proxy-temp-path=/var/lib/nginx/proxy \"--with-x\"\nmore\0";
        let d = Defaults::from_binary(bytes).unwrap();
        assert_eq!(
            d.configure,
            [
                "--with-cc-opt=-g -O2 -D X=\"y\"",
                "--prefix=/opt/n",
                "--user=www",
                "--prefix=/usr/share/nginx",
                "--http-proxy-temp-path=/var/lib/nginx/proxy",
                "--with-x"
            ]
        );
        assert_eq!(d.prefix, "/usr/share/nginx");
        assert_eq!(d.user, "www");
        assert_eq!(d.group, None);
        assert_eq!(d.conf_path, "conf/nginx.conf");
        assert_eq!(
            d.temp_paths,
            [
                ("client_body_temp_path", "client_body_temp".to_owned()),
                ("proxy_temp_path", "/var/lib/nginx/proxy".to_owned()),
                ("fastcgi_temp_path", "fastcgi_temp".to_owned()),
                ("uwsgi_temp_path", "uwsgi_temp".to_owned()),
                ("scgi_temp_path", "scgi_temp".to_owned()),
            ]
        );
        assert_eq!(Defaults::from_binary(b"not nginx"), None);
        assert_eq!(Defaults::upstream().prefix, "/usr/local/nginx");
    }

    #[test]
    fn this_machines_nginx() {
        let Ok(bytes) = std::fs::read("/usr/sbin/nginx") else {
            return;
        };
        let d = Defaults::from_binary(&bytes).unwrap();
        assert_eq!(d.prefix, "/usr/share/nginx");
        assert_eq!(d.conf_path, "/etc/nginx/nginx.conf");
        assert_eq!(d.modules_path, "/usr/lib/nginx/modules");
        assert_eq!(d.error_log_path, "stderr");
        assert_eq!(d.pid_path, "/run/nginx.pid");
        assert_eq!(d.temp_paths[0].1, "/var/lib/nginx/body");
        assert!(
            d.configure
                .iter()
                .any(|a| a.starts_with("--with-cc-opt=-g -O2"))
        );
    }
}
