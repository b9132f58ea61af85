//! The JSON report (docs/json.md): dedicated structs, so the contract does not follow the
//! library's types.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;
use sha2::Sha256;
use sha2::digest::{Digest, DynDigest};

use depclose_elf::name;
use depclose_resolve::{Closure, Found, How, MissingKind, Outcome, Root};
use depclose_runtime::{Added, Evidence, Reason, Want};

use crate::error::Error;
use crate::scan::Metadata;
use crate::text::UserAddition;

pub(crate) const SCHEMA_VERSION: u32 = 5;

#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    root: String,
    targets: Vec<Target<'a>>,
    /// With an image: what the user added to it, and what was added for scanners.
    image: Option<ImageOut<'a>>,
    /// With `--trace` or `--trace-load`: the run.
    trace: Option<TraceOut<'a>>,
    /// With `--audit --diff`: what changed since the old audit.
    diff: Option<&'a depclose_audit::diff::Diff>,
}

#[derive(Serialize)]
struct TraceOut<'a> {
    command: &'a [String],
    program: &'a str,
    cwd: &'a str,
    exit: ExitOut,
    processes: u32,
    files: bool,
    left_out: Vec<LeftOutOut<'a>>,
}

#[derive(Serialize)]
struct ExitOut {
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
}

#[derive(Serialize)]
struct LeftOutOut<'a> {
    path: &'a str,
    why: &'static str,
}

fn trace_out(t: &depclose_trace::Trace) -> TraceOut<'_> {
    use depclose_trace::{Exit, Why};
    TraceOut {
        command: &t.command,
        program: &t.program,
        cwd: &t.cwd,
        exit: ExitOut {
            code: match t.exit {
                Exit::Code(c) => Some(c),
                _ => None,
            },
            signal: match t.exit {
                Exit::Signal(s) => Some(s),
                _ => None,
            },
            timed_out: matches!(t.exit, Exit::TimedOut(_)),
        },
        processes: t.processes,
        files: t.files,
        left_out: t
            .left_out
            .iter()
            .map(|l| LeftOutOut {
                path: &l.path,
                why: match l.why {
                    Why::Written => "written",
                    Why::Gone => "gone",
                    Why::NotUtf8 => "not_utf8",
                },
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct ImageOut<'a> {
    additions: Vec<AdditionOut>,
    /// What was added for scanners, and why.
    metadata: Vec<MetadataOut<'a>>,
}

#[derive(Serialize)]
struct MetadataOut<'a> {
    path: String,
    kind: &'static str,
    package: Option<&'a str>,
    why: String,
}

#[derive(Serialize)]
struct AdditionOut {
    source: String,
    destination: String,
}

#[derive(Serialize)]
struct Target<'a> {
    target: String,
    scripts: Vec<Script>,
    linkage: &'static str,
    secure: bool,
    complete: bool,
    loader: Option<Loader>,
    objects: Vec<ObjectOut<'a>>,
    missing: Vec<MissingOut<'a>>,
    fatal: Option<FatalOut<'a>>,
    added: Vec<AddedOut>,
    notes: &'a [String],
    /// With `--audit`: the closure summed up.
    audit: Option<&'a depclose_audit::Summary>,
}

/// One thing a recipe added.
#[derive(Serialize)]
struct AddedOut {
    kind: &'static str,
    /// The object name, path, `KEY=VALUE`, account or command line.
    value: String,
    /// For a load: the `path` of the object it became, or null when nothing was found; for
    /// a mention, the path it would resolve to.
    object: Option<String>,
    recipe: &'static str,
    evidence: EvidenceOut,
}

#[derive(Serialize)]
struct EvidenceOut {
    kind: &'static str,
    text: String,
    file: Option<String>,
    line: Option<usize>,
    /// For `traced`: the process and the program it ran.
    pid: Option<u32>,
    program: Option<String>,
}

#[derive(Serialize)]
struct Script {
    path: String,
    interpreter: String,
    argument: Option<String>,
}

#[derive(Serialize)]
struct Loader {
    flavor: &'static str,
    interpreter: String,
    system_dirs: Vec<String>,
    lib: String,
    platform: Option<String>,
    hwcaps: Vec<String>,
    legacy_hwcaps_subdirs: Vec<String>,
    glibc_version: Option<String>,
    facts_from: &'static str,
}

