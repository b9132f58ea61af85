//! The Apache httpd recipe: the configuration the program will run with, and everything it
//! makes httpd load, read and write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use depclose_elf::name;
use depclose_resolve::Closure;

use super::{Defaults, LogTarget, Options, Uses, envvars, read};
use crate::config::{Setting, short_options};
use crate::recipe::{Addition, Context, Recipe, Want, configured_module};
use crate::{Error, Evidence, Reason};

/// Debian's `apache2ctl` sources this script from the server root before it starts the
/// server; its exports are the environment the configuration reads (`${APACHE_RUN_USER}`).
const ENVVARS: &str = "envvars";

/// httpd detaches from its terminal unless started with `-D FOREGROUND`
/// (`server/mpm/*/` `ap_mpm_run` → `ap_unixd_…`/`apr_proc_detach` under `!one_process &&
/// !foreground`); a container's main process must stay.
const FOREGROUND: [&str; 2] = ["-D", "FOREGROUND"];

/// Where a container's logs go.
const STDERR: &str = "/dev/stderr";
const STDOUT: &str = "/dev/stdout";
/// The Common Log Format (`modules/loggers/mod_log_config.c`'s default).
const COMMON_LOG: &str = r#"%h %l %u %t \"%r\" %>s %b"#;

/// Directives that name a file httpd reads at start-up or per request (mod_ssl, mod_auth*,
/// mod_mime_magic), beyond the ones [`Uses`] knows: added when the root has them.
const FILE_DIRECTIVES: [&str; 8] = [
    // httpd checks at start-up that the program exists (mod_ssl `ssl_cmd_SSLPassPhraseDialog`).
    "SSLPassPhraseDialog",
    "SSLCertificateFile",
    "SSLCertificateKeyFile",
    "SSLCertificateChainFile",
    "SSLCACertificateFile",
    "AuthUserFile",
    "AuthGroupFile",
    "MIMEMagicFile",
];

/// Directives that name a directory read whole (for `Alias`, its second argument).
const DIR_DIRECTIVES: [&str; 3] = ["SSLCACertificatePath", "Alias", "ScriptAlias"];

#[derive(Debug)]
pub(crate) struct Httpd;

/// The command line of an image's Cmd, as httpd reads it (`server/main.c`: `-d`, `-f`, `-D`,
/// `-C`, `-c`, each with its argument attached or following).
fn command_line(options: &mut Options, args: &[String]) {
    for (flag, value) in short_options(args, &['d', 'f', 'D', 'C', 'c']) {
        match flag {
            'd' => options.server_root = PathBuf::from(value),
            'f' => options.config_file = PathBuf::from(value),
            'D' => options.defines.push(value),
            'C' => options.pre_directives.push(value),
            _ => options.post_directives.push(value),
        }
    }
}

impl Recipe for Httpd {
    fn name(&self) -> &'static str {
        "apache"
    }

    fn summary(&self) -> &'static str {
        "Apache httpd (apache2, httpd): the configuration it runs with (-f and -d in --cmd, else compiled into the binary) with everything it includes, its LoadModule and LoadFile objects, TypesConfig, the files of SSL and auth directives, DocumentRoot; for images Debian's envvars as Env, its User and Group, run, lock and log directories, and Cmd -D FOREGROUND"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        cx.per_program(self.name(), closure, || self.configured(cx, closure))
    }
}

