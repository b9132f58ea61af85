//! What a read configuration makes httpd load, open or name at run time, each with the
//! directive that says so.

use std::path::PathBuf;

use super::{Config, Directive};
use crate::config::{ConfigLine, Setting};

/// A module `LoadModule` loads (`modules/core/mod_so.c`; a module already loaded is
/// skipped, as httpd does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Its identifier (`mpm_event_module`).
    pub name: String,
    /// The shared object, resolved against the server root.
    pub path: PathBuf,
    pub at: ConfigLine,
}

/// Where a log goes (`server/log.c` `open_error_log`, `modules/loggers/mod_log_config.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// A file, resolved against the server root.
    File(PathBuf),
    /// `|command` or `||command`: a program httpd starts and writes to; `|$command` runs it
    /// through `/bin/sh -c` (`shell`).
    Pipe { command: String, shell: bool },
    /// `syslog` or `syslog:facility`.
    Syslog(Option<String>),
}

impl LogTarget {
    fn of(config: &Config, arg: &str) -> LogTarget {
        if let Some(cmd) = arg.strip_prefix('|') {
            let (command, shell) = match (cmd.strip_prefix('$'), cmd.strip_prefix('|')) {
                (Some(c), _) => (c, true),
                (None, Some(c)) => (c, false),
                (None, None) => (cmd, false),
            };
            LogTarget::Pipe {
                command: command.trim().to_owned(),
                shell,
            }
        } else if arg == "syslog" {
            LogTarget::Syslog(None)
        } else if let Some(facility) = arg.strip_prefix("syslog:") {
            LogTarget::Syslog(Some(facility.to_owned()))
        } else {
            LogTarget::File(config.server_relative(arg))
        }
    }

    /// The program a piped log starts (the first word of its command): `/bin/sh` when it
    /// goes through the shell.
    pub fn program(&self) -> Option<&str> {
        match self {
            LogTarget::Pipe { shell: true, .. } => Some("/bin/sh"),
            LogTarget::Pipe { command, .. } => command.split_whitespace().next(),
            _ => None,
        }
    }
}

/// What httpd loads, reads and names at run time under a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uses {
    /// Every configuration file read, in order, with the `Include` that read it.
    pub config_files: Vec<Setting<PathBuf>>,
    /// `LoadModule`, in load order ([`Config::modules`]).
    pub modules: Vec<Module>,
    /// `LoadFile`: libraries loaded by path.
    pub load_files: Vec<Setting<PathBuf>>,
    /// The MIME types file mod_mime reads (`TypesConfig`, or the compiled-in default);
    /// `None` without mod_mime.
    pub types_config: Option<Setting<PathBuf>>,
    /// `User` and `Group` of the main server, as written (a name, or `#uid`).
    pub user: Option<Setting<String>>,
    pub group: Option<Setting<String>>,
    /// `DefaultRuntimeDir`, resolved against the server root.
    pub runtime_dir: Setting<PathBuf>,
    /// `PidFile`, resolved against the run-time directory.
    pub pid_file: Setting<PathBuf>,
    /// The main server's `ErrorLog` (or the default), then those of virtual hosts.
    pub error_logs: Vec<Setting<LogTarget>>,
    /// `CustomLog` and `TransferLog`.
    pub access_logs: Vec<Setting<LogTarget>>,
    /// The lock-file directories of `Mutex MECH:DIR` (file-based mechanisms), resolved
    /// against the run-time directory.
    pub mutex_dirs: Vec<Setting<PathBuf>>,
    /// `Listen` addresses, as written.
    pub listen: Vec<Setting<String>>,
    /// `DocumentRoot`s, resolved against the server root.
    pub document_roots: Vec<Setting<PathBuf>>,
}

