//! nginx's configuration, read as nginx reads it at start-up, inside a root.
//!
//! The grammar follows `src/core/ngx_conf_file.c`:
//!
//! - the tokenizer (`ngx_conf_read_token`): words are separated by blanks; `;` ends a
//!   directive, `{` opens a block and `}` closes it; `#` starts a comment where a word could
//!   start; `"…"` and `'…'` quote a word, which must then be followed by a blank, `;` or `{`;
//!   a backslash keeps the next character (and `\"`, `\'`, `\\`, `\t`, `\r`, `\n` are
//!   unescaped); `$var` and `${var}` are left as written (they are evaluated per request);
//!   a word may hold 4096 bytes (`NGX_CONF_BUFFER`), which is also where an unterminated
//!   quote is caught;
//! - blocks close in the file that opened them (`ngx_conf_parse`);
//! - `include` (`ngx_conf_include`): relative to the directory of the main configuration
//!   file (`ngx_conf_full_name(…, 1)`, the `conf_prefix` set in `src/core/nginx.c`); a name
//!   with `*`, `?` or `[` is a `glob(3)` pattern whose matches are read in order and which
//!   may match nothing; another name must be there;
//! - `load_module` (`src/core/nginx.c` `ngx_load_module`) and the paths of `pid`,
//!   `error_log`, `access_log` and the `*_temp_path`s are relative to the prefix
//!   (`ngx_conf_full_name(…, 0)`).
//!
//! Every directive comes back with its file and line ([`Directive`]); [`Config::uses`] says
//! what the server will load and open ([`Uses`]).
//!
//! ```no_run
//! use std::path::Path;
//!
//! use depclose_resolve::Root;
//! use depclose_runtime::{Files, nginx};
//!
//! let root = Root::new(Path::new("/"))?;
//! let defaults = Files::read(&root, Path::new("/usr/sbin/nginx"))
//!     .and_then(|bytes| nginx::Defaults::from_binary(&bytes))
//!     .unwrap_or_else(nginx::Defaults::upstream);
//! let config = nginx::read(&root, &nginx::Options::new(defaults))?;
//! for module in config.uses().modules {
//!     println!("{}: load_module {}", module.at, module.path.display());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod binary;
mod recipe;
mod uses;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use binary::Defaults;
pub use uses::{LogTarget, Module, Uses};

pub(crate) use recipe::Nginx;

use crate::config::relative_to as full_name;
use crate::config::{ConfigError, ConfigLine, Setting};
use crate::files::{Files, has_wildcard, normalize};

/// The longest word nginx reads (`NGX_CONF_BUFFER`).
const MAX_WORD: usize = 4096;

/// nginx sets no limit on nested includes (a loop exhausts its descriptors); this reader
/// stops here.
const MAX_INCLUDE_DEPTH: usize = 128;

/// How nginx is started: `-p`, `-c`, `-g` and its compiled-in defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-p`: the prefix relative paths resolve against.
    pub prefix: PathBuf,
    /// `-c`: the main configuration file, relative to the prefix unless absolute.
    pub conf_file: PathBuf,
    /// `-g`: global directives read before the file (`ngx_conf_param`), such as
    /// `daemon off;` (evidence file `-g`); empty for none.
    pub globals: String,
    pub defaults: Defaults,
}

impl Options {
    /// nginx as started without `-p` or `-c`.
    pub fn new(defaults: Defaults) -> Options {
        Options {
            prefix: PathBuf::from(&defaults.prefix),
            conf_file: PathBuf::from(&defaults.conf_path),
            globals: String::new(),
            defaults,
        }
    }
}

/// One directive as nginx read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    /// The arguments, unquoted and unescaped; variables as written.
    pub args: Vec<String>,
    pub at: ConfigLine,
    /// The index of the block directive (`http`, `server`, …) it is in, if any.
    pub block: Option<usize>,
    /// True when it opens a block (`http {`).
    pub opens_block: bool,
}

/// A configuration as nginx read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The prefix (`-p`).
    pub prefix: PathBuf,
    /// The directory of the main configuration file, against which includes resolve.
    pub conf_prefix: PathBuf,
    /// Every directive, in the order nginx read them.
    pub directives: Vec<Directive>,
    /// Every configuration file read, in order, as named, with the `include` that read it
    /// (`None` for the main file).
    pub files: Vec<Setting<PathBuf>>,
    pub defaults: Defaults,
}

impl Config {
    /// `ngx_get_full_name` against the prefix.
    pub fn prefix_relative(&self, path: &str) -> PathBuf {
        full_name(&self.prefix, path)
    }
}

