//! What programs load at run time that no ELF header names, each addition with its reason.
//!
//! The loader's walk (`depclose-resolve`) sees only `DT_NEEDED`. Programs also `dlopen`
//! code and read data whose names come from their own logic or configuration. This crate
//! holds that knowledge:
//!
//! - glibc's own loads ([`glibc_loads`]): `libgcc_s.so.1` for thread cancellation, and the
//!   NSS module of every service an `nsswitch.conf` names (`files` and `dns` are built into
//!   libc since glibc 2.34);
//! - hints ([`hints`]) for well-known programs whose run-time loads depclose cannot see yet,
//!   naming the directory they load from;
//! - readers of the configurations that name what a server loads: Apache httpd's
//!   ([`apache`]) and nginx's ([`nginx`]), each a parser of the program's own grammar that
//!   returns every directive with its file and line ([`ConfigLine`]), what it makes the server
//!   load and open, or the [`ConfigError`] the server would stop on. They read through
//!   [`Files`], the root seen from inside (an [`Overlay`] puts the image's own files over it).
//!
//! Every object added comes back as a [`Load`] that says which rule added it and why
//! ([`Reason`]); callers render the reason, this crate prints nothing. It reads files only
//! through the resolver's [`depclose_resolve::Root`] and knows nothing of tar files or
//! output formats.
//!
//! ```no_run
//! use depclose_resolve::{ResolveOptions, Resolver, Root};
//!
//! let resolver = Resolver::new(Root::new("/".as_ref())?, ResolveOptions::default());
//! let closure = resolver.closure("/usr/bin/id".as_ref())?;
//! let nsswitch = "passwd: files systemd\n";
//! let (closure, loads) = depclose_runtime::glibc_loads(&resolver, closure, Some(nsswitch));
//! for load in &loads {
//!     match load.object {
//!         Some(i) => println!("{}: {}", closure.objects[i].path, load.reason),
//!         None => println!("{}: not found", load.name),
//!     }
//! }
//! # Ok::<(), depclose_resolve::Error>(())
//! ```

pub mod apache;
mod config;
mod files;
mod glibc;
mod hints;
pub mod nginx;

pub use config::{ConfigError, ConfigLine, Setting};
pub use files::{Entry, Files, Overlay};
pub use glibc::{LIBGCC_S, NSSWITCH_CONF, glibc_loads, nss_services};
pub use hints::{Dir, HINTS, Hint, Loads, hints};

/// Why an object was added to a closure at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// glibc `dlopen`s `libgcc_s.so.1` for `pthread_cancel` and `pthread_exit`
    /// (`misc/unwind-link.c`).
    ThreadCancellation,
    /// glibc loads the module of an NSS service that `nsswitch.conf` names
    /// (`nss/nss_module.c`).
    NssService {
        /// The service, as `nsswitch.conf` spells it (`systemd`, `mdns4_minimal`).
        service: String,
    },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::ThreadCancellation => f.write_str("for pthread_cancel and pthread_exit"),
            Reason::NssService { service } => {
                write!(f, "for the NSS service {service} of /etc/nsswitch.conf")
            }
        }
    }
}

/// One object a run-time rule added to a closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// The name the program loads it by (`libnss_systemd.so.2`).
    pub name: String,
    /// Its index in the closure's objects; `None` when nothing was found for the name (the
    /// closure records it as missing, of kind run time).
    pub object: Option<usize>,
    pub reason: Reason,
}
