//! OpenSSL 3: its configuration, its providers and the CA store its defaults point at.

use std::path::{Path, PathBuf};

use depclose_elf::name;
use depclose_resolve::Closure;

use crate::recipe::{Addition, Context, Recipe, Want};
use crate::{CStrings, Error, Evidence, Reason};

/// `openssl version -d` and `-m` print these from the library: `OPENSSLDIR: "/usr/lib/ssl"`,
/// `MODULESDIR: "/usr/lib/x86_64-linux-gnu/ossl-modules"` (`crypto/cversion.c`).
const OPENSSLDIR: &str = "OPENSSLDIR: ";
const MODULESDIR: &str = "MODULESDIR: ";
const ENGINESDIR: &str = "ENGINESDIR: ";
/// The configuration, the CA bundle and the hashed CA directory under OPENSSLDIR
/// (`X509_get_default_cert_file`, `X509_get_default_cert_dir`, `CONF_get1_default_config_file`).
const CONFIG: &str = "openssl.cnf";
const CA_FILE: &str = "cert.pem";
const CA_DIR: &str = "certs";

#[derive(Debug)]
pub(crate) struct OpenSsl;

/// The quoted value after `key` among the library's strings, with the string it came from.
fn compiled_dir(strings: &CStrings, key: &str) -> Option<(PathBuf, String)> {
    strings.iter().find_map(|s| {
        let dir = s.strip_prefix(key)?.trim_matches('"');
        (!dir.is_empty()).then(|| (PathBuf::from(dir), s.to_owned()))
    })
}

impl Recipe for OpenSsl {
    fn name(&self) -> &'static str {
        "openssl"
    }

    fn summary(&self) -> &'static str {
        "libcrypto.so.3: openssl.cnf (OPENSSLDIR, read from the library) with the files it includes, the providers (MODULESDIR) and engines (ENGINESDIR), and the CA store (cert.pem, certs/) unless --no-ca-certificates"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let Some(libcrypto) = closure
            .objects
            .iter()
            .position(|o| o.elf.soname.as_deref() == Some("libcrypto.so.3"))
        else {
            return Ok(Vec::new());
        };
        let real = &closure.objects[libcrypto].real;
        let strings = cx.strings(real);
        let reason = |value: &str| Reason {
            recipe: self.name(),
            evidence: Evidence::Compiled {
                file: real.clone(),
                value: value.to_owned(),
            },
        };
        let mut out = Vec::new();
        if let Some((dir, value)) = compiled_dir(&strings, OPENSSLDIR) {
            let config = dir.join(CONFIG);
            if cx.exists(&config) {
                out.extend(includes(cx, &config, self.name()));
                out.push(Addition {
                    want: Want::File(config),
                    reason: reason(&value),
                });
            }
            if !cx.options.no_ca_certificates {
                let file = dir.join(CA_FILE);
                if cx.exists(&file) {
                    out.push(Addition {
                        want: Want::File(file),
                        reason: reason(&value),
                    });
                }
                let hashed = dir.join(CA_DIR);
                if cx.is_dir(&hashed) {
                    out.push(Addition {
                        want: Want::Tree {
                            path: hashed,
                            except: Vec::new(),
                        },
                        reason: reason(&value),
                    });
                }
            }
        }
        for key in [MODULESDIR, ENGINESDIR] {
            let Some((dir, value)) = compiled_dir(&strings, key) else {
                continue;
            };
            for name in cx.list_dir(&dir).into_iter().filter(|n| n.ends_with(".so")) {
                out.push(Addition {
                    want: Want::Load {
                        from: libcrypto,
                        name: name::from_path(&dir.join(name::to_path(&name))).into_owned(),
                    },
                    reason: reason(&value),
                });
            }
        }
        Ok(out)
    }
}

/// Includes are followed this deep at most: a bound for a loop.
const MAX_INCLUDE_DEPTH: usize = 10;

/// The files a configuration pulls in with `.include FILE`, and theirs
/// (`crypto/conf/conf_def.c`): a relative name is taken from the directory of the last
/// `.pragma includedir:DIR` (which `OPENSSL_CONF_INCLUDE` would replace), else from the
/// program's working directory; a directory includes its `*.cnf` and `*.conf` files.
fn includes(cx: &Context<'_>, config: &Path, recipe: &'static str) -> Vec<Addition> {
    let mut out = Vec::new();
    let mut pending = vec![(config.to_path_buf(), 0)];
    let mut seen = vec![config.to_path_buf()];
    while let Some((file, depth)) = pending.pop() {
        let Some(text) = cx.read_text(&file) else {
            continue;
        };
        let mut include_dir: Option<PathBuf> = None;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if let Some(pragma) = trimmed.strip_prefix(".pragma") {
                let pragma = pragma.trim_start_matches([' ', '\t', '=']).trim();
                if let Some(dir) = pragma.strip_prefix("includedir:") {
                    include_dir = Some(PathBuf::from(dir.trim()));
                }
                continue;
            }
            let Some(rest) = trimmed.strip_prefix(".include") else {
                continue;
            };
            let target = rest.trim_start_matches([' ', '\t', '=']).trim();
            if target.is_empty() || depth >= MAX_INCLUDE_DEPTH {
                continue;
            }
            let base = include_dir
                .clone()
                .unwrap_or_else(|| cx.resolver.options().cwd.clone());
            let path = base.join(target);
            let reason = Reason {
                recipe,
                evidence: Evidence::ConfigLine {
                    file: file.clone(),
                    line: n + 1,
                    text: trimmed.to_owned(),
                },
            };
            let files: Vec<PathBuf> = if cx.exists(&path) {
                vec![path]
            } else {
                cx.list_dir(&path)
                    .into_iter()
                    .filter(|f| f.ends_with(".cnf") || f.ends_with(".conf"))
                    .map(|f| path.join(name::to_path(&f)))
                    .collect()
            };
            for f in files {
                if !seen.contains(&f) {
                    seen.push(f.clone());
                    pending.push((f.clone(), depth + 1));
                    out.push(Addition {
                        want: Want::File(f),
                        reason: reason.clone(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn compiled_dirs_are_read_from_the_version_strings() {
        let strings = CStrings::of(b"OpenSSL 3.0.16\0OPENSSLDIR: \"/usr/lib/ssl\"\0");
        let (dir, value) = compiled_dir(&strings, OPENSSLDIR).unwrap();
        assert_eq!(dir, Path::new("/usr/lib/ssl"));
        assert_eq!(value, "OPENSSLDIR: \"/usr/lib/ssl\"");
        assert!(compiled_dir(&strings, MODULESDIR).is_none());
    }
}
