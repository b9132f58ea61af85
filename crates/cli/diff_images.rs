//! `--diff-images OLD.tar NEW.tar`: two image tars compared through their layers — their
//! files, their configuration, and the audit of each one's program inside its own
//! filesystem, as `--audit --diff` compares two audits. Each image is unpacked into a
//! temporary directory (owners listed, not applied: no root needed) and analysed there as a
//! `--root`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use depclose_audit::diff::{Diff, Snapshot};
use depclose_elf::name;
use depclose_pack::{FilesDiff, ImageArchive, ImageFiles};
use depclose_resolve::{Resolver, Root};
use depclose_runtime::{Added, Context};

use crate::config::Config;
use crate::error::Error;
use crate::flags::Format;
use crate::{audit, interrupt, json};

/// One image, unpacked and audited.
struct Side {
    path: PathBuf,
    digest: String,
    architecture: String,
    config: Vec<(&'static str, String)>,
    files: ImageFiles,
    /// The program the image runs, and the audit of it (None: the image names none, or not
    /// one that is in it).
    program: Option<String>,
    snapshot: Option<Snapshot>,
}

/// The image diff, as `-f json` prints it (docs/json.md).
#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    old: ImageOut<'a>,
    new: ImageOut<'a>,
    config: Vec<ConfigChange<'a>>,
    files: &'a FilesDiff,
    diff: Option<&'a Diff>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct ImageOut<'a> {
    path: String,
    digest: &'a str,
    architecture: &'a str,
    program: Option<&'a str>,
}

#[derive(Serialize)]
struct ConfigChange<'a> {
    field: &'static str,
    old: &'a str,
    new: &'a str,
}

pub(crate) fn run(config: &Config, old: &Path, new: &Path, format: Format) -> Result<u8, Error> {
    interrupt::clean_up_on_signal(vec![std::env::temp_dir()]);
    let mut notes = Vec::new();
    let o = Side::read(config, old, &mut notes)?;
    interrupt::check()?;
    let n = Side::read(config, new, &mut notes)?;
    let files = depclose_pack::diff_files(&o.files, &n.files);
    let changes: Vec<ConfigChange> = o
        .config
        .iter()
        .zip(&n.config)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| ConfigChange {
            field,
            old: a,
            new: b,
        })
        .collect();
    let diff = match (&o.snapshot, &n.snapshot) {
        (Some(a), Some(b)) => Some(depclose_audit::diff::diff(a, b)),
        _ => None,
    };
    fn out(side: &Side) -> ImageOut<'_> {
        ImageOut {
            path: name::from_path(&side.path).into_owned(),
            digest: &side.digest,
            architecture: &side.architecture,
            program: side.program.as_deref(),
        }
    }
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    match format {
        Format::Json => {
            let report = Report {
                schema_version: json::SCHEMA_VERSION,
                old: out(&o),
                new: out(&n),
                config: changes,
                files: &files,
                diff: diff.as_ref(),
                notes: &notes,
            };
            serde_json::to_writer_pretty(&mut stdout, &report).map_err(io::Error::from)?;
            writeln!(stdout)?;
        }
        _ => text(
            &mut stdout,
            (&o, &n),
            &changes,
            &files,
            diff.as_ref(),
            &notes,
        )?,
    }
    stdout.flush()?;
    match diff.map(|d| d.regressions()).unwrap_or(0) {
        0 => Ok(crate::EXIT_COMPLETE),
        n => {
            eprintln!(
                "depclose: error: {n} regressions in the new image's program (--diff-images)"
            );
            Ok(crate::EXIT_REGRESSED)
        }
    }
}

impl Side {
    fn read(config: &Config, path: &Path, notes: &mut Vec<String>) -> Result<Side, Error> {
        let path = config.host_cwd.join(path);
        let archive = ImageArchive::open(&path)?;
        let image = archive.image()?;
        let temp_dir = std::env::temp_dir();
        let scratch =
            depclose_pack::TempDir::new_in(&temp_dir, "diff").map_err(|source| Error::Io {
                path: temp_dir.clone(),
                source,
            })?;
        let rootfs = scratch.path().join("rootfs");
        std::fs::create_dir(&rootfs).map_err(|source| Error::Io {
            path: rootfs.clone(),
            source,
        })?;
        let files = image.unpack(&archive, &rootfs)?;
        let c = image.config.config().clone().unwrap_or_default();
        let words = |v: &Option<Vec<String>>| v.as_ref().map(|v| v.join(" ")).unwrap_or_default();
        let mut env = c.env().clone().unwrap_or_default();
        env.sort();
        let fields = vec![
            ("architecture", image.config.architecture().to_string()),
            ("entrypoint", words(c.entrypoint())),
            ("cmd", words(c.cmd())),
            ("env", env.join(" ")),
            ("user", c.user().clone().unwrap_or_default()),
            ("working_dir", c.working_dir().clone().unwrap_or_default()),
        ];
        let argv: Vec<String> = c
            .entrypoint()
            .iter()
            .chain(c.cmd())
            .flatten()
            .cloned()
            .collect();
        let image_path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(depclose_resolve::DEFAULT_PATH);
        let shown = name::from_path(&path).into_owned();
        let (program, snapshot) = match argv.first() {
            None => {
                notes.push(format!(
                    "{shown}: names no program (no Entrypoint, no Cmd): its files only"
                ));
                (None, None)
            }
            Some(word) => match audit_program(config, &rootfs, word, &argv[1..], image_path) {
                Ok((program, snapshot)) => (Some(program), Some(snapshot)),
                Err(e) => {
                    notes.push(format!("{shown}: its program {word} was not audited: {e}"));
                    (None, None)
                }
            },
        };
        Ok(Side {
            digest: image.manifest_digest.clone(),
            architecture: image.config.architecture().to_string(),
            path,
            config: fields,
            files,
            program,
            snapshot,
        })
    }
}

