//! From closures to an image: every path the loader opens with the symlinks on the way,
//! runtime additions, the user's extra files, a few basics, and a check that the staged
//! tree resolves on its own.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use depclose_elf::machine::*;
use depclose_pack::{ImageConfig, Tree, WriteOptions};
use depclose_resolve::{Closure, ResolveOptions, Resolver, Root};

use crate::flags::Args;
use crate::{Error, input};

/// glibc `dlopen`s this for `pthread_cancel`/`pthread_exit` (`misc/unwind-link.c`); without it
/// such programs abort ("libgcc_s.so.1 must be installed for pthread_cancel to work").
pub(crate) const LIBGCC_S: &str = "libgcc_s.so.1";

/// The NSS services an `nsswitch.conf` names, in order (`[STATUS=action]` blocks skipped).
pub(crate) fn nss_services(conf: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in conf.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((_, rest)) = line.split_once(':') else {
            continue;
        };
        let mut in_action = false;
        for word in rest.split_whitespace() {
            if word.starts_with('[') {
                in_action = true;
            }
            if !in_action && !out.iter().any(|s| s == word) {
                out.push(word.to_owned());
            }
            if word.ends_with(']') {
                in_action = false;
            }
        }
    }
    out
}

/// Add what glibc loads at run time to every closure that holds glibc's libc:
/// `libgcc_s.so.1`, and the NSS module of every service `nsswitch` (the text of the
/// `/etc/nsswitch.conf` the program will see) names — `libnss_SERVICE.so.2`, except `files`
/// and `dns`, built into libc since glibc 2.34 (`nss/nss_module.c`).
pub(crate) fn add_runtime(
    resolver: &Resolver,
    closures: Vec<Closure>,
    nsswitch: Option<&str>,
) -> Vec<Closure> {
    let services = nsswitch.map(nss_services).unwrap_or_default();
    closures
        .into_iter()
        .map(|mut c| {
            let Some(facts) = c
                .facts
                .clone()
                .filter(|f| f.flavor == depclose_resolve::Flavor::Glibc)
            else {
                return c;
            };
            let Some(libc) = c
                .objects
                .iter()
                .position(|o| o.elf.soname.as_deref() == Some("libc.so.6"))
            else {
                return c;
            };
            let builtin = facts.glibc_version.is_none_or(|v| v >= (2, 34));
            let nss = services
                .iter()
                .filter(|s| !(builtin && (*s == "files" || *s == "dns")))
                .map(|s| format!("libnss_{s}.so.2"));
            for name in std::iter::once(LIBGCC_S.to_owned()).chain(nss) {
                if !c.objects.iter().any(|o| o.names.contains(&name)) {
                    c = resolver.dlopen(c, libc, &name);
                }
            }
            c
        })
        .collect()
}

/// Well-known programs that load code or data at run time that no ELF header names, and where
/// it lives on Debian: (what matches, what it loads, the directory to add).
const RUNTIME_HINTS: &[(&str, &str, &str)] = &[
    (
        "apache2",
        "its modules (LoadModule)",
        "/usr/lib/apache2/modules",
    ),
    (
        "httpd",
        "its modules (LoadModule)",
        "/usr/lib/apache2/modules",
    ),
    (
        "nginx",
        "dynamic modules (load_module)",
        "/usr/lib/nginx/modules",
    ),
    (
        "libpython3",
        "the standard library and extension modules",
        "/usr/lib/python3",
    ),
    (
        "python3",
        "the standard library and extension modules",
        "/usr/lib/python3",
    ),
    ("perl", "its modules", "/usr/lib/x86_64-linux-gnu/perl-base"),
];

/// Say what depclose cannot see: for each closure with a well-known run-time loader (by the
/// program's or a library's file name), the directory it loads from, unless an `--add`
/// already covers it. Only directories that exist in the root are named.
pub(crate) fn runtime_hints(
    root: &Root,
    cwd: &Path,
    closures: &[Closure],
    specs: &[String],
) -> Result<Vec<String>, Error> {
    let mut added = Vec::new();
    for spec in specs {
        added.push(parse_add(root, cwd, spec)?.src);
    }
    let mut hints = Vec::new();
    for c in closures {
        for (key, what, dir) in RUNTIME_HINTS {
            // The real file's name carries the version (python3 -> python3.11).
            let mut names = c
                .objects
                .iter()
                .filter_map(|o| o.real.file_name()?.to_str());
            let Some(name) = names.find(|n| n.starts_with(key)) else {
                continue;
            };
            // Python's directory is versioned: python3.11 for libpython3.11.so or python3.11.
            let dir = if *key == "python3" || *key == "libpython3" {
                let version: String = name
                    .trim_start_matches("lib")
                    .trim_start_matches("python")
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                format!("/usr/lib/python{}", version.trim_end_matches('.'))
            } else {
                (*dir).to_owned()
            };
            let covered = added
                .iter()
                .any(|a| Path::new(&dir).starts_with(a) || a.starts_with(&dir));
            let hint =
                format!("{name} loads {what} at run time, which no ELF header names: --add {dir}");
            if !covered && root.resolve_dir(Path::new(&dir)).is_some() && !hints.contains(&hint) {
                hints.push(hint);
            }
        }
    }
    Ok(hints)
}

