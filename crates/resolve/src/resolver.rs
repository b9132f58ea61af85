//! The resolver: one root, one set of options, the files it read and the loader facts it
//! worked out, shared by every closure computed in that root.

use std::collections::HashMap;
use std::ffi::OsString;

use rustc_hash::FxHashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use depclose_elf::{Class, Data, Linkage, ObjectType, name};
use rustix::fs::Mode;

use crate::cache::{self, CacheQuery, LdCache};
use crate::closure::{Closure, How, Object, ScriptHop};
use crate::facts::{Flavor, LoaderFacts, default_interpreter};
use crate::file::{FileEntry, Kind};
use crate::options::{CacheMode, ResolveOptions};
use crate::root::{self, Resolved, Root};
use crate::walk::Walk;
use crate::{Error, ld_so_conf};

/// The kernel follows at most this many nested `#!` interpreters (`BINPRM_MAX_RECURSION`
/// is 4, plus the final ELF file).
const MAX_SCRIPT_DEPTH: usize = 5;

/// `S_IXUSR | S_IXGRP | S_IXOTH`: a shell runs a file with any execute bit.
const ANY_EXECUTE: u32 = Mode::XUSR.bits() | Mode::XGRP.bits() | Mode::XOTH.bits();
/// `S_ISUID | S_ISGID`.
const SET_ID: u32 = Mode::SUID.bits() | Mode::SGID.bits();

/// The `PATH` a login shell gets on Debian, for command names without `/`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    /// Keyed by the path's bytes: hashing a `Path` walks its components.
    files: Mutex<FxHashMap<OsString, Arc<FileEntry>>>,
    facts: Mutex<HashMap<FactsKey, Arc<LoaderFacts>>>,
    /// The root's cache, or why it cannot be used (a note in every glibc closure).
    cache: OnceLock<Result<CacheSource, Error>>,
}

impl Resolver {
    /// A resolver for `root`; nothing is read until a closure is asked for.
    pub fn new(root: Root, options: ResolveOptions) -> Resolver {
        Resolver {
            root,
            options,
            files: Mutex::new(FxHashMap::default()),
            facts: Mutex::new(HashMap::new()),
            cache: OnceLock::new(),
        }
    }

    /// The root every path is read in.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The options every search uses.
    pub fn options(&self) -> &ResolveOptions {
        &self.options
    }

