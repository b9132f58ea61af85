//! Map the names a program needs to files in a root, exactly as glibc's (or musl's) loader
//! does, and record why each file was chosen.
//!
//! `depclose-resolve` owns the loader's policy: the breadth-first walk over `DT_NEEDED`, the
//! RPATH chain along first loaders, `LD_LIBRARY_PATH`, `DT_RUNPATH`, `ld.so.cache`, the
//! built-in directories with their glibc-hwcaps subdirectories, `$ORIGIN`/`$LIB`/`$PLATFORM`,
//! reuse by name, soname and inode — all read inside a [`Root`], never outside it. It never
//! runs the programs it reads. It knows nothing of tar files, JSON or terminals.
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
mod conf;
mod cpu;
mod dst;
mod error;
mod facts;
mod image_cache;
mod legacy;
mod root;

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use depclose_elf::{Class, Data, FileKind, Linkage, ObjectType};

pub use cache::CacheError;
pub use closure::{
    Attempt, Closure, Edge, EdgeTarget, Fatal, Found, How, Missing, MissingKind, Object, Outcome,
    ScriptHop,
};
pub use error::Error;
pub use facts::{
    FactsOptions, FactsSource, Flavor, HwcapsChoice, LoaderFacts, default_interpreter,
};
pub use image_cache::image_ld_so_cache;
pub use root::{Resolved, Root, SymlinkHop};

use crate::cache::{CacheQuery, LdCache};
use crate::closure::{FileEntry, Walk};

/// The kernel follows at most this many nested `#!` interpreters (`BINPRM_MAX_RECURSION`
/// is 4, plus the final ELF file).
const MAX_SCRIPT_DEPTH: usize = 5;

/// The `PATH` a login shell gets on Debian, for command names without `/`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

/// What stands in for the cache in this root.
#[derive(Debug)]
enum CacheSource {
    Cache(LdCache),
    Conf(Vec<String>),
    None,
}

type FactsKey = (String, u16, Class, Data, u32);

/// Computes closures in one root. Files read are remembered, so many targets in one root
/// (a whole `/usr/bin`) read each library once; it can be shared between threads.
#[derive(Debug)]
pub struct Resolver {
    root: Root,
    options: ResolveOptions,
    files: Mutex<HashMap<PathBuf, Arc<FileEntry>>>,
    facts: Mutex<HashMap<FactsKey, Arc<LoaderFacts>>>,
    /// The root's cache, or why it cannot be used (a note in every glibc closure).
    cache: OnceLock<Result<CacheSource, Error>>,
}

impl Resolver {
    pub fn new(root: Root, options: ResolveOptions) -> Resolver {
        Resolver {
            root,
            options,
            files: Mutex::new(HashMap::new()),
            facts: Mutex::new(HashMap::new()),
            cache: OnceLock::new(),
        }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn options(&self) -> &ResolveOptions {
        &self.options
    }

    /// Find a command name in `PATH` (a `:`-separated list of in-root directories) as a
    /// shell would: the first regular file with an execute bit.
    pub fn find_command(&self, name: &str, path: &str) -> Result<PathBuf, Error> {
        for dir in path.split(':').filter(|d| !d.is_empty()) {
            let candidate = Path::new(dir).join(name);
            if let Ok((_, meta)) = self.root.metadata(&candidate) {
                if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                    return Ok(candidate);
                }
            }
        }
        let mut searched: Vec<String> = Vec::new();
        for d in path.split(':').filter(|d| !d.is_empty()) {
            if !searched.iter().any(|s| s == d) {
                searched.push(d.to_owned());
            }
        }
        Err(Error::CommandNotFound {
            name: name.to_owned(),
            searched,
            root: self.root.dir().to_path_buf(),
        })
    }

    /// The closure of one target: an ELF program or shared object, or a `#!` script (its
    /// interpreter's closure, with the scripts recorded). `target` is an absolute path
    /// inside the root.
    pub fn closure(&self, target: &Path) -> Result<Closure, Error> {
        let mut scripts = Vec::new();
        let mut path = target.to_path_buf();
        loop {
            let (resolved, meta) = self.root.metadata(&path)?;
            if meta.is_dir() {
                return Err(Error::IsDirectory { path });
            }
            // Read through the cache, which a directory target's scan has usually filled; on
            // an error, read again for the typed error.
            let kind = match &self.read_file(&resolved.real).kind {
                Ok(kind) => kind.clone(),
                Err(_) => {
                    let host = self.root.host_path(&resolved.real);
                    depclose_elf::read_file(&host).map_err(|e| rename_elf_error(e, &path))?
                }
            };
            match kind {
                FileKind::Script(s) => {
                    if scripts.len() + 1 >= MAX_SCRIPT_DEPTH {
                        return Err(Error::ScriptDepth {
                            path: target.to_path_buf(),
                        });
                    }
                    // The kernel opens a relative interpreter against the cwd of the exec.
                    let next = self.options.cwd.join(&s.interpreter);
                    scripts.push(ScriptHop {
                        path: path.clone(),
                        interpreter: s.interpreter,
                        argument: s.argument,
                    });
                    path = next;
                }
                FileKind::Other => {
                    return Err(Error::NotElfOrScript { path });
                }
                FileKind::Elf(elf) => {
                    return self.elf_closure(target, path, resolved, &meta, elf, scripts);
                }
            }
        }
    }

