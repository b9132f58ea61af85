//! The text formats: `list`, `tree`, `--why`, and the problem lines on stderr. They are
//! written through [`Decoded`], so a name that is not UTF-8 is printed as its bytes.

use rustc_hash::FxHashSet;
use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;

use depclose_elf::name;
use depclose_resolve::{
    Attempt, Closure, EdgeTarget, Found, How, Missing, MissingKind, Object, Outcome,
};
use depclose_runtime::{Added, Reason, Want};

use crate::scan::Metadata;

/// A writer that passes [`name`]-encoded text on as the bytes it stands for, as `ld.so
/// --list` prints a name that is not UTF-8. Bytes that are not UTF-8 pass as they are.
pub(crate) struct Decoded<W: Write> {
    out: W,
    /// The start of a character the last write cut off.
    split: Vec<u8>,
}

impl<W: Write> Decoded<W> {
    pub(crate) fn new(out: W) -> Decoded<W> {
        Decoded {
            out,
            split: Vec::new(),
        }
    }
}

impl<W: Write> Write for Decoded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let joined: Vec<u8>;
        let mut rest = if self.split.is_empty() {
            buf
        } else {
            self.split.extend_from_slice(buf);
            joined = std::mem::take(&mut self.split);
            &joined
        };
        loop {
            let (text, after) = match std::str::from_utf8(rest) {
                Ok(text) => (text, None),
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // Valid up to there, so never the empty default.
                    (
                        std::str::from_utf8(valid).unwrap_or_default(),
                        Some((after, e)),
                    )
                }
            };
            self.out.write_all(&name::decode(text))?;
            let Some((after, e)) = after else { break };
            match e.error_len() {
                // A character cut off at the end: the next write completes it.
                None => {
                    self.split = after.to_vec();
                    break;
                }
                Some(n) => {
                    self.out.write_all(&after[..n])?;
                    rest = &after[n..];
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let split = std::mem::take(&mut self.split);
        self.out.write_all(&split)?;
        self.out.flush()
    }
}

/// The reason a recipe loaded object `id` of a closure, if one did.
pub(crate) fn recipe_reason(added: &[Added], id: usize) -> Option<&Reason> {
    added
        .iter()
        .find(|a| matches!(a.want, Want::Load { .. }) && a.object == Some(id))
        .map(|a| &a.reason)
}

/// What a recipe added that is not an object: a file, directory tree or directory path.
pub(crate) fn added_path(a: &Added) -> Option<(&std::path::Path, &'static str)> {
    match &a.want {
        Want::File(p) => Some((p, "file")),
        Want::Tree { path, .. } => Some((path, "tree")),
        Want::Dir { path, .. } => Some((path, "dir")),
        _ => None,
    }
}

/// Targets (and the scripts that lead to them) first, then every other object once, in load
/// order, each as the loader opens it.
/// Objects loaded at run time (`runtime`) are listed only when asked for, followed by the
/// files and directories the recipes added.
pub(crate) fn list(
    out: &mut impl Write,
    closures: &[Closure],
    added: &[Vec<Added>],
    (user, metadata): (&[UserAddition], &[Metadata]),
    runtime: bool,
) -> io::Result<()> {
    let mut listing = Listing::new(runtime);
    closures.iter().for_each(|c| listing.add(c));
    let user_paths = user.iter().map(|u| name::from_path(&u.destination));
    for path in added
        .iter()
        .flatten()
        .filter_map(added_path)
        .map(|(p, _)| name::from_path(p))
        .chain(user_paths)
        .chain(metadata.iter().map(|m| name::from_path(&m.path)))
    {
        listing.push_rest(&path);
    }
    listing.write(out)
}

/// The `list` format, built a closure at a time: the targets (and the scripts on the way
/// to them) first, then everything else, each path once.
pub(crate) struct Listing {
    /// Objects loaded at run time are listed too.
    runtime: bool,
    /// Each path once, in the order first met: the vectors keep the order, the sets (sharing
    /// the strings) the membership. Most objects of a run are met many times (libc by
    /// every program), and are looked up without a copy.
    heads: Vec<Rc<str>>,
    rest: Vec<Rc<str>>,
    seen_heads: FxHashSet<Rc<str>>,
    seen_rest: FxHashSet<Rc<str>>,
}

