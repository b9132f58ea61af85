//! Apache httpd's configuration, read as httpd 2.4 reads it at start-up, inside a root.
//!
//! The grammar follows httpd's sources:
//!
//! - lines (`server/util.c` `ap_cfg_getline`): a backslash right before the newline joins the
//!   next line; leading and trailing blanks are dropped; a line whose first character is
//!   `#` is a comment (there are no trailing comments); a line may hold 16 MiB
//!   (`server/config.c` `VARBUF_MAX_LEN`);
//! - `${NAME}` is replaced in the whole line before it is split (`ap_resolve_env`,
//!   `server/core.c`): by a `Define`d value, else the environment, else `${NAME?=default}`'s
//!   default; an undefined one stays as written and httpd warns ("Config variable ${NAME} is
//!   not defined"), as does this reader ([`Warning::UndefinedVariable`]);
//! - words (`ap_getword_conf`): blank-separated, or quoted with `"` or `'`, inside which a
//!   backslash escapes the quote or a backslash;
//! - the directive name is case-insensitive; `<Name args>` opens a section that
//!   `</Name>` closes in the same file (`ap_build_config_sub`);
//! - the directives httpd runs while it reads (`EXEC_ON_READ`), in file order: `Include`
//!   and `IncludeOptional` (`server/core.c` `include_config`, `server/config.c`
//!   `ap_process_fnmatch_configs`, `server/util.c` `ap_dir_fnmatch`/`ap_dir_nofnmatch`:
//!   wildcards in any component, matches sorted with `strcmp`, a directory read whole and
//!   recursively, a wildcard matching nothing an error for `Include` only),
//!   `Define`/`UnDefine`, `ServerRoot`, `DefaultRuntimeDir`, `LoadModule`
//!   (`modules/core/mod_so.c`) and the conditional sections `<IfModule>`, `<IfDefine>`,
//!   `<IfFile>` (`start_cond_section`); a section whose test fails is skipped to its end
//!   (`ap_soak_end_container`). `<IfDirective>`, `<IfSection>` and `<IfVersion>` test what
//!   the loaded modules' code provides, which no file says: their sections are read, with
//!   a [`Warning::Undecided`].
//!
//! Relative paths are relative to the server root in force (`ap_server_root_relative`).
//! httpd finds include loops only by its depth limit (128); this reader names the file
//! that includes itself ([`ConfigError::IncludeLoop`]). Every directive read comes back
//! with its file and line ([`Directive`]); [`Config::uses`] then says what the server will
//! load and open ([`Uses`]).
//!
//! Not followed: `mod_macro`'s `<Macro>`/`Use` (a macro's body is kept as directives of its
//! definition, not expanded where it is used) and `<If>` expressions, which httpd evaluates
//! per request (their directives are all read).
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::path::Path;
//!
//! use depclose_resolve::Root;
//! use depclose_runtime::{Files, apache};
//!
//! let root = Root::new(Path::new("/"))?;
//! // As `apache2ctl` starts it: the binary's defaults, the environment of `envvars`.
//! let defaults = Files::read(&root, Path::new("/usr/sbin/apache2"))
//!     .and_then(|bytes| apache::Defaults::from_binary(&bytes))
//!     .unwrap_or_else(apache::Defaults::upstream);
//! let script = Files::read_to_string(&root, Path::new("/etc/apache2/envvars"));
//! let env = apache::envvars(&script.unwrap_or_default(), &BTreeMap::new()).env;
//! let config = apache::read(&root, &apache::Options::new(defaults, env))?;
//! for module in config.uses().modules {
//!     println!("{}: {} loads {}", module.at, module.name, module.path.display());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod binary;
mod envvars;
mod recipe;
mod uses;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use binary::{DEBIAN_STATIC_MODULES, Defaults, StaticModule, static_modules};
pub use envvars::{Envvars, Skipped, envvars};
pub use uses::{LogTarget, Module, Uses};

