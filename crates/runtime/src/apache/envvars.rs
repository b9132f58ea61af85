//! Debian's `/etc/apache2/envvars`: the shell script `apache2ctl` sources before it starts
//! the server, whose exported variables the configuration reads as `${APACHE_RUN_USER}` and
//! the like.
//!
//! This is not a shell. It reads the top-level simple assignments — `NAME=value`,
//! `export NAME=value`, `export NAME`, `unset NAME` — with the shell's quoting (`'…'`,
//! `"…"`, `\`) and `$NAME`/`${NAME}` expansion (an unset name expands to nothing, as in
//! `sh`). Everything else is skipped and listed ([`Skipped`]): compound commands (`if`,
//! `case`, loops, functions, with all they hold), `.`/`source`, other commands, and
//! assignments whose value needs more than that (`$(…)`, backquotes, `${NAME%…}` and other
//! operators). On Debian this skips only the `if` block that sets `SUFFIX` for a second
//! instance (`/etc/apache2-NAME`, from the `APACHE_CONFDIR` that `apache2ctl` sets before it
//! sources the script), so `$SUFFIX` is empty, as it is for the default instance.

use std::collections::{BTreeMap, BTreeSet};

/// A line `envvars` could not evaluate, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub text: String,
    pub why: &'static str,
}

/// The environment after the script, and what was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envvars {
    /// The environment passed in, with the script's exported variables set and its
    /// `unset`s removed.
    pub env: BTreeMap<String, String>,
    pub skipped: Vec<Skipped>,
}

/// Evaluate the simple assignments of an `envvars` script over the environment `env`.
pub fn envvars(script: &str, env: &BTreeMap<String, String>) -> Envvars {
    let mut vars = env.clone();
    let mut exported: BTreeSet<String> = env.keys().cloned().collect();
    let mut skipped = Vec::new();
    // Nesting of compound commands being skipped.
    let mut depth = 0usize;
    for (i, raw) in script.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut skip = |why| {
            skipped.push(Skipped {
                line: i + 1,
                text: line.to_owned(),
                why,
            })
        };
        let first = line.split_whitespace().next().unwrap_or("");
        let first = first.trim_end_matches(';');
        if matches!(first, "if" | "case" | "while" | "until" | "for" | "{")
            || line.ends_with("()")
            || line.ends_with("() {")
        {
            depth += 1;
            skip("a compound command");
            continue;
        }
        if matches!(first, "fi" | "esac" | "done" | "}") {
            depth = depth.saturating_sub(1);
            skip("a compound command");
            continue;
        }
        if depth > 0 {
            skip("inside a compound command");
            continue;
        }
        let (export, rest) = match line.strip_prefix("export") {
            Some(r) if r.starts_with([' ', '\t']) => (true, r.trim_start()),
            _ => (false, line),
        };
        if let Some(r) = line
            .strip_prefix("unset")
            .filter(|r| r.starts_with([' ', '\t']))
        {
            for name in r.split_whitespace() {
                vars.remove(name);
                exported.remove(name);
            }
            continue;
        }
        match assignment(rest, &vars) {
            Some(Ok((name, value))) => {
                if export {
                    exported.insert(name.clone());
                }
                vars.insert(name, value);
            }
            Some(Err(why)) => skip(why),
            None if export && rest.split_whitespace().all(is_name) => {
                exported.extend(rest.split_whitespace().map(str::to_owned));
            }
            None => skip("not an assignment"),
        }
    }
    let env = vars
        .into_iter()
        .filter(|(k, _)| exported.contains(k))
        .collect();
    Envvars { env, skipped }
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `NAME=value` with its value expanded: `None` when the line is no assignment,
/// `Some(Err(why))` when the value needs more than quoting and `$NAME`.
fn assignment(
    line: &str,
    vars: &BTreeMap<String, String>,
) -> Option<Result<(String, String), &'static str>> {
    let (name, value) = line.split_once('=')?;
    if !is_name(name) {
        return None;
    }
    Some(word(value, vars).map(|v| (name.to_owned(), v)))
}

