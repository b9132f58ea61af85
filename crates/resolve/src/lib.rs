//! Map the names a program needs to files in a root, exactly as glibc's (or musl's) loader
//! does, and record why each file was chosen.
//!
//! `depclose-resolve` owns the loader's policy: the breadth-first walk over `DT_NEEDED`, the
//! RPATH chain along first loaders, `LD_LIBRARY_PATH`, `DT_RUNPATH`, `ld.so.cache`, the
//! built-in directories with their glibc-hwcaps subdirectories, `$ORIGIN`/`$LIB`/`$PLATFORM`,
//! reuse by name, soname and inode — all read inside a [`Root`], never outside it. It also
//! writes the `ld.so.cache` an image needs ([`image_ld_so_cache`]).
//!
//! It never runs the programs it reads, and knows nothing of what they load at run time
//! beyond a [`Resolver::dlopen`] it is asked for. It knows nothing of tar files, JSON or
//! terminals. A library that is not found is a result ([`Missing`]), not an [`Error`].
//!
//! ```no_run
//! use depclose_resolve::{Resolver, ResolveOptions, Root};
//!
//! let resolver = Resolver::new(Root::new("/".as_ref())?, ResolveOptions::default());
//! let closure = resolver.closure("/usr/bin/true".as_ref())?;
//! for object in &closure.objects {
//!     println!("{}", object.path);
//! }
//! # Ok::<(), depclose_resolve::Error>(())
//! ```

mod cache;
mod closure;
mod cpu;
mod dst;
mod error;
mod facts;
mod file;
#[doc(hidden)]
pub mod fuzzing;
mod image_cache;
mod ld_so_conf;
mod legacy_hwcaps;
mod options;
mod resolver;
mod root;
mod walk;

pub use cache::CacheError;
pub use closure::{
    Attempt, Closure, Edge, EdgeTarget, Fatal, Found, How, Missing, MissingKind, Object, Outcome,
    ScriptHop,
};
pub use error::Error;
pub use facts::{FactsOptions, FactsSource, Flavor, HwcapsChoice, LoaderFacts, runs_here};
pub use image_cache::image_ld_so_cache;
pub use ld_so_conf::glob_components;
pub use options::{CacheMode, ResolveOptions};
pub use resolver::{DEFAULT_PATH, Resolver};
pub use root::{Hops, Resolved, Root, SymlinkHop};