pub(crate) use recipe::Httpd;

use crate::config::relative_to as server_relative;
use crate::config::{ConfigError, ConfigLine, Setting};
use crate::files::{Files, has_wildcard, normalize};

/// httpd refuses `Include`s nested deeper than this (`server/core.c` `AP_MAX_INCLUDE_DEPTH`).
const MAX_INCLUDE_DEPTH: usize = 128;

/// … and included directories nested deeper than this (`AP_MAX_FNMATCH_DIR_DEPTH`).
const MAX_DIR_DEPTH: usize = 128;

/// The longest line httpd reads (`server/config.c` `VARBUF_MAX_LEN`).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// How the server is started: the `-d`, `-f`, `-D`, `-C` and `-c` of its command line, its
/// environment and its compiled-in defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-d`: the server root, against which relative paths resolve.
    pub server_root: PathBuf,
    /// `-f`: the main configuration file, relative to the server root unless absolute.
    pub config_file: PathBuf,
    /// `-D NAME`: names defined for `<IfDefine>`.
    pub defines: Vec<String>,
    /// `-C "directive"`: read before the configuration file (evidence file `-C`, line =
    /// its position).
    pub pre_directives: Vec<String>,
    /// `-c "directive"`: read after it (evidence file `-c`).
    pub post_directives: Vec<String>,
    /// The environment `${NAME}` reads (on Debian, what `/etc/apache2/envvars` exports:
    /// see [`envvars()`]).
    pub env: BTreeMap<String, String>,
    /// What the binary was built with.
    pub defaults: Defaults,
}

impl Options {
    /// The server as started without `-d`, `-f` or `-D`, with `env` for its environment.
    pub fn new(defaults: Defaults, env: BTreeMap<String, String>) -> Options {
        Options {
            server_root: PathBuf::from(&defaults.httpd_root),
            config_file: PathBuf::from(&defaults.server_config_file),
            defines: Vec::new(),
            pre_directives: Vec::new(),
            post_directives: Vec::new(),
            env,
            defaults,
        }
    }
}

/// One directive as httpd read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The name as written (`LoadModule`, `<VirtualHost`); compare it case-insensitively.
    pub name: String,
    /// The arguments, unquoted, with `${NAME}` replaced; a section's without its `>`.
    pub args: Vec<String>,
    pub at: ConfigLine,
    /// The index of the section (`<VirtualHost`, `<Directory`, …) it is in, if any.
    /// Conditional sections are decided while reading and are not directives.
    pub section: Option<usize>,
}

impl Directive {
    /// True when this is the directive `name` (case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Something httpd would warn about and go on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// `${NAME}` with no `Define`, environment variable or default: kept as written.
    UndefinedVariable { name: String, at: ConfigLine },
    /// A condition that depends on what the modules provide (`<IfDirective>`,
    /// `<IfSection>`, `<IfVersion>`), which a reader of files cannot decide: its section is
    /// read, so that nothing it loads is missed.
    Undecided {
        section: String,
        test: String,
        at: ConfigLine,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::UndefinedVariable { name, at } => {
                write!(f, "{at}: config variable ${{{name}}} is not defined")
            }
            Warning::Undecided { section, test, at } => {
                write!(
                    f,
                    "{at}: <{section} {test}> cannot be decided; read as true"
                )
            }
        }
    }
}

/// A configuration as httpd read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The server root paths resolve against: `-d`, or the last `ServerRoot`.
    pub server_root: PathBuf,
    /// Every directive, in the order httpd read them.
    pub directives: Vec<Directive>,
    /// Every configuration file read, in order, as named (a file read twice, twice), with
    /// the `Include` that read it (`None` for the main file).
    pub files: Vec<Setting<PathBuf>>,
    pub warnings: Vec<Warning>,
    /// The modules `LoadModule` loaded, in load order, each resolved against the server
    /// root in force when it ran (httpd loads them while it reads); a module already
    /// loaded is skipped, as httpd does.
    pub modules: Vec<Module>,
    /// The last `DefaultRuntimeDir`, resolved likewise when it ran.
    pub runtime_dir: Option<Setting<PathBuf>>,
    /// The defaults the server was built with.
    pub defaults: Defaults,
}