/// One shell word, quotes removed and `$NAME` expanded; what follows it must be blank or a
/// comment.
fn word(s: &str, vars: &BTreeMap<String, String>) -> Result<String, &'static str> {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\'' => loop {
                match it.next() {
                    Some('\'') => break,
                    Some(c) => out.push(c),
                    None => return Err("an unterminated quote"),
                }
            },
            '"' => loop {
                match it.next() {
                    Some('"') => break,
                    Some('\\') => match it.next() {
                        Some(c @ ('$' | '`' | '"' | '\\')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err("an unterminated quote"),
                    },
                    Some('$') => expand(&mut it, vars, &mut out)?,
                    Some('`') => return Err("a command substitution"),
                    Some(c) => out.push(c),
                    None => return Err("an unterminated quote"),
                }
            },
            '\\' => match it.next() {
                Some(c) => out.push(c),
                None => return Err("a line continuation"),
            },
            '$' => expand(&mut it, vars, &mut out)?,
            '`' => return Err("a command substitution"),
            ' ' | '\t' => {
                let rest: String = it.collect();
                let rest = rest.trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    return Ok(out);
                }
                return Err("more than one word");
            }
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => return Err("a command list or redirection"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// After a `$`: `NAME` or `{NAME}`, replaced by its value (nothing when unset).
fn expand(
    it: &mut std::iter::Peekable<std::str::Chars<'_>>,
    vars: &BTreeMap<String, String>,
    out: &mut String,
) -> Result<(), &'static str> {
    let mut name = String::new();
    match it.peek() {
        Some('{') => {
            it.next();
            loop {
                match it.next() {
                    Some('}') => break,
                    Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                    _ => return Err("a parameter expansion operator"),
                }
            }
        }
        Some('(') => return Err("a command substitution"),
        Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
            while let Some(&c) = it.peek() {
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    break;
                }
                name.push(c);
                it.next();
            }
        }
        _ => {
            out.push('$');
            return Ok(());
        }
    }
    if !is_name(&name) {
        return Err("a special parameter");
    }
    out.push_str(vars.get(&name).map_or("", String::as_str));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn exports_with_expansion_and_skips() {
        let script = r#"
unset HOME
if [ "${APACHE_CONFDIR##/etc/apache2-}" != "${APACHE_CONFDIR}" ] ; then
	SUFFIX="-${APACHE_CONFDIR##/etc/apache2-}"
else
	SUFFIX=
fi
export APACHE_RUN_USER=www-data
export APACHE_PID_FILE=/var/run/apache2$SUFFIX/apache2.pid
BASE='/srv/a b'
export WEB="${BASE}/www" # a comment
export LANG=C
export LANG
export ODD=$(hostname)
export Q="it's \"q\" \$X"
. /etc/default/locale
"#;
        let got = envvars(script, &env(&[("HOME", "/root"), ("PATH", "/bin")]));
        assert_eq!(
            got.env,
            env(&[
                ("APACHE_PID_FILE", "/var/run/apache2/apache2.pid"),
                ("APACHE_RUN_USER", "www-data"),
                ("LANG", "C"),
                ("PATH", "/bin"),
                ("Q", "it's \"q\" $X"),
                ("WEB", "/srv/a b/www"),
            ])
        );
        let skipped: Vec<(usize, &str)> = got.skipped.iter().map(|s| (s.line, s.why)).collect();
        assert_eq!(
            skipped,
            [
                (3, "a compound command"),
                (4, "inside a compound command"),
                (5, "inside a compound command"),
                (6, "inside a compound command"),
                (7, "a compound command"),
                (14, "a command substitution"),
                (16, "not an assignment"),
            ]
        );
    }

    #[test]
    fn this_machines_envvars() {
        let Ok(script) = std::fs::read_to_string("/etc/apache2/envvars") else {
            return;
        };
        let got = envvars(&script, &BTreeMap::new());
        assert_eq!(got.env["APACHE_RUN_USER"], "www-data");
        assert_eq!(got.env["APACHE_RUN_DIR"], "/var/run/apache2");
        assert_eq!(got.env["APACHE_LOG_DIR"], "/var/log/apache2");
        assert!(!got.env.contains_key("SUFFIX"));
    }
}