    /// Find a command name in `PATH` (a `:`-separated list of in-root directories) as a
    /// shell would: the first regular file with an execute bit. Both are
    /// [`name`]-encoded.
    pub fn find_command(&self, name: &str, path: &str) -> Result<PathBuf, Error> {
        let mut searched: Vec<String> = Vec::new();
        for dir in path.split(':').filter(|d| !d.is_empty()) {
            if searched.iter().any(|s| s == dir) {
                continue;
            }
            let candidate = name::to_path(dir).join(name::to_path(name));
            if let Ok((_, meta)) = self.root.metadata(&candidate) {
                if meta.is_file() && meta.permissions().mode() & ANY_EXECUTE != 0 {
                    return Ok(candidate);
                }
            }
            searched.push(dir.to_owned());
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
            let kind = match &self.read_file(&resolved).kind {
                Ok(kind) => kind.clone(),
                Err(_) => {
                    let host = self.root.host_path(&resolved.real);
                    depclose_elf::read_file(&host)
                        .map_err(|e| rename_elf_error(e, &path))?
                        .into()
                }
            };
            match kind {
                Kind::Script(s) => {
                    if scripts.len() + 1 >= MAX_SCRIPT_DEPTH {
                        return Err(Error::ScriptDepth {
                            path: target.to_path_buf(),
                        });
                    }
                    // The kernel opens a relative interpreter against the cwd of the exec.
                    let next = self.options.cwd.join(name::to_path(&s.interpreter));
                    scripts.push(ScriptHop {
                        path: path.clone(),
                        interpreter: s.interpreter,
                        argument: s.argument,
                    });
                    path = next;
                }
                Kind::Other => {
                    return Err(Error::NotElfOrScript { path });
                }
                Kind::Elf(elf) => {
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
        elf: Arc<depclose_elf::ElfInfo>,
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
        let linkage = elf.linkage;
        let program = Object::program(
            name::from_path(&path).into_owned(),
            resolved.real,
            resolved.hops,
            meta,
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
        self.dlopen_all(closure, &[(requester, name)])
    }

    /// [`Resolver::dlopen`] for each `(requester, name)` in turn, as a program's successive
    /// `dlopen` calls load them (each with its dependencies before the next); the requesters
    /// are indices into `closure`'s objects.
    pub fn dlopen_all(&self, closure: Closure, requests: &[(usize, &str)]) -> Closure {
        let Some(facts) = closure.facts.clone() else {
            return closure;
        };
        Walk::resume(self, closure, facts).dlopen_all(requests)
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
        name::encode(&bytes)
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
        self.elf_object(real, |host| FileEntry::read(host, false))
    }

    /// [`Resolver::is_elf_object`] for a file a directory listing has just shown to be a
    /// regular file: one or two system calls fewer (see
    /// [`depclose_elf::read_listed_file`]).
    pub fn is_listed_elf_object(&self, real: &Path) -> bool {
        self.elf_object(real, FileEntry::read_listed)
    }

    fn elf_object(&self, real: &Path, read: fn(&Path) -> FileEntry) -> bool {
        let object = |entry: &FileEntry| {
            matches!(
                &entry.kind,
                Ok(Kind::Elf(e)) if matches!(e.object_type, ObjectType::Executable | ObjectType::SharedObject)
            )
        };
        if let Some(e) = self.cached_file(real) {
            return object(&e);
        }
        let entry = read(&self.root.host_path(real));
        let is = object(&entry);
        // A scan meets many more other files than objects: only the objects are analysed,
        // so only they are remembered.
        if is {
            self.remember_file(real, Arc::new(entry));
        }
        is
    }

    /// Read (once) what the loader would read from a resolved in-root path.
    pub(crate) fn read_file(&self, resolved: &Resolved) -> Arc<FileEntry> {
        let real = &resolved.real;
        if let Some(e) = self.cached_file(real) {
            return e;
        }
        let regular = resolved.meta.as_ref().is_some_and(|m| m.is_file());
        let entry = Arc::new(FileEntry::read(&self.root.host_path(real), regular));
        self.remember_file(real, entry.clone());
        entry
    }

    fn cached_file(&self, real: &Path) -> Option<Arc<FileEntry>> {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(real.as_os_str())
            .cloned()
    }

    fn remember_file(&self, real: &Path, entry: Arc<FileEntry>) {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(real.as_os_str().to_owned(), entry);
    }

    fn cache_source(&self) -> &Result<CacheSource, Error> {
        self.cache.get_or_init(|| {
            let cache_path = Path::new("/etc/ld.so.cache");
            let conf = || CacheSource::Conf(ld_so_conf::directories(&self.root));
            match self.options.cache {
                CacheMode::None => Ok(CacheSource::None),
                CacheMode::Conf => Ok(conf()),
                CacheMode::Auto => match self.root.read(cache_path) {
                    Ok(bytes) => {
                        LdCache::parse_owned(bytes)
                            .map(CacheSource::Cache)
                            .map_err(|source| Error::Cache {
                                path: cache_path.to_path_buf(),
                                source,
                            })
                    }
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
                cache.lookup_path(name, &query).map(|p| (p, How::Cache))
            }
            CacheSource::Conf(dirs) => dirs.iter().find_map(|d| {
                let p = root::loader_join(d, name);
                self.root
                    .metadata(&name::to_path(&p))
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
    // Room for any `struct vfs_cap_data` (24 bytes in revision 3).
    let mut buf = [0u8; 64];
    let privileged = meta.permissions().mode() & SET_ID != 0
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
