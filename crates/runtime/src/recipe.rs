//! The recipe seam: what a recipe sees, what it may ask for, and the driver that runs the
//! recipes over a closure until nothing new comes of them.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use depclose_elf::{Tables, name};
use depclose_resolve::{Closure, Object, Resolver, Root};

use crate::strings::CStrings;
use crate::{Entry, Error, Files, Overlay, Reason};

/// Knowledge of what one program or library loads or reads at run time.
///
/// A recipe reads the root (through [`Context`]) and the closure, and answers with what the
/// program needs beyond it, each with its [`Reason`]. It must be deterministic: the driver
/// calls it again when the closure grows (one recipe's additions can bring a library another
/// recipe knows), and drops what it has already added.
pub trait Recipe: Sync + std::fmt::Debug {
    /// Its name, for `--no-recipe NAME` and in every reason.
    fn name(&self) -> &'static str;
    /// When it applies and what it reads and adds, in one sentence (for `--help` and docs).
    fn summary(&self) -> &'static str;
    /// What the program of `closure` needs at run time.
    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error>;

    /// Whether it adds only what an option of the user names (`--dlopen`, `--with`): such a
    /// recipe runs even when the user turns the others off.
    fn on_request(&self) -> bool {
        false
    }
}

/// Something a recipe asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Want {
    /// An ELF object loaded as `dlopen(name)` from the object at index `from` would load it
    /// (a name with `/` is a path); its own dependencies join. `name` is a loader string,
    /// [`name`]-encoded like the closure's.
    Load { from: usize, name: String },
    /// A file, in-root, with the symlinks on the way to it.
    File(PathBuf),
    /// A directory and everything below it, except the subtrees named (in-root paths).
    Tree { path: PathBuf, except: Vec<PathBuf> },
    /// An empty directory the program writes into, with its mode.
    Dir { path: PathBuf, mode: u32 },
    /// An image environment variable.
    Env { key: String, value: String },
    /// A user (from the root's `/etc/passwd`) the program switches to.
    User(String),
    /// A group (from the root's `/etc/group`).
    Group(String),
    /// The image's Cmd: the arguments after the entrypoint that make it do its job.
    Cmd(Vec<String>),
    /// Something the program may load at run time that depclose does not add, with the path
    /// it would resolve to: said, never added.
    Mention { name: String, path: Option<String> },
    /// A program it executes (in-root path): it joins as a program of its own, with its
    /// closure and its recipes ([`apply_all`]).
    Program(PathBuf),
}

/// A [`Want`] with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addition {
    pub want: Want,
    pub reason: Reason,
}

/// What a recipe added to a closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub want: Want,
    pub reason: Reason,
    /// For a [`Want::Load`]: the object's index in the closure, or `None` when nothing was
    /// found (the closure records the name as missing, of kind run time).
    pub object: Option<usize>,
}

/// Choices the user makes about run-time additions.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Recipes not to run, by name.
    pub disabled: BTreeSet<String>,
    /// gconv: only the modules for these character sets (`None`: all modules).
    pub gconv: Option<Vec<String>>,
    /// Leave out the CA certificate store.
    pub no_ca_certificates: bool,
    /// Names to load as `dlopen` from the program of `dlopen_target` would (`--dlopen`).
    pub dlopen: Vec<String>,
    /// The target (as given, in-root) `--dlopen` loads from: the first.
    pub dlopen_target: Option<PathBuf>,
    /// Data to add (`--with`).
    pub with: BTreeSet<crate::Data>,
    /// Python: also the distribution's `dist-packages`.
    pub python_packages: bool,
}

/// What recipes see: the root (through the resolver), the image's own files, the command
/// the program will run with, and the user's choices.
pub struct Context<'a> {
    pub resolver: &'a Resolver,
    /// For a program that runs from an image: the image's own files (what the user added)
    /// over the root's. The image holds only those and what the recipes add.
    image: Option<&'a Overlay<&'a Root>>,
    /// The arguments after the program (an image's Cmd).
    pub command: &'a [String],
    pub options: &'a Options,
    /// What recipes read from objects, read once per file: the fixpoint asks again each
    /// round, and a closure may hold hundreds of modules.
    memo: Mutex<Memo>,
    /// The same by file, which other contexts of the run may share ([`Context::sharing`]).
    reads: Arc<Reads>,
}

