//! What a traced run of the program did, as a recipe: each program it executed joins with
//! its own closure, each ELF object it mapped that the closure lacks is loaded as `dlopen`
//! would load it (so its own dependencies say how the loader finds them), and, when files
//! were traced, each file opened and directory listed is added — except what the image
//! provides itself or must never carry.

use std::path::{Path, PathBuf};

use depclose_elf::name;
use depclose_resolve::Closure;

use crate::{Addition, Context, Error, Evidence, Reason, Recipe, Seen, Want};

/// One thing a traced process did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The process (thread id) first seen doing it.
    pub pid: u32,
    /// The program it was running (in-root, as executed).
    pub program: PathBuf,
    pub seen: Seen,
    /// In-root, as the process named it.
    pub path: PathBuf,
}

/// The recipe of one traced run.
#[derive(Debug, Clone)]
pub struct Traced {
    observations: Vec<Observation>,
    /// Whether files opened and directories listed were traced (and are added).
    files: bool,
}

/// Files a run reads that an image must not take from the root: the image makes its own,
/// the container runtime provides them, or they hold secrets.
const NOT_COPIED: &[(&str, &str)] = &[
    (
        "/etc/ld.so.cache",
        "the image gets a cache of its own libraries",
    ),
    ("/etc/passwd", "the image gets accounts of its own"),
    ("/etc/group", "the image gets accounts of its own"),
    ("/etc/shadow", "it holds password hashes"),
    ("/etc/gshadow", "it holds password hashes"),
    ("/etc/hosts", "the container runtime provides it"),
    ("/etc/hostname", "the container runtime provides it"),
    ("/etc/resolv.conf", "the container runtime provides it"),
];

/// Directories whose files a run reads are the user's own (shell history, `.gitconfig`,
/// keys and tokens): left out, for `--add` to bring what the image really needs.
const HOMES: &[&str] = &["/root", "/home"];

impl Traced {
    pub fn new(observations: Vec<Observation>, files: bool) -> Traced {
        Traced {
            observations,
            files,
        }
    }

    /// The files seen that are not added, each with the reason.
    pub fn left_out(&self) -> Vec<(&Path, &'static str)> {
        let mut out: Vec<(&Path, &'static str)> = Vec::new();
        for o in &self.observations {
            let why = match o.seen {
                Seen::Opened | Seen::Listed | Seen::Examined => not_copied(&o.path),
                // A mapped file is an ELF object (always added) or data (with files), and
                // only the fixed list holds data that is mapped (the loader's cache).
                Seen::Mapped if self.files => fixed(&o.path),
                Seen::Mapped | Seen::Executed => None,
            };
            if let Some(why) = why {
                if !out.iter().any(|(p, _)| *p == o.path) {
                    out.push((&o.path, why));
                }
            }
        }
        out
    }

    /// Every program the run executed, in order, once each.
    pub fn programs(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for o in self
            .observations
            .iter()
            .filter(|o| o.seen == Seen::Executed)
        {
            if !out.contains(&o.path.as_path()) {
                out.push(&o.path);
            }
        }
        out
    }
}

/// Why a file the run read is not copied: one the image provides, a secret, or a home
/// directory's.
fn not_copied(path: &Path) -> Option<&'static str> {
    if let Some(why) = fixed(path) {
        return Some(why);
    }
    HOMES
        .iter()
        .any(|h| path.starts_with(h))
        .then_some("a home directory's file is the user's own (--add it if the image needs it)")
}

/// Why `path` is one of [`NOT_COPIED`], if it is.
fn fixed(path: &Path) -> Option<&'static str> {
    NOT_COPIED
        .iter()
        .find(|(p, _)| path == Path::new(p))
        .map(|(_, why)| *why)
}

impl Recipe for Traced {
    fn name(&self) -> &'static str {
        "trace"
    }

    fn summary(&self) -> &'static str {
        "`--trace` or `--trace-load`: the programs the traced run executed join, the ELF objects it mapped are loaded, and with `--trace-files` the files it opened and directories it listed are added"
    }

    fn on_request(&self) -> bool {
        true
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let root = cx.resolver.root();
        let mut out = Vec::new();
        for o in self
            .observations
            .iter()
            .filter(|o| o.program == closure.target)
        {
            let reason = Reason {
                recipe: self.name(),
                evidence: Evidence::Traced {
                    pid: o.pid,
                    program: o.program.clone(),
                    seen: o.seen,
                },
            };
            let path = o.path.clone();
            let want = match o.seen {
                Seen::Executed if path == closure.target => continue,
                Seen::Executed => Want::Program(path),
                Seen::Mapped => {
                    let real = root.resolve(&path).ok().map(|r| r.real);
                    match real.filter(|r| cx.resolver.is_elf_object(r)) {
                        Some(real) => {
                            let named = name::from_path(&path);
                            if closure.objects.iter().any(|x| x.path == named) {
                                continue;
                            }
                            if closure.objects.iter().any(|x| x.real == real) {
                                // Loaded already under another name: the image needs
                                // this name too.
                                Want::File(path)
                            } else {
                                Want::Load {
                                    from: 0,
                                    name: named.into_owned(),
                                }
                            }
                        }
                        None if self.files && not_copied(&path).is_none() => Want::File(path),
                        None => continue,
                    }
                }
                // A file read or looked up, or a directory listed or looked up.
                Seen::Opened | Seen::Listed | Seen::Examined if not_copied(&path).is_none() => {
                    let Ok((_, meta)) = root.metadata(&path) else {
                        continue;
                    };
                    if meta.is_dir() {
                        // The image has a root directory of its own.
                        if path.parent().is_none() {
                            continue;
                        }
                        Want::Dir {
                            path,
                            mode: std::os::unix::fs::PermissionsExt::mode(&meta.permissions())
                                & 0o7777,
                        }
                    } else {
                        Want::File(path)
                    }
                }
                Seen::Opened | Seen::Listed | Seen::Examined => continue,
            };
            out.push(Addition { want, reason });
        }
        Ok(out)
    }
}
