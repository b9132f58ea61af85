//! What glibc itself loads at run time: `libgcc_s.so.1`, NSS modules, gconv modules.

use std::path::{Path, PathBuf};

use depclose_elf::name;
use depclose_resolve::{Closure, Flavor};

use crate::recipe::{Addition, Context, Recipe, Want};
use crate::{Error, Evidence, Reason};

/// glibc `dlopen`s this for `pthread_cancel`/`pthread_exit` (`misc/unwind-link.c`); without it
/// such programs abort ("libgcc_s.so.1 must be installed for pthread_cancel to work").
pub const LIBGCC_S: &str = "libgcc_s.so.1";

/// The NSS configuration glibc reads (`nss/nss_database.c`).
pub const NSSWITCH_CONF: &str = "/etc/nsswitch.conf";

/// The soname of glibc's libc: the object that does these loads.
const LIBC: &str = "libc.so.6";

/// Since this release the `files` and `dns` services are built into libc and have no module
/// of their own (`nss/nss_module.c`, "nss_files and nss_dns are built in").
const NSS_BUILTIN_SINCE: (u32, u32) = (2, 34);

/// The services built in since [`NSS_BUILTIN_SINCE`].
const NSS_BUILTIN: [&str; 2] = ["files", "dns"];

/// The index of glibc's libc in a glibc program's closure.
pub(crate) fn glibc_libc(closure: &Closure) -> Option<usize> {
    closure
        .facts
        .as_ref()
        .filter(|f| f.flavor == Flavor::Glibc)?;
    closure
        .objects
        .iter()
        .position(|o| o.elf.soname.as_deref() == Some(LIBC))
}

/// `libgcc_s.so.1` for every glibc program.
#[derive(Debug)]
pub(crate) struct Libgcc;

impl Recipe for Libgcc {
    fn name(&self) -> &'static str {
        "libgcc_s"
    }

    fn summary(&self) -> &'static str {
        "glibc programs: libgcc_s.so.1, which libc loads for pthread_cancel and pthread_exit"
    }

    fn wants(&self, _cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        Ok(glibc_libc(closure)
            .map(|libc| Addition {
                want: Want::Load {
                    from: libc,
                    name: LIBGCC_S.to_owned(),
                },
                reason: Reason {
                    recipe: self.name(),
                    evidence: Evidence::Rule(
                        "libc loads it for pthread_cancel and pthread_exit (misc/unwind-link.c)",
                    ),
                },
            })
            .into_iter()
            .collect())
    }
}

/// The NSS services an `nsswitch.conf` names, in order of first mention, each with the line
/// (from 1) that first names it; `[STATUS=action]` blocks and comments skipped.
pub fn nss_services(conf: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for (n, line) in conf.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let Some((_, rest)) = line.split_once(':') else {
            continue;
        };
        let mut in_action = false;
        for word in rest.split_whitespace() {
            if word.starts_with('[') {
                in_action = true;
            }
            if !in_action && !out.iter().any(|(s, _)| s == word) {
                out.push((word.to_owned(), n + 1));
            }
            if word.ends_with(']') {
                in_action = false;
            }
        }
    }
    out
}

/// The NSS module of every service the program's `nsswitch.conf` names.
#[derive(Debug)]
pub(crate) struct Nss;

impl Recipe for Nss {
    fn name(&self) -> &'static str {
        "nss"
    }

    fn summary(&self) -> &'static str {
        "glibc programs: the NSS module (libnss_SERVICE.so.2) of every service /etc/nsswitch.conf names (files and dns are built into glibc 2.34 and later)"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let Some(libc) = glibc_libc(closure) else {
            return Ok(Vec::new());
        };
        let Some(conf) = cx.present_text(Path::new(NSSWITCH_CONF)) else {
            return Ok(Vec::new());
        };
        // Without a known version, assume a current glibc.
        let builtin = closure
            .facts
            .as_ref()
            .and_then(|f| f.glibc_version)
            .is_none_or(|v| v >= NSS_BUILTIN_SINCE);
        let lines: Vec<&str> = conf.lines().collect();
        Ok(nss_services(&conf)
            .into_iter()
            .filter(|(s, _)| !(builtin && NSS_BUILTIN.contains(&s.as_str())))
            .map(|(service, line)| Addition {
                want: Want::Load {
                    from: libc,
                    name: format!("libnss_{service}.so.2"),
                },
                reason: Reason {
                    recipe: self.name(),
                    evidence: Evidence::ConfigLine {
                        file: PathBuf::from(NSSWITCH_CONF),
                        line,
                        text: lines.get(line - 1).map_or("", |l| l.trim()).to_owned(),
                    },
                },
            })
            .collect())
    }
}