#[derive(Serialize)]
struct ObjectOut<'a> {
    path: &'a str,
    real_path: String,
    soname: Option<&'a str>,
    names: &'a [String],
    found: FoundOut<'a>,
    loader: Option<&'a str>,
    needed_by: Vec<&'a str>,
    needed: Vec<&'a str>,
    size: u64,
    sha256: String,
    runtime: bool,
    tried: Vec<AttemptOut<'a>>,
    /// With `--audit`.
    audit: Option<&'a depclose_audit::ObjectAudit>,
}

#[derive(Serialize)]
struct FoundOut<'a> {
    how: &'static str,
    dir: Option<&'a str>,
    subdir: Option<&'a str>,
    rpath_of: Option<&'a str>,
    /// For `how: "recipe"`: the recipe that loaded it and why.
    recipe: Option<&'static str>,
    evidence: Option<EvidenceOut>,
}

#[derive(Serialize)]
struct MissingOut<'a> {
    name: &'a str,
    needed_by: &'a str,
    kind: &'static str,
    required: bool,
    tried: Vec<AttemptOut<'a>>,
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct AttemptOut<'a> {
    path: &'a str,
    outcome: String,
    via: Option<&'static str>,
}

#[derive(Serialize)]
struct FatalOut<'a> {
    name: &'a str,
    needed_by: &'a str,
    path: &'a str,
    reason: &'a str,
}

fn how_name(h: How) -> &'static str {
    match h {
        How::Program => "target",
        How::Interpreter => "interpreter",
        How::Preload => "preload",
        How::Path => "path",
        How::Rpath { .. } => "rpath",
        How::LibraryPath => "ld_library_path",
        How::Runpath => "runpath",
        How::Cache => "ld.so.cache",
        How::Conf => "ld.so.conf",
        How::SystemDir => "system_dir",
        How::MuslPath => "musl_path",
    }
}

fn outcome_name(o: &Outcome) -> String {
    match o {
        Outcome::Absent => "absent".into(),
        Outcome::Unreadable => "unreadable".into(),
        Outcome::SymlinkLoop => "symlink_loop".into(),
        Outcome::WrongClass => "wrong_class".into(),
        Outcome::WrongMachine => "wrong_machine".into(),
        Outcome::NoDefLib => "nodeflib".into(),
        Outcome::Chosen => "chosen".into(),
        Outcome::Fatal(r) => format!("error: {r}"),
    }
}

/// The hex digest of a file's contents by each hasher, reading it once.
pub(crate) fn hash_file<const N: usize>(
    path: &Path,
    hashers: &mut [Box<dyn DynDigest>; N],
) -> io::Result<[String; N]> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for h in hashers.iter_mut() {
            h.update(&buf[..n]);
        }
    }
    Ok(hashers.each_mut().map(|h| hex(&h.finalize_reset())))
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 of every distinct file of the closures, hashed once each, in parallel. An
/// error names the file that could not be read.
pub(crate) fn digests<'c>(
    root: &Root,
    closures: &'c [Closure],
) -> Result<HashMap<&'c Path, String>, Error> {
    let mut files: Vec<&Path> = closures
        .iter()
        .flat_map(|c| c.objects.iter().map(|o| o.real.as_path()))
        .collect();
    files.sort();
    files.dedup();
    let digests: Mutex<HashMap<&Path, String>> = Mutex::new(HashMap::new());
    files.par_iter().try_for_each(|p| -> Result<(), Error> {
        let d = hash_file(&root.host_path(p), &mut [Box::new(Sha256::new())])
            .map(|[d]| d)
            .map_err(|source| Error::Io {
                path: p.to_path_buf(),
                source,
            })?;
        digests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p, d);
        Ok(())
    })?;
    Ok(digests.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// What a report holds besides the closures.
#[derive(Default)]
pub(crate) struct Extras<'a> {
    /// With an image: what the user added to it.
    pub(crate) image: Option<&'a [UserAddition]>,
    /// With an image: what was added for scanners.
    pub(crate) metadata: &'a [Metadata],
    pub(crate) trace: Option<&'a depclose_trace::Trace>,
    /// With `--audit`: one per closure.
    pub(crate) audits: Option<&'a [depclose_audit::TargetAudit]>,
    /// With `--audit --diff`.
    pub(crate) diff: Option<&'a depclose_audit::diff::Diff>,
}

