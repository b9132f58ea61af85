//! What a closure pulls in, object by object: the package that ships each (the root's dpkg
//! database, or a `.note.package` note) and its licence, how each is hardened, what is risky
//! in its search paths, which dependencies it never binds to, which symbols nothing provides,
//! and the newest library versions it needs. Read from files alone: nothing runs, and a
//! sysroot of another architecture audits as the host does.
//!
//! [`Auditor::audit`] takes a closure (from `depclose-resolve`) and gives a [`TargetAudit`]:
//! an [`ObjectAudit`] per object, in the closure's order, and a [`Summary`] with the
//! closure-wide consequences and the [`Finding`]s, most severe first.

mod binding;
pub mod diff;
mod hardening;
pub mod packages;
pub mod policy;
mod rpath;
pub mod sbom;
mod versions;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use depclose_elf::{AuditFacts, name};
use depclose_resolve::{Closure, Root};
use serde::Serialize;

pub use hardening::{Fortifiable, Hardening};
pub use packages::{Package, Packages};
pub use policy::{Rule, Violation};
pub use rpath::RpathRisk;

/// What the audit says of one object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectAudit {
    pub package: Option<PackageRef>,
    /// The package's licence (SPDX), from its machine-readable `copyright` file.
    pub license: Option<String>,
    /// None when the file could not be read as ELF.
    pub hardening: Option<Hardening>,
    pub rpath_risks: Vec<RpathRisk>,
    /// Its `DT_NEEDED` entries that provide no symbol it binds to (`ldd -u`).
    pub unused_needed: Vec<String>,
    /// Its undefined non-weak symbols that no object of the closure defines, as the loader
    /// looks them up (`ldd -r`), and versions required of a provider that lacks them.
    pub unresolved: Vec<Unresolved>,
    /// The newest version it needs per prefix (`GLIBC`: `2.34`); `GLIBC_PRIVATE` left out.
    pub versions_needed: BTreeMap<String, String>,
}

/// The package an object comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageRef {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub source: String,
    pub source_version: String,
}

impl From<&Package> for PackageRef {
    fn from(p: &Package) -> PackageRef {
        PackageRef {
            name: p.name.clone(),
            version: p.version.clone(),
            architecture: p.architecture.clone(),
            source: p.source.clone(),
            source_version: p.source_version.clone(),
        }
    }
}

pub use binding::Unresolved;

/// The audit of one target's closure.
#[derive(Debug, Clone, Serialize)]
pub struct TargetAudit {
    /// One per object of the closure, in its order.
    #[serde(skip)]
    pub objects: Vec<ObjectAudit>,
    pub summary: Summary,
}

/// One closure, summed up.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
    /// Each package that ships objects of the closure, by name.
    pub packages: Vec<PackageSummary>,
    /// Objects no package ships.
    pub unpackaged: Vec<String>,
    /// The newest `GLIBC_x.y` an object outside glibc needs: the oldest glibc the program
    /// and its other libraries run on.
    pub min_glibc: Option<String>,
    /// What one object does to the whole process.
    pub consequences: Vec<String>,
    /// Most severe first.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageSummary {
    pub name: String,
    pub version: String,
    pub files: usize,
    pub bytes: u64,
}

/// Something an auditor should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The object's path (as the loader opens it).
    pub object: String,
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
    Info,
}

/// Audits closures of one root, reading each file once.
#[derive(Debug)]
pub struct Auditor<'a> {
    root: &'a Root,
    packages: Option<Packages>,
    facts: Mutex<HashMap<PathBuf, Option<Arc<AuditFacts>>>>,
    /// Licences by package name: a program's closure shares libraries with the next one's.
    licenses: Mutex<HashMap<String, Option<String>>>,
}

