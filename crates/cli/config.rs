//! The one validated configuration: the flags and the environment, parsed and checked once,
//! before any work.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use depclose_elf::name;
use depclose_resolve::{CacheMode, FactsOptions, HwcapsChoice, ResolveOptions};

use crate::error::Error;
use crate::flags::{Args, CacheArg, Format, SbomFormat};

/// What depclose reads from its own environment; nothing else reads it.
#[derive(Debug)]
pub(crate) struct Environment {
    /// `PATH`, for command names on the host root ([`name`]-encoded).
    pub(crate) path: Option<String>,
    /// `SOURCE_DATE_EPOCH` (reproducible-builds.org), for image timestamps.
    pub(crate) source_date_epoch: Option<String>,
    pub(crate) cwd: std::io::Result<PathBuf>,
    /// The Docker client's config file, for `--push` credentials:
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub(crate) docker_config: Option<PathBuf>,
}

impl Environment {
    pub(crate) fn read() -> Environment {
        let docker_config = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("config.json")),
            _ => std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".docker/config.json")),
        };
        Environment {
            path: std::env::var_os("PATH").map(|p| name::from_os(&p).into_owned()),
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
            cwd: std::env::current_dir(),
            docker_config,
        }
    }
}

/// Everything a run needs, checked.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) root: PathBuf,
    /// The words naming the targets, as given.
    pub(crate) targets: Vec<OsString>,
    /// depclose's own working directory: relative target paths are taken from it.
    pub(crate) host_cwd: PathBuf,
    /// The host's `PATH`, for command names on the host root (a sysroot gets the default).
    pub(crate) host_path: Option<String>,
    /// `--cwd`, without `.` components.
    pub(crate) cwd: Option<PathBuf>,
    /// `--library-path` and `--preload`, [`name`]-encoded like every loader string.
    pub(crate) library_path: Option<String>,
    pub(crate) preload: Vec<String>,
    pub(crate) hwcaps: HwcapsChoice,
    pub(crate) platform: Option<String>,
    pub(crate) cache: CacheMode,
    pub(crate) allow_missing: bool,
    /// Add what programs load at run time (always for images).
    pub(crate) runtime: bool,
    /// The recipes' options; with `--no-recipes`, every recipe is disabled.
    pub(crate) recipes: depclose_runtime::Options,
    pub(crate) action: Action,
    /// `--trace` or `--trace-load`.
    pub(crate) trace: Option<TraceSpec>,
    /// `--require`: the audit's policy.
    pub(crate) require: Vec<depclose_audit::Rule>,
}

/// Where the trace comes from, and where it goes.
#[derive(Debug)]
pub(crate) struct TraceSpec {
    pub(crate) source: TraceSource,
    /// `--trace-save FILE`.
    pub(crate) save: Option<PathBuf>,
}

#[derive(Debug)]
pub(crate) enum TraceSource {
    /// Run the command (`--trace -- CMD ARGS...`).
    Run {
        command: Vec<String>,
        timeout: std::time::Duration,
        files: bool,
        strict: bool,
    },
    /// A trace file read (`--trace-load FILE`).
    Load(depclose_trace::Trace),
}

impl TraceSpec {
    /// The command as the user wrote it: the program's name, then its arguments.
    pub(crate) fn command(&self) -> &[String] {
        match &self.source {
            TraceSource::Run { command, .. } => command,
            TraceSource::Load(t) => &t.command,
        }
    }
}

/// Read the report `--diff` names.
fn old_audit(path: &Path) -> Result<Box<OldAudit>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let supported = depclose_audit::diff::FIRST_SCHEMA..=crate::json::SCHEMA_VERSION;
    let snapshot = depclose_audit::diff::Snapshot::from_json(&bytes, supported)
        .map_err(|e| Error::option(format!("--diff {}", path.display()), e.to_string()))?;
    Ok(Box::new(OldAudit {
        path: path.to_path_buf(),
        snapshot,
    }))
}