pub(crate) fn write(
    out: &mut impl Write,
    root: &Root,
    closures: &[Closure],
    added: &[Vec<Added>],
    extras: &Extras<'_>,
    digests: &HashMap<&Path, String>,
) -> io::Result<()> {
    let report = document(root, closures, added, extras, digests);
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

/// The report read back as `--audit --diff` reads the old one, so both sides are read the
/// same way.
pub(crate) fn snapshot(
    root: &Root,
    closures: &[Closure],
    added: &[Vec<Added>],
    extras: &Extras<'_>,
    digests: &HashMap<&Path, String>,
) -> Result<depclose_audit::diff::Snapshot, depclose_audit::diff::DiffError> {
    let value = serde_json::to_value(document(root, closures, added, extras, digests))?;
    let supported = depclose_audit::diff::FIRST_SCHEMA..=SCHEMA_VERSION;
    depclose_audit::diff::Snapshot::from_value(value, supported)
}

fn document<'a>(
    root: &Root,
    closures: &'a [Closure],
    added: &'a [Vec<Added>],
    extras: &Extras<'a>,
    digests: &'a HashMap<&Path, String>,
) -> Report<'a> {
    let targets = closures
        .iter()
        .zip(added)
        .enumerate()
        .map(|(i, (c, a))| target(c, a, digests, extras.audits.and_then(|x| x.get(i))))
        .collect();
    let image = extras.image;
    let trace = extras.trace;
    Report {
        schema_version: SCHEMA_VERSION,
        root: name::from_path(root.dir()).into_owned(),
        targets,
        image: image.map(|user| ImageOut {
            additions: user
                .iter()
                .map(|u| AdditionOut {
                    source: name::from_path(&u.source).into_owned(),
                    destination: name::from_path(&u.destination).into_owned(),
                })
                .collect(),
            metadata: extras
                .metadata
                .iter()
                .map(|m| MetadataOut {
                    path: name::from_path(&m.path).into_owned(),
                    kind: m.kind.name(),
                    package: m.package.as_deref(),
                    why: m.reason(),
                })
                .collect(),
        }),
        trace: trace.map(trace_out),
        diff: extras.diff,
    }
}

fn attempts(tried: &[depclose_resolve::Attempt]) -> Vec<AttemptOut<'_>> {
    tried
        .iter()
        .map(|a| AttemptOut {
            path: &a.path,
            outcome: outcome_name(&a.outcome),
            via: a.via.map(how_name),
        })
        .collect()
}

fn found<'a>(c: &'a Closure, f: &'a Found, by: Option<&Reason>) -> FoundOut<'a> {
    FoundOut {
        how: match by {
            Some(Reason {
                evidence: Evidence::Traced { .. },
                ..
            }) => "traced",
            Some(_) => "recipe",
            None => how_name(f.how),
        },
        dir: f.dir.as_deref(),
        subdir: f.subdir.as_deref(),
        rpath_of: match f.how {
            How::Rpath { owner } => Some(c.objects[owner].path.as_str()),
            _ => None,
        },
        recipe: by.map(|r| r.recipe),
        evidence: by.map(|r| evidence(&r.evidence)),
    }
}

fn evidence(e: &Evidence) -> EvidenceOut {
    let (kind, file, line) = match e {
        Evidence::ConfigLine { file, line, .. } => ("config_line", Some(file), Some(*line)),
        Evidence::Symbol { .. } => ("symbol", None, None),
        Evidence::Compiled { file, .. } => ("compiled", Some(file), None),
        Evidence::Note { .. } => ("note", None, None),
        Evidence::Rule(_) => ("rule", None, None),
        Evidence::Option(_) => ("option", None, None),
        Evidence::Traced { .. } => ("traced", None, None),
    };
    let (pid, program) = match e {
        Evidence::Traced { pid, program, .. } => {
            (Some(*pid), Some(name::from_path(program).into_owned()))
        }
        _ => (None, None),
    };
    EvidenceOut {
        kind,
        text: e.to_string(),
        file: file.map(|f| name::from_path(f).into_owned()),
        line,
        pid,
        program,
    }
}

