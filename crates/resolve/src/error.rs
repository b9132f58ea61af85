use std::path::PathBuf;

use depclose_elf::ObjectType;

/// Why a root, a target or a configuration file could not be read, or a target cannot be
/// analysed.
///
/// A library that is not found, or a candidate of the wrong class, is not an error: it is
/// recorded in the [`crate::Closure`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory of the root (or the root itself) could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The path does not exist inside the root.
    #[error("{}: no such file or directory", path.display())]
    NotFound { path: PathBuf },
    /// More symlinks on the way than the kernel follows.
    #[error("{}: too many levels of symbolic links", path.display())]
    SymlinkLoop { path: PathBuf },
    /// The target is not a file the loader can read (named by the path the user gave).
    #[error(transparent)]
    Elf(#[from] depclose_elf::Error),
    /// The root's `ld.so.cache` exists but cannot be used.
    #[error("{}: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: crate::cache::CacheError,
    },
    /// The directory given as the root is not one.
    #[error("root {} is not a directory", path.display())]
    RootNotDirectory { path: PathBuf },
    /// A command name without `/` is in none of the `PATH` directories inside the root.
    #[error(
        "{name}: command not found in PATH ({}) inside {}",
        searched.join(", "),
        root.display()
    )]
    CommandNotFound {
        name: String,
        /// The `PATH` directories, without repeats, in order.
        searched: Vec<String>,
        /// The host directory standing for `/`.
        root: PathBuf,
    },
    /// The target is a directory (a directory target is expanded before it gets here).
    #[error("{}: is a directory", path.display())]
    IsDirectory { path: PathBuf },
    /// More nested `#!` interpreters than the kernel follows.
    #[error("{}: too many levels of #! interpreters", path.display())]
    ScriptDepth { path: PathBuf },
    /// The target (or a `#!` interpreter) is neither ELF nor a script.
    #[error("{}: not an ELF file or a #! script", path.display())]
    NotElfOrScript { path: PathBuf },
    /// `EI_CLASS` is neither 32- nor 64-bit.
    #[error("{}: unknown ELF class {class}", path.display())]
    UnknownClass { path: PathBuf, class: u8 },
    /// `EI_DATA` is neither little- nor big-endian.
    #[error("{}: unknown ELF data encoding {data}", path.display())]
    UnknownData { path: PathBuf, data: u8 },
    /// An ELF file that is neither `ET_EXEC` nor `ET_DYN` (an object file, a core dump).
    #[error("{}: not an executable or shared object ({object_type:?})", path.display())]
    NotLoadable {
        path: PathBuf,
        object_type: ObjectType,
    },
    /// A dynamic object without `PT_INTERP` whose machine has no known interpreter.
    #[error(
        "{}: no PT_INTERP and no known interpreter for machine {machine}",
        path.display()
    )]
    NoInterpreter { path: PathBuf, machine: u16 },
}