    fn elf_closure(
        &self,
        target: &Path,
        path: PathBuf,
        resolved: Resolved,
        meta: &std::fs::Metadata,
        elf: depclose_elf::ElfInfo,
        scripts: Vec<ScriptHop>,
    ) -> Result<Closure, Error> {
        match (elf.class, elf.data) {
            (Class::Invalid(class), _) => return Err(Error::UnknownClass { path, class }),
            (_, Data::Invalid(data)) => return Err(Error::UnknownData { path, data }),
            _ => {}
        }
        if !matches!(
            elf.object_type,
            ObjectType::Executable | ObjectType::SharedObject
        ) {
            return Err(Error::NotLoadable {
                path,
                object_type: elf.object_type,
            });
        }
        let entry = FileEntry {
            kind: Ok(FileKind::Elf(elf.clone())),
            file_id: (meta.dev(), meta.ino()),
            size: meta.len(),
            ident: None,
        };
        let linkage = elf.linkage;
        let program = closure::Object::program(
            root::path_str(&path).into_owned(),
            resolved.real,
            resolved.hops,
            &entry,
            elf.clone(),
        );
        let secure = is_secure(meta, &self.root.host_path(&program.real));
        if linkage != Linkage::Dynamic {
            return Ok(Closure {
                target: target.to_path_buf(),
                scripts,
                linkage,
                secure,
                facts: None,
                objects: vec![program],
                missing: Vec::new(),
                fatal: None,
                notes: Vec::new(),
            });
        }
        let interpreter = match &elf.interpreter {
            Some(i) => i.clone(),
            None => default_interpreter(elf.machine, elf.class)
                .ok_or(Error::NoInterpreter {
                    path,
                    machine: elf.machine,
                })?
                .to_owned(),
        };
        let facts = self.facts_for(&interpreter, &elf);
        let mut preload = self.options.preload.clone();
        if secure {
            // Secure mode ignores preload names with a `/` (`dso_name_valid_for_suid`).
            preload.retain(|n| !n.contains('/'));
        }
        if facts.flavor == Flavor::Glibc {
            preload.extend(self.preload_file());
        }
        let mut closure = Walk::new(
            self,
            facts.clone(),
            program,
            target.to_path_buf(),
            scripts,
            linkage,
            secure,
        )
        .run(&preload);
        if secure && self.options.library_path.is_some() {
            closure.notes.push(format!(
                "{}: setuid, setgid or file capabilities: the loader ignores LD_LIBRARY_PATH (secure mode)",
                target.display()
            ));
        }
        if facts.flavor == Flavor::Glibc {
            match self.cache_source() {
                Ok(CacheSource::Conf(_)) if self.options.cache == CacheMode::Auto => closure
                    .notes
                    .push(
                    "no /etc/ld.so.cache in the root: its ld.so.conf directories stand in for it"
                        .into(),
                ),
                Err(e) => closure.notes.push(format!("ld.so.cache not used: {e}")),
                _ => {}
            }
        }
        Ok(closure)
    }

    /// Extend a closure with what object `requester` loads at run time by `name` (as
    /// `dlopen` searches: the requester's RPATH chain, `LD_LIBRARY_PATH`, its RUNPATH, the
    /// cache, the system directories), and that object's own dependencies.
    pub fn dlopen(&self, closure: Closure, requester: usize, name: &str) -> Closure {
        let Some(facts) = closure.facts.clone() else {
            return closure;
        };
        Walk::resume(self, closure, facts).dlopen(requester, name)
    }

