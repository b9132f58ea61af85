//! The loader's walk: breadth-first over `DT_NEEDED` (and filtees), each name looked up by
//! the rules of `elf/dl-load.c` `_dl_map_object` (glibc) or `ldso/dynlink.c`
//! `load_library` (musl).

use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use depclose_elf::{
    DF_1_NODEFLIB, DependencyKind, ELFOSABI_GNU, ELFOSABI_SYSV, EV_CURRENT, Linkage, ObjectType,
    name,
};

use crate::closure::{
    Attempt, Closure, Edge, EdgeTarget, Fatal, Found, How, Missing, MissingKind, Object, Outcome,
    ScriptHop,
};
use crate::dst::{self, DstValues};
use crate::facts::{Flavor, LoaderFacts};
use crate::file::{FileEntry, Kind, ReadFailure};
use crate::root::{Hops, loader_dirname};
use crate::{Error, Resolver};

/// One opened candidate.
struct Opened {
    path: String,
    real: PathBuf,
    hops: Hops,
    entry: Arc<FileEntry>,
}

enum Verdict {
    Accept(Opened),
    Skip,
    Fatal(String),
}

enum Search {
    Found(Opened, Found),
    NotFound,
    Fatal(String, String),
}

/// Mutable state of one walk.
pub(crate) struct Walk<'r> {
    r: &'r Resolver,
    facts: Arc<LoaderFacts>,
    c: Closure,
    /// The interpreter, loaded from the start but placed where it is first needed.
    rtld: Option<Object>,
    rtld_index: Option<usize>,
    by_file: FxHashMap<(u64, u64), usize>,
    trace: Vec<Attempt>,
    /// The search list (object indices), which is also the order `ld.so --list` prints.
    list: Vec<usize>,
    /// Objects whose dependencies have been mapped.
    done: Vec<bool>,
    /// The search step under way, for the trace.
    via: Option<How>,
}

impl<'r> Walk<'r> {
    pub(crate) fn new(
        r: &'r Resolver,
        facts: Arc<LoaderFacts>,
        program: Object,
        target: PathBuf,
        scripts: Vec<ScriptHop>,
        linkage: Linkage,
        secure: bool,
    ) -> Self {
        // The program and the interpreter are mapped by the kernel: glibc gives them no file
        // id, so only loaded libraries are matched by (device, inode).
        let by_file = FxHashMap::default();
        Walk {
            r,
            facts: facts.clone(),
            c: Closure {
                target,
                scripts,
                linkage,
                secure,
                facts: Some(facts),
                objects: vec![program],
                missing: Vec::new(),
                fatal: None,
                notes: Vec::new(),
            },
            rtld: None,
            rtld_index: None,
            by_file,
            trace: Vec::new(),
            list: vec![0],
            done: Vec::new(),
            via: None,
        }
    }

    /// Run the walk: interpreter, preloads, then breadth-first dependencies
    /// (`_dl_map_object_deps`). The search list starts as the program and its preloads;
    /// each object's `DT_NEEDED` are appended to it, while filtees go right before their
    /// filter and are walked next. The loader prints objects in search-list order.
    pub(crate) fn run(mut self, preload: &[String]) -> Closure {
        self.map_interpreter();
        if self.facts.flavor == Flavor::Glibc {
            for name in preload {
                if let EdgeTarget::Object(id) =
                    self.map_dependency(0, name, MissingKind::Preload, DependencyKind::Needed)
                {
                    self.enlist(id);
                }
            }
        }
        self.walk_list();
        // An interpreter no object names is still mapped by the kernel for a program that
        // names it (`ld.so --list` leaves it out); it comes last. A shared object analysed as
        // a program has no PT_INTERP: the loader it would run under is not part of it.
        let has_interp = self.c.objects[0].elf.interpreter.is_some();
        if let Some(rtld) = self.rtld.take().filter(|_| has_interp) {
            self.list.push(self.c.objects.len());
            self.c.objects.push(rtld);
        }
        let order = std::mem::take(&mut self.list);
        reorder(&mut self.c, &order);
        self.c
    }