/// The gconv modules and their configuration, for programs that use `iconv`.
#[derive(Debug)]
pub(crate) struct Gconv;

/// The gconv module cache `iconvconfig` writes: its directory is where glibc looks for the
/// configuration and the modules (`GCONV_PATH`'s default, `iconv/gconv_conf.c`).
const GCONV_CACHE: &str = "gconv-modules.cache";
const GCONV_CONF: &str = "gconv-modules";
const GCONV_CONF_DIR: &str = "gconv-modules.d";
/// The character set name glibc converts through.
const GCONV_INTERNAL: &str = "INTERNAL";

impl Recipe for Gconv {
    fn name(&self) -> &'static str {
        "gconv"
    }

    fn summary(&self) -> &'static str {
        "glibc programs that import iconv_open: gconv-modules (file, gconv-modules.d, cache) and the modules, all or only those of --gconv CHARSET,..."
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let Some(libc) = glibc_libc(closure) else {
            return Ok(Vec::new());
        };
        let Some(user) = closure.objects.iter().find(|o| {
            o.found.how != depclose_resolve::How::Interpreter
                && o.elf.soname.as_deref().is_none_or(|s| s != LIBC)
                && cx.imports(o, "iconv_open")
        }) else {
            return Ok(Vec::new());
        };
        let libc_real = &closure.objects[libc].real;
        // The directory is compiled into libc as the cache's path.
        let cache = format!("/{GCONV_CACHE}");
        let Some(dir) = cx
            .strings(libc_real)
            .iter()
            .find_map(|s| s.strip_suffix(&cache).map(PathBuf::from))
        else {
            return Ok(Vec::new());
        };
        let symbol = Reason {
            recipe: self.name(),
            evidence: Evidence::Symbol {
                object: user.path.clone(),
                symbol: "iconv_open".to_owned(),
            },
        };
        let mut out = Vec::new();
        let mut confs = Vec::new();
        for file in [dir.join(GCONV_CONF), dir.join(GCONV_CACHE)] {
            if cx.exists(&file) {
                confs.extend((file.file_name() == Some(GCONV_CONF.as_ref())).then(|| file.clone()));
                out.push(Addition {
                    want: Want::File(file),
                    reason: symbol.clone(),
                });
            }
        }
        let conf_dir = dir.join(GCONV_CONF_DIR);
        for name in cx.list_dir(&conf_dir) {
            if name.ends_with(".conf") {
                let file = conf_dir.join(name::to_path(&name));
                confs.push(file.clone());
                out.push(Addition {
                    want: Want::File(file),
                    reason: symbol.clone(),
                });
            }
        }
        match &cx.options.gconv {
            None => {
                for name in cx.list_dir(&dir) {
                    if name.ends_with(".so") {
                        out.push(Addition {
                            want: Want::Load {
                                from: libc,
                                name: name::from_path(&dir.join(name::to_path(&name))).into_owned(),
                            },
                            reason: symbol.clone(),
                        });
                    }
                }
            }
            Some(charsets) => {
                let modules = GconvModules::read(cx, &confs);
                for charset in charsets {
                    let found = modules.for_charset(charset);
                    if found.is_empty() {
                        return Err(Error::UnknownCharset {
                            charset: charset.clone(),
                            dir: dir.clone(),
                        });
                    }
                    for m in found {
                        out.push(Addition {
                            want: Want::Load {
                                from: libc,
                                name: name::from_path(&m.file).into_owned(),
                            },
                            reason: Reason {
                                recipe: self.name(),
                                evidence: Evidence::ConfigLine {
                                    file: m.conf.clone(),
                                    line: m.line,
                                    text: m.text.clone(),
                                },
                            },
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The `alias` and `module` lines of the gconv configuration (`iconv/gconv_conf.c`).
#[derive(Debug, Default)]
pub(crate) struct GconvModules {
    /// (alias, the name it stands for), both upper case without the `//`.
    aliases: Vec<(String, String)>,
    modules: Vec<GconvModule>,
}

#[derive(Debug)]
pub(crate) struct GconvModule {
    from: String,
    to: String,
    /// The module's file: relative names are taken from the configuration's directory, with
    /// `.so` added.
    pub(crate) file: PathBuf,
    conf: PathBuf,
    line: usize,
    text: String,
}

/// A character set name as the configuration compares it: upper case, without the `//`.
fn charset_key(name: &str) -> String {
    name.trim_end_matches('/').to_ascii_uppercase()
}

impl GconvModules {
    fn read(cx: &Context<'_>, confs: &[PathBuf]) -> GconvModules {
        let mut out = GconvModules::default();
        for conf in confs {
            if let Some(text) = cx.read_text(conf) {
                out.add(conf, &text);
            }
        }
        out
    }

    /// The `alias` and `module` lines of `text`, the configuration file `conf`.
    pub(crate) fn add(&mut self, conf: &Path, text: &str) {
        let dir = conf.parent().unwrap_or(Path::new("/"));
        // A file in gconv-modules.d names modules relative to the gconv directory.
        let dir = if dir.file_name() == Some(GCONV_CONF_DIR.as_ref()) {
            dir.parent().unwrap_or(dir)
        } else {
            dir
        };
        for (n, line) in text.lines().enumerate() {
            let words: Vec<&str> = line
                .split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            match words.as_slice() {
                ["alias", alias, name, ..] => {
                    self.aliases.push((charset_key(alias), charset_key(name)))
                }
                ["module", from, to, file, ..] => {
                    let file = if file.starts_with('/') {
                        PathBuf::from(file)
                    } else {
                        dir.join(format!("{file}.so"))
                    };
                    self.modules.push(GconvModule {
                        from: charset_key(from),
                        to: charset_key(to),
                        file,
                        conf: conf.to_path_buf(),
                        line: n + 1,
                        text: line.trim().to_owned(),
                    });
                }
                _ => {}
            }
        }
    }

    /// The modules that convert between `charset` (or what it is an alias of) and glibc's
    /// internal form, both ways.
    pub(crate) fn for_charset(&self, charset: &str) -> Vec<&GconvModule> {
        let key = charset_key(charset);
        let name = self
            .aliases
            .iter()
            .find(|(a, _)| *a == key)
            .map_or(key.clone(), |(_, n)| n.clone());
        let mut found: Vec<&GconvModule> = self
            .modules
            .iter()
            .filter(|m| {
                (m.from == name && m.to == GCONV_INTERNAL)
                    || (m.to == name && m.from == GCONV_INTERNAL)
            })
            .collect();
        found.dedup_by(|a, b| a.file == b.file);
        found
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nss_services_skip_actions_and_comments() {
        let conf = "# x\npasswd: files systemd\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\nnetgroup: nis\n";
        let services = nss_services(conf);
        let names: Vec<&str> = services.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "files",
                "systemd",
                "mdns4_minimal",
                "dns",
                "myhostname",
                "nis"
            ]
        );
        assert_eq!(services[1], ("systemd".to_owned(), 2));
    }

    #[test]
    fn charset_keys_ignore_case_and_slashes() {
        assert_eq!(charset_key("iso-8859-1//"), "ISO-8859-1");
        assert_eq!(charset_key("IBM037"), "IBM037");
    }
}