/// The audit of the image's program inside the unpacked image, with the run-time recipes
/// (given the image's arguments) as for `--audit --runtime --root ROOTFS PROGRAM`.
fn audit_program(
    config: &Config,
    rootfs: &Path,
    word: &str,
    args: &[String],
    path_var: &str,
) -> Result<(String, Snapshot), Error> {
    let resolver = Resolver::new(Root::new(rootfs)?, config.resolve_options(false));
    // The Entrypoint of a depclose image names a program that is not UTF-8 by its escape.
    let program = if word.starts_with('/') {
        name::to_path_buf(word)
    } else {
        resolver.find_command(word, path_var)?
    };
    let mut closures = vec![resolver.closure(&program)?];
    let mut added: Vec<Vec<Added>> = vec![Vec::new()];
    if config.runtime {
        let cx = Context::root(&resolver, &config.recipes).with_command(args);
        (closures, added) = crate::apply_recipes(&cx, closures, depclose_runtime::RECIPES)?;
    }
    let root = resolver.root();
    let audits = crate::audit_closures(root, &closures)?;
    let extras = json::Extras {
        audits: Some(&audits),
        ..json::Extras::default()
    };
    let digests = json::digests(root, &closures)?;
    let snapshot =
        json::snapshot(root, &closures, &added, &extras, &digests).map_err(Error::OwnReport)?;
    Ok((name::from_path(&program).into_owned(), snapshot))
}

fn text(
    out: &mut impl Write,
    (o, n): (&Side, &Side),
    config: &[ConfigChange],
    files: &FilesDiff,
    diff: Option<&Diff>,
    notes: &[String],
) -> io::Result<()> {
    for (word, side) in [("old", o), ("new", n)] {
        writeln!(
            out,
            "{word}: {} {} {}{}",
            side.path.display(),
            side.digest,
            side.architecture,
            side.program
                .as_ref()
                .map(|p| format!(", runs {p}"))
                .unwrap_or_default()
        )?;
    }
    for c in config {
        writeln!(out, "config {}: {:?} -> {:?}", c.field, c.old, c.new)?;
    }
    writeln!(
        out,
        "files: {} added, {} removed, {} changed",
        files.added.len(),
        files.removed.len(),
        files.changed.len()
    )?;
    for e in &files.added {
        writeln!(out, "  + {} ({})", e.path, e.file.kind)?;
    }
    for e in &files.removed {
        writeln!(out, "  - {} ({})", e.path, e.file.kind)?;
    }
    for c in &files.changed {
        let mut what = Vec::new();
        if c.old.kind != c.new.kind {
            what.push(format!("{} -> {}", c.old.kind, c.new.kind));
        }
        if c.old.sha256 != c.new.sha256 {
            let sha = |s: &Option<String>| s.as_deref().map(audit::short).unwrap_or("-").to_owned();
            what.push(format!(
                "sha256 {} -> {}",
                sha(&c.old.sha256),
                sha(&c.new.sha256)
            ));
        }
        if c.old.size != c.new.size {
            what.push(format!("{} -> {} bytes", c.old.size, c.new.size));
        }
        if c.old.link != c.new.link {
            let l = |l: &Option<String>| l.clone().unwrap_or_default();
            what.push(format!("-> {} now -> {}", l(&c.old.link), l(&c.new.link)));
        }
        if c.old.mode != c.new.mode {
            what.push(format!("mode {:o} -> {:o}", c.old.mode, c.new.mode));
        }
        if (c.old.uid, c.old.gid) != (c.new.uid, c.new.gid) {
            what.push(format!(
                "owner {}:{} -> {}:{}",
                c.old.uid, c.old.gid, c.new.uid, c.new.gid
            ));
        }
        writeln!(out, "  ~ {}: {}", c.path, what.join(", "))?;
    }
    if let Some(d) = diff {
        writeln!(out, "the program's audit:")?;
        audit::diff_body(out, d)?;
    }
    for note in notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}