/// How long a traced run may take by default.
const TRACE_TIMEOUT_SECS: u64 = 60;

/// What to do with the closures.
#[derive(Debug)]
pub(crate) enum Action {
    Print(Format),
    /// `--why NAME`, [`name`]-encoded.
    Why(String),
    Emit(Box<ImageSpec>),
    /// `--audit`: the text report (`list`, the default), `json` or `dot`; with `--diff`,
    /// the old audit to compare with.
    Audit(Format, Option<Box<OldAudit>>),
    /// `--diff-images OLD.tar NEW.tar`: text (`list`) or `json`.
    DiffImages {
        old: PathBuf,
        new: PathBuf,
        format: Format,
    },
}

/// `--diff OLD.json`, read and checked.
#[derive(Debug)]
pub(crate) struct OldAudit {
    pub(crate) path: PathBuf,
    pub(crate) snapshot: depclose_audit::diff::Snapshot,
}

/// Where an image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageOutput {
    File(PathBuf),
    Stdout,
}

/// Everything about an image besides the closures.
#[derive(Debug)]
pub(crate) struct ImageSpec {
    pub(crate) image: Option<ImageOutput>,
    pub(crate) rootfs: Option<PathBuf>,
    pub(crate) additions: Vec<AddSpec>,
    pub(crate) cmd: Vec<String>,
    /// `--env`, in order; a later key replaces an earlier one.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) workdir: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) tag: Option<String>,
    /// Add `/etc/passwd`, `/etc/group` and `/tmp`.
    pub(crate) defaults: bool,
    pub(crate) keep_setuid: bool,
    /// Every timestamp in the image.
    pub(crate) epoch: u64,
    /// `--format` given with an image: the report to print once it is written.
    pub(crate) report: Option<Format>,
    /// `--push REF`: where the image goes once it is written.
    pub(crate) push: Option<PushSpec>,
    /// Package metadata for scanners (not `--no-package-metadata`).
    pub(crate) package_metadata: bool,
    /// `--sbom`.
    pub(crate) sbom: Option<SbomSpec>,
}

/// `--push REF`, checked.
#[derive(Debug)]
pub(crate) struct PushSpec {
    pub(crate) reference: String,
    /// `--insecure-registry`: plain HTTP, to a loopback registry only.
    pub(crate) insecure: bool,
    /// The Docker config file credentials are read from.
    pub(crate) docker_config: Option<PathBuf>,
}

/// Where the SBOM goes, and in which format.
#[derive(Debug)]
pub(crate) struct SbomSpec {
    pub(crate) output: ImageOutput,
    pub(crate) format: depclose_audit::sbom::Format,
}

impl ImageSpec {
    /// The directories outputs are created in: where temporary files may be left by an
    /// interrupted write.
    pub(crate) fn output_dirs(&self) -> Vec<PathBuf> {
        let file = |o: &ImageOutput| match o {
            ImageOutput::File(p) => Some(output_dir(p)),
            ImageOutput::Stdout => None,
        };
        let image = self.image.as_ref().and_then(file);
        let sbom = self.sbom.as_ref().and_then(|s| file(&s.output));
        self.rootfs
            .as_deref()
            .map(output_dir)
            .into_iter()
            .chain(image)
            .chain(sbom)
            .collect()
    }