impl Listing {
    pub(crate) fn new(runtime: bool) -> Listing {
        Listing {
            runtime,
            heads: Vec::new(),
            rest: Vec::new(),
            seen_heads: FxHashSet::default(),
            seen_rest: FxHashSet::default(),
        }
    }

    pub(crate) fn add(&mut self, c: &Closure) {
        for s in &c.scripts {
            once(
                &mut self.heads,
                &mut self.seen_heads,
                &name::from_path(&s.path),
            );
        }
        once(&mut self.heads, &mut self.seen_heads, &c.objects[0].path);
        let runtime = self.runtime;
        for o in c.objects[1..].iter().filter(|o| runtime || !o.runtime) {
            self.push_rest(&o.path);
        }
    }

    fn push_rest(&mut self, path: &str) {
        once(&mut self.rest, &mut self.seen_rest, path);
    }

    /// A path that is a target is listed with the targets only.
    pub(crate) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        for p in &self.heads {
            writeln!(out, "{p}")?;
        }
        for p in &self.rest {
            if !self.seen_heads.contains(&**p) {
                writeln!(out, "{p}")?;
            }
        }
        Ok(())
    }
}

/// Put `path` in `list` unless `seen` has it.
fn once(list: &mut Vec<Rc<str>>, seen: &mut FxHashSet<Rc<str>>, path: &str) {
    if !seen.contains(path) {
        let path: Rc<str> = Rc::from(path);
        seen.insert(path.clone());
        list.push(path);
    }
}

/// A file or directory the user added to an image (`--add SRC[:DEST]`).
#[derive(Debug, Clone)]
pub(crate) struct UserAddition {
    /// In the root.
    pub(crate) source: std::path::PathBuf,
    /// In the image.
    pub(crate) destination: std::path::PathBuf,
}

/// A short phrase for how an object was found.
pub(crate) fn how(c: &Closure, f: &Found) -> String {
    let sub = f
        .subdir
        .as_deref()
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    let dir = f.dir.as_deref().unwrap_or("");
    match f.how {
        How::Program => "target".into(),
        How::Interpreter => "interpreter (PT_INTERP)".into(),
        How::Preload => "preload".into(),
        How::Path => "path as named".into(),
        How::Rpath { owner } => format!("RPATH {dir} of {}{sub}", c.objects[owner].path),
        How::LibraryPath => format!("LD_LIBRARY_PATH {dir}{sub}"),
        How::Runpath => format!("RUNPATH {dir}{sub}"),
        How::Cache => "ld.so.cache".into(),
        How::Conf => format!("ld.so.conf {dir}{sub}"),
        How::SystemDir => format!("system dir {dir}{sub}"),
        How::MuslPath => format!("musl path {dir}"),
    }
}

/// Why the program `target` joined, if another program executes it (a traced run saw it).
fn executed_by<'a>(added: &'a [Vec<Added>], target: &Path) -> Option<&'a Reason> {
    added
        .iter()
        .flatten()
        .find(|a| matches!(&a.want, Want::Program(p) if p == target))
        .map(|a| &a.reason)
}

