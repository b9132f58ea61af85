//! What a read configuration makes nginx load, open or name at run time, each with the
//! directive that says so.

use std::path::PathBuf;

use super::{Config, Directive};
use crate::config::{ConfigLine, Setting};

/// A dynamic module `load_module` loads (`src/core/nginx.c` `ngx_load_module`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The shared object, resolved against the prefix.
    pub path: PathBuf,
    pub at: ConfigLine,
}

/// Where a log goes (`src/core/ngx_log.c` `ngx_log_set_log`,
/// `src/http/modules/ngx_http_log_module.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// A file, resolved against the prefix; an access log's name may hold variables
    /// (`$host`), kept as written.
    File(PathBuf),
    /// `stderr`.
    Stderr,
    /// `syslog:server=…,…`: the parameters after `syslog:`.
    Syslog(String),
    /// `memory:SIZE`: the in-memory ring of debug builds.
    Memory(String),
}

impl LogTarget {
    fn of(config: &Config, arg: &str) -> LogTarget {
        if arg == "stderr" {
            LogTarget::Stderr
        } else if let Some(p) = arg.strip_prefix("syslog:") {
            LogTarget::Syslog(p.to_owned())
        } else if let Some(size) = arg.strip_prefix("memory:") {
            LogTarget::Memory(size.to_owned())
        } else {
            LogTarget::File(config.prefix_relative(arg))
        }
    }
}

/// What nginx loads, reads and names at run time under a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uses {
    /// Every configuration file read, in order (`mime.types` among them), with the
    /// `include` that read it.
    pub config_files: Vec<Setting<PathBuf>>,
    /// `load_module`, in order.
    pub modules: Vec<Module>,
    /// Where each `types { }` block is (the MIME types nginx reads, usually from an
    /// included `mime.types`).
    pub types: Vec<ConfigLine>,
    /// `user USER [GROUP]` of the main context, or the compiled-in user (and group).
    pub user: Setting<String>,
    pub group: Option<Setting<String>>,
    /// `pid`, or the compiled-in path.
    pub pid: Setting<PathBuf>,
    /// The compiled-in error log nginx opens before it reads its configuration, then every
    /// `error_log`.
    pub error_logs: Vec<Setting<LogTarget>>,
    /// Every `access_log` but `off`, and the compiled-in one when an `http` block sets none.
    pub access_logs: Vec<Setting<LogTarget>>,
    /// Every `*_temp_path` directory, and the compiled-in one of each that an `http` block
    /// does not set.
    pub temp_paths: Vec<Setting<PathBuf>>,
}

impl Config {
    /// What this configuration makes nginx load and open.
    pub fn uses(&self) -> Uses {
        let at = |d: &Directive| Some(d.at.clone());
        let all = |name: &'static str| {
            self.directives
                .iter()
                .filter(move |d| d.name == name && !d.args.is_empty())
        };
        let main = |name: &'static str| all(name).rfind(|d| d.block.is_none());
        let http = self
            .directives
            .iter()
            .position(|d| d.name == "http" && d.opens_block && d.block.is_none());
        let in_http =
            |name: &'static str| http.is_some_and(|h| all(name).any(|d| d.block == Some(h)));
        let path = |d: &Directive| Setting {
            value: self.prefix_relative(&d.args[0]),
            at: at(d),
        };
        let log = |d: &Directive| Setting {
            value: LogTarget::of(self, &d.args[0]),
            at: at(d),
        };

        let (user, group) = match main("user") {
            Some(d) => (
                Setting {
                    value: d.args[0].clone(),
                    at: at(d),
                },
                // `user name` alone makes the group the user's name (`ngx_set_user`).
                Some(Setting {
                    value: d.args.get(1).unwrap_or(&d.args[0]).clone(),
                    at: at(d),
                }),
            ),
            None => (
                Setting {
                    value: self.defaults.user.clone(),
                    at: None,
                },
                self.defaults
                    .group
                    .clone()
                    .map(|value| Setting { value, at: None }),
            ),
        };
        let pid = main("pid").map(path).unwrap_or_else(|| Setting {
            value: self.prefix_relative(&self.defaults.pid_path),
            at: None,
        });
        let mut error_logs = vec![Setting {
            value: LogTarget::of(self, &self.defaults.error_log_path),
            at: None,
        }];
        error_logs.extend(all("error_log").map(log));
        let mut access_logs: Vec<_> = all("access_log")
            .filter(|d| d.args[0] != "off")
            .map(log)
            .collect();
        if http.is_some() && !in_http("access_log") {
            access_logs.insert(
                0,
                Setting {
                    value: LogTarget::of(self, &self.defaults.http_log_path),
                    at: None,
                },
            );
        }
        let mut temp_paths = Vec::new();
        for (directive, default) in &self.defaults.temp_paths {
            if http.is_some() && !in_http(directive) {
                temp_paths.push(Setting {
                    value: self.prefix_relative(default),
                    at: None,
                });
            }
            temp_paths.extend(all(directive).map(path));
        }
        Uses {
            config_files: self.files.clone(),
            modules: all("load_module")
                .map(|d| Module {
                    path: self.prefix_relative(&d.args[0]),
                    at: d.at.clone(),
                })
                .collect(),
            types: self
                .directives
                .iter()
                .filter(|d| d.name == "types" && d.opens_block)
                .map(|d| d.at.clone())
                .collect(),
            user,
            group,
            pid,
            error_logs,
            access_logs,
            temp_paths,
        }
    }
}