    fn facts_for(&self, interpreter: &str, elf: &depclose_elf::ElfInfo) -> Arc<LoaderFacts> {
        let key = (
            interpreter.to_owned(),
            elf.machine,
            elf.class,
            elf.data,
            elf.flags,
        );
        let mut map = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key)
            .or_insert_with(|| {
                Arc::new(LoaderFacts::load(
                    &self.root,
                    interpreter,
                    elf.machine,
                    elf.class,
                    elf.data,
                    elf.flags,
                    &self.options.facts,
                ))
            })
            .clone()
    }

    /// `/etc/ld.so.preload`: `#` starts a comment; names are separated by `:`, blanks and
    /// newlines (rtld.c).
    fn preload_file(&self) -> Vec<String> {
        let Ok(bytes) = self.root.read(Path::new("/etc/ld.so.preload")) else {
            return Vec::new();
        };
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split([':', ' ', '\t']))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// True when the in-root file `real` (symlinks resolved) is an ELF executable or shared
    /// object: what a directory target analyses. The read is remembered for the analysis.
    pub fn is_elf_object(&self, real: &Path) -> bool {
        matches!(
            &self.read_file(real).kind,
            Ok(FileKind::Elf(e)) if matches!(e.object_type, ObjectType::Executable | ObjectType::SharedObject)
        )
    }

    /// Read (once) what the loader would read from a resolved in-root path.
    pub(crate) fn read_file(&self, real: &Path) -> Arc<FileEntry> {
        if let Some(e) = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(real)
        {
            return e.clone();
        }
        let host = self.root.host_path(real);
        let read = depclose_elf::read_file_with_metadata(&host);
        // Only a regular file that failed to parse (never a FIFO: opening it would block).
        let ident = match &read {
            Err(depclose_elf::Error::Malformed { identity, .. }) => *identity,
            _ => None,
        };
        let (file_id, size) = match &read {
            Ok((_, m)) => ((m.dev(), m.ino()), m.len()),
            Err(_) => ((0, 0), 0),
        };
        let entry = Arc::new(FileEntry {
            kind: read.map(|(kind, _)| kind).map_err(|e| match e {
                depclose_elf::Error::Io { source, .. } => source.to_string(),
                depclose_elf::Error::NotRegular {
                    kind: depclose_elf::NonRegular::Directory,
                    ..
                } => "cannot read file data: Is a directory".to_owned(),
                depclose_elf::Error::Empty { .. } => "file too short".to_owned(),
                depclose_elf::Error::Malformed { reason, .. } => reason,
                other => other.to_string(),
            }),
            file_id,
            size,
            ident,
        });
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(real.to_path_buf(), entry.clone());
        entry
    }

    fn cache_source(&self) -> &Result<CacheSource, Error> {
        self.cache.get_or_init(|| {
            let cache_path = Path::new("/etc/ld.so.cache");
            let conf = || CacheSource::Conf(conf::directories(&self.root));
            match self.options.cache {
                CacheMode::None => Ok(CacheSource::None),
                CacheMode::Conf => Ok(conf()),
                CacheMode::Auto => match self.root.read(cache_path) {
                    Ok(bytes) => LdCache::parse(&bytes)
                        .map(CacheSource::Cache)
                        .map_err(|source| Error::Cache {
                            path: cache_path.to_path_buf(),
                            source,
                        }),
                    Err(Error::NotFound { .. }) => Ok(conf()),
                    Err(e) => Err(e),
                },
            }
        })
    }

    /// Step 4 of the search: the path the cache (or `ld.so.conf`) gives for `name`.
    pub(crate) fn cache_lookup(&self, facts: &LoaderFacts, name: &str) -> Option<(String, How)> {
        match self.cache_source().as_ref().ok()? {
            CacheSource::None => None,
            CacheSource::Cache(cache) => {
                let accept = cache::accept_flags_for(
                    facts.machine,
                    facts.class == Class::Elf64,
                    facts.e_flags,
                )?;
                let query = CacheQuery {
                    accept,
                    hwcaps: &facts.hwcaps,
                    x86_isa_1: facts.x86_isa_1(),
                    legacy_hwcaps: facts.cache_legacy_hwcaps(),
                };
                cache
                    .lookup(name, &query)
                    .map(|e| (e.value.clone(), How::Cache))
            }
            CacheSource::Conf(dirs) => dirs.iter().find_map(|d| {
                let p = root::loader_join(d, name);
                self.root
                    .metadata(Path::new(&p))
                    .ok()
                    .filter(|(_, m)| m.is_file())
                    .map(|_| (p, How::Conf))
            }),
        }
    }
}

/// Whether the kernel starts the program with `AT_SECURE`: setuid or setgid bits, or file
/// capabilities (`security.capability`) — unless its filesystem is mounted `nosuid`, where
/// the kernel ignores both.
fn is_secure(meta: &std::fs::Metadata, host: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mut buf = [0u8; 64];
    let privileged = meta.permissions().mode() & 0o6000 != 0
        || rustix::fs::getxattr(host, "security.capability", &mut buf).is_ok_and(|n| n > 0);
    privileged
        && !rustix::fs::statvfs(host)
            .is_ok_and(|v| v.f_flag.contains(rustix::fs::StatVfsMountFlags::NOSUID))
}

/// Keep the user's spelling of the target in errors about it.
fn rename_elf_error(e: depclose_elf::Error, path: &Path) -> Error {
    let path = path.to_path_buf();
    match e {
        depclose_elf::Error::Io { source, .. } => Error::Io { path, source },
        depclose_elf::Error::Malformed {
            reason, identity, ..
        } => Error::Elf(depclose_elf::Error::Malformed {
            path,
            reason,
            identity,
        }),
        depclose_elf::Error::NotRegular { kind, .. } => {
            Error::Elf(depclose_elf::Error::NotRegular { path, kind })
        }
        depclose_elf::Error::Empty { .. } => Error::Elf(depclose_elf::Error::Empty { path }),
        other => Error::Elf(other),
    }
}