impl Httpd {
    /// What the program's configuration names: [`Recipe::wants`], once per program.
    fn configured(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let program = &closure.objects[0];
        let Some(defaults) = cx
            .program_bytes(closure, &["apache2", "httpd"])
            .and_then(|bytes| Defaults::from_binary(&bytes))
        else {
            return Ok(Vec::new());
        };
        let compiled = |value: String| Reason {
            recipe: self.name(),
            evidence: Evidence::Compiled {
                file: program.real.clone(),
                value,
            },
        };
        let mut out = Vec::new();
        // Debian's envvars: the environment the configuration expects, which the image
        // must carry (apache2ctl is not in it).
        let envvars_file = Path::new(&defaults.httpd_root).join(ENVVARS);
        let env = match cx.read_text(&envvars_file) {
            Some(script) => {
                let env = envvars(&script, &BTreeMap::new()).env;
                out.push(Addition {
                    want: Want::File(envvars_file.clone()),
                    reason: Reason {
                        recipe: self.name(),
                        evidence: Evidence::Rule(
                            "Debian's apache2ctl sources envvars in the server root before it starts the server",
                        ),
                    },
                });
                for (key, value) in &env {
                    out.push(Addition {
                        want: Want::Env {
                            key: key.clone(),
                            value: value.clone(),
                        },
                        reason: Reason {
                            recipe: self.name(),
                            evidence: Evidence::Rule(
                                "Debian's apache2ctl exports the variables of envvars in the server root; the configuration reads them",
                            ),
                        },
                    });
                }
                env
            }
            None => BTreeMap::new(),
        };
        let root_value = format!("HTTPD_ROOT=\"{}\"", defaults.httpd_root);
        let config_value = format!("SERVER_CONFIG_FILE=\"{}\"", defaults.server_config_file);
        let mut options = Options::new(defaults, env);
        command_line(&mut options, cx.command);
        let config = read(cx.files(), &options)?;
        let uses = config.uses();
        let from_line = |at: &Option<crate::ConfigLine>, otherwise: &Reason| {
            Reason::at(self.name(), at.as_ref(), otherwise)
        };
        let main_reason = if cx.command.iter().any(|a| a.starts_with("-f")) {
            Reason {
                recipe: self.name(),
                evidence: Evidence::Option(format!("--cmd {}", cx.command.join(" "))),
            }
        } else {
            compiled(format!("{root_value} {config_value}"))
        };
        for f in &uses.config_files {
            out.push(Addition {
                want: Want::File(f.value.clone()),
                reason: from_line(&f.at, &main_reason),
            });
        }
        for m in &uses.modules {
            let reason = from_line(&Some(m.at.clone()), &main_reason);
            out.push(configured_module(cx, &m.path, &m.at, reason)?);
        }
        for f in &uses.load_files {
            out.push(Addition {
                want: Want::Load {
                    from: 0,
                    name: name::from_path(&f.value).into_owned(),
                },
                reason: from_line(&f.at, &main_reason),
            });
        }
        if let Some(t) = &uses.types_config {
            if cx.exists(&t.value) {
                out.push(Addition {
                    want: Want::File(t.value.clone()),
                    reason: from_line(&t.at, &compiled("AP_TYPES_CONFIG_FILE".into())),
                });
            }
        }
        for d in config.directives.iter().filter(|d| !d.args.is_empty()) {
            let reason = from_line(&Some(d.at.clone()), &main_reason);
            // `Alias URL DIR`, `SSLPassPhraseDialog exec:PROGRAM`: the path is elsewhere.
            let arg = if d.is("Alias") || d.is("ScriptAlias") {
                d.args.get(1).map(String::as_str).unwrap_or_default()
            } else if d.is("SSLPassPhraseDialog") {
                d.args[0].strip_prefix("exec:").unwrap_or_default()
            } else {
                d.args[0].as_str()
            };
            if arg.is_empty() {
                continue;
            }
            let path = config.server_relative(arg);
            if FILE_DIRECTIVES.iter().any(|n| d.is(n)) && cx.exists(&path) {
                out.push(Addition {
                    want: Want::File(path),
                    reason,
                });
            } else if DIR_DIRECTIVES.iter().any(|n| d.is(n)) && cx.is_dir(&path) {
                out.push(Addition {
                    want: Want::Tree {
                        path,
                        except: Vec::new(),
                    },
                    reason,
                });
            }
        }
        for root in &uses.document_roots {
            if cx.is_dir(&root.value) {
                out.push(Addition {
                    want: Want::Tree {
                        path: root.value.clone(),
                        except: Vec::new(),
                    },
                    reason: from_line(&root.at, &main_reason),
                });
            }
        }
        out.extend(self.image_settings(cx, &uses, &main_reason));
        Ok(out)
    }