impl Config {
    /// A path as httpd resolves a configured one (`ap_server_root_relative`): absolute
    /// paths as they are, others under the server root.
    pub fn server_relative(&self, path: &str) -> PathBuf {
        server_relative(&self.server_root, path)
    }
}

/// Read the configuration `options` name from `files`, as httpd would at start-up.
pub fn read<F: Files + ?Sized>(files: &F, options: &Options) -> Result<Config, ConfigError> {
    let mut r = Reader {
        files,
        options,
        defines: options.defines.clone(),
        vars: BTreeMap::new(),
        stack: Vec::new(),
        config: Config {
            server_root: options.server_root.clone(),
            directives: Vec::new(),
            files: Vec::new(),
            warnings: Vec::new(),
            modules: Vec::new(),
            runtime_dir: None,
            defaults: options.defaults.clone(),
        },
    };
    // `-C` directives come first (`ap_read_config` runs `ap_server_pre_read_config`
    // before the file), then the file (named against the server root as `-C` left it),
    // then `-c` ones.
    r.command_line("-C", &options.pre_directives)?;
    let main = server_relative(
        &r.config.server_root,
        &options.config_file.to_string_lossy(),
    );
    let Some(text) = read_conf(files, &main) else {
        return Err(ConfigError::Unreadable { file: main });
    };
    r.stack
        .push(files.resolve(&main).unwrap_or_else(|| normalize(&main)));
    r.config.files.push(Setting {
        value: main.clone(),
        at: None,
    });
    r.file(&main, &text, None)?;
    r.command_line("-c", &options.post_directives)?;
    Ok(r.config)
}

struct Reader<'a, F: ?Sized> {
    files: &'a F,
    options: &'a Options,
    /// Names defined by `-D` and `Define`.
    defines: Vec<String>,
    /// Values given by `Define NAME value`.
    vars: BTreeMap<String, String>,
    /// The files being read, outermost first (resolved), for loops.
    stack: Vec<PathBuf>,
    config: Config,
}

/// A logical line: continuation lines joined, blanks trimmed, with its first line number.
struct Line {
    text: String,
    at: usize,
}

/// The logical lines of a file (`ap_cfg_getline`), or the line too long to read.
fn lines(text: &str) -> Result<Vec<Line>, usize> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut first = 0;
    let mut physical = text.split_inclusive('\n').enumerate().peekable();
    while let Some((i, raw)) = physical.next() {
        if buf.is_empty() {
            first = i + 1;
        }
        let mut body = raw;
        let mut continued = false;
        if let Some(b) = body.strip_suffix('\n') {
            let b = b.strip_suffix('\r').unwrap_or(b);
            match b.strip_suffix('\\') {
                Some(b) => {
                    body = b;
                    continued = true;
                }
                None => body = b,
            }
        }
        buf.push_str(body);
        if buf.len() > MAX_LINE {
            return Err(first);
        }
        if continued && physical.peek().is_some() {
            continue;
        }
        out.push(Line {
            text: buf.trim_matches(is_space).to_owned(),
            at: first,
        });
        buf.clear();
    }
    Ok(out)
}