    /// Refuse an output that is one of `inputs` (host paths: the targets, the `--add`
    /// sources, a sysroot) or lies inside an input directory, before any work: writing it
    /// would replace what the run reads. Compared by device and inode, so no spelling of a
    /// path (symlinks, `..`, bind mounts of one filesystem) gets past it.
    pub(crate) fn check_outputs_are_not_inputs(&self, inputs: &[PathBuf]) -> Result<(), Error> {
        use std::os::unix::fs::MetadataExt;
        let id = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| ((m.dev(), m.ino()), m.is_dir()))
        };
        let inputs: Vec<(&PathBuf, (u64, u64), bool)> = inputs
            .iter()
            .filter_map(|p| id(p).map(|(ino, dir)| (p, ino, dir)))
            .collect();
        fn file(o: &ImageOutput) -> Option<&PathBuf> {
            match o {
                ImageOutput::File(p) => Some(p),
                ImageOutput::Stdout => None,
            }
        }
        let outputs = [
            ("--emit", self.image.as_ref().and_then(file)),
            ("--sbom", self.sbom.as_ref().and_then(|s| file(&s.output))),
            ("--emit-rootfs", self.rootfs.as_ref()),
        ];
        for (flag, path) in outputs {
            let Some(path) = path else { continue };
            let clash = |what, input: &PathBuf| Error::OutputIsInput {
                flag,
                path: path.clone(),
                what,
                input: input.clone(),
            };
            if let Some((ino, _)) = id(path) {
                if let Some((input, ..)) = inputs.iter().find(|i| i.1 == ino) {
                    return Err(clash("is the input", input));
                }
            }
            let Ok(dir) = output_dir(path).canonicalize() else {
                continue;
            };
            for ancestor in dir.ancestors() {
                let Some((ino, _)) = id(ancestor) else {
                    continue;
                };
                if let Some((input, ..)) = inputs.iter().find(|i| i.2 && i.1 == ino) {
                    return Err(clash("is inside the input directory", input));
                }
            }
        }
        Ok(())
    }

    /// Where the staged tree is checked: beside the first output, so hard links work.
    pub(crate) fn scratch_dir(&self) -> Option<PathBuf> {
        self.output_dirs().into_iter().next()
    }
}

/// One `--add SRC[:DEST]`, as written.
#[derive(Debug, Clone)]
pub(crate) struct AddSpec {
    pub(crate) src: PathBuf,
    /// Where it goes; by default the real path of SRC.
    pub(crate) dest: Option<PathBuf>,
}

impl AddSpec {
    fn parse(spec: &OsStr) -> AddSpec {
        // SRC may itself hold `:`; a DEST is what follows the last `:`, and must be absolute.
        // Split as bytes: neither need be UTF-8.
        let bytes = spec.as_bytes();
        let (src, dest) = match bytes.iter().rposition(|&b| b == b':') {
            Some(at) if bytes.get(at + 1) == Some(&b'/') && at > 0 => (
                &bytes[..at],
                Some(PathBuf::from(OsStr::from_bytes(&bytes[at + 1..]))),
            ),
            _ => (bytes, None),
        };
        AddSpec {
            src: PathBuf::from(OsStr::from_bytes(src)),
            dest,
        }
    }
}