#[derive(Debug, Default)]
struct Memo {
    /// Dynamic symbols and notes (`None`: not readable as ELF).
    tables: HashMap<PathBuf, Option<Arc<Tables>>>,
    strings: HashMap<PathBuf, Arc<CStrings>>,
    /// `dlopen(name)` from an object (by its target and file): the path it would open,
    /// which depends on the program's RPATH too.
    load_paths: HashMap<(PathBuf, PathBuf, String), Option<String>>,
    /// What a recipe of a program's own configuration wants, by recipe and program.
    programs: HashMap<(&'static str, PathBuf), Vec<Addition>>,
}

/// What recipes read from files (symbols, notes, strings), kept by the file's identity:
/// device, inode, size and modification time. Shared by the contexts of one run, it lets the
/// check of a staged image, whose files are hard links to the same inodes, read none of them
/// again.
#[derive(Debug, Default)]
pub struct Reads {
    tables: Mutex<HashMap<FileKey, Option<Arc<Tables>>>>,
    strings: Mutex<HashMap<FileKey, Arc<CStrings>>>,
}

type FileKey = (u64, u64, u64, i64, i64);

fn file_key(meta: &std::fs::Metadata) -> FileKey {
    use std::os::unix::fs::MetadataExt;
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

impl Reads {
    /// The value for `key`, made by `read` (outside the lock) when not yet known.
    fn get<T: Clone>(
        map: &Mutex<HashMap<FileKey, T>>,
        key: Option<FileKey>,
        read: impl FnOnce() -> T,
    ) -> T {
        let lock = || map.lock().unwrap_or_else(|e| e.into_inner());
        let Some(key) = key else {
            return read();
        };
        if let Some(known) = lock().get(&key) {
            return known.clone();
        }
        let value = read();
        lock().entry(key).or_insert(value).clone()
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("image", &self.image.is_some())
            .field("command", &self.command)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    /// For a program that runs in the root itself (a listing).
    pub fn root(resolver: &'a Resolver, options: &'a Options) -> Context<'a> {
        Context::new(resolver, None, &[], options)
    }

    /// For a program that runs from an image: `overlay` puts the image's own files over the
    /// resolver's root; `command` is the image's Cmd.
    pub fn image(
        resolver: &'a Resolver,
        overlay: &'a Overlay<&'a Root>,
        command: &'a [String],
        options: &'a Options,
    ) -> Context<'a> {
        Context::new(resolver, Some(overlay), command, options)
    }

    /// The same, for a program started with `command` (the arguments after it).
    pub fn with_command(self, command: &'a [String]) -> Context<'a> {
        Context { command, ..self }
    }

    /// The same, keeping what it reads from files in `reads`, with other contexts.
    pub fn sharing(self, reads: Arc<Reads>) -> Context<'a> {
        Context { reads, ..self }
    }

    /// What this context read from files, for [`Context::sharing`].
    pub fn reads(&self) -> Arc<Reads> {
        Arc::clone(&self.reads)
    }

    fn new(
        resolver: &'a Resolver,
        image: Option<&'a Overlay<&'a Root>>,
        command: &'a [String],
        options: &'a Options,
    ) -> Context<'a> {
        Context {
            resolver,
            image,
            command,
            options,
            memo: Mutex::new(Memo::default()),
            reads: Arc::default(),
        }
    }

    /// The files the program will see: the image's own over the root's, or the root's.
    pub fn files(&self) -> &dyn Files {
        match self.image {
            Some(overlay) => overlay,
            None => self.resolver.root(),
        }
    }