/// The text of the file an image will hold at `dest`, if an `--add` puts one there.
pub(crate) fn added_file_text(
    root: &Root,
    cwd: &Path,
    specs: &[String],
    dest: &Path,
) -> Result<Option<String>, Error> {
    let mut found = None;
    for spec in specs {
        let add = parse_add(root, cwd, spec)?;
        let base = match &add.dest {
            Some(d) => d.clone(),
            None => root
                .resolve(&add.src)
                .map(|r| r.real)
                .unwrap_or_else(|_| add.src.clone()),
        };
        if !dest.starts_with(&base) {
            continue;
        }
        let src = add.src.join(dest.strip_prefix(&base).unwrap_or(dest));
        if let Ok(bytes) = root.read(&src) {
            found = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(found)
}

/// One `--add SRC[:DEST]`.
struct Addition {
    src: PathBuf,
    /// Where it goes; by default the real path of SRC, with the symlinks on the way to it
    /// reproduced (as for every path the loader opens).
    dest: Option<PathBuf>,
}

fn parse_add(root: &Root, cwd: &Path, spec: &str) -> Result<Addition, Error> {
    // SRC may itself hold `:`; a DEST is what follows the last `:`, and must be absolute.
    let (src, dest) = match spec.rsplit_once(':') {
        Some((s, d)) if d.starts_with('/') && !s.is_empty() => (s, Some(d)),
        _ => (spec, None),
    };
    let src = if root.is_host() {
        cwd.join(src)
    } else {
        Path::new("/").join(src)
    };
    let src = root
        .in_root(&src)
        .filter(|_| !root.is_host())
        .unwrap_or(src);
    let dest = match dest {
        Some(d) if d.starts_with('/') => Some(PathBuf::from(d)),
        Some(d) => {
            return Err(Error::Input(format!(
                "--add {spec}: DEST {d} must be an absolute path in the image"
            )));
        }
        None => None,
    };
    Ok(Addition { src, dest })
}

/// Expand `--add` into ELF targets to analyse; the files themselves are staged later.
/// Each is (where it is in the root, where it goes in the image).
pub(crate) fn added_elf_files(
    resolver: &Resolver,
    cwd: &Path,
    specs: &[String],
) -> Result<Vec<(PathBuf, PathBuf)>, Error> {
    let mut out = Vec::new();
    for spec in specs {
        let add = parse_add(resolver.root(), cwd, spec)?;
        for_each_entry(resolver.root(), &add, &mut |src, dest, kind| {
            if matches!(kind, Entry::File) && resolver.is_elf_object(src) {
                out.push((src.to_path_buf(), dest.to_path_buf()));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

enum Entry {
    Dir,
    File,
    Symlink(PathBuf),
}

/// Walk an addition: the source itself (symlinks on the way to it are resolved), and for a
/// directory everything below it, symlinks kept as symlinks.
fn for_each_entry(
    root: &Root,
    add: &Addition,
    f: &mut dyn FnMut(&Path, &Path, Entry) -> Result<(), Error>,
) -> Result<(), Error> {
    let (resolved, meta) = root
        .metadata(&add.src)
        .map_err(|e| Error::Input(format!("--add: {e}")))?;
    let base = add.dest.clone().unwrap_or_else(|| resolved.real.clone());
    if !meta.is_dir() {
        return f(&resolved.real, &base, Entry::File);
    }
    let host = root.host_path(&resolved.real);
    for entry in walkdir::WalkDir::new(&host).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Input(format!("--add {}: {e}", add.src.display())))?;
        let rel = entry.path().strip_prefix(&host).unwrap_or(entry.path());
        let src = resolved.real.join(rel);
        let dest = if rel.as_os_str().is_empty() {
            base.clone()
        } else {
            base.join(rel)
        };
        let ft = entry.file_type();
        let kind = if ft.is_symlink() {
            Entry::Symlink(
                std::fs::read_link(entry.path())
                    .map_err(|e| Error::Input(format!("{}: {e}", src.display())))?,
            )
        } else if ft.is_dir() {
            Entry::Dir
        } else {
            Entry::File
        };
        f(&src, &dest, kind)?;
    }
    Ok(())
}

/// Stage an in-root path as the loader opens it: every symlink on the way, then the file.
fn stage_path(tree: &mut Tree, root: &Root, cwd: &Path, path: &str) -> Result<(), Error> {
    let abs = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        cwd.join(path)
    };
    // A `..` in the path needs the directory before it in the image too.
    let mut prefix = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                if let Some(r) = root.resolve_dir(&prefix) {
                    stage_hops(tree, &r.hops)?;
                    tree.add_dir(&r.real, None).map_err(input)?;
                }
                prefix.pop();
            }
            Component::Normal(n) => prefix.push(n),
            _ => {}
        }
    }
    let r = root.resolve(&abs).map_err(input)?;
    stage_hops(tree, &r.hops)?;
    tree.add_file(&r.real, root.host_path(&r.real))
        .map_err(input)
}

fn stage_hops(tree: &mut Tree, hops: &[depclose_resolve::SymlinkHop]) -> Result<(), Error> {
    for h in hops {
        tree.add_symlink(&h.link, &h.target).map_err(input)?;
    }
    Ok(())
}

/// Everything the image holds.
pub(crate) fn stage(
    resolver: &Resolver,
    closures: &[Closure],
    args: &Args,
    cwd: &Path,
    moved: &HashMap<PathBuf, PathBuf>,
) -> Result<Tree, Error> {
    let root = resolver.root();
    let run_cwd = &resolver.options().cwd;
    let mut tree = Tree::new();
    for c in closures {
        for s in &c.scripts {
            stage_path(&mut tree, root, run_cwd, &s.path.to_string_lossy())?;
        }
        // An added file that moves (`--add SRC:DEST`) is staged by its addition, at DEST.
        let skip = usize::from(moved.contains_key(&c.target));
        for o in &c.objects[skip..] {
            stage_path(&mut tree, root, run_cwd, &o.path)?;
        }
    }
    for spec in &args.add {
        let add = parse_add(root, cwd, spec)?;
        if add.dest.is_none() {
            let hops = root
                .resolve(&add.src)
                .map_err(|e| Error::Input(format!("--add: {e}")))?
                .hops;
            stage_hops(&mut tree, &hops)?;
        }
        for_each_entry(root, &add, &mut |src, dest, kind| {
            let r = match kind {
                Entry::Dir => tree.add_dir(dest, Some(&root.host_path(src))),
                Entry::File => tree.add_file(dest, root.host_path(src)),
                Entry::Symlink(t) => tree.add_symlink(dest, t),
            };
            r.map_err(input)
        })?;
    }
    if let Some(cache) = depclose_resolve::image_ld_so_cache(closures) {
        if !tree.contains("/etc/ld.so.cache") {
            tree.add_bytes("/etc/ld.so.cache", cache, 0o644)
                .map_err(input)?;
        }
    }
    if !args.no_defaults {
        // An added passwd file speaks for itself; otherwise the user must exist in the root.
        let user = args
            .user
            .as_deref()
            .filter(|_| !tree.contains("/etc/passwd"));
        let (passwd, group) = accounts(root, user)?;
        if !tree.contains("/etc/passwd") {
            tree.add_bytes("/etc/passwd", passwd, 0o644)
                .map_err(input)?;
        }
        if !tree.contains("/etc/group") {
            tree.add_bytes("/etc/group", group, 0o644).map_err(input)?;
        }
        // An implicit /tmp (the parent of staged files) takes the mode; one the user added
        // keeps theirs.
        match tree.add_dir_with_mode("/tmp", 0o1777) {
            Ok(()) | Err(depclose_pack::Error::Conflict { .. }) => {}
            Err(e) => return Err(input(e)),
        }
    }
    Ok(tree)
}

/// `/etc/passwd` and `/etc/group` with root and nobody, plus the `--user` account from the
/// root's own files when it names one.
fn accounts(root: &Root, user: Option<&str>) -> Result<(String, String), Error> {
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
        let host_passwd = read("/etc/passwd");
        if let Some(line) = host_passwd
            .lines()
            .find(|l| l.split(':').next() == Some(name))
        {
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
        } else {
            return Err(Error::Input(format!(
                "--user {name}: no such user in {}/etc/passwd (give UID[:GID], or --add a passwd file that has it)",
                root.dir().display().to_string().trim_end_matches('/')
            )));
        }
    }
    Ok((passwd, group))
}