/// Read the configuration `options` name from `files`, as nginx would at start-up.
pub fn read<F: Files + ?Sized>(files: &F, options: &Options) -> Result<Config, ConfigError> {
    let main = full_name(&options.prefix, &options.conf_file.to_string_lossy());
    let conf_prefix = main.parent().unwrap_or(Path::new("/")).to_path_buf();
    let Some(bytes) = files.read(&main) else {
        return Err(ConfigError::Unreadable { file: main });
    };
    let mut r = Reader {
        files,
        stack: vec![files.resolve(&main).unwrap_or_else(|| normalize(&main))],
        config: Config {
            prefix: options.prefix.clone(),
            conf_prefix,
            directives: Vec::new(),
            files: Vec::new(),
            defaults: options.defaults.clone(),
        },
    };
    if !options.globals.is_empty() {
        r.file(Path::new("-g"), options.globals.as_bytes(), None)?;
    }
    r.config.files.push(Setting {
        value: main.clone(),
        at: None,
    });
    r.file(&main, &bytes, None)?;
    Ok(r.config)
}

/// What ends a statement of the tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// `;`
    Directive,
    /// `{`
    Block,
    /// `}`
    Close,
    /// The end of the file, with nothing pending.
    Eof,
}

/// One statement: its words, the line of its first word, its source up to its `;` or `{`
/// (line breaks made spaces), and what ended it.
#[derive(Debug)]
struct Stmt {
    words: Vec<String>,
    line: usize,
    text: String,
    end: End,
}

/// `ngx_conf_read_token` over a whole file.
struct Tokens<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl Tokens<'_> {
    /// The next statement, or the line and reason of a syntax error.
    fn next_stmt(&mut self) -> Result<Stmt, (usize, String)> {
        let mut words: Vec<String> = Vec::new();
        let mut first_line = self.line;
        let mut start = self.pos;
        loop {
            // Between words: blanks, comments, and the characters that end a statement.
            let Some(&c) = self.text.get(self.pos) else {
                if words.is_empty() {
                    return Ok(Stmt {
                        words,
                        line: self.line,
                        text: String::new(),
                        end: End::Eof,
                    });
                }
                return Err((
                    self.line,
                    "unexpected end of file, expecting \";\" or \"}\"".into(),
                ));
            };
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.bump();
                    continue;
                }
                b'#' => {
                    while let Some(&c) = self.text.get(self.pos) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                    continue;
                }
                b';' | b'{' => {
                    self.bump();
                    if words.is_empty() {
                        return Err((self.line, format!("unexpected \"{}\"", c as char)));
                    }
                    let end = if c == b';' {
                        End::Directive
                    } else {
                        End::Block
                    };
                    return Ok(Stmt {
                        words,
                        line: first_line,
                        text: self.source(start),
                        end,
                    });
                }
                b'}' => {
                    self.bump();
                    if !words.is_empty() {
                        return Err((self.line, "unexpected \"}\"".into()));
                    }
                    return Ok(Stmt {
                        words,
                        line: self.line,
                        text: "}".into(),
                        end: End::Close,
                    });
                }
                _ => {}
            }
            if words.is_empty() {
                first_line = self.line;
                start = self.pos;
            }
            let (word, end) = self.word()?;
            words.push(word);
            if let Some(end) = end {
                return Ok(Stmt {
                    words,
                    line: first_line,
                    text: self.source(start),
                    end,
                });
            }
        }
    }

    /// The source from `start` to here, each line break (with the blanks around it) one
    /// space, for evidence.
    fn source(&self, start: usize) -> String {
        let raw = String::from_utf8_lossy(&self.text[start..self.pos]);
        raw.split('\n')
            .map(|l| l.trim_matches([' ', '\t', '\r']))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn bump(&mut self) {
        if self.text.get(self.pos) == Some(&b'\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    /// One word starting at the current byte; and the end of the statement when a `;` or
    /// `{` right after it ended it.
    fn word(&mut self) -> Result<(String, Option<End>), (usize, String)> {
        let start_line = self.line;
        let quote = match self.text[self.pos] {
            q @ (b'"' | b'\'') => {
                self.bump();
                Some(q)
            }
            _ => None,
        };
        let start = self.pos;
        let mut variable = false;
        loop {
            if self.pos - start > MAX_WORD {
                let reason = match quote {
                    Some(q) => format!(
                        "too long parameter, probably missing terminating \"{}\" character",
                        q as char
                    ),
                    None => {
                        let head = &self.text[start..start + 10];
                        format!(
                            "too long parameter \"{}...\" started",
                            String::from_utf8_lossy(head)
                        )
                    }
                };
                return Err((start_line, reason));
            }
            let Some(&c) = self.text.get(self.pos) else {
                return Err((
                    self.line,
                    "unexpected end of file, expecting \";\" or \"}\"".into(),
                ));
            };
            if c == b'\\' {
                // The escaped character is kept whatever it is (a newline too).
                self.bump();
                if self.pos < self.text.len() {
                    self.bump();
                }
                variable = false;
                continue;
            }
            if c == b'{' && variable {
                self.bump();
                continue;
            }
            variable = c == b'$';
            match quote {
                Some(q) if c == q => {
                    let word = unescape(&self.text[start..self.pos]);
                    self.bump();
                    // A quoted word must be followed by a blank, `;`, `{` (or `)`).
                    return match self.text.get(self.pos) {
                        None | Some(b' ' | b'\t' | b'\r' | b'\n') => Ok((word, None)),
                        // nginx lets `)` follow a quote (`if ($a = "b")`); it starts the
                        // next word.
                        Some(b')') => Ok((word, None)),
                        Some(b';') => {
                            self.bump();
                            Ok((word, Some(End::Directive)))
                        }
                        Some(b'{') => {
                            self.bump();
                            Ok((word, Some(End::Block)))
                        }
                        Some(&other) => {
                            Err((self.line, format!("unexpected \"{}\"", other as char)))
                        }
                    };
                }
                Some(_) => self.bump(),
                None => match c {
                    b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' => {
                        let word = unescape(&self.text[start..self.pos]);
                        let end = match c {
                            b';' => Some(End::Directive),
                            b'{' => Some(End::Block),
                            _ => None,
                        };
                        self.bump();
                        return Ok((word, end));
                    }
                    _ => self.bump(),
                },
            }
        }
    }
}

/// The unescaping of `ngx_conf_read_token`'s word copy.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            match raw.get(i + 1) {
                Some(&c @ (b'"' | b'\'' | b'\\')) => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Reader<'a, F: ?Sized> {
    files: &'a F,
    /// The files being read, outermost first (resolved), for loops.
    stack: Vec<PathBuf>,
    config: Config,
}

