//! What changed between two audits of the same programs: objects added and removed, files
//! whose content changed, package versions, a raised `min_glibc`, hardening that got worse
//! (or better), and findings that are new or gone.
//!
//! Both sides are read from the JSON report (`docs/json.md`): the old one from a file an
//! earlier `--audit -f json` wrote, the new one from the report of this run, so both go
//! through the same reader and a report of any version that has the audit compares with
//! the current one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::Severity;

/// The first schema version of the JSON report that holds the audit.
pub const FIRST_SCHEMA: u32 = 4;

/// Why a report could not be read for a diff.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("not a depclose JSON report: {0}")]
    NotAReport(#[from] serde_json::Error),
    #[error(
        "a report of schema version {found}; this depclose compares versions {} to {}",
        supported.start(), supported.end()
    )]
    Schema {
        found: u32,
        supported: RangeInclusive<u32>,
    },
    #[error("the report has no audit of {target} (it was written without --audit)")]
    NoAudit { target: String },
}

/// The parts of a JSON report a diff compares; every other field is ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Snapshot {
    schema_version: u32,
    targets: Vec<TargetSnapshot>,
}

#[derive(Debug, Clone, Deserialize)]
struct TargetSnapshot {
    target: String,
    objects: Vec<ObjectSnapshot>,
    missing: Vec<MissingSnapshot>,
    audit: Option<SummarySnapshot>,
}

#[derive(Debug, Clone, Deserialize)]
struct ObjectSnapshot {
    path: String,
    real_path: String,
    size: u64,
    sha256: String,
    audit: Option<ObjectAuditSnapshot>,
}

#[derive(Debug, Clone, Deserialize)]
struct MissingSnapshot {
    name: String,
    needed_by: String,
}

#[derive(Debug, Clone, Deserialize)]
struct ObjectAuditSnapshot {
    package: Option<PackageSnapshot>,
    hardening: Option<HardeningSnapshot>,
}

#[derive(Debug, Clone, Deserialize)]
struct PackageSnapshot {
    name: String,
    version: String,
}

#[derive(Debug, Clone, Deserialize)]
struct HardeningSnapshot {
    pie: String,
    relro: String,
    nx: bool,
    canary: bool,
    fortified: usize,
    ibt: Option<bool>,
    shstk: Option<bool>,
    textrel: bool,
    exec_stack: bool,
    rwx_segment: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct SummarySnapshot {
    packages: Vec<PackageSnapshot>,
    min_glibc: Option<String>,
    findings: Vec<FindingRef>,
}

impl Snapshot {
    /// Read a report whose `schema_version` is in `supported`; every target must have
    /// been audited.
    pub fn from_json(bytes: &[u8], supported: RangeInclusive<u32>) -> Result<Snapshot, DiffError> {
        Snapshot::from_value(serde_json::from_slice(bytes)?, supported)
    }

    /// [`Snapshot::from_json`] of a report already parsed.
    pub fn from_value(
        value: serde_json::Value,
        supported: RangeInclusive<u32>,
    ) -> Result<Snapshot, DiffError> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let Version { schema_version } = Version::deserialize(&value)?;
        if !supported.contains(&schema_version) {
            return Err(DiffError::Schema {
                found: schema_version,
                supported,
            });
        }
        let snapshot = Snapshot::deserialize(value)?;
        if let Some(t) = snapshot.targets.iter().find(|t| t.audit.is_none()) {
            return Err(DiffError::NoAudit {
                target: t.target.clone(),
            });
        }
        Ok(snapshot)
    }

    /// The schema version of the report it was read from.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

/// Everything that changed, target by target.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Targets of the new audit the old one lacks, and the other way round.
    pub targets_added: Vec<String>,
    pub targets_removed: Vec<String>,
    /// One per target both audits have, in the new audit's order.
    pub targets: Vec<TargetDiff>,
}