    /// Resume a finished walk to add what `requester` loads at run time (`dlopen(name)`),
    /// with its dependencies; objects it adds are marked [`Object::runtime`].
    pub(crate) fn resume(r: &'r Resolver, c: Closure, facts: Arc<LoaderFacts>) -> Self {
        let interp = c
            .objects
            .iter()
            .position(|o| o.found.how == How::Interpreter);
        let by_file = c
            .objects
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 0 && Some(i) != interp)
            .map(|(i, o)| (o.file_id, i))
            .collect();
        let n = c.objects.len();
        Walk {
            r,
            facts,
            c,
            rtld: None,
            rtld_index: interp,
            by_file,
            trace: Vec::new(),
            list: (0..n).collect(),
            done: vec![true; n],
            via: None,
        }
    }

    /// Load each `(requester, name)` in turn as `dlopen` would, each with its dependencies
    /// before the next (the order of real calls); the requesters are objects of the closure
    /// the walk resumed.
    pub(crate) fn dlopen_all(mut self, requests: &[(usize, &str)]) -> Closure {
        let before = self.c.objects.len();
        for &(requester, name) in requests {
            if let EdgeTarget::Object(id) = self.map_dependency(
                requester,
                name,
                MissingKind::Runtime,
                DependencyKind::Needed,
            ) {
                self.enlist(id);
            }
            self.walk_list();
        }
        for o in &mut self.c.objects[before..] {
            o.runtime = true;
        }
        let order = std::mem::take(&mut self.list);
        reorder(&mut self.c, &order);
        self.c
    }

    /// Walk the search list until every object's dependencies are mapped.
    fn walk_list(&mut self) {
        while let Some(pos) = self
            .list
            .iter()
            .position(|&id| !self.done.get(id).copied().unwrap_or(false))
        {
            let id = self.list[pos];
            if self.done.len() <= id {
                self.done.resize(id + 1, false);
            }
            self.done[id] = true;
            // The facts are shared: their list is walked without a copy.
            let elf = Arc::clone(&self.c.objects[id].elf);
            for dep in &elf.dependencies {
                let kind = match dep.kind {
                    DependencyKind::Needed => MissingKind::Needed,
                    DependencyKind::Filter => MissingKind::Filter,
                    DependencyKind::Auxiliary => MissingKind::Auxiliary,
                };
                let target = if self.c.fatal.is_some() {
                    EdgeTarget::Skipped
                } else {
                    self.map_dependency(id, &dep.name, kind, dep.kind)
                };
                if let EdgeTarget::Object(t) = target {
                    if dep.kind == DependencyKind::Needed {
                        self.enlist(t);
                    } else {
                        self.enlist_before(t, id);
                    }
                }
                self.c.objects[id].deps.push(Edge {
                    name: dep.name.clone(),
                    kind: dep.kind,
                    target,
                });
            }
        }
    }

    /// Append a newly mapped object to the search list.
    fn enlist(&mut self, id: usize) {
        if !self.list.contains(&id) {
            self.list.push(id);
        }
    }

    /// Put a filtee right before its filter, moving it up if it is listed later.
    fn enlist_before(&mut self, id: usize, filter: usize) {
        let at = self
            .list
            .iter()
            .position(|&x| x == filter)
            .unwrap_or(self.list.len());
        match self.list.iter().position(|&x| x == id) {
            Some(p) if p < at => {}
            Some(p) => {
                self.list.remove(p);
                self.list.insert(at, id);
            }
            None => self.list.insert(at, id),
        }
    }

    fn map_interpreter(&mut self) {
        let interp = self.facts.interpreter.clone();
        let interp_name = interp.clone();
        let (opened, reason) = match self.open(&interp) {
            Ok(o) => match &o.entry.kind {
                Ok(Kind::Elf(_)) => (Some(o), None),
                Ok(_) => (None, Some("not an ELF file".to_owned())),
                Err(e) => (None, Some(e.to_string())),
            },
            Err(_) => (None, None),
        };
        let Some(opened) = opened else {
            self.c.missing.push(Missing {
                name: interp,
                requester: 0,
                kind: MissingKind::Interpreter,
                tried: std::mem::take(&mut self.trace),
                reason,
            });
            return;
        };
        let mut obj = self.object(
            opened,
            Found {
                how: How::Interpreter,
                dir: None,
                subdir: None,
            },
            None,
        );
        // rtld.c: `l_libname` is the PT_INTERP string, then its soname.
        obj.names.push(interp_name);
        if let Some(so) = obj.elf.soname.clone() {
            obj.names.push(so);
        }
        self.rtld = Some(obj);
        // musl's loader is the first object of its list (`ldso` follows the program).
        if self.facts.flavor == Flavor::Musl {
            let id = self.place_rtld();
            self.enlist(id);
        }
    }

    /// Look `name` up for `requester`; map it if it is new.
    fn map_dependency(
        &mut self,
        requester: usize,
        name: &str,
        kind: MissingKind,
        dep: DependencyKind,
    ) -> EdgeTarget {
        self.trace.clear();
        self.via = None;
        // glibc expands DSTs in DT_NEEDED before anything else (`expand_dst` in dl-deps.c).
        // "DST not allowed in SUID/SGID programs" (dl-deps.c): the loader stops.
        if self.c.secure && self.facts.flavor == Flavor::Glibc && dst::has_dst(name) {
            return self.stop(
                requester,
                name,
                kind,
                "DST not allowed in SUID/SGID programs",
            );
        }
        // Borrowed unless expanded: most names are looked up, found loaded, and dropped.
        let name: Cow<'_, str> = if self.facts.flavor == Flavor::Glibc && dst::has_dst(name) {
            match dst::expand(name, &self.dst_values(requester)) {
                Some(n) if !n.is_empty() => Cow::Owned(n),
                // dl-deps.c skips a DT_NEEDED or DT_FILTER whose tokens have no value, and
                // fails on such a DT_AUXILIARY (its `fatal` argument is inverted).
                _ if dep == DependencyKind::Auxiliary => {
                    return self.stop(
                        requester,
                        name,
                        kind,
                        "empty dynamic string token substitution",
                    );
                }
                _ => {
                    self.c.notes.push(format!(
                        "{}: {name}: skipped, a dynamic string token has no value",
                        self.c.objects[requester].path
                    ));
                    return EdgeTarget::Skipped;
                }
            }
        } else {
            Cow::Borrowed(name)
        };
        if let Some(id) = self.already_loaded(&name) {
            return self.link(requester, id, &name);
        }
        // The kernel's vDSO is loaded before anything else, under its soname (rtld.c
        // `setup_vdso`); it is no file.
        if self.facts.flavor == Flavor::Glibc && self.facts.vdso == Some(&*name) {
            return EdgeTarget::Vdso;
        }
        if self.facts.flavor == Flavor::Musl
            && let Some(id) = self.musl_self(&name)
        {
            return self.link(requester, id, &name);
        }
        let search = if name.contains('/') {
            self.search_path(&name)
        } else if self.facts.flavor == Flavor::Musl {
            self.search_musl(&name, requester)
        } else {
            self.search_glibc(&name, requester)
        };
        match search {
            Search::Found(opened, found) => {
                // The same file under another name is the same object (`_dl_map_object_from_fd`).
                if let Some(&id) = self.by_file.get(&opened.entry.file_id) {
                    return self.link(requester, id, &name);
                }
                let mut obj = self.object(opened, found, Some(requester));
                obj.names.push(name.to_string());
                let id = self.c.objects.len();
                self.by_file.insert(obj.file_id, id);
                self.c.objects.push(obj);
                self.link(requester, id, &name)
            }
            Search::NotFound => self.missing(requester, &name, kind, None),
            // rtld.c: "cannot be preloaded (...): ignored" — a bad preload does not stop it;
            // nor does a failed `dlopen`, which returns NULL to its caller.
            Search::Fatal(_, reason)
                if matches!(kind, MissingKind::Preload | MissingKind::Runtime) =>
            {
                self.missing(requester, &name, kind, Some(reason))
            }
            Search::Fatal(path, reason) => {
                self.c.fatal = Some(Fatal {
                    name: name.to_string(),
                    requester,
                    path,
                    reason,
                });
                self.missing(requester, &name, kind, None)
            }
        }
    }

    /// The loader stops on `name` before it tries any file.
    fn stop(
        &mut self,
        requester: usize,
        name: &str,
        kind: MissingKind,
        reason: &str,
    ) -> EdgeTarget {
        self.c.fatal = Some(Fatal {
            name: name.to_owned(),
            requester,
            path: String::new(),
            reason: reason.to_owned(),
        });
        self.missing(requester, name, kind, Some(reason.to_owned()))
    }

    fn missing(
        &mut self,
        requester: usize,
        name: &str,
        kind: MissingKind,
        reason: Option<String>,
    ) -> EdgeTarget {
        self.c.missing.push(Missing {
            name: name.to_owned(),
            requester,
            kind,
            tried: std::mem::take(&mut self.trace),
            reason,
        });
        EdgeTarget::Missing(self.c.missing.len() - 1)
    }

    fn link(&mut self, requester: usize, id: usize, name: &str) -> EdgeTarget {
        let obj = &mut self.c.objects[id];
        if !obj.names.iter().any(|n| n == name) && obj.path != name {
            obj.names.push(name.to_owned());
        }
        if id != requester && !obj.needed_by.contains(&requester) {
            obj.needed_by.push(requester);
        }
        EdgeTarget::Object(id)
    }

    /// `_dl_map_object`'s first loop: a name matches an object's path (`l_name`), any name it
    /// was requested by, or — glibc only — its `DT_SONAME`. musl compares short names only.
    fn already_loaded(&mut self, name: &str) -> Option<usize> {
        let glibc = self.facts.flavor == Flavor::Glibc;
        // The program's own `l_name` is "" on a real exec: an empty name is the program, and
        // otherwise only its soname can match.
        if glibc && name.is_empty() {
            return Some(0);
        }
        let hit = self.c.objects.iter().enumerate().position(|(id, o)| {
            o.names.iter().any(|n| n == name)
                || (glibc && ((id != 0 && o.path == name) || o.elf.soname.as_deref() == Some(name)))
        });
        if hit.is_some() {
            return hit;
        }
        let rtld_hit = self
            .rtld
            .as_ref()
            .is_some_and(|o| glibc && (o.path == name || o.names.iter().any(|n| n == name)));
        rtld_hit.then(|| self.place_rtld())
    }

    /// Put the interpreter at its place in load order: where it is first needed.
    fn place_rtld(&mut self) -> usize {
        if let Some(i) = self.rtld_index {
            return i;
        }
        let obj = self.rtld.take().expect("interpreter is placed once");
        let id = self.c.objects.len();
        self.c.objects.push(obj);
        self.rtld_index = Some(id);
        id
    }

    /// The object `o` becomes; the search's attempts go with it.
    fn object(&mut self, o: Opened, found: Found, loader: Option<usize>) -> Object {
        let elf = match &o.entry.kind {
            Ok(Kind::Elf(e)) => e.clone(),
            // `verify` accepts only ELF files, and `map_interpreter` checks its file too.
            _ => unreachable!("only verified ELF files become objects"),
        };
        let origin = library_origin(&o.path, &self.r.options().cwd);
        Object {
            path: o.path,
            real: o.real,
            hops: o.hops,
            size: o.entry.size,
            elf,
            names: Vec::new(),
            found,
            loader,
            needed_by: Vec::new(),
            deps: Vec::new(),
            trace: std::mem::take(&mut self.trace),
            runtime: false,
            file_id: o.entry.file_id,
            origin,
        }
    }

    // ----- opening and verifying candidates -----

    /// Open a path the loader built (in-root; relative paths are relative to the cwd).
    fn open(&mut self, path: &str) -> Result<Opened, Outcome> {
        let abs = if path.starts_with('/') {
            name::to_path(path)
        } else {
            Cow::Owned(self.r.options().cwd.join(name::to_path(path)))
        };
        let resolved = match self.r.root().resolve(&abs) {
            Ok(r) => r,
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                return Err(self.note(path, Outcome::Unreadable));
            }
            // glibc goes on to the next candidate (and, unlike depclose, abandons the rest
            // of that path list; docs/divergences.md).
            Err(Error::SymlinkLoop { .. }) => return Err(self.note(path, Outcome::SymlinkLoop)),
            Err(_) => return Err(self.note(path, Outcome::Absent)),
        };
        let entry = self.r.read_file(&resolved);
        if let Err(ReadFailure::PermissionDenied(_)) = &entry.kind {
            return Err(self.note(path, Outcome::Unreadable));
        }
        Ok(Opened {
            path: path.to_owned(),
            real: resolved.real,
            hops: resolved.hops,
            entry,
        })
    }

    fn note(&mut self, path: &str, outcome: Outcome) -> Outcome {
        self.trace.push(Attempt {
            path: path.to_owned(),
            outcome: outcome.clone(),
            via: self.via,
        });
        outcome
    }

    /// `open_verify` (glibc) or `map_library`'s checks (musl).
    fn verify(&mut self, o: Opened) -> Verdict {
        let f = &self.facts;
        let elf = match &o.entry.kind {
            Ok(Kind::Elf(e)) => e,
            Ok(_) => return self.fatal(&o.path, "invalid ELF header"),
            Err(e) => {
                // A header too broken to read further is still skipped for the other class or
                // machine, as `open_verify` checks those first; anything else stops the loader.
                let skip = match e {
                    ReadFailure::Malformed {
                        identity: Some(id), ..
                    } if f.flavor == Flavor::Glibc => {
                        if id.class != f.class {
                            Some(Outcome::WrongClass)
                        } else if id.data == f.data && id.machine != f.machine {
                            Some(Outcome::WrongMachine)
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                if let Some(outcome) = skip {
                    self.note(&o.path, outcome);
                    return Verdict::Skip;
                }
                let reason = e.to_string();
                return self.fatal(&o.path, &reason);
            }
        };
        let musl = f.flavor == Flavor::Musl;
        if elf.class != f.class && !musl {
            // "This is not a fatal error. On architectures where 32-bit and 64-bit binaries
            // can be run this might happen."
            self.note(&o.path, Outcome::WrongClass);
            return Verdict::Skip;
        }
        let reason = if elf.data != f.data {
            Some(if f.data == depclose_elf::Data::Big {
                "ELF file data encoding not big-endian"
            } else {
                "ELF file data encoding not little-endian"
            })
        } else if elf.ident_version != EV_CURRENT {
            Some("ELF file version ident does not match current one")
        } else if !(musl || elf.osabi == ELFOSABI_SYSV || elf.osabi == ELFOSABI_GNU) {
            Some("ELF file OS ABI invalid")
        } else if !(musl
            || elf.abi_version == 0
            || (elf.osabi == ELFOSABI_GNU && elf.abi_version < LIBC_ABI_MAX))
        {
            Some("ELF file ABI version invalid")
        } else if !elf.ident_padding_zero {
            Some("nonzero padding in e_ident")
        } else if elf.version != u32::from(EV_CURRENT) {
            Some("ELF file version does not match current one")
        } else {
            None
        };
        if let Some(r) = reason {
            return self.fatal(&o.path, r);
        }
        if elf.machine != f.machine {
            if musl {
                return self.fatal(
                    &o.path,
                    "ELF file for another machine (musl does not skip it)",
                );
            }
            self.note(&o.path, Outcome::WrongMachine);
            return Verdict::Skip;
        }
        if !matches!(
            elf.object_type,
            ObjectType::SharedObject | ObjectType::Executable
        ) {
            return self.fatal(&o.path, "only ET_DYN and ET_EXEC can be loaded");
        }
        self.note(&o.path, Outcome::Chosen);
        Verdict::Accept(o)
    }

    fn fatal(&mut self, path: &str, reason: &str) -> Verdict {
        self.note(path, Outcome::Fatal(reason.to_owned()));
        Verdict::Fatal(reason.to_owned())
    }

    /// Try one file; `None` means "go on searching".
    fn try_file(&mut self, path: &str) -> Option<Result<Opened, String>> {
        match self.open(path) {
            Ok(o) => match self.verify(o) {
                Verdict::Accept(o) => Some(Ok(o)),
                Verdict::Skip => None,
                Verdict::Fatal(r) => Some(Err(r)),
            },
            Err(Outcome::Fatal(r)) => Some(Err(r)),
            Err(_) => None,
        }
    }

    // ----- searches -----

    /// A name with a `/`: opened as it is, relative names against the cwd.
    fn search_path(&mut self, name: &str) -> Search {
        self.via = Some(How::Path);
        match self.try_file(name) {
            Some(Ok(o)) => Search::Found(
                o,
                Found {
                    how: How::Path,
                    dir: None,
                    subdir: None,
                },
            ),
            Some(Err(r)) => Search::Fatal(name.to_owned(), r),
            None => Search::NotFound,
        }
    }

    /// `open_path`: each directory, with its hwcaps subdirectories first.
    fn search_dirs(&mut self, name: &str, dirs: &[String], how: How) -> Option<Search> {
        self.via = Some(how);
        let facts = self.facts.clone();
        for dir in dirs {
            for sub in facts.subdirs.iter().map(String::as_str).chain([""]) {
                let here = format!("{dir}{sub}");
                // The loader skips directories it found not to exist — but "make sure all
                // the relative directories are never ignored".
                if here.starts_with('/') && !self.dir_exists(&here) {
                    continue;
                }
                let path = format!("{here}{name}");
                match self.try_file(&path) {
                    Some(Ok(o)) => {
                        let found = Found {
                            how,
                            dir: Some(dir.clone()),
                            subdir: (!sub.is_empty()).then(|| sub.trim_end_matches('/').to_owned()),
                        };
                        return Some(Search::Found(o, found));
                    }
                    Some(Err(r)) => return Some(Search::Fatal(path, r)),
                    None => {}
                }
            }
        }
        None
    }

    fn dir_exists(&self, dir: &str) -> bool {
        self.r.root().is_dir(&name::to_path(dir))
    }

    fn dst_values(&self, id: usize) -> DstValues<'_> {
        DstValues {
            origin: Some(self.origin(id)),
            lib: &self.facts.lib,
            platform: self.facts.platform.as_deref(),
        }
    }

    /// `$ORIGIN` of an object: the directory of the path it was opened under (not
    /// symlink-resolved); for the program, of its real path, as the kernel reports it in
    /// `/proc/self/exe` on a real exec.
    fn origin(&self, id: usize) -> &str {
        &self.c.objects[id].origin
    }

    /// Split a path list and expand it for `owner`, as `decompose_rpath`/`fillin_rpath` do:
    /// elements whose token has no value are dropped, trailing slashes normalised to one,
    /// an empty element is the current directory, and repeats are dropped.
    fn path_list(&self, list: &str, owner: usize, separators: &[char]) -> Vec<String> {
        let values = self.dst_values(owner);
        let mut out: Vec<String> = Vec::new();
        for elem in list.split(separators) {
            if self.c.secure && !secure_origin_allowed(elem) {
                continue;
            }
            let Some(mut e) = dst::expand(elem, &values) else {
                continue;
            };
            // Secure mode: the program's own `$ORIGIN` must lead into a trusted directory.
            if self.c.secure && owner == 0 && dst::has_origin(elem) && !self.trusted(&e) {
                continue;
            }
            while e.len() > 1 && e.ends_with('/') {
                e.pop();
            }
            // An empty element stays empty: names are then opened relative to the cwd,
            // and `ld.so --list` prints them bare.
            if !e.is_empty() && !e.ends_with('/') {
                e.push('/');
            }
            if !out.contains(&e) {
                out.push(e);
            }
        }
        out
    }

    /// `is_trusted_path_normalize`: the path, with `.`, `..` and `//` removed, lies in one of
    /// the system directories.
    fn trusted(&self, path: &str) -> bool {
        let mut parts: Vec<&str> = Vec::new();
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        let norm = format!("/{}/", parts.join("/"));
        self.facts
            .system_dirs
            .iter()
            .any(|d| norm.starts_with(d.as_str()))
    }

    fn search_glibc(&mut self, name: &str, requester: usize) -> Search {
        let req = self.c.objects[requester].elf.clone();
        // "When the object has the RUNPATH information we don't use any RPATHs."
        if req.runpath.is_none() {
            let mut did_main = false;
            let mut at = Some(requester);
            while let Some(id) = at {
                if let Some(rpath) = self.c.objects[id].own_rpath() {
                    let dirs = self.path_list(&rpath, id, &[':']);
                    if let Some(s) = self.search_dirs(name, &dirs, How::Rpath { owner: id }) {
                        return s;
                    }
                    did_main |= id == 0;
                }
                at = self.c.objects[id].loader;
            }
            // "If dynamically linked, try the DT_RPATH of the executable itself."
            if !did_main {
                if let Some(rpath) = self.c.objects[0].own_rpath() {
                    let dirs = self.path_list(&rpath, 0, &[':']);
                    if let Some(s) = self.search_dirs(name, &dirs, How::Rpath { owner: 0 }) {
                        return s;
                    }
                }
            }
        }
        // Secure mode drops LD_LIBRARY_PATH from the environment (`UNSECURE_ENVVARS`).
        if let Some(llp) = self
            .r
            .options()
            .library_path
            .clone()
            .filter(|_| !self.c.secure)
        {
            // LD_LIBRARY_PATH's tokens expand for the program; `;` separates too.
            let dirs = self.path_list(&llp, 0, &[':', ';']);
            if let Some(s) = self.search_dirs(name, &dirs, How::LibraryPath) {
                return s;
            }
        }
        if let Some(runpath) = &req.runpath {
            let dirs = self.path_list(runpath, requester, &[':']);
            if let Some(s) = self.search_dirs(name, &dirs, How::Runpath) {
                return s;
            }
        }
        let nodeflib = req.has_flag_1(DF_1_NODEFLIB);
        if let Some(s) = self.search_cache(name, nodeflib) {
            return s;
        }
        if !nodeflib {
            let dirs = self.facts.system_dirs.clone();
            if let Some(s) = self.search_dirs(name, &dirs, How::SystemDir) {
                return s;
            }
        }
        Search::NotFound
    }

    fn search_cache(&mut self, name: &str, nodeflib: bool) -> Option<Search> {
        self.via = Some(How::Cache);
        let hit = self.r.cache_lookup(&self.facts, name)?;
        let (path, how) = hit;
        self.via = Some(how);
        // "Don't use a cache entry for a library in one of the system directories."
        if nodeflib
            && self
                .facts
                .system_dirs
                .iter()
                .any(|d| path.starts_with(d.as_str()))
        {
            self.note(&path, Outcome::NoDefLib);
            return None;
        }
        match self.try_file(&path) {
            Some(Ok(o)) => {
                let dir = loader_dirname(&path).to_owned();
                Some(Search::Found(
                    o,
                    Found {
                        how,
                        dir: Some(dir),
                        subdir: None,
                    },
                ))
            }
            Some(Err(r)) => Some(Search::Fatal(path, r)),
            None => None,
        }
    }

    /// musl's reserved names: `libc`, `libpthread`, `librt`, `libm`, `libdl`, `libutil`,
    /// `libxnet` (followed by `.`) and the loader's own name are the loader itself.
    fn musl_self(&self, name: &str) -> Option<usize> {
        const RESERVED: [&str; 7] = ["c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."];
        let reserved = name
            .strip_prefix("lib")
            .is_some_and(|rest| RESERVED.iter().any(|r| rest.starts_with(r)));
        (reserved || name == self.facts.interpreter)
            .then_some(self.rtld_index)
            .flatten()
    }

    /// musl `load_library`: LD_LIBRARY_PATH, then the RPATH (or RUNPATH, which replaces it)
    /// of the requester and each object that needed it in turn, then the path file.
    fn search_musl(&mut self, name: &str, requester: usize) -> Search {
        if let Some(llp) = self.r.options().library_path.clone() {
            let dirs = musl_list(&llp);
            if let Some(s) = self.search_musl_dirs(name, &dirs, How::LibraryPath) {
                return s;
            }
        }
        let mut at = Some(requester);
        while let Some(id) = at {
            let o = &self.c.objects[id];
            if let Some(list) = o.elf.runpath.clone().or_else(|| o.elf.rpath.clone()) {
                // fixup_rpath: only $ORIGIN is known; any other `$` disables the list.
                let expanded = list
                    .replace("${ORIGIN}", "$ORIGIN")
                    .replace("$ORIGIN", self.origin(id));
                if !expanded.contains('$') {
                    let dirs = musl_list(&expanded);
                    if let Some(s) = self.search_musl_dirs(name, &dirs, How::Rpath { owner: id }) {
                        return s;
                    }
                }
            }
            at = self.c.objects[id].loader;
        }
        let dirs = self.facts.musl_path.clone();
        self.search_musl_dirs(name, &dirs, How::MuslPath)
            .unwrap_or(Search::NotFound)
    }

    fn search_musl_dirs(&mut self, name: &str, dirs: &[String], how: How) -> Option<Search> {
        self.via = Some(how);
        for dir in dirs {
            // musl joins with "%.*s/%s": always one `/`, the directory as written.
            let path = format!("{dir}/{name}");
            match self.try_file(&path) {
                Some(Ok(o)) => {
                    return Some(Search::Found(
                        o,
                        Found {
                            how,
                            dir: Some(dir.clone()),
                            subdir: None,
                        },
                    ));
                }
                Some(Err(r)) => return Some(Search::Fatal(path, r)),
                None => {}
            }
        }
        None
    }
}

/// `$ORIGIN` of a library (`_dl_new_object`): the directory part of the path it was opened
/// under, not symlink-resolved; a relative path gets the working directory in front.
fn library_origin(path: &str, cwd: &Path) -> String {
    let dir = loader_dirname(path);
    if path.starts_with('/') {
        dir.to_owned()
    } else {
        format!("{}/{dir}", name::from_path(cwd).trim_end_matches('/'))
    }
}

/// Renumber the objects of `c` into `order` (a permutation of their indices).
fn reorder(c: &mut Closure, order: &[usize]) {
    let mut new_index = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let map = |i: usize| new_index[i];
    let mut slots: Vec<Option<Object>> = std::mem::take(&mut c.objects)
        .into_iter()
        .map(Some)
        .collect();
    c.objects = order.iter().filter_map(|&old| slots[old].take()).collect();
    for o in &mut c.objects {
        o.loader = o.loader.map(map);
        for n in &mut o.needed_by {
            *n = map(*n);
        }
        o.needed_by.sort_unstable();
        for e in &mut o.deps {
            if let EdgeTarget::Object(t) = &mut e.target {
                *t = map(*t);
            }
        }
        if let How::Rpath { owner } = &mut o.found.how {
            *owner = map(*owner);
        }
    }
    for m in &mut c.missing {
        m.requester = map(m.requester);
    }
    if let Some(f) = &mut c.fatal {
        f.requester = map(f.requester);
    }
}

/// Secure mode (`_dl_dst_substitute`): `$ORIGIN` is replaced only as the first thing of an
/// element, followed by `/` or the end; an element with it anywhere else is dropped.
fn secure_origin_allowed(elem: &str) -> bool {
    if !dst::has_origin(elem) {
        return true;
    }
    let rest = elem
        .strip_prefix("$ORIGIN")
        .or_else(|| elem.strip_prefix("${ORIGIN}"));
    rest.is_some_and(|r| (r.is_empty() || r.starts_with('/')) && !dst::has_origin(r))
}

/// musl path lists: `:` or newline separated, empty elements skipped.
fn musl_list(s: &str) -> Vec<String> {
    s.split([':', '\n'])
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// glibc accepts `EI_ABIVERSION` below `LIBC_ABI_MAX` for `ELFOSABI_GNU` objects
/// (`libc-abis.h` on Linux: DEFAULT, UNIQUE, IFUNC, ABSOLUTE).
const LIBC_ABI_MAX: u8 = 4;
