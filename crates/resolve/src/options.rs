//! What shapes a search besides the root: the program's environment as the loader sees it.

use std::path::PathBuf;

use crate::facts::FactsOptions;

/// Which source stands in for step 4 of the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// The root's `/etc/ld.so.cache`; without one, the `ld.so.conf` directories.
    #[default]
    Auto,
    /// The `ld.so.conf` directories, as `ldconfig` would put them in a cache.
    Conf,
    /// No cache at all (`ld.so --inhibit-cache`).
    None,
}

/// Everything that shapes a search besides the root.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// `LD_LIBRARY_PATH`, if the program will run with one.
    pub library_path: Option<String>,
    /// Names to preload (`LD_PRELOAD`), before `/etc/ld.so.preload`'s.
    pub preload: Vec<String>,
    pub facts: FactsOptions,
    /// The program's working directory inside the root (relative RPATH elements and names
    /// are opened from it).
    pub cwd: PathBuf,
    pub cache: CacheMode,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            library_path: None,
            preload: Vec::new(),
            facts: FactsOptions::default(),
            cwd: PathBuf::from("/"),
            cache: CacheMode::Auto,
        }
    }
}