    /// The file the program will read at `path`: the image's own, else the root's.
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        self.files().read(path)
    }

    /// [`Context::read`] as text (invalid UTF-8 replaced).
    pub fn read_text(&self, path: &Path) -> Option<String> {
        self.files().read_to_string(path)
    }

    /// The text of the file the program finds at `path` unless a recipe adds it: in an
    /// image only the image's own files, else the root's.
    pub fn present_text(&self, path: &Path) -> Option<String> {
        match self.image {
            Some(overlay) if !overlay.adds(path) => None,
            _ => self.read_text(path),
        }
    }

    /// Whether the program finds a regular file at `path`.
    pub fn exists(&self, path: &Path) -> bool {
        self.files().is_file(path)
    }

    /// Whether the program finds a directory at `path`.
    pub fn is_dir(&self, path: &Path) -> bool {
        self.files().is_dir(path)
    }

    /// The names in directory `dir`, sorted, [`name`]-encoded (join them back with
    /// `name::to_path`); none if it is not a directory.
    pub fn list_dir(&self, dir: &Path) -> Vec<String> {
        self.files()
            .list_dir(dir)
            .unwrap_or_default()
            .into_iter()
            .map(|n| name::from_os(&n).into_owned())
            .collect()
    }

    /// The regular files below directory `dir` (paths under `dir`, sorted); symlinks are
    /// not followed.
    pub fn files_under(&self, dir: &Path) -> Vec<PathBuf> {
        let files = self.files();
        let mut out = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            let Some(real) = files.resolve(&d) else {
                continue;
            };
            let mut subdirs = Vec::new();
            for name in files.list_dir(&d).unwrap_or_default() {
                match files.entry(&real.join(&name)) {
                    Some(Entry::File) => out.push(d.join(&name)),
                    Some(Entry::Dir) => subdirs.push(d.join(&name)),
                    _ => {}
                }
            }
            pending.extend(subdirs.into_iter().rev());
        }
        out.sort();
        out
    }

    /// The bytes of the closure's program when its real file name starts with one of
    /// `names` (`apache2` for `apache2`, `httpd` for `httpd-2.4`).
    pub fn program_bytes(&self, closure: &Closure, names: &[&str]) -> Option<Vec<u8>> {
        let program = closure.objects.first()?;
        let name = program.real.file_name()?.to_str()?;
        if !names.iter().any(|n| name.starts_with(n)) {
            return None;
        }
        self.resolver.root().read(&program.real).ok()
    }

    /// `wants` of `recipe` for the program of `closure`, worked out once: for a recipe
    /// whose wants depend on the program alone (its file, the configuration it reads, the
    /// command), not on what else the closure holds, which a fixpoint round asks again
    /// (httpd's whole configuration, parsed again, was a fifth of an image's recipes).
    pub fn per_program(
        &self,
        recipe: &'static str,
        closure: &Closure,
        wants: impl FnOnce() -> Result<Vec<Addition>, Error>,
    ) -> Result<Vec<Addition>, Error> {
        let Some(program) = closure.objects.first() else {
            return wants();
        };
        let key = (recipe, program.real.clone());
        let memo = || self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = memo().programs.get(&key) {
            return Ok(known.clone());
        }
        let found = wants()?;
        memo().programs.insert(key, found.clone());
        Ok(found)
    }

    /// Whether `dlopen(name)` from object `from` of `closure` would find a file.
    pub fn would_load(&self, closure: &Closure, from: usize, name: &str) -> bool {
        self.load_path(closure, from, name).is_some()
    }

    /// The path `dlopen(name)` from object `from` of `closure` would open, if any (asked
    /// once per object and name: a fixpoint round asks again).
    pub fn load_path(&self, closure: &Closure, from: usize, name: &str) -> Option<String> {
        if let Some(o) = closure
            .objects
            .iter()
            .find(|o| o.names.iter().any(|n| n == name))
        {
            return Some(o.path.clone());
        }
        let key = (
            closure.target.clone(),
            closure.objects[from].real.clone(),
            name.to_owned(),
        );
        if let Some(known) = self
            .memo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .load_paths
            .get(&key)
        {
            return known.clone();
        }
        let tried = self.resolver.dlopen(closure.clone(), from, name);
        let path = tried
            .objects
            .get(closure.objects.len())
            .filter(|o| o.names.iter().any(|n| n == name))
            .map(|o| o.path.clone());
        self.memo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .load_paths
            .insert(key, path.clone());
        path
    }

    /// `object`'s dynamic symbols and notes, read once.
    fn tables(&self, object: &Object) -> Option<Arc<Tables>> {
        let memo = || self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = memo().tables.get(&object.real) {
            return known.clone();
        }
        let host = self.resolver.root().host_path(&object.real);
        let key = std::fs::metadata(&host).ok().map(|m| file_key(&m));
        let tables = Reads::get(&self.reads.tables, key, || {
            depclose_elf::tables(&host).ok().map(Arc::new)
        });
        memo().tables.insert(object.real.clone(), tables.clone());
        tables
    }

    /// Whether `object` imports `symbol`.
    pub fn imports(&self, object: &Object, symbol: &str) -> bool {
        self.tables(object)
            .is_some_and(|t| t.symbols.imports(symbol))
    }

    /// The strings compiled into the in-root file `real` (none if it cannot be read).
    pub fn strings(&self, real: &Path) -> Arc<CStrings> {
        let memo = || self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = memo().strings.get(real) {
            return Arc::clone(known);
        }
        let root = self.resolver.root();
        let file = root
            .resolve(real)
            .ok()
            .and_then(|r| std::fs::File::open(root.host_path(&r.real)).ok());
        let strings = match file {
            Some(file) => {
                let key = file.metadata().ok().map(|m| file_key(&m));
                Reads::get(&self.reads.strings, key, || {
                    Arc::new(CStrings::of_file(&file).unwrap_or_default())
                })
            }
            None => Arc::default(),
        };
        memo()
            .strings
            .insert(real.to_path_buf(), Arc::clone(&strings));
        strings
    }

    /// The descriptors of `object`'s notes of `owner` and type `n_type` (none if it cannot
    /// be read as ELF).
    pub fn notes(&self, object: &Object, owner: &str, n_type: u32) -> Vec<Vec<u8>> {
        self.tables(object)
            .map(|t| {
                t.notes
                    .iter()
                    .filter(|n| n.owner == owner && n.n_type == n_type)
                    .map(|n| n.desc.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A [`Want::Load`] from object `from` for every shared object (`*.so`) below `dir`: the
/// extension modules an interpreter loads by path (Python's `lib-dynload`, Perl's `auto/`).
pub(crate) fn shared_objects_under(
    cx: &Context<'_>,
    dir: &Path,
    from: usize,
    reason: &Reason,
) -> Vec<Addition> {
    cx.files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .map(|so| Addition {
            want: Want::Load {
                from,
                name: name::from_path(&so).into_owned(),
            },
            reason: reason.clone(),
        })
        .collect()
}

/// A directory of an interpreter's modules, whole, with every shared object in it loaded from
/// object `from` (Perl's `@INC` entries, Python's site-packages).
pub(crate) fn module_tree(
    cx: &Context<'_>,
    dir: PathBuf,
    from: usize,
    reason: Reason,
) -> Vec<Addition> {
    let mut out = shared_objects_under(cx, &dir, from, &reason);
    out.push(Addition {
        want: Want::Tree {
            path: dir,
            except: Vec::new(),
        },
        reason,
    });
    out
}

/// The module a server's configuration loads (`LoadModule`, `load_module`), loaded as
/// `dlopen` from the program would; a module that is not there stops the server, and so
/// the image (an error naming the line).
pub(crate) fn configured_module(
    cx: &Context<'_>,
    path: &Path,
    at: &crate::ConfigLine,
    reason: Reason,
) -> Result<Addition, Error> {
    if !cx.exists(path) {
        return Err(Error::MissingModule {
            at: at.clone(),
            path: path.to_path_buf(),
        });
    }
    Ok(Addition {
        want: Want::Load {
            from: 0,
            name: name::from_path(path).into_owned(),
        },
        reason,
    })
}

/// Mode of the run, lock, log and temporary directories a server writes into.
const WRITABLE_DIR_MODE: u32 = 0o755;

/// A [`Want::Dir`] for each directory a server writes into, once each, in order.
pub(crate) fn writable_dirs(dirs: Vec<(PathBuf, Reason)>) -> Vec<Addition> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (path, reason) in dirs {
        if !seen.contains(&path) {
            seen.push(path.clone());
            out.push(Addition {
                want: Want::Dir {
                    path,
                    mode: WRITABLE_DIR_MODE,
                },
                reason,
            });
        }
    }
    out
}

/// How often the driver calls the recipes again after they added something: additions that
/// bring new libraries (Python's `_ssl` brings `libcrypto`, which OpenSSL's recipe knows) are
/// a chain a few links long.
const MAX_ROUNDS: usize = 8;

/// Run `recipes` (except the disabled ones) over `closure` until they ask for nothing new.
/// Loads join the closure as `dlopen` would load them; everything added comes back with
/// its reason, in the order it was added — except a load that another load of the same
/// round brought in as its dependency, which its `DT_NEEDED` entry explains.
pub fn apply(
    cx: &Context<'_>,
    mut closure: Closure,
    recipes: &[&dyn Recipe],
) -> Result<(Closure, Vec<Added>), Error> {
    let mut added: Vec<Added> = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..MAX_ROUNDS {
        let mut grew = false;
        for recipe in recipes
            .iter()
            .filter(|r| !cx.options.disabled.contains(r.name()))
        {
            let new: Vec<Addition> = recipe
                .wants(cx, &closure)?
                .into_iter()
                .filter(|a| !in_tree(&added, &a.want) && seen.insert(a.want.clone()))
                .collect();
            grew |= !new.is_empty();
            // One resumed walk for all of a recipe's loads (gconv has hundreds), in order.
            // By a name it was requested by, or by its path (a load by path that the
            // loader opened already under that path adds no name).
            let loaded = |c: &Closure, name: &str| {
                c.objects
                    .iter()
                    .position(|o| o.path == name || o.names.iter().any(|n| n == name))
            };
            let loads: Vec<(usize, &str)> = new
                .iter()
                .filter_map(|a| match &a.want {
                    Want::Load { from, name } if loaded(&closure, name).is_none() => {
                        Some((*from, name.as_str()))
                    }
                    _ => None,
                })
                .collect();
            let before = closure.objects.len();
            if !loads.is_empty() {
                closure = cx.resolver.dlopen_all(closure, &loads);
            }
            for a in new {
                let object = match &a.want {
                    Want::Load { name, .. } => loaded(&closure, name),
                    _ => None,
                };
                // Brought in by another load of the same walk, as its dependency (a traced
                // plugin's libz): its `DT_NEEDED` entry explains it, not this request.
                let dependency = object.is_some_and(|i| {
                    i >= before && closure.objects[i].loader.is_some_and(|l| l >= before)
                });
                if dependency {
                    continue;
                }
                added.push(Added {
                    want: a.want,
                    reason: a.reason,
                    object,
                });
            }
        }
        if !grew {
            break;
        }
    }
    Ok((closure, added))
}

/// Whether `want` is a file inside a directory tree added already (a recipe's whole
/// module directory holds the module a trace saw opened).
fn in_tree(added: &[Added], want: &Want) -> bool {
    let Want::File(file) = want else {
        return false;
    };
    added.iter().any(|a| match &a.want {
        Want::Tree { path, except } => {
            file.starts_with(path) && !except.iter().any(|e| file.starts_with(e))
        }
        _ => false,
    })
}

/// What [`apply_all`] made of a set of programs.
#[derive(Debug)]
pub struct Applied {
    /// The closures given, then those of the programs they execute, in the order found.
    pub closures: Vec<Closure>,
    /// What the recipes added to each closure.
    pub added: Vec<Vec<Added>>,
    /// Programs executed whose closure could not be computed, with the reason they were
    /// asked for.
    pub skipped: Vec<(Reason, depclose_resolve::Error)>,
}

/// [`apply`] to each closure, and to the closure of every program they execute
/// ([`Want::Program`]): each such program joins once, after the ones before it.
pub fn apply_all(
    cx: &Context<'_>,
    closures: Vec<Closure>,
    recipes: &[&dyn Recipe],
) -> Result<Applied, Error> {
    let mut known: HashSet<PathBuf> = closures.iter().map(|c| c.target.clone()).collect();
    let mut pending: VecDeque<Closure> = closures.into();
    let mut out = Applied {
        closures: Vec::new(),
        added: Vec::new(),
        skipped: Vec::new(),
    };
    while let Some(c) = pending.pop_front() {
        let (c, added) = apply(cx, c, recipes)?;
        for a in &added {
            let Want::Program(program) = &a.want else {
                continue;
            };
            if known.insert(program.clone()) {
                match cx.resolver.closure(program) {
                    Ok(next) => pending.push_back(next),
                    Err(e) => out.skipped.push((a.reason.clone(), e)),
                }
            }
        }
        out.closures.push(c);
        out.added.push(added);
    }
    Ok(out)
}
