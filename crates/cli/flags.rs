//! Command-line flags (clap) and their validation into a [`Config`].

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Compute the exact set of files glibc's loader opens for a program — without running
/// it — and list it, explain it, or pack it as a minimal container image.
#[derive(Debug, Parser)]
#[command(name = "depclose", version, about, max_term_width = 100)]
pub(crate) struct Args {
    /// Programs to analyse: paths, command names looked up in PATH inside the root,
    /// #! scripts (their interpreter joins), or directories (every ELF file inside).
    #[arg(required = true, value_name = "TARGET")]
    pub(crate) targets: Vec<String>,

    /// Analyse this directory as the root filesystem instead of /.
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::List)]
    pub(crate) format: Format,

    /// Search these directories as LD_LIBRARY_PATH would (depclose does not read its own
    /// environment's LD_LIBRARY_PATH).
    #[arg(long, value_name = "PATH")]
    pub(crate) library_path: Option<String>,

    /// Preload this library, as LD_PRELOAD would (repeatable).
    #[arg(long, value_name = "NAME")]
    pub(crate) preload: Vec<String>,

    /// glibc-hwcaps subdirectories to search: `host` (this CPU's, so listings equal
    /// ldd's), `none` (baseline only, portable), or a comma-separated list of names.
    #[arg(long, value_name = "host|none|NAMES", default_value = "host")]
    pub(crate) hwcaps: String,

    /// The value of $PLATFORM (default: what the loader would use on this machine).
    #[arg(long, value_name = "NAME")]
    pub(crate) platform: Option<String>,

    /// Which source stands in for ld.so.cache: the root's cache (else its ld.so.conf
    /// directories), the ld.so.conf directories, or none.
    #[arg(long, value_enum, default_value_t = CacheArg::Auto)]
    pub(crate) cache: CacheArg,

    /// The program's working directory inside the root, for relative RPATH elements and
    /// names (default: the current directory for /, else /).
    #[arg(long, value_name = "DIR")]
    pub(crate) cwd: Option<PathBuf>,

    /// Exit 0 even when a library is missing (it is still reported).
    #[arg(long)]
    pub(crate) allow_missing: bool,

    /// Show how NAME (a soname or path) was reached and how the loader searched for it.
    #[arg(long, value_name = "NAME")]
    pub(crate) why: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One absolute path a line: targets, then every object in load order.
    List,
    /// Who needs whom, and how each object was found.
    Tree,
    /// Machine-readable report (docs/json.md).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CacheArg {
    Auto,
    Conf,
    None,
}