/// C's `isspace` in the C locale, which `apr_isspace` is: not Unicode's blanks.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// One word of a line as `ap_getword_conf` reads it, and the rest of the line.
fn getword(line: &str) -> (String, &str) {
    let s = line.trim_start_matches(is_space);
    let mut chars = s.char_indices();
    let Some((_, first)) = chars.next() else {
        return (String::new(), s);
    };
    let (word, rest) = if first == '"' || first == '\'' {
        let body = &s[1..];
        let mut end = body.len();
        let mut it = body.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            if c == first {
                end = i;
                break;
            }
            if c == '\\'
                && let Some(&(_, n)) = it.peek()
                && (n == first || n == '\\')
            {
                it.next();
            }
        }
        let rest = body.get(end + 1..).unwrap_or("");
        (unescape(&body[..end], Some(first)), rest)
    } else {
        let end = s.find(is_space).unwrap_or(s.len());
        (unescape(&s[..end], None), &s[end..])
    };
    (word, rest.trim_start_matches(is_space))
}

/// `substring_conf`: a backslash before a backslash (or, quoted, before the quote) is dropped.
fn unescape(s: &str, quote: Option<char>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\'
            && let Some(&n) = it.peek()
            && (n == '\\' || Some(n) == quote)
        {
            out.push(n);
            it.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// Every word of `line`.
fn words(mut line: &str) -> Vec<String> {
    let mut out = Vec::new();
    while !line.trim_start_matches(is_space).is_empty() {
        let (w, rest) = getword(line);
        out.push(w);
        line = rest;
    }
    out
}

/// The conditional sections httpd decides while reading.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cond {
    Module,
    Define,
    File,
    Directive,
    Section,
    Version,
}

fn cond_of(lname: &str) -> Option<Cond> {
    Some(match lname {
        "<ifmodule" => Cond::Module,
        "<ifdefine" => Cond::Define,
        "<iffile" => Cond::File,
        "<ifdirective" => Cond::Directive,
        "<ifsection" => Cond::Section,
        "<ifversion" => Cond::Version,
        _ => return None,
    })
}

/// An open section of the file being read.
struct Open {
    /// Its name without `<`, as written.
    name: String,
    /// The directive it is, for a section kept in the output; `None` for a conditional one.
    index: Option<usize>,
    at: usize,
}

impl<F: Files + ?Sized> Reader<'_, F> {
    fn at(file: &Path, line: &Line) -> ConfigLine {
        ConfigLine {
            file: file.to_path_buf(),
            line: line.at,
            text: line.text.clone(),
        }
    }

    /// Directives given on the command line, one a line, as if a file named `flag`.
    fn command_line(&mut self, flag: &str, directives: &[String]) -> Result<(), ConfigError> {
        if directives.is_empty() {
            return Ok(());
        }
        // A newline inside one would start a second line; the flag takes one directive.
        let text: Vec<String> = directives.iter().map(|d| d.replace('\n', " ")).collect();
        self.file(Path::new(flag), &text.join("\n"), None)
    }

    /// Read one configuration file (`ap_process_resource_config`).
    /// `outer` is the section the including directive is in.
    fn file(&mut self, name: &Path, text: &str, outer: Option<usize>) -> Result<(), ConfigError> {
        let lines = lines(text).map_err(|line| ConfigError::Syntax {
            file: name.to_path_buf(),
            line,
            reason: format!("line longer than {MAX_LINE} bytes"),
        })?;
        let mut open: Vec<Open> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line = &lines[i];
            i += 1;
            if line.text.is_empty() || line.text.starts_with('#') {
                continue;
            }
            let at = Self::at(name, line);
            let text = self.resolve_env(&line.text, &at);
            let (mut cmd, rest) = getword(&text);
            let mut args = rest.to_owned();
            if !cmd.starts_with("</") {
                if cmd.ends_with('>') {
                    cmd.pop();
                }
                if cmd.starts_with('<') && args.is_empty() {
                    args = ">".to_owned();
                }
            }
            let lname = cmd.to_ascii_lowercase();
            if let Some(close) = cmd.strip_prefix("</") {
                let Some(close) = close.strip_suffix('>') else {
                    return Err(ConfigError::syntax(
                        &at,
                        format!("{cmd} directive missing closing '>'"),
                    ));
                };
                let Some(top) = open.pop() else {
                    return Err(ConfigError::syntax(
                        &at,
                        format!("{cmd} without matching <{close}> section"),
                    ));
                };
                if !top.name.eq_ignore_ascii_case(close) {
                    return Err(ConfigError::syntax(
                        &at,
                        format!("Expected </{}> but saw {cmd}", top.name),
                    ));
                }
                continue;
            }
            if let Some(cond) = cond_of(&lname) {
                let taken = self.test(cond, &cmd, &args, &at)?;
                if taken {
                    open.push(Open {
                        name: cmd[1..].to_owned(),
                        index: None,
                        at: line.at,
                    });
                } else {
                    i = soak(&lines, i, &cmd[1..], name)?;
                }
                continue;
            }
            let section = open.iter().rev().find_map(|o| o.index).or(outer);
            let argv = if cmd.starts_with('<') {
                let Some(end) = args.rfind('>') else {
                    return Err(ConfigError::syntax(
                        &at,
                        format!("{cmd}> directive missing closing '>'"),
                    ));
                };
                words(&args[..end])
            } else {
                words(&args)
            };
            let index = self.config.directives.len();
            self.config.directives.push(Directive {
                name: cmd.clone(),
                args: argv.clone(),
                at: at.clone(),
                section,
            });
            if let Some(name) = cmd.strip_prefix('<') {
                open.push(Open {
                    name: name.to_owned(),
                    index: Some(index),
                    at: line.at,
                });
                continue;
            }
            self.execute(&lname, &argv, &at, section)?;
        }
        if let Some(o) = open.pop() {
            return Err(ConfigError::Syntax {
                file: name.to_path_buf(),
                line: o.at,
                reason: format!("<{}> was not closed.", o.name),
            });
        }
        Ok(())
    }

    /// Run what httpd runs while reading (`EXEC_ON_READ`).
    fn execute(
        &mut self,
        lname: &str,
        argv: &[String],
        at: &ConfigLine,
        section: Option<usize>,
    ) -> Result<(), ConfigError> {
        match lname {
            "define" | "undefine" => {
                let define = lname == "define";
                let (Some(name), true) = (argv.first(), argv.len() <= if define { 2 } else { 1 })
                else {
                    let reason = if define {
                        "Define takes one or two arguments"
                    } else {
                        "UnDefine takes one argument"
                    };
                    return Err(ConfigError::syntax(at, reason));
                };
                if name.contains(':') {
                    return Err(ConfigError::syntax(
                        at,
                        "Variable name must not contain ':'",
                    ));
                }
                if define {
                    if !self.defines.contains(name) {
                        self.defines.push(name.clone());
                    }
                    if let Some(v) = argv.get(1) {
                        self.vars.insert(name.clone(), v.clone());
                    }
                } else {
                    self.defines.retain(|d| d != name);
                    self.vars.remove(name);
                }
            }
            "loadmodule" => {
                let [name, path] = argv else {
                    return Err(ConfigError::syntax(
                        at,
                        "LoadModule takes two arguments, a module name and the name of a shared object file to load it from",
                    ));
                };
                if !self.config.modules.iter().any(|m| &m.name == name) {
                    self.config.modules.push(Module {
                        name: name.clone(),
                        path: server_relative(&self.config.server_root, path),
                        at: at.clone(),
                    });
                }
            }
            "serverroot" | "defaultruntimedir" => {
                let [path] = argv else {
                    let name = if lname == "serverroot" {
                        "ServerRoot"
                    } else {
                        "DefaultRuntimeDir"
                    };
                    return Err(ConfigError::syntax(
                        at,
                        format!("{name} takes one argument"),
                    ));
                };
                let full = normalize(&server_relative(&self.config.server_root, path));
                if lname == "defaultruntimedir" {
                    self.config.runtime_dir = Some(Setting {
                        value: full,
                        at: Some(at.clone()),
                    });
                } else if self.files.is_dir(&full) {
                    self.config.server_root = full;
                } else {
                    return Err(ConfigError::syntax(
                        at,
                        "ServerRoot must be a valid directory",
                    ));
                }
            }
            "include" | "includeoptional" => {
                let optional = lname == "includeoptional";
                let [path] = argv else {
                    let name = if optional {
                        "IncludeOptional"
                    } else {
                        "Include"
                    };
                    return Err(ConfigError::syntax(
                        at,
                        format!("{name} takes one argument"),
                    ));
                };
                // `include_config` counts the Includes being processed; the stack also
                // holds the main file.
                if self.stack.len() > MAX_INCLUDE_DEPTH {
                    return Err(ConfigError::TooDeep {
                        file: at.file.clone(),
                        line: at.line,
                        limit: MAX_INCLUDE_DEPTH,
                    });
                }
                let full = server_relative(&self.config.server_root, path);
                self.include(&full, optional, at, section)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// `ap_process_fnmatch_configs`: a pattern is expanded (no match is an error unless
    /// optional); each match, or the plain path, goes to [`Reader::include_path`].
    fn include(
        &mut self,
        full: &Path,
        optional: bool,
        at: &ConfigLine,
        section: Option<usize>,
    ) -> Result<(), ConfigError> {
        if !has_wildcard(&full.to_string_lossy()) {
            return self.include_path(full, optional, at, section, 0);
        }
        let matches = self.files.glob(full);
        if matches.is_empty() && !optional {
            return Err(ConfigError::MissingInclude {
                file: at.file.clone(),
                line: at.line,
                path: full.to_path_buf(),
                reason: "no matches for the wildcard",
            });
        }
        for m in matches {
            self.include_path(&m, optional, at, section, 0)?;
        }
        Ok(())
    }

    /// `ap_dir_nofnmatch`: a directory includes everything in it, sorted, recursively; a
    /// missing file is an error unless optional.
    fn include_path(
        &mut self,
        path: &Path,
        optional: bool,
        at: &ConfigLine,
        section: Option<usize>,
        depth: usize,
    ) -> Result<(), ConfigError> {
        if self.files.is_dir(path) {
            if depth >= MAX_DIR_DEPTH {
                return Err(ConfigError::TooDeep {
                    file: at.file.clone(),
                    line: at.line,
                    limit: MAX_DIR_DEPTH,
                });
            }
            for name in self.files.list_dir(path).unwrap_or_default() {
                self.include_path(&path.join(name), optional, at, section, depth + 1)?;
            }
            return Ok(());
        }
        if optional && !self.files.exists(path) {
            return Ok(());
        }
        let real = self.files.resolve(path).unwrap_or_else(|| normalize(path));
        if self.stack.contains(&real) {
            return Err(ConfigError::IncludeLoop {
                file: at.file.clone(),
                line: at.line,
                path: path.to_path_buf(),
            });
        }
        let Some(text) = read_conf(self.files, path) else {
            return Err(ConfigError::MissingInclude {
                file: at.file.clone(),
                line: at.line,
                path: path.to_path_buf(),
                reason: "could not open the configuration file",
            });
        };
        self.stack.push(real);
        self.config.files.push(Setting {
            value: path.to_path_buf(),
            at: Some(at.clone()),
        });
        let r = self.file(path, &text, section);
        self.stack.pop();
        r
    }

    /// `start_cond_section`: the test of `<IfX [!]arg>`.
    fn test(
        &mut self,
        cond: Cond,
        cmd: &str,
        args: &str,
        at: &ConfigLine,
    ) -> Result<bool, ConfigError> {
        let Some(end) = args.rfind('>') else {
            return Err(ConfigError::syntax(
                at,
                format!("{cmd}> directive missing closing '>'"),
            ));
        };
        let inner = &args[..end];
        let (not, inner) = match inner.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let (arg, _) = getword(inner);
        if arg.is_empty() {
            return Err(ConfigError::syntax(
                at,
                format!("{cmd}> directive requires additional arguments"),
            ));
        }
        let result = match cond {
            Cond::Module => self.has_module(&arg),
            Cond::Define => self.defines.contains(&arg),
            Cond::File => self
                .files
                .exists(&server_relative(&self.config.server_root, &arg)),
            Cond::Directive | Cond::Section | Cond::Version => {
                self.config.warnings.push(Warning::Undecided {
                    section: cmd[1..].to_owned(),
                    test: inner.trim().to_owned(),
                    at: at.clone(),
                });
                return Ok(true);
            }
        };
        Ok(result != not)
    }

    /// `find_module`: a module by its identifier (`so_module`) or its source file name
    /// (`mod_so.c`), among the static modules and those loaded so far. A loaded module's
    /// source name is taken from its shared object (`mod_ssl.so` → `mod_ssl.c`), which is
    /// how httpd's own modules are named.
    fn has_module(&self, name: &str) -> bool {
        self.options
            .defaults
            .static_modules
            .iter()
            .any(|m| m.name == name || m.source == name)
            || self.config.modules.iter().any(|m| {
                m.name == name
                    || m.path
                        .file_stem()
                        .is_some_and(|s| format!("{}.c", s.to_string_lossy()) == name)
            })
    }

    /// `ap_resolve_env` over a whole line.
    fn resolve_env(&mut self, line: &str, at: &ConfigLine) -> String {
        if !line.contains("${") {
            return line.to_owned();
        }
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let spec = &after[..end];
            let (name, default) = match spec.split_once("?=") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            match self
                .vars
                .get(name)
                .or_else(|| self.options.env.get(name))
                .map(String::as_str)
                .or(default)
            {
                Some(v) => out.push_str(v),
                None => {
                    // httpd stays quiet for names with a `:` (they belong to other
                    // modules' syntaxes, such as mod_rewrite's `${map:key}`).
                    if !name.contains(':') {
                        self.config.warnings.push(Warning::UndefinedVariable {
                            name: name.to_owned(),
                            at: at.clone(),
                        });
                    }
                    out.push_str(&rest[start..start + 2 + end + 1]);
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// A configuration file's text (`ap_pcfg_openfile`: a regular file, or `/dev/null`, which
/// httpd accepts by name as an empty one).
fn read_conf<F: Files + ?Sized>(files: &F, path: &Path) -> Option<String> {
    if path == Path::new("/dev/null") {
        return Some(String::new());
    }
    files.read_to_string(path)
}

/// `ap_soak_end_container`: skip the lines of a section whose test failed, from line index
/// `i`, up to its end (nested sections counted, `${NAME}` not replaced); the index after it.
fn soak(lines: &[Line], mut i: usize, name: &str, file: &Path) -> Result<usize, ConfigError> {
    let mut open: Vec<String> = vec![name.to_owned()];
    let start = lines.get(i.wrapping_sub(1)).map_or(0, |l| l.at);
    while i < lines.len() {
        let line = &lines[i];
        i += 1;
        let (mut cmd, args) = getword(&line.text);
        if let Some(close) = cmd.strip_prefix("</") {
            let close = close.strip_suffix('>').unwrap_or(close);
            let top = open.pop().unwrap_or_default();
            if !top.eq_ignore_ascii_case(close) {
                return Err(ConfigError::Syntax {
                    file: file.to_path_buf(),
                    line: line.at,
                    reason: format!("Expected </{top}> but saw </{close}>"),
                });
            }
            if open.is_empty() {
                return Ok(i);
            }
        } else if cmd.starts_with('<') {
            if args.is_empty() && cmd.ends_with('>') {
                cmd.pop();
            }
            open.push(cmd[1..].to_owned());
        }
    }
    Err(ConfigError::Syntax {
        file: file.to_path_buf(),
        line: start,
        reason: format!("Expected </{name}> before end of configuration"),
    })
}

#[cfg(test)]
mod tests;