fn added_out(c: &Closure, a: &Added) -> AddedOut {
    let (kind, value) = match &a.want {
        Want::Load { name, .. } => ("load", name.clone()),
        Want::File(p) => ("file", name::from_path(p).into_owned()),
        Want::Tree { path, .. } => ("tree", name::from_path(path).into_owned()),
        Want::Dir { path, .. } => ("dir", name::from_path(path).into_owned()),
        Want::Env { key, value } => ("env", format!("{key}={value}")),
        Want::User(u) => ("user", u.clone()),
        Want::Group(g) => ("group", g.clone()),
        Want::Cmd(args) => ("cmd", args.join(" ")),
        Want::Mention { name, .. } => ("mention", name.clone()),
        Want::Program(p) => ("program", name::from_path(p).into_owned()),
    };
    let object = match &a.want {
        Want::Mention { path, .. } => path.clone(),
        _ => a.object.map(|i| c.objects[i].path.clone()),
    };
    AddedOut {
        kind,
        value,
        object,
        recipe: a.reason.recipe,
        evidence: evidence(&a.reason.evidence),
    }
}

fn target<'a>(
    c: &'a Closure,
    added: &[Added],
    digests: &HashMap<&Path, String>,
    audit: Option<&'a depclose_audit::TargetAudit>,
) -> Target<'a> {
    let path = |i: usize| c.objects[i].path.as_str();
    Target {
        target: name::from_path(&c.target).into_owned(),
        scripts: c
            .scripts
            .iter()
            .map(|s| Script {
                path: name::from_path(&s.path).into_owned(),
                interpreter: s.interpreter.clone(),
                argument: s.argument.clone(),
            })
            .collect(),
        linkage: match c.linkage {
            depclose_elf::Linkage::Dynamic => "dynamic",
            depclose_elf::Linkage::Static => "static",
            depclose_elf::Linkage::StaticPie => "static-pie",
        },
        secure: c.secure,
        complete: c.is_complete(),
        loader: c.facts.as_ref().map(|f| Loader {
            flavor: match f.flavor {
                depclose_resolve::Flavor::Glibc => "glibc",
                depclose_resolve::Flavor::Musl => "musl",
            },
            interpreter: f.interpreter.clone(),
            system_dirs: f.system_dirs.clone(),
            lib: f.lib.clone(),
            platform: f.platform.clone(),
            hwcaps: f.hwcaps.clone(),
            legacy_hwcaps_subdirs: f.legacy_subdirs.clone(),
            glibc_version: f.glibc_version.map(|(a, b)| format!("{a}.{b}")),
            facts_from: match f.source {
                depclose_resolve::FactsSource::LoaderBinary => "loader_binary",
                depclose_resolve::FactsSource::Table => "table",
            },
        }),
        objects: c
            .objects
            .iter()
            .enumerate()
            .map(|(i, o)| ObjectOut {
                path: &o.path,
                real_path: name::from_path(&o.real).into_owned(),
                soname: o.elf.soname.as_deref(),
                names: &o.names,
                found: found(c, &o.found, crate::text::recipe_reason(added, i)),
                loader: o.loader.map(path),
                needed_by: o.needed_by.iter().map(|&i| path(i)).collect(),
                needed: o.elf.needed().collect(),
                size: o.size,
                sha256: digests.get(o.real.as_path()).cloned().unwrap_or_default(),
                runtime: o.runtime,
                tried: attempts(&o.trace),
                audit: audit.and_then(|a| a.objects.get(i)),
            })
            .collect(),
        missing: c
            .missing
            .iter()
            .map(|m| MissingOut {
                name: &m.name,
                needed_by: path(m.requester),
                kind: match m.kind {
                    MissingKind::Needed => "needed",
                    MissingKind::Filter => "filter",
                    MissingKind::Auxiliary => "auxiliary",
                    MissingKind::Interpreter => "interpreter",
                    MissingKind::Preload => "preload",
                    MissingKind::Runtime => "runtime",
                },
                required: m.required(),
                tried: attempts(&m.tried),
                reason: m.reason.as_deref(),
            })
            .collect(),
        fatal: c.fatal.as_ref().map(|f| FatalOut {
            name: &f.name,
            needed_by: path(f.requester),
            path: &f.path,
            reason: &f.reason,
        }),
        added: added.iter().map(|a| added_out(c, a)).collect(),
        notes: &c.notes,
        audit: audit.map(|a| &a.summary),
    }
}