/// What changed in one target's closure.
#[derive(Debug, Clone, Serialize)]
pub struct TargetDiff {
    pub target: String,
    /// The old audit's target when it had another path (two audits of one program each
    /// are compared whatever its path).
    pub old_target: Option<String>,
    pub objects_added: Vec<ObjectRef>,
    pub objects_removed: Vec<ObjectRef>,
    /// Objects at the same path whose file changed.
    pub objects_changed: Vec<ObjectChange>,
    /// Packages whose version changed, and those that came (`old` null) or went (`new`
    /// null).
    pub packages: Vec<PackageChange>,
    /// Set when `min_glibc` changed.
    pub min_glibc: Option<GlibcChange>,
    /// Hardening that changed, per object both audits have.
    pub hardening: Vec<HardeningChange>,
    /// Findings of the new audit the old one lacks (those of added objects too).
    pub findings_new: Vec<FindingRef>,
    /// Findings of the old audit gone from the new one, for objects both have.
    pub findings_gone: Vec<FindingRef>,
    /// Names the new closure cannot find that the old one could.
    pub missing_new: Vec<MissingRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub path: String,
    /// `name version`, or null for an object no package ships.
    pub package: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRef {
    pub real_path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectChange {
    pub path: String,
    pub old: FileRef,
    pub new: FileRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageChange {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlibcChange {
    pub old: Option<String>,
    pub new: Option<String>,
    /// The new closure needs a newer glibc than the old one did.
    pub raised: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HardeningChange {
    pub object: String,
    /// A field of the object's `hardening` (`relro`, `canary`, …).
    pub field: &'static str,
    pub old: String,
    pub new: String,
    /// The new value protects less than the old one.
    pub regression: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRef {
    pub severity: Severity,
    pub object: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingRef {
    pub name: String,
    pub needed_by: String,
}

impl TargetDiff {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.objects_added.is_empty()
            && self.objects_removed.is_empty()
            && self.objects_changed.is_empty()
            && self.packages.is_empty()
            && self.min_glibc.is_none()
            && self.hardening.is_empty()
            && self.findings_new.is_empty()
            && self.findings_gone.is_empty()
            && self.missing_new.is_empty()
    }

    /// How many changes make the new build worse: hardening lost, a raised `min_glibc`,
    /// a new finding of high or medium severity, a name no longer found.
    pub fn regressions(&self) -> usize {
        self.hardening.iter().filter(|h| h.regression).count()
            + usize::from(self.min_glibc.as_ref().is_some_and(|g| g.raised))
            + self
                .findings_new
                .iter()
                .filter(|f| f.severity <= Severity::Medium)
                .count()
            + self.missing_new.len()
    }
}

impl Diff {
    pub fn regressions(&self) -> usize {
        self.targets.iter().map(TargetDiff::regressions).sum()
    }
}

/// Compare two audits. Targets pair by path; when each audit has exactly one target,
/// they pair whatever their paths.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Diff {
    let single = old.targets.len() == 1 && new.targets.len() == 1;
    let mut paired = BTreeSet::new();
    let mut out = Diff {
        targets_added: Vec::new(),
        targets_removed: Vec::new(),
        targets: Vec::new(),
    };
    for n in &new.targets {
        let o = if single {
            old.targets.first()
        } else {
            old.targets.iter().find(|o| o.target == n.target)
        };
        match o {
            Some(o) => {
                paired.insert(o.target.as_str());
                out.targets.push(target_diff(o, n));
            }
            None => out.targets_added.push(n.target.clone()),
        }
    }
    out.targets_removed = old
        .targets
        .iter()
        .filter(|o| !paired.contains(o.target.as_str()))
        .map(|o| o.target.clone())
        .collect();
    out
}

fn package_words(o: &ObjectSnapshot) -> Option<String> {
    let p = o.audit.as_ref()?.package.as_ref()?;
    Some(format!("{} {}", p.name, p.version))
}

fn object_ref(o: &ObjectSnapshot) -> ObjectRef {
    ObjectRef {
        path: o.path.clone(),
        package: package_words(o),
    }
}

fn file_ref(o: &ObjectSnapshot) -> FileRef {
    FileRef {
        real_path: o.real_path.clone(),
        size: o.size,
        sha256: o.sha256.clone(),
    }
}

fn target_diff(old: &TargetSnapshot, new: &TargetSnapshot) -> TargetDiff {
    let old_by_path: HashMap<&str, &ObjectSnapshot> =
        old.objects.iter().map(|o| (o.path.as_str(), o)).collect();
    let new_paths: BTreeSet<&str> = new.objects.iter().map(|o| o.path.as_str()).collect();
    let mut d = TargetDiff {
        target: new.target.clone(),
        old_target: (old.target != new.target).then(|| old.target.clone()),
        objects_added: Vec::new(),
        objects_removed: old
            .objects
            .iter()
            .filter(|o| !new_paths.contains(o.path.as_str()))
            .map(object_ref)
            .collect(),
        objects_changed: Vec::new(),
        packages: Vec::new(),
        min_glibc: None,
        hardening: Vec::new(),
        findings_new: Vec::new(),
        findings_gone: Vec::new(),
        missing_new: Vec::new(),
    };
    for n in &new.objects {
        let Some(o) = old_by_path.get(n.path.as_str()) else {
            d.objects_added.push(object_ref(n));
            continue;
        };
        if o.sha256 != n.sha256 || o.real_path != n.real_path {
            d.objects_changed.push(ObjectChange {
                path: n.path.clone(),
                old: file_ref(o),
                new: file_ref(n),
            });
        }
        let hardening = |s: &ObjectSnapshot| s.audit.as_ref().and_then(|a| a.hardening.clone());
        if let (Some(oh), Some(nh)) = (hardening(o), hardening(n)) {
            d.hardening.extend(hardening_changes(&n.path, &oh, &nh));
        }
    }
    // The audit summaries are there: `Snapshot::from_json` and the caller's own report
    // guarantee it, but a missing one compares as empty rather than failing.
    let empty = SummarySnapshot {
        packages: Vec::new(),
        min_glibc: None,
        findings: Vec::new(),
    };
    let os = old.audit.as_ref().unwrap_or(&empty);
    let ns = new.audit.as_ref().unwrap_or(&empty);
    d.packages = package_changes(&os.packages, &ns.packages);
    if os.min_glibc != ns.min_glibc {
        let raised = match (&os.min_glibc, &ns.min_glibc) {
            (Some(o), Some(n)) => crate::versions::newer(Some(o.clone()), n).as_ref() != Some(o),
            (None, Some(_)) => true,
            _ => false,
        };
        d.min_glibc = Some(GlibcChange {
            old: os.min_glibc.clone(),
            new: ns.min_glibc.clone(),
            raised,
        });
    }
    d.findings_new = ns
        .findings
        .iter()
        .filter(|f| !os.findings.contains(f))
        .cloned()
        .collect();
    // A removed object's findings went with it: its removal says so.
    d.findings_gone = os
        .findings
        .iter()
        .filter(|f| !ns.findings.contains(f) && new_paths.contains(f.object.as_str()))
        .cloned()
        .collect();
    let was_missing: BTreeSet<(&str, &str)> = old
        .missing
        .iter()
        .map(|m| (m.name.as_str(), m.needed_by.as_str()))
        .collect();
    d.missing_new = new
        .missing
        .iter()
        .filter(|m| !was_missing.contains(&(m.name.as_str(), m.needed_by.as_str())))
        .map(|m| MissingRef {
            name: m.name.clone(),
            needed_by: m.needed_by.clone(),
        })
        .collect();
    d
}

fn package_changes(old: &[PackageSnapshot], new: &[PackageSnapshot]) -> Vec<PackageChange> {
    let mut both: BTreeMap<&str, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for p in old {
        both.entry(&p.name).or_default().0 = Some(&p.version);
    }
    for p in new {
        both.entry(&p.name).or_default().1 = Some(&p.version);
    }
    both.into_iter()
        .filter(|(_, (o, n))| o != n)
        .map(|(name, (o, n))| PackageChange {
            name: name.to_owned(),
            old: o.map(str::to_owned),
            new: n.map(str::to_owned),
        })
        .collect()
}

/// How much a value of a hardening field protects: higher is better; `None` for values
/// that do not compare (a shared object's `pie`, CET off x86).
fn rank(field: &str, value: &str) -> Option<u8> {
    Some(match (field, value) {
        ("pie", "no") | ("relro", "none") => 0,
        ("relro", "partial") => 1,
        ("pie", "yes") | ("relro", "full") => 2,
        ("pie" | "relro", _) => return None,
        // Flags that are bad when set.
        ("textrel" | "exec_stack" | "rwx_segment", "no") => 1,
        ("textrel" | "exec_stack" | "rwx_segment", "yes") => 0,
        (_, "yes") => 1,
        (_, "no") => 0,
        _ => return None,
    })
}

fn hardening_changes(
    object: &str,
    old: &HardeningSnapshot,
    new: &HardeningSnapshot,
) -> Vec<HardeningChange> {
    fn yes(b: bool) -> String {
        if b { "yes" } else { "no" }.to_owned()
    }
    let cet = |b: Option<bool>| b.map(yes).unwrap_or_else(|| "n/a".to_owned());
    let fields: [(&'static str, String, String); 10] = [
        ("pie", old.pie.clone(), new.pie.clone()),
        ("relro", old.relro.clone(), new.relro.clone()),
        ("nx", yes(old.nx), yes(new.nx)),
        ("canary", yes(old.canary), yes(new.canary)),
        // Counts move with the code; what matters is whether any call is fortified.
        ("fortified", yes(old.fortified > 0), yes(new.fortified > 0)),
        ("ibt", cet(old.ibt), cet(new.ibt)),
        ("shstk", cet(old.shstk), cet(new.shstk)),
        ("textrel", yes(old.textrel), yes(new.textrel)),
        ("exec_stack", yes(old.exec_stack), yes(new.exec_stack)),
        ("rwx_segment", yes(old.rwx_segment), yes(new.rwx_segment)),
    ];
    fields
        .into_iter()
        .filter(|(_, o, n)| o != n)
        .map(|(field, old, new)| HardeningChange {
            object: object.to_owned(),
            field,
            regression: matches!(
                (rank(field, &old), rank(field, &new)),
                (Some(a), Some(b)) if b < a
            ),
            old,
            new,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn report(objects: &str, packages: &str, min_glibc: &str, findings: &str) -> Snapshot {
        let text = format!(
            r#"{{"schema_version": 4, "root": "/", "targets": [{{
                "target": "/usr/bin/app", "objects": [{objects}], "missing": [],
                "audit": {{"files": 1, "bytes": 1, "packages": [{packages}], "unpackaged": [],
                           "min_glibc": {min_glibc}, "consequences": [], "findings": [{findings}]}}
            }}]}}"#
        );
        Snapshot::from_json(text.as_bytes(), 4..=5).unwrap()
    }

    fn object(path: &str, sha: &str, relro: &str, canary: bool, package: &str) -> String {
        format!(
            r#"{{"path": "{path}", "real_path": "{path}", "size": 10, "sha256": "{sha}",
                "audit": {{"package": {package}, "hardening": {{"pie": "dso", "relro": "{relro}",
                "bind_now": true, "nx": true, "canary": {canary}, "fortified": 1, "fortifiable": 2,
                "ibt": true, "shstk": true, "textrel": false, "exec_stack": false,
                "rwx_segment": false, "stripped": true}}}}}}"#
        )
    }

    #[test]
    fn the_same_audit_has_no_changes() {
        let a = report(
            &object("/lib/libz.so.1", "aa", "full", true, "null"),
            "",
            "\"2.14\"",
            "",
        );
        let d = diff(&a, &a);
        assert!(d.targets_added.is_empty() && d.targets_removed.is_empty());
        assert!(d.targets[0].is_empty(), "{:?}", d.targets[0]);
        assert_eq!(d.regressions(), 0);
    }

    #[test]
    fn every_kind_of_change_is_listed() {
        let pkg = |v: &str| format!(r#"{{"name": "libz", "version": "{v}"}}"#);
        let old = report(
            &[
                object("/lib/libz.so.1", "aa", "full", true, &pkg("1")),
                object("/lib/libold.so", "bb", "full", true, "null"),
            ]
            .join(","),
            &format!(r#"{},{{"name": "gone", "version": "3"}}"#, pkg("1")),
            "\"2.14\"",
            r#"{"severity": "low", "object": "/lib/libold.so", "code": "partial_relro", "message": "m"},
               {"severity": "medium", "object": "/lib/libz.so.1", "code": "textrel", "message": "m"}"#,
        );
        let new = report(
            &[
                object("/lib/libz.so.1", "cc", "partial", false, &pkg("2")),
                object("/lib/libnew.so", "dd", "full", true, "null"),
            ]
            .join(","),
            &pkg("2"),
            "\"2.34\"",
            r#"{"severity": "high", "object": "/lib/libnew.so", "code": "rpath_risk", "message": "m"}"#,
        );
        let d = &diff(&old, &new).targets[0];
        assert_eq!(d.objects_added[0].path, "/lib/libnew.so");
        assert_eq!(d.objects_removed[0].path, "/lib/libold.so");
        assert_eq!(d.objects_changed[0].old.sha256, "aa");
        assert_eq!(d.objects_changed[0].new.sha256, "cc");
        assert_eq!(
            d.packages,
            vec![
                PackageChange {
                    name: "gone".into(),
                    old: Some("3".into()),
                    new: None
                },
                PackageChange {
                    name: "libz".into(),
                    old: Some("1".into()),
                    new: Some("2".into())
                },
            ]
        );
        assert!(d.min_glibc.as_ref().unwrap().raised);
        let fields: Vec<(&str, bool)> = d
            .hardening
            .iter()
            .map(|h| (h.field, h.regression))
            .collect();
        assert_eq!(fields, [("relro", true), ("canary", true)]);
        assert_eq!(d.findings_new[0].code, "rpath_risk");
        // libold's finding went with libold.
        let gone: Vec<&str> = d.findings_gone.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(gone, ["textrel"]);
        // relro, canary, glibc, the high finding.
        assert_eq!(d.regressions(), 4);
    }

    #[test]
    fn improvements_and_lower_glibc_are_no_regressions() {
        let old = report(
            &object("/lib/libz.so.1", "aa", "partial", false, "null"),
            "",
            "\"2.34\"",
            "",
        );
        let new = report(
            &object("/lib/libz.so.1", "aa", "full", true, "null"),
            "",
            "\"2.17\"",
            "",
        );
        let d = &diff(&old, &new).targets[0];
        assert_eq!(d.hardening.len(), 2);
        assert!(d.hardening.iter().all(|h| !h.regression));
        assert!(!d.min_glibc.as_ref().unwrap().raised);
        assert_eq!(d.regressions(), 0);
    }

    #[test]
    fn flags_bad_when_set_regress_when_they_appear() {
        let mut old = HardeningSnapshot {
            pie: "yes".into(),
            relro: "full".into(),
            nx: true,
            canary: true,
            fortified: 0,
            ibt: None,
            shstk: None,
            textrel: false,
            exec_stack: false,
            rwx_segment: false,
        };
        let mut new = old.clone();
        new.exec_stack = true;
        new.nx = false;
        let c = hardening_changes("/bin/x", &old, &new);
        let said: Vec<(&str, &str, &str, bool)> = c
            .iter()
            .map(|h| (h.field, h.old.as_str(), h.new.as_str(), h.regression))
            .collect();
        assert_eq!(
            said,
            [("nx", "yes", "no", true), ("exec_stack", "no", "yes", true)]
        );
        old.pie = "dso".into();
        new = old.clone();
        new.pie = "yes".into();
        assert!(!hardening_changes("/bin/x", &old, &new)[0].regression);
    }

    #[test]
    fn reports_that_cannot_be_compared_are_refused() {
        let no_audit = br#"{"schema_version": 4, "targets": [{"target": "/bin/x", "objects": [], "missing": [], "audit": null}]}"#;
        assert!(matches!(
            Snapshot::from_json(no_audit, 4..=5),
            Err(DiffError::NoAudit { .. })
        ));
        let old = br#"{"schema_version": 3, "targets": []}"#;
        assert!(matches!(
            Snapshot::from_json(old, 4..=5),
            Err(DiffError::Schema { found: 3, .. })
        ));
        assert!(matches!(
            Snapshot::from_json(b"[1, 2", 4..=5),
            Err(DiffError::NotAReport(_))
        ));
    }

    #[test]
    fn targets_pair_by_path_when_there_are_several() {
        let two = |a: &str, b: &str| {
            let t = |p: &str| {
                format!(
                    r#"{{"target": "{p}", "objects": [], "missing": [], "audit": {{"packages": [], "min_glibc": null, "findings": []}}}}"#
                )
            };
            let text = format!(
                r#"{{"schema_version": 4, "targets": [{}, {}]}}"#,
                t(a),
                t(b)
            );
            Snapshot::from_json(text.as_bytes(), 4..=5).unwrap()
        };
        let d = diff(&two("/bin/a", "/bin/b"), &two("/bin/b", "/bin/c"));
        assert_eq!(d.targets_added, ["/bin/c"]);
        assert_eq!(d.targets_removed, ["/bin/a"]);
        assert_eq!(d.targets.len(), 1);
        assert_eq!(d.targets[0].old_target, None);
    }
}