/// Who needs whom: each object under the object that first loaded it; later references
/// are shown once, without their subtree.
pub(crate) fn tree(
    out: &mut impl Write,
    closures: &[Closure],
    added: &[Vec<Added>],
    (user, metadata): (&[UserAddition], &[Metadata]),
) -> io::Result<()> {
    let added_all = added;
    for (c, added) in closures.iter().zip(added) {
        for s in &c.scripts {
            writeln!(out, "{} (#! {})", name::from_path(&s.path), s.interpreter)?;
        }
        let main = &c.objects[0];
        let kind = match c.linkage {
            depclose_elf::Linkage::Dynamic => {
                match c.objects.iter().find(|o| o.found.how == How::Interpreter) {
                    Some(i) => format!("interpreter {}", i.path),
                    None => "dynamic".to_owned(),
                }
            }
            depclose_elf::Linkage::Static => "static".to_owned(),
            depclose_elf::Linkage::StaticPie => "static-pie".to_owned(),
        };
        writeln!(out, "{} [{kind}]", main.path)?;
        if let Some(r) = executed_by(added_all, &c.target) {
            writeln!(out, "  executed at run time: {r}")?;
        }
        let mut shown = vec![false; c.objects.len()];
        shown[0] = true;
        branch(out, c, added, 0, "", &mut shown)?;
        let files: Vec<(&Added, &std::path::Path)> = added
            .iter()
            .filter_map(|a| added_path(a).map(|(p, _)| (a, p)))
            .collect();
        if !files.is_empty() {
            writeln!(out, "run-time files:")?;
            for (a, path) in files {
                writeln!(out, "  {} [{}]", name::from_path(path), a.reason)?;
            }
        }
        let mentions: Vec<(&Added, &str, Option<&str>)> = added
            .iter()
            .filter_map(|a| match &a.want {
                Want::Mention { name, path } => Some((a, name.as_str(), path.as_deref())),
                _ => None,
            })
            .collect();
        if !mentions.is_empty() {
            writeln!(out, "may load at run time (not added):")?;
            for (a, name, path) in mentions {
                let at = path.unwrap_or("not found");
                writeln!(out, "  {name} => {at} [{}]", a.reason)?;
            }
        }
    }
    if !user.is_empty() {
        writeln!(out, "added with --add:")?;
        for u in user {
            writeln!(
                out,
                "  {} [from {}]",
                name::from_path(&u.destination),
                name::from_path(&u.source)
            )?;
        }
    }
    if !metadata.is_empty() {
        writeln!(out, "added for scanners:")?;
        for m in metadata {
            writeln!(out, "  {} [{}]", name::from_path(&m.path), m.reason())?;
        }
    }
    Ok(())
}

