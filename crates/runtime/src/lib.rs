//! What programs load and read at run time that no ELF header names, each addition with
//! its reason.
//!
//! The loader's walk (`depclose-resolve`) sees only `DT_NEEDED`. Programs also `dlopen`
//! code and read data whose names come from their own logic or configuration. This crate
//! holds that knowledge as [`Recipe`]s, one per program or library, registered in
//! [`RECIPES`]: each reads the root (and the image's own files) through a [`Context`] and
//! answers with what the program needs ([`Want`]: objects to load as `dlopen` would, files,
//! directories, image settings), each with a [`Reason`] that names the recipe and its
//! evidence — the configuration line, the imported symbol or the compiled-in value that
//! caused it. [`apply`] runs the recipes to a fixpoint: what one adds can bring a library
//! another knows.
//!
//! Programs that load what their configuration names need that configuration read as they
//! read it: Apache httpd's ([`apache`]) and nginx's ([`nginx`]) readers are parsers of each
//! program's own grammar that return every directive with the line that says it
//! ([`ConfigLine`]), what it makes the server load and open, or the [`ConfigError`] the
//! server would stop on. They read through [`Files`], the root seen from inside (an
//! [`Overlay`] puts the image's own files over it).
//!
//! It reads files only inside the resolver's [`depclose_resolve::Root`], runs nothing, prints
//! nothing, and knows nothing of tar files or output formats.
//!
//! ```no_run
//! use depclose_resolve::{ResolveOptions, Resolver, Root};
//! use depclose_runtime::{Context, Options, RECIPES, apply};
//!
//! let resolver = Resolver::new(Root::new("/".as_ref())?, ResolveOptions::default());
//! let closure = resolver.closure("/usr/bin/iconv".as_ref())?;
//! let options = Options::default();
//! let (closure, added) = apply(&Context::root(&resolver, &options), closure, RECIPES)?;
//! for a in &added {
//!     println!("{:?}: {}", a.want, a.reason);
//! }
//! # let _ = closure;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod apache;
mod config;
mod data;
mod dlopen;
mod error;
mod files;
#[doc(hidden)]
pub mod fuzzing;
mod glibc;
mod gnutls;
pub mod nginx;
mod openssl;
mod perl;
mod python;
mod reason;
mod recipe;
mod strings;
mod traced;

pub use config::{ConfigError, ConfigLine, Setting};
pub use data::Data;
pub use error::Error;
pub use files::{Entry, Files, Overlay};
pub use glibc::{LIBGCC_S, NSSWITCH_CONF, nss_services};
pub use reason::{Evidence, Reason, Seen};
pub use recipe::{
    Added, Addition, Applied, Context, Options, Reads, Recipe, Want, apply, apply_all,
};
pub use strings::CStrings;
pub use traced::{Observation, Traced};

/// Every recipe, in the order they run.
pub static RECIPES: &[&dyn Recipe] = &[
    &glibc::Libgcc,
    &glibc::Nss,
    &glibc::Gconv,
    &openssl::OpenSsl,
    &gnutls::GnuTls,
    &python::Python,
    &perl::Perl,
    &apache::Httpd,
    &nginx::Nginx,
    &dlopen::Notes,
    &dlopen::Named,
    &dlopen::Strings,
    &data::WithData,
];

/// The recipe named `name`.
pub fn recipe(name: &str) -> Option<&'static dyn Recipe> {
    RECIPES.iter().copied().find(|r| r.name() == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// docs/recipes.md lists every recipe with its summary, in order.
    #[test]
    fn the_docs_list_every_recipe() {
        let docs = include_str!("../../../docs/recipes.md");
        let section = docs
            .split("\n## ")
            .find(|s| s.starts_with("The recipes"))
            .unwrap_or_default();
        let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
        let want: Vec<String> = RECIPES
            .iter()
            .map(|r| format!("| `{}` | {} |", r.name(), r.summary()))
            .collect();
        assert_eq!(rows, want);
    }

    #[test]
    fn recipe_names_are_unique() {
        for (i, r) in RECIPES.iter().enumerate() {
            assert!(
                RECIPES[..i].iter().all(|o| o.name() != r.name()),
                "{}",
                r.name()
            );
            assert_eq!(recipe(r.name()).map(|f| f.name()), Some(r.name()));
        }
    }
}