impl<'a> Auditor<'a> {
    /// Read the root's package database (if it has one).
    pub fn new(root: &'a Root) -> Result<Auditor<'a>, packages::Error> {
        Ok(Auditor {
            root,
            packages: Packages::read(root)?,
            facts: Mutex::new(HashMap::new()),
            licenses: Mutex::new(HashMap::new()),
        })
    }

    /// The facts of the in-root file `real`, read once (None: not readable as ELF).
    fn facts(&self, real: &Path) -> Option<Arc<AuditFacts>> {
        if let Some(f) = self
            .facts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(real)
        {
            return f.clone();
        }
        let f = depclose_elf::audit_facts(&self.root.host_path(real))
            .ok()
            .map(Arc::new);
        self.facts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(real.to_path_buf(), f.clone());
        f
    }

    /// The licence of package `name`, read once.
    fn license(&self, name: &str) -> Option<String> {
        let mut known = self.licenses.lock().unwrap_or_else(|e| e.into_inner());
        known
            .entry(name.to_owned())
            .or_insert_with(|| packages::license(self.root, name))
            .clone()
    }

    /// The package of an object (by the path the loader opens, or its real path), from the
    /// database or the object's `.note.package`.
    fn package(&self, path: &Path, real: &Path) -> Option<Package> {
        if let Some(db) = &self.packages {
            if let Some(p) = db
                .owner(self.root, path)
                .or_else(|| db.owner(self.root, real))
            {
                return Some(p.clone());
            }
        }
        let host = self.root.host_path(real);
        depclose_elf::notes(
            &host,
            packages::PACKAGE_NOTE_OWNER,
            packages::PACKAGE_NOTE_TYPE,
        )
        .ok()?
        .iter()
        .find_map(|d| packages::from_package_note(d))
    }

    /// Audit the closure of one target.
    pub fn audit(&self, closure: &Closure) -> TargetAudit {
        let facts: Vec<Option<Arc<AuditFacts>>> = closure
            .objects
            .iter()
            .map(|o| self.facts(&o.real))
            .collect();
        // The closure's libc says which functions can be fortified.
        let fortify = closure
            .objects
            .iter()
            .zip(&facts)
            .find(|(o, _)| {
                o.names.iter().any(|n| n.starts_with("libc.so")) || o.path.ends_with("/libc.so.6")
            })
            .and_then(|(_, f)| f.as_deref())
            .map(Fortifiable::of_libc)
            .unwrap_or_default();
        let bindings = binding::bind(closure, &facts);
        let mut objects = Vec::new();
        let mut findings = Vec::new();
        let mut packages: BTreeMap<String, PackageSummary> = BTreeMap::new();
        let mut unpackaged = Vec::new();
        let mut bytes = 0;
        let mut min_glibc: Option<String> = None;
        for (i, o) in closure.objects.iter().enumerate() {
            let f = facts[i].as_deref();
            let size = self
                .root
                .metadata(&o.real)
                .map(|(_, m)| m.len())
                .unwrap_or(0);
            bytes += size;
            let package = self.package(&name::to_path(&o.path), &o.real);
            match &package {
                Some(p) => {
                    let s = packages.entry(p.name.clone()).or_insert(PackageSummary {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        files: 0,
                        bytes: 0,
                    });
                    s.files += 1;
                    s.bytes += size;
                }
                None => unpackaged.push(o.path.clone()),
            }
            let license = package.as_ref().and_then(|p| self.license(&p.name));
            let hardening = f.map(|f| hardening::hardening(f, &fortify));
            let rpath_risks = rpath::risks(
                self.root,
                &o.real,
                o.elf.rpath.as_deref(),
                o.elf.runpath.as_deref(),
                closure.secure,
            );
            let versions_needed = f.map(versions::needed).unwrap_or_default();
            // glibc's own objects and programs are its source package's; without a
            // database, those its versions mark.
            if let (Some(f), Some(v)) = (f, versions_needed.get("GLIBC")) {
                let own = match &package {
                    Some(p) => p.source == "glibc",
                    None => versions::is_glibc(f),
                };
                if !own {
                    min_glibc = versions::newer(min_glibc, v);
                }
            }
            let (unused_needed, unresolved) = bindings[i].clone();
            let audit = ObjectAudit {
                package: package.as_ref().map(PackageRef::from),
                license,
                hardening,
                rpath_risks,
                unused_needed,
                unresolved,
                versions_needed,
            };
            findings.extend(object_findings(i == 0, &o.path, &audit));
            objects.push(audit);
        }
        let consequences = consequences(closure, &objects);
        findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.object.cmp(&b.object)));
        TargetAudit {
            summary: Summary {
                files: closure.objects.len(),
                bytes,
                packages: packages.into_values().collect(),
                unpackaged,
                min_glibc,
                consequences,
                findings,
            },
            objects,
        }
    }
}

