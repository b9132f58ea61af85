//! From closures to an image: every path the loader opens with the symlinks on the way,
//! run-time additions, the user's extra files, a few basics, and a check that the staged
//! tree resolves on its own.

use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use depclose_elf::machine::*;
use depclose_elf::name;
use depclose_pack::{ImageConfig, Tree, WriteOptions};
use depclose_resolve::{Closure, ResolveOptions, Resolver, Root};

use depclose_runtime::{Added, Want};

use crate::Staged;
use crate::additions::{Addition, Entry};
use crate::config::ImageSpec;
use crate::error::Error;

/// Stage an in-root path as the loader opens it (a [`name`]-encoded loader string): every
/// symlink on the way, then the file.
fn stage_path(tree: &mut Tree, root: &Root, cwd: &Path, path: &str) -> Result<(), Error> {
    stage_path_with(tree, root, cwd, &name::to_path(path), false)
}

/// [`stage_path`] for what a recipe adds: a file the image holds already at the end of the
/// symlinks (one the user added) is the image's, and wins.
pub(crate) fn stage_recipe_path(
    tree: &mut Tree,
    root: &Root,
    cwd: &Path,
    path: &Path,
) -> Result<(), Error> {
    stage_path_with(tree, root, cwd, path, true)
}

fn stage_path_with(
    tree: &mut Tree,
    root: &Root,
    cwd: &Path,
    path: &Path,
    yield_to_added: bool,
) -> Result<(), Error> {
    let abs = cwd.join(path);
    // A `..` in the path needs the directory before it in the image too.
    let mut prefix = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                if let Some(r) = root.resolve_dir(&prefix) {
                    stage_hops(tree, root, &r.hops)?;
                    // `..` at the root stays there (`/..` is `/`), which every image has.
                    if r.real != Path::new("/") {
                        tree.add_dir(&r.real, None)?;
                    }
                }
                prefix.pop();
            }
            Component::Normal(n) => prefix.push(n),
            _ => {}
        }
    }
    let r = root.resolve(&abs)?;
    stage_hops(tree, root, &r.hops)?;
    if !(yield_to_added && tree.contains(&r.real)) {
        tree.add_file(&r.real, root.host_path(&r.real))?;
    }
    Ok(())
}

fn stage_hops(
    tree: &mut Tree,
    root: &Root,
    hops: &[depclose_resolve::SymlinkHop],
) -> Result<(), Error> {
    for h in hops {
        tree.add_host_symlink(&h.link, &h.target, root.host_path(&h.link))?;
    }
    Ok(())
}

/// The accounts an image gets unless `--no-defaults`: `/etc/passwd` and `/etc/group`.
#[derive(Debug, Clone)]
pub(crate) struct Accounts {
    passwd: String,
    group: String,
}

impl Accounts {
    /// Add the root's entry for the user `name` (and its primary group); false if the root
    /// has no such user.
    fn add_user(&mut self, root: &Root, name: &str) -> bool {
        let Some(line) = entry(root, "/etc/passwd", 0, name) else {
            return false;
        };
        if !has_entry(&self.passwd, 0, name) {
            self.passwd.push_str(&line);
            self.passwd.push('\n');
        }
        let gid = line.split(':').nth(3).unwrap_or("").to_owned();
        if let Some(g) = entry(root, "/etc/group", 2, &gid) {
            let group_name = g.split(':').next().unwrap_or("").to_owned();
            if !has_entry(&self.group, 0, &group_name) {
                self.group.push_str(&g);
                self.group.push('\n');
            }
        }
        true
    }

    /// Add the root's entry for the group `name`; false if the root has none.
    fn add_group(&mut self, root: &Root, name: &str) -> bool {
        let Some(line) = entry(root, "/etc/group", 0, name) else {
            return false;
        };
        if !has_entry(&self.group, 0, name) {
            self.group.push_str(&line);
            self.group.push('\n');
        }
        true
    }
}

/// The line of the root's `file` (passwd or group) whose field `field` is `value`.
fn entry(root: &Root, file: &str, field: usize, value: &str) -> Option<String> {
    let text = root.read(Path::new(file)).ok()?;
    String::from_utf8_lossy(&text)
        .lines()
        .find(|l| l.split(':').nth(field) == Some(value))
        .map(str::to_owned)
}