impl<F: Files + ?Sized> Reader<'_, F> {
    /// `ngx_conf_parse` of one file; `outer` is the block the `include` is in.
    fn file(&mut self, name: &Path, text: &[u8], outer: Option<usize>) -> Result<(), ConfigError> {
        let syntax = |line, reason: &str| ConfigError::Syntax {
            file: name.to_path_buf(),
            line,
            reason: reason.to_owned(),
        };
        let mut tokens = Tokens {
            text,
            pos: 0,
            line: 1,
        };
        // The blocks open in this file: directive index and line.
        let mut open: Vec<(usize, usize)> = Vec::new();
        loop {
            let stmt = tokens
                .next_stmt()
                .map_err(|(line, reason)| syntax(line, &reason))?;
            match stmt.end {
                End::Eof => {
                    if let Some(&(_, line)) = open.last() {
                        return Err(syntax(
                            line,
                            "unexpected end of file, expecting \"}\" for the block opened here",
                        ));
                    }
                    return Ok(());
                }
                End::Close => {
                    if open.pop().is_none() {
                        return Err(syntax(stmt.line, "unexpected \"}\""));
                    }
                    continue;
                }
                End::Directive | End::Block => {}
            }
            let mut words = stmt.words.into_iter();
            let name_word = words.next().unwrap_or_default();
            let args: Vec<String> = words.collect();
            let block = open.last().map(|&(i, _)| i).or(outer);
            let index = self.config.directives.len();
            let opens_block = stmt.end == End::Block;
            let at = ConfigLine {
                file: name.to_path_buf(),
                line: stmt.line,
                text: stmt.text,
            };
            self.config.directives.push(Directive {
                name: name_word.clone(),
                args: args.clone(),
                at: at.clone(),
                block,
                opens_block,
            });
            if opens_block {
                open.push((index, stmt.line));
                continue;
            }
            if name_word == "include" {
                let [pattern] = args.as_slice() else {
                    return Err(syntax(
                        stmt.line,
                        "invalid number of arguments in \"include\" directive",
                    ));
                };
                self.include(pattern, &at, block)?;
            }
        }
    }

    /// `ngx_conf_include`.
    fn include(
        &mut self,
        pattern: &str,
        at: &ConfigLine,
        block: Option<usize>,
    ) -> Result<(), ConfigError> {
        let full = full_name(&self.config.conf_prefix, pattern);
        let paths = if has_wildcard(pattern) {
            // glob(3) sorts whole paths (`strcmp` in nginx's C locale).
            let mut paths = self.files.glob(&full);
            paths.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
            paths
        } else {
            vec![full]
        };
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::TooDeep {
                file: at.file.clone(),
                line: at.line,
                limit: MAX_INCLUDE_DEPTH,
            });
        }
        for path in paths {
            let real = self
                .files
                .resolve(&path)
                .unwrap_or_else(|| normalize(&path));
            if self.stack.contains(&real) {
                return Err(ConfigError::IncludeLoop {
                    file: at.file.clone(),
                    line: at.line,
                    path,
                });
            }
            let Some(bytes) = self.files.read(&path) else {
                return Err(ConfigError::MissingInclude {
                    file: at.file.clone(),
                    line: at.line,
                    path,
                    reason: "open() failed",
                });
            };
            self.stack.push(real);
            self.config.files.push(Setting {
                value: path.clone(),
                at: Some(at.clone()),
            });
            let r = self.file(&path, &bytes, block);
            self.stack.pop();
            r?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