/// What an object's audit calls for.
fn object_findings(program: bool, path: &str, a: &ObjectAudit) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut say = |severity, code, message: String| {
        out.push(Finding {
            severity,
            object: path.to_owned(),
            code,
            message,
        })
    };
    if let Some(h) = &a.hardening {
        if program && h.pie == "no" {
            say(
                Severity::Medium,
                "no_pie",
                "not a position-independent executable: its code is at a fixed address".into(),
            );
        }
        match h.relro {
            "none" => say(
                Severity::Medium,
                "no_relro",
                "no RELRO: the GOT and other relocated data stay writable".into(),
            ),
            "partial" => say(
                Severity::Low,
                "partial_relro",
                "partial RELRO: the GOT stays writable (no bind-now)".into(),
            ),
            _ => {}
        }
        if h.exec_stack {
            say(
                Severity::High,
                "exec_stack",
                "asks for an executable stack".into(),
            );
        }
        if h.rwx_segment {
            say(
                Severity::High,
                "rwx_segment",
                "a segment is both writable and executable".into(),
            );
        }
        if h.textrel {
            say(
                Severity::Medium,
                "textrel",
                "relocations in read-only segments (text relocations)".into(),
            );
        }
        if !h.canary && h.fortifiable > 0 {
            say(
                Severity::Low,
                "no_canary",
                "built without the stack protector".into(),
            );
        }
    }
    for r in &a.rpath_risks {
        let severity = if r.code == "absent" {
            Severity::Medium
        } else {
            Severity::High
        };
        say(
            severity,
            "rpath_risk",
            format!(
                "{} entry {:?}: {}",
                r.tag,
                r.entry,
                r.code.replace('_', " ")
            ),
        );
    }
    for u in &a.unresolved {
        say(
            Severity::High,
            "unresolved",
            format!("undefined symbol {u}"),
        );
    }
    for n in &a.unused_needed {
        say(
            Severity::Info,
            "unused_needed",
            format!("needs {n} but binds to none of its symbols"),
        );
    }
    out
}

/// What one object does to the process: CET needs every object built for it, and one
/// object asking for an executable stack gives the whole process one.
fn consequences(closure: &Closure, objects: &[ObjectAudit]) -> Vec<String> {
    let mut out = Vec::new();
    let h = |i: usize| objects.get(i).and_then(|a| a.hardening.as_ref());
    if let Some(program) = h(0) {
        for (feature, has) in [
            ("IBT", program.ibt == Some(true)),
            ("SHSTK", program.shstk == Some(true)),
        ] {
            if !has {
                continue;
            }
            let lacking: Vec<&str> = closure
                .objects
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(i, _)| {
                    h(*i).is_some_and(|x| match feature {
                        "IBT" => x.ibt == Some(false),
                        _ => x.shstk == Some(false),
                    })
                })
                .map(|(_, o)| o.path.as_str())
                .collect();
            if !lacking.is_empty() {
                out.push(format!(
                    "CET {feature} is off for the process: {} lacks it",
                    lacking.join(", ")
                ));
            }
        }
    }
    for (i, o) in closure.objects.iter().enumerate() {
        if h(i).is_some_and(|x| x.exec_stack) {
            out.push(format!(
                "the process gets an executable stack: {} asks for one",
                o.path
            ));
        }
    }
    out
}