/// OCI architecture and variant of an ELF machine (`loader-notes` §4.4).
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

pub(crate) fn config(closures: &[Closure], args: &Args) -> Result<ImageConfig, Error> {
    let first = &closures[0];
    let elf = &first.objects[0].elf;
    let (arch, variant) = platform(
        elf.machine,
        elf.class == depclose_elf::Class::Elf64,
        elf.data == depclose_elf::Data::Big,
    )
    .ok_or_else(|| {
        Error::Input(format!(
            "{}: no OCI architecture for ELF machine {}",
            first.target.display(),
            elf.machine
        ))
    })?;
    let entry = first
        .scripts
        .first()
        .map(|s| s.path.clone())
        .unwrap_or_else(|| PathBuf::from(&first.objects[0].path));
    let tag = args
        .tag
        .clone()
        .unwrap_or_else(|| default_tag(&first.target));
    let mut c = ImageConfig::new(arch, vec![entry.to_string_lossy().into_owned()], &tag);
    c.variant = variant.map(str::to_owned);
    c.cmd = (!args.cmd.is_empty()).then(|| args.cmd.clone());
    c.env = vec![format!("PATH={}", depclose_resolve::DEFAULT_PATH)];
    // The closure was computed with these; the image's program must run with them too.
    if let Some(llp) = args.library_path.as_deref().filter(|l| !l.is_empty()) {
        c.env.push(format!("LD_LIBRARY_PATH={llp}"));
    }
    if !args.preload.is_empty() {
        c.env.push(format!("LD_PRELOAD={}", args.preload.join(":")));
    }
    for kv in &args.env {
        let Some((k, _)) = kv.split_once('=') else {
            return Err(Error::Input(format!("--env {kv}: expected KEY=VALUE")));
        };
        c.env
            .retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k));
        c.env.push(kv.clone());
    }
    c.working_dir = args.workdir.clone();
    c.user = args.user.clone();
    for kv in &args.label {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Error::Input(format!("--label {kv}: expected KEY=VALUE")))?;
        c.labels.insert(k.to_owned(), v.to_owned());
    }
    c.created_by = format!("depclose {}", env!("CARGO_PKG_VERSION"));
    Ok(c)
}