fn has_entry(text: &str, field: usize, value: &str) -> bool {
    text.lines().any(|l| l.split(':').nth(field) == Some(value))
}

/// Everything the image holds: the closures' objects, the user's additions (which win over
/// the root's files at the same path), what the recipes added, and the defaults.
pub(crate) fn stage(resolver: &Resolver, staged: &Staged<'_>) -> Result<Tree, Error> {
    let root = resolver.root();
    let run_cwd = &resolver.options().cwd;
    let mut tree = Tree::new();
    for c in staged.closures {
        for s in &c.scripts {
            stage_path_with(&mut tree, root, run_cwd, &s.path, false)?;
        }
        // An added file that moves (`--add SRC:DEST`) is staged by its addition, at DEST.
        let skip = usize::from(staged.moved.contains_key(&c.target));
        for o in &c.objects[skip..] {
            stage_path(&mut tree, root, run_cwd, &o.path)?;
        }
    }
    for add in staged.additions {
        if add.dest.is_none() {
            let hops = root.resolve(&add.src).map_err(Error::Addition)?.hops;
            stage_hops(&mut tree, root, &hops)?;
        }
        add.for_each_entry(root, &mut |src, dest, kind| {
            match kind {
                Entry::Dir => tree.add_dir(dest, Some(&root.host_path(src))),
                Entry::File => tree.add_file(dest, root.host_path(src)),
                Entry::Symlink(t) => tree.add_host_symlink(dest, t, root.host_path(src)),
            }?;
            Ok(())
        })?;
    }
    let user_paths: Vec<PathBuf> = staged
        .additions
        .iter()
        .map(|a| a.image_path(root))
        .collect();
    let mut accounts = staged.accounts.cloned();
    for a in staged.added.iter().flatten() {
        match &a.want {
            // Objects are in the closure, staged above (a program executed has a closure
            // of its own); mentions are only said.
            Want::Load { .. }
            | Want::Program(_)
            | Want::Env { .. }
            | Want::Cmd(_)
            | Want::Mention { .. } => {}
            Want::File(path) => {
                if !tree.contains(path) {
                    stage_recipe_path(&mut tree, root, run_cwd, path)?;
                }
            }
            // The user's own tree at that path (a site's DocumentRoot) is the image's already.
            Want::Tree { path, .. } if user_paths.iter().any(|u| path.starts_with(u)) => {}
            Want::Tree { path, except } => stage_tree(&mut tree, root, run_cwd, path, except)?,
            Want::Dir { path, mode } => stage_dir(&mut tree, root, path, *mode)?,
            Want::User(name) => match accounts.as_mut() {
                Some(acc) => {
                    if !acc.add_user(root, name) {
                        return Err(Error::RecipeUser {
                            name: name.clone(),
                            reason: a.reason.to_string(),
                            passwd: passwd_path(root),
                        });
                    }
                }
                None => eprintln!(
                    "depclose: warning: {}: user {name} is not in the image (--no-defaults leaves /etc/passwd out)",
                    a.reason
                ),
            },
            Want::Group(name) => {
                if let Some(acc) = accounts.as_mut() {
                    acc.add_group(root, name);
                }
            }
        }
    }
    if let Some(cache) = depclose_resolve::image_ld_so_cache(staged.closures) {
        if !tree.contains("/etc/ld.so.cache") {
            tree.add_bytes("/etc/ld.so.cache", cache, 0o644)?;
        }
    }
    if let Some(accounts) = &accounts {
        if !tree.contains("/etc/passwd") {
            tree.add_bytes("/etc/passwd", accounts.passwd.as_str(), 0o644)?;
        }
        if !tree.contains("/etc/group") {
            tree.add_bytes("/etc/group", accounts.group.as_str(), 0o644)?;
        }
        // An implicit /tmp (the parent of staged files) takes the mode; one the user added
        // keeps theirs.
        match tree.add_dir_with_mode("/tmp", 0o1777) {
            Ok(()) | Err(depclose_pack::Error::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(tree)
}

/// Stage a directory a recipe added, without what the image holds already (the user's own
/// files win) and without the subtrees `except` names. A symlink inside it is kept, and the
/// file it points to is staged too, so that nothing in the image dangles (a CA directory's
/// hash links point into another tree).
fn stage_tree(
    tree: &mut Tree,
    root: &Root,
    cwd: &Path,
    path: &Path,
    except: &[PathBuf],
) -> Result<(), Error> {
    let hops = root.resolve(path)?.hops;
    stage_hops(tree, root, &hops)?;
    let add = Addition {
        src: path.to_path_buf(),
        dest: None,
        except: except.to_vec(),
    };
    let mut targets = Vec::new();
    add.for_each_entry(root, &mut |src, dest, kind| {
        if tree.contains(dest) {
            return Ok(());
        }
        match kind {
            Entry::Dir => tree.add_dir(dest, Some(&root.host_path(src)))?,
            Entry::File => tree.add_file(dest, root.host_path(src))?,
            Entry::Symlink(t) => {
                tree.add_host_symlink(dest, &t, root.host_path(src))?;
                targets.push(src.to_path_buf());
            }
        }
        Ok(())
    })?;
    for link in targets {
        // A link to a directory or to nothing is kept as it is.
        if root.metadata(&link).is_ok_and(|(_, m)| m.is_file()) {
            stage_recipe_path(tree, root, cwd, &link)?;
        }
    }
    Ok(())
}

/// Stage a directory the program writes into where the root's symlinks put it (`/var/run`
/// → `/run` on Debian): the symlinks on the way to its deepest existing ancestor, then the
/// directories below that, the last with `mode`.
fn stage_dir(tree: &mut Tree, root: &Root, path: &Path, mode: u32) -> Result<(), Error> {
    let mut ancestor = path.to_path_buf();
    let mut below = Vec::new();
    let resolved = loop {
        if let Some(r) = root.resolve_dir(&ancestor) {
            break Some(r);
        }
        match (
            ancestor.file_name().map(|n| n.to_os_string()),
            ancestor.parent(),
        ) {
            (Some(name), Some(parent)) => {
                below.push(name);
                ancestor = parent.to_path_buf();
            }
            _ => break None,
        }
    };
    let mut dir = match resolved {
        Some(r) => {
            stage_hops(tree, root, &r.hops)?;
            r.real
        }
        None => PathBuf::from("/"),
    };
    for name in below.iter().rev() {
        dir.push(name);
    }
    if !tree.contains(&dir) {
        tree.add_dir_with_mode(&dir, mode)?;
    }
    Ok(())
}

fn passwd_path(root: &Root) -> String {
    format!(
        "{}/etc/passwd",
        root.dir().display().to_string().trim_end_matches('/')
    )
}

/// `/etc/passwd` and `/etc/group` with root and nobody, plus the `--user` account from the
/// root's own files when it names one (`user` is `None` when an added passwd file speaks
/// for itself).
pub(crate) fn accounts(root: &Root, user: Option<&str>) -> Result<Accounts, Error> {
    let mut passwd = String::from(
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
    );
    let mut group = String::from("root:x:0:\nnogroup:x:65534:\n");
    let name = user
        .map(|u| u.split(':').next().unwrap_or(u))
        .filter(|n| !n.is_empty() && !n.bytes().all(|b| b.is_ascii_digit()));
    if let Some(name) = name.filter(|n| *n != "root" && *n != "nobody") {
        let read = |p: &str| {
            root.read(Path::new(p))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let root_passwd = read("/etc/passwd");
        let Some(line) = root_passwd
            .lines()
            .find(|l| l.split(':').next() == Some(name))
        else {
            return Err(Error::UnknownUser {
                name: name.to_owned(),
                passwd: passwd_path(root),
            });
        };
        passwd.push_str(line);
        passwd.push('\n');
        let gid = line.split(':').nth(3).unwrap_or("");
        if let Some(g) = read("/etc/group")
            .lines()
            .find(|l| l.split(':').nth(2) == Some(gid))
        {
            group.push_str(g);
            group.push('\n');
        }
    }
    Ok(Accounts { passwd, group })
}

/// OCI architecture and variant of an ELF machine (the image-index specification's
/// `platform` values, as Go's `GOARCH` spells them).
fn platform(
    machine: u16,
    class64: bool,
    big: bool,
) -> Option<(&'static str, Option<&'static str>)> {
    Some(match (machine, class64, big) {
        (EM_X86_64, true, _) => ("amd64", None),
        (EM_AARCH64, true, _) => ("arm64", Some("v8")),
        (EM_ARM, false, _) => ("arm", Some("v7")),
        (EM_386, false, _) => ("386", None),
        (EM_PPC64, true, false) => ("ppc64le", None),
        (EM_PPC64, true, true) => ("ppc64", None),
        (EM_S390, true, _) => ("s390x", None),
        (EM_RISCV, true, _) => ("riscv64", None),
        (EM_MIPS, true, false) => ("mips64le", None),
        (EM_LOONGARCH, true, _) => ("loong64", None),
        _ => return None,
    })
}

/// A reference name from a file name: lower case, only the characters references allow.
fn default_tag(target: &Path) -> String {
    let name: String = target
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{}:latest", if name.is_empty() { "depclose" } else { name })
}

/// The image configuration: platform from the first target's ELF header, entrypoint the
/// first target (or its script), the environment the closure was computed with.
pub(crate) fn config(
    closures: &[Closure],
    added: &[Vec<Added>],
    spec: &ImageSpec,
    options: &ResolveOptions,
) -> Result<ImageConfig, Error> {
    let first = &closures[0];
    let elf = &first.objects[0].elf;
    let (arch, variant) = platform(
        elf.machine,
        elf.class == depclose_elf::Class::Elf64,
        elf.data == depclose_elf::Data::Big,
    )
    .ok_or_else(|| Error::NoArchitecture {
        target: first.target.clone(),
        machine: elf.machine,
    })?;
    let entry = match first.scripts.first() {
        Some(s) => name::from_path(&s.path).into_owned(),
        None => first.objects[0].path.clone(),
    };
    if name::has_escapes(&entry) {
        eprintln!(
            "depclose: warning: {}: the image's Entrypoint holds the escape of this name (the configuration's strings are UTF-8; docs/json.md#non-utf8), which a runtime will not find: give the program a UTF-8 name",
            name::to_path(&entry).display()
        );
    }
    let tag = spec
        .tag
        .clone()
        .unwrap_or_else(|| default_tag(&first.target));
    let mut c = ImageConfig::new(arch, vec![entry], &tag);
    c.variant = variant.map(str::to_owned);
    // The user's --cmd and --env win over what a recipe says the program needs.
    // The image runs the first target: its recipes say how.
    let first = added.first().map(Vec::as_slice).unwrap_or_default();
    let recipe_cmd = first.iter().find_map(|a| match &a.want {
        Want::Cmd(args) => Some(args.clone()),
        _ => None,
    });
    c.cmd = if spec.cmd.is_empty() {
        recipe_cmd
    } else {
        Some(spec.cmd.clone())
    };
    c.env = vec![format!("PATH={}", depclose_resolve::DEFAULT_PATH)];
    let recipe_env = first.iter().filter_map(|a| match &a.want {
        Want::Env { key, value } => Some((key, value)),
        _ => None,
    });
    // The closure was computed with these; the image's program must run with them too.
    if let Some(llp) = &options.library_path {
        c.env.push(format!("LD_LIBRARY_PATH={llp}"));
    }
    if !options.preload.is_empty() {
        c.env
            .push(format!("LD_PRELOAD={}", options.preload.join(":")));
    }
    for (k, v) in recipe_env.chain(spec.env.iter().map(|(k, v)| (k, v))) {
        c.env
            .retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
        c.env.push(format!("{k}={v}"));
    }
    c.working_dir = spec.workdir.clone();
    c.user = spec.user.clone();
    c.labels = spec.labels.clone();
    c.created_by = format!("depclose {}", env!("CARGO_PKG_VERSION"));
    Ok(c)
}

/// Re-resolve every program of the staged tree inside it, as its own root, and name every
/// object that would resolve to another file or not at all.
/// `moved` maps an added ELF file's root path to its path in the image (`--add SRC:DEST`).
pub(crate) fn verify(
    skeleton: &Path,
    staged: &Staged<'_>,
    options: &ResolveOptions,
    (recipes, list, reads): (
        &depclose_runtime::Options,
        &[&dyn depclose_runtime::Recipe],
        std::sync::Arc<depclose_runtime::Reads>,
    ),
    command: &[String],
    allow_missing: bool,
) -> Result<Vec<String>, Error> {
    let root = Root::new(skeleton)?;
    // The same options as the closure (cwd = the image's working directory), but the cache is
    // whatever the image holds.
    let mut opts = options.clone();
    opts.cache = depclose_resolve::CacheMode::Auto;
    let inside = Resolver::new(root, opts);
    // Inside, the image is the root: the recipes read what it holds.
    let cx = depclose_runtime::Context::root(&inside, recipes)
        .with_command(command)
        .sharing(reads);
    let mut problems = Vec::new();
    for (c, added) in staged.closures.iter().zip(staged.added) {
        let at = staged.moved.get(&c.target).unwrap_or(&c.target);
        let mut again = match inside.closure(at) {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("{}: {e}", c.target.display()));
                continue;
            }
        };
        if !added.is_empty() {
            again = depclose_runtime::apply(&cx, again, list)?.0;
        }
        // The program itself may have moved (`--add SRC:DEST`); what it loads may not.
        for o in c.objects.iter().skip(1) {
            if !again.objects.iter().any(|a| a.real == o.real) {
                problems.push(format!(
                    "{}: {} would not be found inside the image (the host found it as {})",
                    c.target.display(),
                    o.path,
                    crate::text::how(c, &o.found)
                ));
            }
        }
        // With --allow-missing, what was missing on the host may be missing inside too.
        let accepted = |name: &str| allow_missing && c.missing.iter().any(|h| h.name == name);
        for m in again
            .missing
            .iter()
            .filter(|m| m.required() && !accepted(&m.name))
        {
            problems.push(format!(
                "{}: {} would be missing inside the image",
                c.target.display(),
                m.name
            ));
        }
    }
    problems.sort();
    problems.dedup();
    Ok(problems)
}

/// Progress on stderr, only when it is a terminal.
pub(crate) fn progress(done: u64, total: u64) {
    show_progress("writing", done, total);
}

/// `depclose: VERB done/total MB` on one line, rewritten in place, on a terminal only.
pub(crate) fn show_progress(verb: &str, done: u64, total: u64) {
    // Asked once: the writer reports after every file, and each check is a system call.
    static TERMINAL: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::io::stderr().is_terminal());
    if *TERMINAL {
        let mb = |b: u64| b as f64 / 1e6;
        eprint!("\rdepclose: {verb} {:.1}/{:.1} MB", mb(done), mb(total));
        if done >= total {
            eprintln!();
        }
    }
}

pub(crate) fn write_options<'a>(
    spec: &ImageSpec,
    progress: &'a dyn depclose_pack::Progress,
    cancel: &'a std::sync::atomic::AtomicBool,
) -> WriteOptions<'a> {
    WriteOptions {
        epoch: spec.epoch,
        keep_setuid: spec.keep_setuid,
        progress: Some(progress),
        cancel: Some(cancel),
        referrers: None,
        gate: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A path the loader built with `..` at the root (RPATH `$ORIGIN/../../lib` of
    /// `/app/x`, a cache entry `/../lib/...`) is staged as the file it names: `/..` is `/`.
    #[test]
    fn dotdot_at_the_root_stages_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        std::fs::create_dir_all(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("lib/libx.so"), "x").unwrap();
        let root = Root::new(dir.path()).unwrap();
        let mut tree = Tree::new();
        for path in ["/../../lib/libx.so", "/app/../../lib/libx.so"] {
            stage_path(&mut tree, &root, Path::new("/"), path).unwrap();
        }
        assert!(tree.contains("/lib/libx.so"));
        assert!(tree.contains("/app"));
    }
}