impl Config {
    pub(crate) fn new(args: Args, env: Environment) -> Result<Config, Error> {
        let host_cwd = env.cwd.map_err(|source| Error::Io {
            path: PathBuf::from("current directory"),
            source,
        })?;
        let emitting = args.emit.is_some() || args.emit_rootfs.is_some() || args.push.is_some();
        if args.insecure_registry && args.push.is_none() {
            return Err(Error::option(
                "--insecure-registry",
                "applies to a registry: add --push REF",
            ));
        }
        if !emitting {
            let image_only = [
                ("--add", !args.add.is_empty()),
                ("--cmd", !args.cmd.is_empty()),
                ("--env", !args.env.is_empty()),
                ("--workdir", args.workdir.is_some()),
                ("--user", args.user.is_some()),
                ("--label", !args.label.is_empty()),
                ("--tag", args.tag.is_some()),
                ("--no-defaults", args.no_defaults),
                ("--keep-setuid", args.keep_setuid),
                ("--no-package-metadata", args.no_package_metadata),
                ("--sbom", args.sbom.is_some()),
                ("--sbom-format", args.sbom_format.is_some()),
            ];
            if let Some((flag, _)) = image_only.iter().find(|(_, given)| *given) {
                return Err(Error::WithoutImage { flag });
            }
        } else if args.why.is_some() {
            return Err(Error::WhyWithImage);
        }
        if args.audit {
            let clash = [
                ("--emit or --emit-rootfs", emitting),
                ("--why", args.why.is_some()),
                ("--format tree", args.format == Some(Format::Tree)),
            ];
            if let Some((flag, _)) = clash.iter().find(|(_, given)| *given) {
                return Err(Error::option(
                    format!("--audit with {flag}"),
                    "the audit is a report of its own: text, or --format json",
                ));
            }
        }
        for (flag, given) in [
            ("--require", !args.require.is_empty()),
            ("--diff", args.diff.is_some()),
        ] {
            if given && !args.audit {
                return Err(Error::option(flag, "it is part of the audit: add --audit"));
            }
        }
        if args.diff.is_some() && args.format == Some(Format::Dot) {
            return Err(Error::option(
                "--diff with --format dot",
                "a diff is text or --format json",
            ));
        }
        let old_audit = args
            .diff
            .as_ref()
            .map(|p| old_audit(&host_cwd.join(p)))
            .transpose()?;
        let require = args
            .require
            .iter()
            .flat_map(|r| r.split(','))
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|w| {
                depclose_audit::Rule::parse(w)
                    .map_err(|e| Error::option(format!("--require {w}"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let recipes = recipe_options(&args)?;
        let trace = trace_spec(&args, &host_cwd)?;
        let action = if emitting {
            let mut spec = image_spec(&args, env.source_date_epoch, env.docker_config)?;
            // The image does what the trace saw, unless told otherwise.
            if let (true, Some(t)) = (spec.cmd.is_empty(), &trace) {
                spec.cmd = t.command().iter().skip(1).cloned().collect();
            }
            Action::Emit(Box::new(spec))
        } else if let [old, new] = args.diff_images.as_slice() {
            let format = args.format.unwrap_or(Format::List);
            if !matches!(format, Format::List | Format::Json) {
                return Err(Error::option(
                    "--diff-images",
                    "the image diff is text, or --format json",
                ));
            }
            Action::DiffImages {
                old: old.clone(),
                new: new.clone(),
                format,
            }
        } else if args.audit {
            Action::Audit(args.format.unwrap_or(Format::List), old_audit)
        } else if let Some(why) = &args.why {
            Action::Why(name::from_os(why).into_owned())
        } else {
            Action::Print(args.format.unwrap_or(Format::List))
        };
        let hwcaps = match &args.hwcaps {
            Some(h) => hwcaps_choice(h)?,
            // An image may run on another CPU of the architecture: by default it gets the
            // baseline libraries, never only a glibc-hwcaps variant.
            None if emitting => HwcapsChoice::None,
            None => HwcapsChoice::Host,
        };
        Ok(Config {
            root: args.root.unwrap_or_else(|| PathBuf::from("/")),
            targets: args.targets,
            host_cwd,
            host_path: env.path,
            // `.` components would show in every path built from the cwd.
            cwd: args.cwd.map(|c| {
                c.components()
                    .filter(|c| !matches!(c, Component::CurDir))
                    .collect()
            }),
            // glibc ignores an empty LD_LIBRARY_PATH altogether.
            library_path: args
                .library_path
                .as_deref()
                .filter(|l| !l.is_empty())
                .map(|l| name::from_os(l).into_owned()),
            // As LD_PRELOAD: names separated by blanks or colons.
            preload: args
                .preload
                .iter()
                .flat_map(|p| {
                    name::from_os(p)
                        .split([' ', ':'])
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect(),
            hwcaps,
            platform: args.platform,
            cache: match args.cache {
                CacheArg::Auto => CacheMode::Auto,
                CacheArg::Conf => CacheMode::Conf,
                CacheArg::None => CacheMode::None,
            },
            allow_missing: args.allow_missing,
            // An image's program is compared with what it loads at run time.
            runtime: args.runtime || emitting || !args.diff_images.is_empty(),
            recipes,
            action,
            trace,
            require,
        })
    }

    pub(crate) fn image(&self) -> Option<&ImageSpec> {
        match &self.action {
            Action::Emit(spec) => Some(spec),
            _ => None,
        }
    }

    /// The resolver's options for a root (`host`: the root is `/`).
    pub(crate) fn resolve_options(&self, host: bool) -> ResolveOptions {
        let cwd = match (&self.cwd, self.image()) {
            (Some(c), _) => c.clone(),
            // An image's program starts in its working directory.
            (None, Some(image)) => PathBuf::from(image.workdir.as_deref().unwrap_or("/")),
            (None, None) if host => self.host_cwd.clone(),
            (None, None) => PathBuf::from("/"),
        };
        ResolveOptions {
            library_path: self.library_path.clone(),
            preload: self.preload.clone(),
            facts: FactsOptions {
                hwcaps: self.hwcaps.clone(),
                platform: self.platform.clone(),
            },
            cwd,
            cache: self.cache,
        }
    }

    /// The `PATH` command names are looked up in: only the host's own describes where its
    /// commands are; a sysroot gets the default.
    pub(crate) fn command_path(&self, host: bool) -> &str {
        match &self.host_path {
            Some(p) if host => p,
            _ => depclose_resolve::DEFAULT_PATH,
        }
    }
}

/// The trace options, checked: `--trace` runs the command after `--` and takes no other
/// target; `--trace-load` reads its file now and takes neither; the options of a run need
/// `--trace`.
fn trace_spec(args: &Args, cwd: &Path) -> Result<Option<TraceSpec>, Error> {
    let run_only = [
        ("--trace-files", args.trace_files),
        ("--trace-timeout", args.trace_timeout.is_some()),
        ("--trace-strict", args.trace_strict),
        ("--trace-save", args.trace_save.is_some()),
        ("-- CMD", !args.command.is_empty()),
    ];
    if !args.trace {
        if let Some((flag, _)) = run_only.iter().find(|(_, given)| *given) {
            return Err(Error::WithoutTrace { flag });
        }
    }
    if (args.trace || args.trace_load.is_some()) && !args.targets.is_empty() {
        return Err(Error::option(
            format!(
                "{} {}",
                if args.trace {
                    "--trace"
                } else {
                    "--trace-load"
                },
                name::from_os(&args.targets[0])
            ),
            "a trace has its own program: name the command after --, and no other target",
        ));
    }
    if let Some(path) = &args.trace_load {
        let text = std::fs::read_to_string(cwd.join(path)).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let trace = depclose_trace::Trace::from_json(&text).map_err(|source| Error::TraceFile {
            path: path.clone(),
            source,
        })?;
        return Ok(Some(TraceSpec {
            source: TraceSource::Load(trace),
            save: None,
        }));
    }
    if !args.trace {
        return Ok(None);
    }
    if args.command.is_empty() {
        return Err(Error::option("--trace", "name the command to run after --"));
    }
    let secs = args.trace_timeout.unwrap_or(TRACE_TIMEOUT_SECS);
    if secs == 0 {
        return Err(Error::option(
            "--trace-timeout 0",
            "must be at least 1 second",
        ));
    }
    if let Some(save) = &args.trace_save {
        let dir = output_dir(save);
        if !dir.is_dir() {
            return Err(Error::NoOutputDir {
                flag: "--trace-save",
                path: save.clone(),
                dir,
            });
        }
    }
    Ok(Some(TraceSpec {
        source: TraceSource::Run {
            command: args.command.clone(),
            timeout: std::time::Duration::from_secs(secs),
            files: args.trace_files,
            strict: args.trace_strict,
        },
        save: args.trace_save.clone(),
    }))
}

/// `--no-recipe` names known recipes; `--gconv` names at least one character set.
fn recipe_options(args: &Args) -> Result<depclose_runtime::Options, Error> {
    let mut options = depclose_runtime::Options::default();
    for name in &args.no_recipe {
        if depclose_runtime::recipe(name).is_none() {
            let known: Vec<&str> = depclose_runtime::RECIPES.iter().map(|r| r.name()).collect();
            return Err(Error::option(
                format!("--no-recipe {name}"),
                format!("no such recipe (the recipes: {})", known.join(", ")),
            ));
        }
        options.disabled.insert(name.clone());
    }
    if args.no_recipes {
        // What the user asks for by name (--dlopen, --with) still comes.
        options.disabled.extend(
            depclose_runtime::RECIPES
                .iter()
                .filter(|r| !r.on_request())
                .map(|r| r.name().to_owned()),
        );
    }
    if let Some(list) = &args.gconv {
        let charsets: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        if charsets.is_empty() {
            return Err(Error::option(
                format!("--gconv {list}"),
                "expected character set names",
            ));
        }
        options.gconv = Some(charsets);
    }
    if let Some(list) = &args.with {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let data = depclose_runtime::Data::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = depclose_runtime::Data::ALL
                    .iter()
                    .map(|(n, _)| *n)
                    .collect();
                Error::option(
                    format!("--with {name}"),
                    format!("unknown data (known: {})", known.join(", ")),
                )
            })?;
            options.with.insert(data);
        }
    }
    options.python_packages = args.python_packages;
    options.no_ca_certificates = args.no_ca_certificates;
    options.dlopen = args
        .dlopen
        .iter()
        .map(|d| name::from_os(d).into_owned())
        .collect();
    Ok(options)
}

fn hwcaps_choice(s: &str) -> Result<HwcapsChoice, Error> {
    Ok(match s {
        "host" => HwcapsChoice::Host,
        "none" => HwcapsChoice::None,
        names => {
            let list: Vec<String> = names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if list.is_empty() || list.iter().any(|n| n.contains('/')) {
                return Err(Error::option(
                    format!("--hwcaps {s}"),
                    "expected host, none or subdirectory names",
                ));
            }
            HwcapsChoice::Names(list)
        }
    })
}

/// Check the image flags: what would fail only after the work (a relative working directory,
/// which runtimes reject; an output whose directory does not exist; an image path that is a
/// directory; a bad Env entry, label, tag or `SOURCE_DATE_EPOCH`) fails here.
fn image_spec(
    args: &Args,
    source_date_epoch: Option<String>,
    docker_config: Option<PathBuf>,
) -> Result<ImageSpec, Error> {
    if let Some(w) = args.workdir.as_deref().filter(|w| !w.starts_with('/')) {
        return Err(Error::option(
            format!("--workdir {w}"),
            "must be an absolute path in the image",
        ));
    }
    let image = args.emit.as_ref().map(|p| {
        if p.as_os_str() == "-" {
            ImageOutput::Stdout
        } else {
            ImageOutput::File(p.clone())
        }
    });
    let outputs = [
        (
            "--emit",
            match &image {
                Some(ImageOutput::File(p)) => Some(p),
                _ => None,
            },
        ),
        ("--emit-rootfs", args.emit_rootfs.as_ref()),
    ];
    for (flag, out) in outputs {
        let Some(out) = out else { continue };
        let dir = output_dir(out);
        if !dir.is_dir() {
            return Err(Error::NoOutputDir {
                flag,
                path: out.clone(),
                dir,
            });
        }
        if flag == "--emit" && out.is_dir() {
            return Err(Error::ImageIsDir { path: out.clone() });
        }
    }
    let key_value = |flag: &str, kv: &str| {
        kv.split_once('=')
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .ok_or_else(|| Error::option(format!("{flag} {kv}"), "expected KEY=VALUE"))
    };
    let env = args
        .env
        .iter()
        .map(|kv| key_value("--env", kv))
        .collect::<Result<_, _>>()?;
    let labels = args
        .label
        .iter()
        .map(|kv| key_value("--label", kv))
        .collect::<Result<_, _>>()?;
    if let Some(tag) = &args.tag {
        depclose_pack::check_reference(tag)?;
    }
    let push = match &args.push {
        Some(reference) => {
            if image == Some(ImageOutput::Stdout) {
                return Err(Error::option(
                    "--push with --emit -",
                    "stdout carries the image; push a file (--emit FILE) or let --push write its own",
                ));
            }
            depclose_pack::check_push(reference, args.insecure_registry)?;
            Some(PushSpec {
                reference: reference.clone(),
                insecure: args.insecure_registry,
                docker_config,
            })
        }
        None => None,
    };
    let epoch = match source_date_epoch {
        Some(v) => v.trim().parse().map_err(|_| {
            Error::option(format!("SOURCE_DATE_EPOCH={v}"), "not a number of seconds")
        })?,
        None => depclose_pack::DEFAULT_EPOCH,
    };
    if args.format.is_some() && image == Some(ImageOutput::Stdout) {
        return Err(Error::option(
            "--format with --emit -",
            "stdout carries the image; write it to a file to have the report",
        ));
    }
    let sbom = sbom_spec(args, image.as_ref())?;
    Ok(ImageSpec {
        package_metadata: !args.no_package_metadata,
        sbom,
        report: args.format,
        image,
        rootfs: args.emit_rootfs.clone(),
        additions: args.add.iter().map(|s| AddSpec::parse(s)).collect(),
        cmd: args.cmd.clone(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        labels,
        // The image is named as it is pushed, unless told otherwise.
        tag: args.tag.clone().or_else(|| args.push.clone()),
        defaults: !args.no_defaults,
        keep_setuid: args.keep_setuid,
        epoch,
        push,
    })
}

/// `--sbom FILE` and `--sbom-format`, checked: the SBOM names the image by its manifest
/// digest, so it needs an image file; `-` only while nothing else is on stdout.
fn sbom_spec(args: &Args, image: Option<&ImageOutput>) -> Result<Option<SbomSpec>, Error> {
    let Some(path) = &args.sbom else {
        if args.sbom_format.is_some() {
            return Err(Error::option("--sbom-format", "needs --sbom FILE"));
        }
        return Ok(None);
    };
    let Some(image) = image else {
        return Err(Error::option(
            "--sbom",
            "the SBOM names the image by its manifest digest: add --emit FILE",
        ));
    };
    let output = if path.as_os_str() == "-" {
        let clash = [
            ("--emit -", *image == ImageOutput::Stdout),
            ("--format", args.format.is_some()),
        ];
        if let Some((flag, _)) = clash.iter().find(|(_, given)| *given) {
            return Err(Error::option(
                format!("--sbom - with {flag}"),
                "stdout carries that already; write the SBOM to a file",
            ));
        }
        ImageOutput::Stdout
    } else {
        let dir = output_dir(path);
        if !dir.is_dir() {
            return Err(Error::NoOutputDir {
                flag: "--sbom",
                path: path.clone(),
                dir,
            });
        }
        if path.is_dir() {
            return Err(Error::option(
                format!("--sbom {}", path.display()),
                "is a directory (name the SBOM file)",
            ));
        }
        if *image == ImageOutput::File(path.clone()) {
            return Err(Error::option(
                format!("--sbom {}", path.display()),
                "is the image file too",
            ));
        }
        ImageOutput::File(path.clone())
    };
    Ok(Some(SbomSpec {
        output,
        format: match args.sbom_format.unwrap_or(SbomFormat::Spdx) {
            SbomFormat::Spdx => depclose_audit::sbom::Format::Spdx,
            SbomFormat::Cyclonedx => depclose_audit::sbom::Format::CycloneDx,
        },
    }))
}

/// The directory an output file or directory is created in.
pub(crate) fn output_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