fn branch(
    out: &mut impl Write,
    c: &Closure,
    added: &[Added],
    id: usize,
    prefix: &str,
    shown: &mut [bool],
) -> io::Result<()> {
    let deps = &c.objects[id].deps;
    // What this object loads at run time (`dlopen`) follows its dependencies.
    // (Not its own dependencies, which join with it and are shown among them.)
    let runtime: Vec<usize> = (0..c.objects.len())
        .filter(|&t| c.objects[t].runtime && c.objects[t].loader == Some(id) && !shown[t])
        .filter(|&t| !deps.iter().any(|e| e.target == EdgeTarget::Object(t)))
        .collect();
    for (n, e) in deps.iter().enumerate() {
        let last = n + 1 == deps.len() && runtime.is_empty();
        let (head, next) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        match e.target {
            EdgeTarget::Object(t) => {
                let o = &c.objects[t];
                // An object's subtree hangs under the object that loaded it (`l_loader`);
                // other references name it only.
                if o.loader == Some(id) && !shown[t] {
                    shown[t] = true;
                    writeln!(
                        out,
                        "{prefix}{head}{} => {} [{}]",
                        e.name,
                        o.path,
                        how(c, &o.found)
                    )?;
                    branch(out, c, added, t, &format!("{prefix}{next}"), shown)?;
                } else if t == id {
                    writeln!(out, "{prefix}{head}{} => itself", e.name)?;
                } else {
                    writeln!(out, "{prefix}{head}{} => {}", e.name, o.path)?;
                }
            }
            EdgeTarget::Missing(_) => writeln!(out, "{prefix}{head}{} => NOT FOUND", e.name)?,
            EdgeTarget::Skipped => writeln!(out, "{prefix}{head}{} (not looked up)", e.name)?,
            EdgeTarget::Vdso => writeln!(out, "{prefix}{head}{} => the kernel's vDSO", e.name)?,
        }
    }
    for (n, &t) in runtime.iter().enumerate() {
        let (head, next) = if n + 1 == runtime.len() {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let o = &c.objects[t];
        shown[t] = true;
        let name = o.names.first().map_or(o.path.as_str(), String::as_str);
        let by = recipe_reason(added, t)
            .map(|r| format!(" by {r}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{prefix}{head}{name} => {} [dlopen at run time{by}; {}]",
            o.path,
            how(c, &o.found)
        )?;
        branch(out, c, added, t, &format!("{prefix}{next}"), shown)?;
    }
    Ok(())
}

fn outcome(o: &Outcome) -> String {
    match o {
        Outcome::Absent => "no such file".into(),
        Outcome::Unreadable => "permission denied".into(),
        Outcome::SymlinkLoop => "too many levels of symbolic links".into(),
        Outcome::WrongClass => "wrong ELF class, skipped".into(),
        Outcome::WrongMachine => "wrong machine, skipped".into(),
        Outcome::NoDefLib => "in a system dir, skipped for DF_1_NODEFLIB".into(),
        Outcome::Chosen => "chosen".into(),
        Outcome::Fatal(r) => format!("error: {r}"),
    }
}

/// The search as `LD_DEBUG=libs` would show it: each step, then the files it tried.
fn trace(out: &mut impl Write, c: &Closure, tried: &[Attempt]) -> io::Result<()> {
    let mut step = None;
    for a in tried {
        if a.via != step {
            step = a.via;
            let what = match a.via {
                Some(How::Rpath { owner }) => format!("RPATH of {}", c.objects[owner].path),
                Some(How::LibraryPath) => "LD_LIBRARY_PATH".into(),
                Some(How::Runpath) => "RUNPATH".into(),
                Some(How::Cache) => "ld.so.cache".into(),
                Some(How::Conf) => "ld.so.conf directories".into(),
                Some(How::SystemDir) => "system directories".into(),
                Some(How::MuslPath) => "musl path".into(),
                Some(How::Path) => "path as given".into(),
                _ => "interpreter".into(),
            };
            writeln!(out, "    search {what}")?;
        }
        writeln!(
            out,
            "      trying file={}  ({})",
            a.path,
            outcome(&a.outcome)
        )?;
    }
    Ok(())
}

fn matches(o: &Object, name: &str) -> bool {
    o.path == name
        || o.names.iter().any(|n| n == name)
        || o.elf.soname.as_deref() == Some(name)
        || name::from_path(&o.real) == name
        || o.path.rsplit('/').next() == Some(name)
}

/// The chain from the target to `name` and the search that found (or did not find) it.
pub(crate) fn why(
    out: &mut impl Write,
    closures: &[Closure],
    added: &[Vec<Added>],
    name: &str,
) -> io::Result<bool> {
    let mut any = false;
    let all = added;
    for (c, added) in closures.iter().zip(added) {
        if let Some(id) = c.objects.iter().position(|o| matches(o, name)) {
            any = true;
            let mut chain = vec![id];
            let mut at = c.objects[id].loader;
            while let Some(l) = at {
                chain.push(l);
                at = c.objects[l].loader;
            }
            writeln!(out, "{}:", c.objects[0].path)?;
            for (depth, &i) in chain.iter().rev().enumerate() {
                let o = &c.objects[i];
                writeln!(
                    out,
                    "{}{} [{}]",
                    "  ".repeat(depth),
                    o.path,
                    how(c, &o.found)
                )?;
            }
            let o = &c.objects[id];
            let others: Vec<&str> = o
                .needed_by
                .iter()
                .filter(|&&n| Some(n) != o.loader)
                .map(|&n| c.objects[n].path.as_str())
                .collect();
            if !others.is_empty() {
                writeln!(out, "  also needed by: {}", others.join(", "))?;
            }
            if let Some(r) = recipe_reason(added, id) {
                writeln!(out, "  loaded at run time: {r}")?;
            }
            if let Some(r) = executed_by(all, &c.target).filter(|_| id == 0) {
                writeln!(out, "  executed at run time: {r}")?;
            }
            if !o.trace.is_empty() {
                writeln!(out, "  the search (as LD_DEBUG=libs shows it):")?;
                trace(out, c, &o.trace)?;
            }
        }
        for m in c.missing.iter().filter(|m| m.name == name) {
            any = true;
            writeln!(out, "{}:", c.objects[0].path)?;
            writeln!(
                out,
                "  {} needed by {}: NOT FOUND",
                m.name, c.objects[m.requester].path
            )?;
            trace(out, c, &m.tried)?;
        }
    }
    Ok(any)
}

fn kind(m: &Missing) -> &'static str {
    match m.kind {
        MissingKind::Needed => "needed",
        MissingKind::Filter => "filter",
        MissingKind::Auxiliary => "auxiliary filter (optional)",
        MissingKind::Interpreter => "interpreter",
        MissingKind::Preload => "preload (ignored by the loader)",
        MissingKind::Runtime => "loaded at run time",
    }
}

/// Every missing name and loader stop, printed to stderr as closures come, one line each
/// (a name a requester lacks, once). With `allow_missing` a missing name is a warning (a
/// loader stop stays an error).
pub(crate) struct Problems {
    allow_missing: bool,
    said: FxHashSet<(String, String)>,
    complete: bool,
    stops: bool,
}

impl Problems {
    pub(crate) fn new(allow_missing: bool) -> Problems {
        Problems {
            allow_missing,
            said: FxHashSet::default(),
            complete: true,
            stops: false,
        }
    }

    pub(crate) fn report(&mut self, c: &Closure) {
        for m in &c.missing {
            // The loader's stop is reported below, once.
            if c.fatal
                .as_ref()
                .is_some_and(|f| f.name == m.name && f.requester == m.requester)
            {
                continue;
            }
            let requester = &c.objects[m.requester].path;
            if !self.said.insert((m.name.clone(), requester.clone())) {
                continue;
            }
            let tried: Vec<&str> = m.tried.iter().map(|a| a.path.as_str()).collect();
            let searched = if let Some(r) = &m.reason {
                r.clone()
            } else if tried.is_empty() {
                "no directory to search".into()
            } else {
                format!("tried {}", tried.join(", "))
            };
            let level = if m.required() && !self.allow_missing {
                "error"
            } else {
                "warning"
            };
            eprintln!(
                "depclose: {level}: {}: not found ({} by {requester}; {searched})",
                m.name,
                kind(m)
            );
        }
        if let Some(f) = &c.fatal {
            eprintln!(
                "depclose: error: {}: the loader stops at {}: {} (needed by {})",
                f.name, f.path, f.reason, c.objects[f.requester].path
            );
            self.stops = true;
        }
        for n in &c.notes {
            eprintln!("depclose: note: {n}");
        }
        self.complete &= c.is_complete();
    }

    /// Every closure is complete, or `allow_missing` accepts what is missing and no loader
    /// would stop.
    pub(crate) fn accepted(&self) -> bool {
        self.complete || (self.allow_missing && !self.stops)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Escapes come out as their bytes, whole or cut between writes; other text and bytes
    /// that are not UTF-8 pass as they are.
    #[test]
    fn decoded_writes_the_bytes_names_stand_for() {
        let text = format!("/d/{}\n", name::encode(b"lib\xff.so"));
        let expected = b"/d/lib\xff.so\n";
        for cut in 0..=text.len() {
            let mut out = Decoded::new(Vec::new());
            out.write_all(&text.as_bytes()[..cut]).unwrap();
            out.write_all(&text.as_bytes()[cut..]).unwrap();
            out.flush().unwrap();
            assert_eq!(out.out, expected, "cut at {cut}");
        }
        let mut out = Decoded::new(Vec::new());
        out.write_all(b"\xfe \xe9t\xc3\xa9 \xf4\x8f").unwrap();
        out.flush().unwrap();
        assert_eq!(out.out, b"\xfe \xe9t\xc3\xa9 \xf4\x8f");
    }
}