    /// What an image of httpd needs to start: the accounts it switches to, the directories
    /// it writes into, the programs its piped logs start (said, not added), and a Cmd that
    /// keeps it in the foreground.
    fn image_settings(&self, cx: &Context<'_>, uses: &Uses, main: &Reason) -> Vec<Addition> {
        let reason = |at: &Option<crate::ConfigLine>| Reason::at(self.name(), at.as_ref(), main);
        let mut out = Vec::new();
        let account = |s: &Option<Setting<String>>| {
            s.as_ref()
                .filter(|s| !s.value.starts_with('#'))
                .map(|s| (s.value.clone(), reason(&s.at)))
        };
        if let Some((user, r)) = account(&uses.user) {
            out.push(Addition {
                want: Want::User(user),
                reason: r,
            });
        }
        if let Some((group, r)) = account(&uses.group) {
            out.push(Addition {
                want: Want::Group(group),
                reason: r,
            });
        }
        let mut dirs: Vec<(PathBuf, Reason)> =
            vec![(uses.runtime_dir.value.clone(), reason(&uses.runtime_dir.at))];
        dirs.extend(
            uses.pid_file
                .value
                .parent()
                .map(|p| (p.to_path_buf(), reason(&uses.pid_file.at))),
        );
        dirs.extend(
            uses.mutex_dirs
                .iter()
                .map(|m| (m.value.clone(), reason(&m.at))),
        );
        for log in uses.error_logs.iter().chain(&uses.access_logs) {
            match &log.value {
                LogTarget::File(path) => {
                    dirs.extend(path.parent().map(|p| (p.to_path_buf(), reason(&log.at))));
                }
                LogTarget::Pipe { .. } => {
                    if let Some(program) = log.value.program() {
                        out.push(Addition {
                            want: Want::Mention {
                                name: program.to_owned(),
                                path: cx.exists(Path::new(program)).then(|| program.to_owned()),
                            },
                            reason: reason(&log.at),
                        });
                    }
                }
                LogTarget::Syslog(_) => {}
            }
        }
        out.extend(crate::recipe::writable_dirs(dirs));
        if cx.command.is_empty() {
            let mut cmd: Vec<String> = FOREGROUND.iter().map(|s| (*s).to_owned()).collect();
            // Logs a container shows, unless the configuration names its own: `-C` runs
            // before the configuration file, whose ErrorLog then wins.
            if uses.error_logs.first().is_some_and(|l| l.at.is_none()) {
                cmd.extend(["-C".to_owned(), format!("ErrorLog {STDERR}")]);
            }
            if uses.access_logs.is_empty() {
                cmd.extend([
                    "-C".to_owned(),
                    format!("CustomLog {STDOUT} \"{COMMON_LOG}\""),
                ]);
            }
            out.push(Addition {
                want: Want::Cmd(cmd),
                reason: Reason {
                    recipe: self.name(),
                    evidence: Evidence::Rule(
                        "httpd detaches unless started with -D FOREGROUND (a container's process must stay in the foreground), and logs to stderr and stdout where its configuration names no log",
                    ),
                },
            });
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_read_as_httpd_reads_it() {
        let mut o = Options::new(Defaults::upstream(), BTreeMap::new());
        let args: Vec<String> = [
            "-f",
            "/srv/site.conf",
            "-DSSL",
            "-d/srv",
            "-k",
            "start",
            "-C",
            "Define X",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        command_line(&mut o, &args);
        assert_eq!(o.config_file, Path::new("/srv/site.conf"));
        assert_eq!(o.server_root, Path::new("/srv"));
        assert_eq!(o.defines, ["SSL"]);
        assert_eq!(o.pre_directives, ["Define X"]);
    }
}
