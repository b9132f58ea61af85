//! The JSON report, schema version 4, mirrored from `docs/json.md` with `deny_unknown_fields`
//! and closed enums: a field or value added, renamed or removed without a schema change fails
//! every test that reads a report.

// Every field is declared so that deny_unknown_fields can reject the ones that are not;
// not every test reads every field.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Report {
    pub(crate) schema_version: u32,
    pub(crate) root: String,
    pub(crate) targets: Vec<Target>,
    /// With `--emit`/`--emit-rootfs` and `--format json`: what the user added.
    pub(crate) image: Option<ImageReport>,
    /// With `--trace` or `--trace-load`: the run.
    pub(crate) trace: Option<TraceReport>,
    /// With `--audit --diff`: what changed.
    pub(crate) diff: Option<Diff>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Diff {
    pub(crate) targets_added: Vec<String>,
    pub(crate) targets_removed: Vec<String>,
    pub(crate) targets: Vec<TargetDiff>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetDiff {
    pub(crate) target: String,
    pub(crate) old_target: Option<String>,
    pub(crate) objects_added: Vec<DiffObject>,
    pub(crate) objects_removed: Vec<DiffObject>,
    pub(crate) objects_changed: Vec<DiffChange>,
    pub(crate) packages: Vec<DiffPackage>,
    pub(crate) min_glibc: Option<DiffGlibc>,
    pub(crate) hardening: Vec<DiffHardening>,
    pub(crate) findings_new: Vec<Finding>,
    pub(crate) findings_gone: Vec<Finding>,
    pub(crate) missing_new: Vec<DiffMissing>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffObject {
    pub(crate) path: String,
    pub(crate) package: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffChange {
    pub(crate) path: String,
    pub(crate) old: DiffFile,
    pub(crate) new: DiffFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffFile {
    pub(crate) real_path: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffPackage {
    pub(crate) name: String,
    pub(crate) old: Option<String>,
    pub(crate) new: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffGlibc {
    pub(crate) old: Option<String>,
    pub(crate) new: Option<String>,
    pub(crate) raised: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffHardening {
    pub(crate) object: String,
    pub(crate) field: String,
    pub(crate) old: String,
    pub(crate) new: String,
    pub(crate) regression: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffMissing {
    pub(crate) name: String,
    pub(crate) needed_by: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TraceReport {
    pub(crate) command: Vec<String>,
    pub(crate) program: String,
    pub(crate) cwd: String,
    pub(crate) exit: TraceExit,
    pub(crate) processes: u32,
    pub(crate) files: bool,
    pub(crate) left_out: Vec<LeftOut>,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TraceExit {
    pub(crate) code: Option<i32>,
    pub(crate) signal: Option<i32>,
    pub(crate) timed_out: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LeftOut {
    pub(crate) path: String,
    pub(crate) why: LeftOutWhy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LeftOutWhy {
    Written,
    Gone,
    NotUtf8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImageReport {
    pub(crate) additions: Vec<UserAddition>,
    pub(crate) metadata: Vec<MetadataFile>,
}

/// A file added for scanners (docs/sbom.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetadataFile {
    pub(crate) path: String,
    pub(crate) kind: String,
    pub(crate) package: Option<String>,
    pub(crate) why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserAddition {
    pub(crate) source: String,
    pub(crate) destination: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    pub(crate) target: String,
    pub(crate) scripts: Vec<Script>,
    pub(crate) linkage: Linkage,
    pub(crate) secure: bool,
    pub(crate) complete: bool,
    pub(crate) loader: Option<Loader>,
    pub(crate) objects: Vec<Object>,
    pub(crate) missing: Vec<Missing>,
    pub(crate) fatal: Option<Fatal>,
    pub(crate) added: Vec<Added>,
    pub(crate) notes: Vec<String>,
    /// With `--audit`.
    pub(crate) audit: Option<Summary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Summary {
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    pub(crate) packages: Vec<PackageSummary>,
    pub(crate) unpackaged: Vec<String>,
    pub(crate) min_glibc: Option<String>,
    pub(crate) consequences: Vec<String>,
    pub(crate) findings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackageSummary {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) files: usize,
    pub(crate) bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) object: String,
    pub(crate) code: String,
    pub(crate) message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Severity {
    High,
    Medium,
    Low,
    Info,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObjectAudit {
    pub(crate) package: Option<PackageRef>,
    pub(crate) license: Option<String>,
    pub(crate) hardening: Option<Hardening>,
    pub(crate) rpath_risks: Vec<RpathRisk>,
    pub(crate) unused_needed: Vec<String>,
    pub(crate) unresolved: Vec<Unresolved>,
    pub(crate) versions_needed: BTreeMap<String, String>,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackageRef {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) architecture: String,
    pub(crate) source: String,
    pub(crate) source_version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Hardening {
    pub(crate) pie: String,
    pub(crate) relro: String,
    pub(crate) bind_now: bool,
    pub(crate) nx: bool,
    pub(crate) canary: bool,
    pub(crate) fortified: usize,
    pub(crate) fortifiable: usize,
    pub(crate) ibt: Option<bool>,
    pub(crate) shstk: Option<bool>,
    pub(crate) textrel: bool,
    pub(crate) exec_stack: bool,
    pub(crate) rwx_segment: bool,
    pub(crate) stripped: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RpathRisk {
    pub(crate) tag: String,
    pub(crate) entry: String,
    pub(crate) code: String,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Unresolved {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) version: Option<String>,
}

impl Target {
    /// What the loader maps besides the program, in load order, as `ld.so` prints it
    /// (objects loaded at run time are not in a trace).
    pub(crate) fn loaded_paths(&self) -> Vec<&str> {
        self.objects
            .iter()
            .skip(1)
            .filter(|o| !o.runtime)
            .map(|o| o.path.as_str())
            .collect()
    }

    pub(crate) fn missing_names(&self) -> Vec<&str> {
        self.missing.iter().map(|m| m.name.as_str()).collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Script {
    pub(crate) path: String,
    pub(crate) interpreter: String,
    pub(crate) argument: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum Linkage {
    #[serde(rename = "dynamic")]
    Dynamic,
    #[serde(rename = "static")]
    Static,
    #[serde(rename = "static-pie")]
    StaticPie,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Loader {
    pub(crate) flavor: Flavor,
    pub(crate) interpreter: String,
    pub(crate) system_dirs: Vec<String>,
    pub(crate) lib: String,
    pub(crate) platform: Option<String>,
    pub(crate) hwcaps: Vec<String>,
    pub(crate) legacy_hwcaps_subdirs: Vec<String>,
    pub(crate) glibc_version: Option<String>,
    pub(crate) facts_from: FactsFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Flavor {
    Glibc,
    Musl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FactsFrom {
    LoaderBinary,
    Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Object {
    pub(crate) path: String,
    pub(crate) real_path: String,
    pub(crate) soname: Option<String>,
    pub(crate) names: Vec<String>,
    pub(crate) found: Found,
    pub(crate) loader: Option<String>,
    pub(crate) needed_by: Vec<String>,
    pub(crate) needed: Vec<String>,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) runtime: bool,
    pub(crate) tried: Vec<Attempt>,
    /// With `--audit`.
    pub(crate) audit: Option<ObjectAudit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Found {
    pub(crate) how: How,
    pub(crate) dir: Option<String>,
    pub(crate) subdir: Option<String>,
    pub(crate) rpath_of: Option<String>,
    pub(crate) recipe: Option<String>,
    pub(crate) evidence: Option<Evidence>,
}

/// What a run-time recipe added.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Added {
    pub(crate) kind: AddedKind,
    pub(crate) value: String,
    pub(crate) object: Option<String>,
    pub(crate) recipe: String,
    pub(crate) evidence: Evidence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AddedKind {
    Load,
    File,
    Tree,
    Dir,
    Env,
    User,
    Group,
    Cmd,
    Mention,
    Program,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Evidence {
    pub(crate) kind: EvidenceKind,
    pub(crate) text: String,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<usize>,
    /// For `traced`: the process and the program it ran.
    pub(crate) pid: Option<u32>,
    pub(crate) program: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EvidenceKind {
    ConfigLine,
    Symbol,
    Compiled,
    Note,
    Rule,
    Option,
    Traced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum How {
    Target,
    Interpreter,
    Preload,
    Path,
    Rpath,
    LdLibraryPath,
    Runpath,
    #[serde(rename = "ld.so.cache")]
    LdSoCache,
    #[serde(rename = "ld.so.conf")]
    LdSoConf,
    SystemDir,
    MuslPath,
    /// An object a run-time recipe loaded.
    Recipe,
    /// An object a traced run mapped that nothing else explains.
    Traced,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Missing {
    pub(crate) name: String,
    pub(crate) needed_by: String,
    pub(crate) kind: MissingKind,
    pub(crate) required: bool,
    pub(crate) tried: Vec<Attempt>,
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MissingKind {
    Needed,
    Filter,
    Auxiliary,
    Interpreter,
    Preload,
    Runtime,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Attempt {
    pub(crate) path: String,
    /// `absent`, `unreadable`, `symlink_loop`, `wrong_class`, `wrong_machine`, `nodeflib`,
    /// `chosen`, or `error: REASON` (open-ended, so a string; see [`Attempt::is_known`]).
    pub(crate) outcome: String,
    /// The search step that tried it (a `found.how` value); None for the interpreter.
    pub(crate) via: Option<How>,
}

impl Attempt {
    pub(crate) fn is_known(&self) -> bool {
        matches!(
            self.outcome.as_str(),
            "absent"
                | "unreadable"
                | "symlink_loop"
                | "wrong_class"
                | "wrong_machine"
                | "nodeflib"
                | "chosen"
        ) || self.outcome.starts_with("error: ")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fatal {
    pub(crate) name: String,
    pub(crate) needed_by: String,
    pub(crate) path: String,
    pub(crate) reason: String,
}
