//! Symbol binding as the loader does it at startup with every relocation processed
//! (`LD_BIND_NOW`): each undefined symbol of an object is looked up in the global scope —
//! the closure's objects in load order — and binds to the first definition that matches by
//! name, visibility and version. What binds nowhere is unresolved (`ldd -r`); a `DT_NEEDED`
//! object no symbol of the requester binds to is unused (`ldd -u`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use depclose_elf::{AuditFacts, Binding, Symbol};
use depclose_resolve::{Closure, EdgeTarget, How};
use serde::Serialize;

/// `STV_HIDDEN` and `STV_INTERNAL`: not visible to other objects.
const STV_INTERNAL: u8 = 1;
const STV_HIDDEN: u8 = 2;

/// A reference nothing in the closure satisfies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    /// `symbol` (no object defines it) or `version` (the object the version is required
    /// of does not define that version).
    pub kind: &'static str,
    /// The symbol's name, or for `version` the file the version is required of.
    pub name: String,
    pub version: Option<String>,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind, &self.version) {
            ("version", Some(v)) => write!(f, "version {v} of {}", self.name),
            (_, Some(v)) => write!(f, "{}@{v}", self.name),
            (_, None) => f.write_str(&self.name),
        }
    }
}

/// Whether `def` (a symbol of an object) satisfies the reference `r`.
fn satisfies(def: &Symbol, r: &Symbol) -> bool {
    if !def.defined
        || def.binding == Binding::Local
        || matches!(def.visibility, STV_HIDDEN | STV_INTERNAL)
    {
        return false;
    }
    match (&r.version, &def.version) {
        // A versioned reference needs that version, default or not.
        (Some(want), Some(have)) => want.name == have.name,
        // The definer has no versions for this symbol: glibc accepts it.
        (Some(_), None) => true,
        // An unversioned reference takes the default version (or an unversioned one).
        (None, Some(have)) => !have.hidden,
        (None, None) => true,
    }
}

/// For each object of `closure` (with its facts, None if unreadable): its unused `DT_NEEDED`
/// names and its unresolved references.
pub(crate) fn bind(
    closure: &Closure,
    facts: &[Option<Arc<AuditFacts>>],
) -> Vec<(Vec<String>, Vec<Unresolved>)> {
    // Definitions by name, in scope order (the closure's load order).
    let mut defs: HashMap<&str, Vec<(usize, &Symbol)>> = HashMap::new();
    for (i, f) in facts.iter().enumerate() {
        for s in f.iter().flat_map(|f| &f.symbols).filter(|s| s.defined) {
            defs.entry(s.name.as_str()).or_default().push((i, s));
        }
    }
    let mut out = Vec::with_capacity(closure.objects.len());
    for (i, o) in closure.objects.iter().enumerate() {
        let Some(f) = facts[i].as_deref() else {
            out.push((Vec::new(), Vec::new()));
            continue;
        };
        let mut used: HashSet<usize> = HashSet::new();
        let mut unresolved = Vec::new();
        // A definition an `R_*_COPY` relocation fills is a copy of another object's data:
        // the loader looks it up too, in every object but this one.
        let copied = |s: &Symbol| s.defined && f.copied.contains(&s.name);
        for r in f
            .symbols
            .iter()
            .filter(|s| (!s.defined || copied(s)) && !s.name.is_empty())
        {
            let found = defs.get(r.name.as_str()).and_then(|d| {
                d.iter()
                    .find(|(definer, def)| !(r.defined && *definer == i) && satisfies(def, r))
            });
            match found {
                Some((definer, _)) => {
                    used.insert(*definer);
                }
                None if r.binding == Binding::Weak => {}
                None => unresolved.push(Unresolved {
                    kind: "symbol",
                    name: r.name.clone(),
                    version: r.version.as_ref().map(|v| v.name.clone()),
                }),
            }
        }
        // Each version required of a file must be defined by the object of that name.
        for need in &f.needed_versions {
            let provider = closure.objects.iter().position(|p| {
                p.elf.soname.as_deref() == Some(&need.file) || p.names.contains(&need.file)
            });
            let Some(p) = provider else { continue };
            let Some(pf) = facts[p].as_deref() else {
                continue;
            };
            for v in need.versions.iter().filter(|v| !v.weak) {
                if !pf.defined_versions.contains(&v.name) {
                    unresolved.push(Unresolved {
                        kind: "version",
                        name: need.file.clone(),
                        version: Some(v.name.clone()),
                    });
                }
            }
        }
        let unused = o
            .deps
            .iter()
            .filter(|e| e.kind == depclose_elf::DependencyKind::Needed)
            .filter_map(|e| match e.target {
                // The loader itself is never unused: it is the process's dynamic linker.
                EdgeTarget::Object(t)
                    if t != i
                        && !used.contains(&t)
                        && closure.objects[t].found.how != How::Interpreter =>
                {
                    Some(e.name.clone())
                }
                _ => None,
            })
            .collect();
        out.push((unused, unresolved));
    }
    out
}