impl Config {
    /// What this configuration makes httpd load and open.
    pub fn uses(&self) -> Uses {
        let at = |d: &Directive| Some(d.at.clone());
        let main = |name: &str| {
            self.directives
                .iter()
                .rev()
                .find(|d| d.is(name) && d.section.is_none() && !d.args.is_empty())
        };
        let load_files = self
            .directives
            .iter()
            .filter(|d| d.is("LoadFile"))
            .flat_map(|d| {
                d.args.iter().map(|a| Setting {
                    value: self.server_relative(a),
                    at: at(d),
                })
            })
            .collect();
        let has_mime = self.modules.iter().any(|m| m.name == "mime_module")
            || self
                .defaults
                .static_modules
                .iter()
                .any(|m| m.name == "mime_module");
        let types_config = has_mime.then(|| match main("TypesConfig") {
            Some(d) => Setting {
                value: self.server_relative(&d.args[0]),
                at: at(d),
            },
            None => Setting {
                value: self.server_relative(&self.defaults.types_config),
                at: None,
            },
        });
        let word = |name: &str| {
            main(name).map(|d| Setting {
                value: d.args[0].clone(),
                at: at(d),
            })
        };
        let runtime_dir = self.runtime_dir.clone().unwrap_or_else(|| Setting {
            value: self.server_relative(&self.defaults.runtime_dir),
            at: None,
        });
        // `ap_runtime_dir_relative`: a relative pid file lives in the run-time directory.
        let (pid, pid_at) = match main("PidFile") {
            Some(d) => (d.args[0].clone(), at(d)),
            None => (self.defaults.pid_file.clone(), None),
        };
        let pid_file = Setting {
            value: if pid.starts_with('/') {
                PathBuf::from(pid)
            } else {
                runtime_dir.value.join(pid)
            },
            at: pid_at,
        };
        let mut error_logs = Vec::new();
        let main_error = main("ErrorLog");
        error_logs.push(match main_error {
            Some(d) => Setting {
                value: LogTarget::of(self, &d.args[0]),
                at: at(d),
            },
            None => Setting {
                value: LogTarget::of(self, &self.defaults.error_log),
                at: None,
            },
        });
        for d in self
            .directives
            .iter()
            .filter(|d| d.is("ErrorLog") && !d.args.is_empty() && d.section.is_some())
        {
            error_logs.push(Setting {
                value: LogTarget::of(self, &d.args[0]),
                at: at(d),
            });
        }
        let all = |name: &'static str| {
            self.directives
                .iter()
                .filter(move |d| d.is(name) && !d.args.is_empty())
        };
        let access_logs = self
            .directives
            .iter()
            .filter(|d| (d.is("CustomLog") || d.is("TransferLog")) && !d.args.is_empty())
            .map(|d| Setting {
                value: LogTarget::of(self, &d.args[0]),
                at: at(d),
            })
            .collect();
        // `ap_parse_mutex`: `MECH:DIR`, DIR relative to the run-time directory, except for
        // no lock and for POSIX semaphores (`sem` is one on Linux), which take a name.
        let mutex_dirs = all("Mutex")
            .filter_map(|d| {
                let (mech, dir) = d.args[0].split_once(':')?;
                let mech = mech.to_ascii_lowercase();
                let named = matches!(mech.as_str(), "none" | "no" | "posixsem" | "sem");
                (!named && !dir.is_empty()).then(|| Setting {
                    value: if dir.starts_with('/') {
                        PathBuf::from(dir)
                    } else {
                        runtime_dir.value.join(dir)
                    },
                    at: at(d),
                })
            })
            .collect();
        Uses {
            config_files: self.files.clone(),
            modules: self.modules.clone(),
            load_files,
            types_config,
            user: word("User"),
            group: word("Group"),
            runtime_dir,
            pid_file,
            error_logs,
            access_logs,
            mutex_dirs,
            listen: all("Listen")
                .map(|d| Setting {
                    value: d.args[0].clone(),
                    at: at(d),
                })
                .collect(),
            document_roots: all("DocumentRoot")
                .map(|d| Setting {
                    value: self.server_relative(&d.args[0]),
                    at: at(d),
                })
                .collect(),
        }
    }
}
