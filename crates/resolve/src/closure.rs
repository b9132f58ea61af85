//! The result of a resolution: the objects the loader maps for one program, in load order,
//! each with how it was found and who needs it, and the names nothing was found for.
//!
//! Paths come in two kinds. A path the loader builds ([`Object::path`], [`Attempt::path`],
//! [`Found::dir`], [`Fatal::path`]) is a `String`: the loader joins it from the byte strings
//! of ELF files and its configuration and prints it as built (`$ORIGIN/../lib` is not
//! normalised); bytes that are not UTF-8 are kept in it by [`depclose_elf::name`], which
//! also turns it into the file it opens (`name::to_path`). A file in the root
//! ([`Closure::target`], [`Object::real`], [`ScriptHop::path`], [`SymlinkHop`]) is a
//! `PathBuf`, as the file system names it.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use depclose_elf::{DependencyKind, ElfInfo, Linkage, name};

use crate::facts::LoaderFacts;
use crate::root::{Hops, loader_dirname};

#[derive(Debug, Clone)]
pub struct Closure {
    /// The target as given (in-root absolute path).
    pub target: PathBuf,
    /// `#!` scripts that led to the program, outermost first (empty for an ELF target).
    pub scripts: Vec<ScriptHop>,
    /// How the program is linked.
    pub linkage: Linkage,
    /// The program is setuid, setgid or has file capabilities: the loader runs in secure
    /// mode (`AT_SECURE`), which ignores `LD_LIBRARY_PATH` and restricts `$ORIGIN`.
    pub secure: bool,
    /// The loader facts used (absent for static programs).
    pub facts: Option<Arc<LoaderFacts>>,
    /// Objects in the order the loader maps them; `objects[0]` is the program.
    pub objects: Vec<Object>,
    /// Names that were not found, in the order they were looked up.
    pub missing: Vec<Missing>,
    /// Where the real loader would stop with an error (a non-ELF file shadowing a library,
    /// a directory in the way). Nothing after it is mapped.
    pub fatal: Option<Fatal>,
    /// What the user should know about how the closure was computed.
    pub notes: Vec<String>,
}

impl Closure {
    /// True when every needed name was found and the loader would not stop.
    pub fn is_complete(&self) -> bool {
        self.fatal.is_none() && self.missing.iter().all(|m| !m.required())
    }
}

/// One `#!` script on the way to the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptHop {
    /// The script (in-root absolute).
    pub path: PathBuf,
    /// The interpreter as its `#!` line names it.
    pub interpreter: String,
    /// The one argument the kernel passes after the interpreter, if any.
    pub argument: Option<String>,
}

/// One object the loader maps.
#[derive(Debug, Clone)]
pub struct Object {
    /// The path as the loader builds and opens it (`l_name`): what `ld.so --list` prints.
    pub path: String,
    /// The file behind it, symlinks resolved (in-root absolute).
    pub real: PathBuf,
    /// The symlinks followed from `path` to `real`.
    pub hops: Hops,
    pub size: u64,
    pub elf: Arc<ElfInfo>,
    /// Every name it was requested by (`l_libname`).
    pub names: Vec<String>,
    pub found: Found,
    /// The object whose dependency first caused it to be mapped (`l_loader`).
    pub loader: Option<usize>,
    /// Every object that needs it, in load order of the needer.
    pub needed_by: Vec<usize>,
    /// Its own dependencies, in dynamic-section order.
    pub deps: Vec<Edge>,
    /// The candidates tried before it was found.
    pub trace: Vec<Attempt>,
    /// Loaded at run time (`dlopen`), not by the loader's walk: `ld.so --list` does not show it.
    pub runtime: bool,
    /// (device, inode): a library mapped again under another name is this object.
    pub(crate) file_id: (u64, u64),
    /// `$ORIGIN` for the strings this object holds.
    pub(crate) origin: String,
}

/// One dependency of an object and what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The name as the dynamic section holds it.
    pub name: String,
    pub kind: DependencyKind,
    pub target: EdgeTarget,
}

/// What a dependency resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeTarget {
    /// An index into [`Closure::objects`].
    Object(usize),
    /// An index into [`Closure::missing`].
    Missing(usize),
    /// Not looked up: the loader had stopped already (or a token had no value).
    Skipped,
    /// The kernel's vDSO (`linux-vdso.so.1`), mapped by the kernel, not from a file.
    Vdso,
}