/// Re-resolve every program of the staged tree inside it, as its own root, and name every
/// object that would resolve to another file or not at all.
/// `moved` maps an added ELF file's root path to its path in the image (`--add SRC:DEST`).
pub(crate) fn verify(
    staged: &Path,
    closures: &[Closure],
    options: &ResolveOptions,
    moved: &HashMap<PathBuf, PathBuf>,
    allow_missing: bool,
) -> Result<Vec<String>, Error> {
    let root = Root::new(staged).map_err(input)?;
    // The same options as the closure (cwd = the image's working directory), but the cache is
    // whatever the image holds.
    let mut opts = options.clone();
    opts.cache = depclose_resolve::CacheMode::Auto;
    let inside = Resolver::new(root, opts);
    let mut problems = Vec::new();
    for c in closures {
        let at = moved.get(&c.target).unwrap_or(&c.target);
        let mut again = match inside.closure(at) {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("{}: {e}", c.target.display()));
                continue;
            }
        };
        if c.objects.iter().any(|o| o.runtime) {
            let nsswitch = inside.root().read(Path::new("/etc/nsswitch.conf")).ok();
            let text = nsswitch.map(|b| String::from_utf8_lossy(&b).into_owned());
            again = add_runtime(&inside, vec![again], text.as_deref()).remove(0);
        }
        // The program itself may have moved (`--add SRC:DEST`); what it loads may not.
        for o in c.objects.iter().skip(1) {
            match again.objects.iter().find(|a| a.real == o.real) {
                Some(_) => {}
                None => problems.push(format!(
                    "{}: {} would not be found inside the image (the host found it as {})",
                    c.target.display(),
                    o.path,
                    crate::output::how(c, &o.found)
                )),
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

/// The epoch for every timestamp: `SOURCE_DATE_EPOCH` (reproducible-builds.org), else 0.
pub(crate) fn epoch() -> Result<u64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| Error::Input(format!("SOURCE_DATE_EPOCH={v}: not a number of seconds"))),
        Err(_) => Ok(depclose_pack::DEFAULT_EPOCH),
    }
}

/// Progress on stderr, only when it is a terminal.
pub(crate) fn progress(done: u64, total: u64) {
    if std::io::stderr().is_terminal() {
        let mb = |b: u64| b as f64 / 1e6;
        eprint!("\rdepclose: writing {:.1}/{:.1} MB", mb(done), mb(total));
        if done >= total {
            eprintln!();
        }
    }
}

pub(crate) fn write_options<'a>(
    args: &Args,
    epoch: u64,
    progress: &'a dyn depclose_pack::Progress,
    cancel: &'a std::sync::atomic::AtomicBool,
) -> WriteOptions<'a> {
    WriteOptions {
        epoch,
        keep_setuid: args.keep_setuid,
        progress: Some(progress),
        cancel: Some(cancel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nss_services_skip_actions_and_comments() {
        let conf = "# x\npasswd: files systemd\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\nnetgroup: nis\n";
        assert_eq!(
            nss_services(conf),
            [
                "files",
                "systemd",
                "mdns4_minimal",
                "dns",
                "myhostname",
                "nis"
            ]
        );
    }
}
