//! The nginx recipe: the configuration the program will run with, and everything it makes
//! nginx load, read and write.

use std::path::PathBuf;

use depclose_resolve::Closure;

use super::{Defaults, LogTarget, Options, read};
use crate::config::short_options;
use crate::recipe::{Addition, Context, Recipe, Want, configured_module, writable_dirs};
use crate::{Error, Evidence, Reason};

/// nginx detaches unless told `daemon off;` (`src/core/nginx.c` `ngx_daemon` under
/// `ccf->daemon`); a container's main process must stay.
const FOREGROUND: &str = "daemon off;";

/// Directives that name a file nginx reads at start-up (TLS keys and certificates, user
/// files): added when the root has them.
const FILE_DIRECTIVES: [&str; 7] = [
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_trusted_certificate",
    "ssl_client_certificate",
    "ssl_dhparam",
    "ssl_password_file",
    "auth_basic_user_file",
];

#[derive(Debug)]
pub(crate) struct Nginx;

/// The command line of an image's Cmd, as nginx reads it (`src/core/nginx.c`
/// `ngx_get_options`: `-p PREFIX`, `-c FILE`, `-g DIRECTIVES`, attached or following).
fn command_line(options: &mut Options, args: &[String]) {
    for (flag, value) in short_options(args, &['p', 'c', 'g']) {
        match flag {
            'p' => options.prefix = PathBuf::from(value),
            'c' => options.conf_file = PathBuf::from(value),
            _ => options.globals = value,
        }
    }
}

impl Recipe for Nginx {
    fn name(&self) -> &'static str {
        "nginx"
    }

    fn summary(&self) -> &'static str {
        "nginx: the configuration it runs with (-p, -c and -g in --cmd, else compiled into the binary) with everything it includes (mime.types), its load_module objects and root directories; for images its user and group, pid, log and temp directories, and Cmd -g 'daemon off;'"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        cx.per_program(self.name(), closure, || self.configured(cx, closure))
    }
}

impl Nginx {
    /// What the program's configuration names: [`Recipe::wants`], once per program.
    fn configured(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let program = &closure.objects[0];
        let is_nginx = program
            .real
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("nginx"));
        if !is_nginx {
            return Ok(Vec::new());
        }
        let Some(defaults) = cx
            .resolver
            .root()
            .read(&program.real)
            .ok()
            .and_then(|bytes| Defaults::from_binary(&bytes))
        else {
            return Ok(Vec::new());
        };
        let main = if cx
            .command
            .iter()
            .any(|a| a.starts_with("-c") || a.starts_with("-p"))
        {
            Reason {
                recipe: self.name(),
                evidence: Evidence::Option(format!("--cmd {}", cx.command.join(" "))),
            }
        } else {
            Reason {
                recipe: self.name(),
                evidence: Evidence::Compiled {
                    file: program.real.clone(),
                    value: format!(
                        "--prefix={} --conf-path={}",
                        defaults.prefix, defaults.conf_path
                    ),
                },
            }
        };
        let mut options = Options::new(defaults);
        command_line(&mut options, cx.command);
        let config = read(cx.files(), &options)?;
        let uses = config.uses();
        let at = |line: Option<&crate::ConfigLine>| Reason::at(self.name(), line, &main);
        let mut out = Vec::new();
        for f in &uses.config_files {
            out.push(Addition {
                want: Want::File(f.value.clone()),
                reason: at(f.at.as_ref()),
            });
        }
        for m in &uses.modules {
            out.push(configured_module(cx, &m.path, &m.at, at(Some(&m.at)))?);
        }
        for d in config.directives.iter().filter(|d| d.args.len() == 1) {
            // Variables are filled in per request: no one path to add.
            if d.args[0].contains('$') {
                continue;
            }
            let reason = at(Some(&d.at));
            if ["root", "alias"].contains(&d.name.as_str()) {
                let path = config.prefix_relative(&d.args[0]);
                if cx.is_dir(&path) {
                    out.push(Addition {
                        want: Want::Tree {
                            path,
                            except: Vec::new(),
                        },
                        reason,
                    });
                }
            } else if FILE_DIRECTIVES.contains(&d.name.as_str()) {
                // These resolve against the configuration's directory (`ngx_conf_full_name`
                // with `conf_prefix`).
                let path = crate::config::relative_to(&config.conf_prefix, &d.args[0]);
                if cx.exists(&path) {
                    out.push(Addition {
                        want: Want::File(path),
                        reason,
                    });
                }
            }
        }
        out.push(Addition {
            want: Want::User(uses.user.value.clone()),
            reason: at(uses.user.at.as_ref()),
        });
        if let Some(g) = &uses.group {
            out.push(Addition {
                want: Want::Group(g.value.clone()),
                reason: at(g.at.as_ref()),
            });
        }
        let mut dirs: Vec<(PathBuf, Reason)> = Vec::new();
        dirs.extend(
            uses.pid
                .value
                .parent()
                .map(|p| (p.to_path_buf(), at(uses.pid.at.as_ref()))),
        );
        for log in uses.error_logs.iter().chain(&uses.access_logs) {
            if let LogTarget::File(path) = &log.value {
                // A name with variables is opened per request, in its directory.
                dirs.extend(
                    path.parent()
                        .map(|p| (p.to_path_buf(), at(log.at.as_ref()))),
                );
            }
        }
        dirs.extend(
            uses.temp_paths
                .iter()
                .map(|t| (t.value.clone(), at(t.at.as_ref()))),
        );
        out.extend(writable_dirs(dirs));
        if cx.command.is_empty() {
            // Errors go to stderr, unless the configuration names its own log (the first
            // entry is the compiled-in one nginx opens before it reads the configuration).
            let globals = if uses.error_logs.len() == 1 {
                format!("{FOREGROUND} error_log stderr;")
            } else {
                FOREGROUND.to_owned()
            };
            out.push(Addition {
                want: Want::Cmd(vec!["-g".to_owned(), globals]),
                reason: Reason {
                    recipe: self.name(),
                    evidence: Evidence::Rule(
                        "nginx detaches unless told daemon off (a container's process must stay in the foreground), and logs errors to stderr where its configuration names no log",
                    ),
                },
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_read_as_nginx_reads_it() {
        let mut o = Options::new(Defaults::upstream());
        let args: Vec<String> = [
            "-p",
            "/srv/nginx",
            "-c/srv/nginx/site.conf",
            "-g",
            "daemon off;",
            "-t",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        command_line(&mut o, &args);
        assert_eq!(o.prefix, std::path::Path::new("/srv/nginx"));
        assert_eq!(o.conf_file, std::path::Path::new("/srv/nginx/site.conf"));
        assert_eq!(o.globals, "daemon off;");
    }
}