/// How an object was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub how: How,
    /// The search directory, as the loader spells it (after DST expansion).
    pub dir: Option<String>,
    /// The hwcaps subdirectory of `dir` it was found in (`glibc-hwcaps/x86-64-v3`, or a
    /// legacy one), if any.
    pub subdir: Option<String>,
}

/// The rule that found an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The program itself.
    Program,
    /// The program's `PT_INTERP`.
    Interpreter,
    /// `/etc/ld.so.preload` or a preload option.
    Preload,
    /// A name containing `/`, opened as it is.
    Path,
    /// The `DT_RPATH` of this object (the requester or one of its loaders, or the program).
    Rpath { owner: usize },
    /// `LD_LIBRARY_PATH` (`--library-path`).
    LibraryPath,
    /// The requester's own `DT_RUNPATH`.
    Runpath,
    /// `ld.so.cache`.
    Cache,
    /// `ld.so.conf` directories standing in for a missing cache.
    Conf,
    /// The loader's built-in directories.
    SystemDir,
    /// musl's path file (or its default path).
    MuslPath,
}

/// One file the search tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The candidate as the loader built it.
    pub path: String,
    pub outcome: Outcome,
    /// The step of the search that tried it (`None` for the program's interpreter).
    pub via: Option<How>,
}

/// What became of one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No such file (or directory).
    Absent,
    /// Not readable (`EACCES`): the loader goes on.
    Unreadable,
    /// A symlink loop (`ELOOP`).
    SymlinkLoop,
    /// An ELF file of the other class: skipped.
    WrongClass,
    /// An ELF file for another machine: skipped.
    WrongMachine,
    /// A cache entry under a system directory, ignored because of `DF_1_NODEFLIB`.
    NoDefLib,
    /// The file chosen.
    Chosen,
    /// A file the loader refuses with an error that stops the search.
    Fatal(String),
}

/// A name nothing was found for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub name: String,
    /// The object that needed it.
    pub requester: usize,
    pub kind: MissingKind,
    /// Every path tried.
    pub tried: Vec<Attempt>,
    /// Why no path could be tried at all (a dynamic string token without a value).
    pub reason: Option<String>,
}

impl Missing {
    /// Whether the program cannot start without it.
    pub fn required(&self) -> bool {
        !matches!(
            self.kind,
            MissingKind::Auxiliary | MissingKind::Preload | MissingKind::Runtime
        )
    }
}

/// What kind of reference a missing name was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingKind {
    Needed,
    Filter,
    /// `DT_AUXILIARY`: the loader ignores a missing one.
    Auxiliary,
    /// The program's interpreter.
    Interpreter,
    /// A preload: the loader warns and goes on.
    Preload,
    /// A library loaded at run time (`dlopen`): the program runs until it needs it.
    Runtime,
}

/// Where the loader stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    /// The name being looked up.
    pub name: String,
    /// The object that needed it.
    pub requester: usize,
    /// The file refused, as the loader built its path (empty when it stopped before trying
    /// one).
    pub path: String,
    /// The loader's message.
    pub reason: String,
}

impl Object {
    /// `DT_RPATH`, unless the object also has `DT_RUNPATH` (then glibc drops it on reading:
    /// `get-dynamic-info.h`).
    pub(crate) fn own_rpath(&self) -> Option<String> {
        if self.elf.runpath.is_some() {
            None
        } else {
            self.elf.rpath.clone()
        }
    }

    /// Build the program object (index 0) of a walk.
    pub(crate) fn program(
        path: String,
        real: PathBuf,
        hops: Hops,
        meta: &Metadata,
        elf: Arc<ElfInfo>,
    ) -> Object {
        // The kernel's `/proc/self/exe`: the real file.
        let origin = loader_dirname(&name::from_path(&real)).to_owned();
        Object {
            path,
            real,
            hops,
            size: meta.len(),
            elf,
            names: Vec::new(),
            found: Found {
                how: How::Program,
                dir: None,
                subdir: None,
            },
            loader: None,
            needed_by: Vec::new(),
            deps: Vec::new(),
            trace: Vec::new(),
            runtime: false,
            file_id: (meta.dev(), meta.ino()),
            origin,
        }
    }
}
