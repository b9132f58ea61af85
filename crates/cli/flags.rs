//! Command-line flags (clap); `config.rs` checks them into one `Config`. Paths and the
//! loader's names are taken as the bytes they are (`OsString`, `PathBuf`): a file name need
//! not be UTF-8.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The exit codes, for `--help` and the manual page.
const EXIT_CODES: &str = "\
Exit codes:
  0  the closure is complete
  1  incomplete: a library is missing (--allow-missing: 0), or the loader would stop
  2  usage or input error
  3  --trace-strict: the traced command failed
  4  --audit --require: a rule is broken
  5  --audit --diff: something got worse since the old audit
  128+N  interrupted by signal N while writing an image

Documentation: README.md and docs/ (the JSON report: docs/json.md).";

/// Compute the exact set of files glibc's loader opens for a program — without running
/// it — and list it, explain it, or pack it as a minimal container image.
#[derive(Debug, Parser)]
#[command(
    name = "depclose",
    version,
    about,
    max_term_width = 100,
    after_long_help = EXIT_CODES
)]
pub(crate) struct Args {
    /// Programs to analyse: paths, command names looked up in PATH inside the root,
    /// #! scripts (their interpreter joins), or directories (every ELF file inside).
    #[arg(
        value_name = "TARGET",
        required_unless_present_any = ["trace", "trace_load", "completions", "man", "diff_images"]
    )]
    pub(crate) targets: Vec<OsString>,

    /// With --trace: the command to run, after `--`.
    #[arg(last = true, value_name = "CMD ARGS")]
    pub(crate) command: Vec<String>,

    /// Analyse this directory as the root filesystem instead of /.
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,

    /// Output format (default: list). With --emit or --emit-rootfs, the report of what the
    /// image holds and why, on stdout.
    #[arg(long, short = 'f', value_enum)]
    pub(crate) format: Option<Format>,

    /// Search these directories as LD_LIBRARY_PATH would (depclose does not read its own
    /// environment's LD_LIBRARY_PATH).
    #[arg(long, value_name = "PATH")]
    pub(crate) library_path: Option<OsString>,

    /// Preload these libraries, as LD_PRELOAD would (repeatable; names separated by blanks
    /// or colons).
    #[arg(long, value_name = "NAME")]
    pub(crate) preload: Vec<OsString>,

    /// glibc-hwcaps subdirectories to search: `host` (this CPU's, so listings equal
    /// ldd's), `none` (baseline only, portable), or a comma-separated list of names.
    /// Default: `host` for listings, `none` for images (which may run on another CPU).
    #[arg(long, value_name = "host|none|NAMES")]
    pub(crate) hwcaps: Option<String>,

    /// The value of $PLATFORM (default: what the loader would use on this machine).
    #[arg(long, value_name = "NAME")]
    pub(crate) platform: Option<String>,

    /// Which source stands in for ld.so.cache: the root's cache (else its ld.so.conf
    /// directories), the ld.so.conf directories, or none.
    #[arg(long, value_enum, default_value_t = CacheArg::Auto)]
    pub(crate) cache: CacheArg,

    /// The program's working directory inside the root, for relative RPATH elements and
    /// names (default: the current directory for /, else /; for images, --workdir or /).
    #[arg(long, value_name = "DIR")]
    pub(crate) cwd: Option<PathBuf>,

    /// Exit 0 even when a library is missing (it is still reported).
    #[arg(long)]
    pub(crate) allow_missing: bool,

    /// Show how NAME (a soname or path) was reached and how the loader searched for it.
    #[arg(long, value_name = "NAME")]
    pub(crate) why: Option<OsString>,

    /// Also list what programs load and read at run time, as the recipes know it (libgcc_s,
    /// NSS and gconv modules, OpenSSL's configuration, providers and CA store, Python's and
    /// Perl's libraries); images always get it.
    #[arg(long)]
    pub(crate) runtime: bool,

    /// Do not run this recipe (repeatable): libgcc_s, nss, gconv, openssl, gnutls, python,
    /// perl, apache, nginx, dlopen-notes, dlopen-option, dlopen-strings, data.
    #[arg(long, value_name = "NAME", help_heading = "Run time")]
    pub(crate) no_recipe: Vec<String>,

    /// Run no recipe of its own accord: only what the loader itself opens, and what --dlopen
    /// and --with name.
    #[arg(long, help_heading = "Run time")]
    pub(crate) no_recipes: bool,

    /// Only the gconv modules for these character sets (comma-separated, e.g.
    /// ISO-8859-1,IBM037), not all of them.
    #[arg(long, value_name = "CHARSET,...", help_heading = "Run time")]
    pub(crate) gconv: Option<String>,

    /// Load NAME as dlopen from the program would (its RPATH, LD_LIBRARY_PATH, RUNPATH, the
    /// cache, the system directories), with its closure (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Run time")]
    pub(crate) dlopen: Vec<OsString>,

    /// Also add data the program may read: tzdata (the time zone database, for TZ=Area/City),
    /// locales (glibc's locale-archive, else C.utf8); comma-separated.
    #[arg(long, value_name = "DATA,...", help_heading = "Run time")]
    pub(crate) with: Option<String>,

    /// Python: also the distribution's dist-packages (with their extension modules).
    #[arg(long, help_heading = "Run time")]
    pub(crate) python_packages: bool,

    /// Leave out the CA certificate store that OpenSSL's and GnuTLS's defaults point at.
    #[arg(long, help_heading = "Run time")]
    pub(crate) no_ca_certificates: bool,

    /// Audit what each target pulls in: the package and licence of every object, its
    /// hardening, search-path risks, unused dependencies, unresolved symbols and the library
    /// versions it needs (docs/audit.md). A text report, or with -f json an `audit` in the
    /// report. Reads files only.
    #[arg(long, help_heading = "Audit")]
    pub(crate) audit: bool,

    /// With --audit: rules every target must meet, comma-separated (repeatable): pie, relro,
    /// relro=full, bind-now, nx, canary, fortify, cet, no-textrel, no-rwx, no-rpath-risk,
    /// no-unresolved, no-unused, packaged, max-glibc=X.Y. A broken one is reported and
    /// exits 4.
    #[arg(long, value_name = "RULE,...", help_heading = "Audit")]
    pub(crate) require: Vec<String>,

    /// With --audit: what changed since OLD, the report of an earlier `--audit -f json`:
    /// objects added and removed, changed files, package versions, a raised oldest glibc,
    /// hardening lost or gained, new and gone findings. Exits 5 when something got worse.
    #[arg(long, value_name = "OLD.json", help_heading = "Audit")]
    pub(crate) diff: Option<PathBuf>,

    /// Compare two image tars (OCI layout or docker-archive): their files, their
    /// configuration, and the audit of each one's program (Entrypoint, else Cmd) inside its
    /// own filesystem, as --audit --diff does. Reads the layers; needs no root. Exits 5 when
    /// the program's audit got worse.
    #[arg(
        long,
        num_args = 2,
        value_names = ["OLD.tar", "NEW.tar"],
        help_heading = "Audit",
        conflicts_with_all = ["targets", "root", "audit", "trace", "trace_load", "why", "emit", "emit_rootfs"]
    )]
    pub(crate) diff_images: Vec<PathBuf>,

    /// Run `-- CMD ARGS...` once, following every process it starts, and add what they
    /// executed and mapped (ELF objects) to the closure of CMD's program. The one mode in
    /// which depclose runs anything. The image's Cmd defaults to ARGS.
    #[arg(long, help_heading = "Trace", conflicts_with = "trace_load")]
    pub(crate) trace: bool,

    /// Also add every file the run opened for reading or mapped, every directory it listed,
    /// and every file or directory it looked up with stat or access (never /proc, /sys,
    /// /dev; not what the run wrote itself, secrets or home directories).
    #[arg(long, help_heading = "Trace")]
    pub(crate) trace_files: bool,

    /// Stop every process of the run after SECS seconds (default 60).
    #[arg(long, value_name = "SECS", help_heading = "Trace")]
    pub(crate) trace_timeout: Option<u64>,

    /// A traced command that fails (non-zero status, a signal, the timeout) is an error
    /// (exit 3), not a warning.
    #[arg(long, help_heading = "Trace")]
    pub(crate) trace_strict: bool,

    /// Write what the run was seen to do to FILE (JSON, docs/trace.md), for --trace-load.
    #[arg(long, value_name = "FILE", help_heading = "Trace")]
    pub(crate) trace_save: Option<PathBuf>,

    /// Use the trace in FILE (written by --trace-save) instead of running anything.
    #[arg(long, value_name = "FILE", help_heading = "Trace")]
    pub(crate) trace_load: Option<PathBuf>,

    /// Write a single-layer image (docker-archive and OCI layout in one tar) to FILE, or to
    /// stdout with `-`.
    #[arg(long, value_name = "FILE", help_heading = "Image")]
    pub(crate) emit: Option<PathBuf>,

    /// Write the image's root filesystem to DIR (which must not exist or be empty).
    #[arg(long, value_name = "DIR", help_heading = "Image")]
    pub(crate) emit_rootfs: Option<PathBuf>,

    /// Add a file or directory (recursively) to the image, at DEST (default: the same
    /// path); ELF files among them are analysed and their closures join (repeatable).
    #[arg(long, value_name = "SRC[:DEST]", help_heading = "Image")]
    pub(crate) add: Vec<OsString>,

    /// Image Cmd: arguments after the entrypoint (repeatable, in order).
    #[arg(
        long,
        value_name = "ARG",
        help_heading = "Image",
        allow_hyphen_values = true
    )]
    pub(crate) cmd: Vec<String>,

    /// Image Env entry KEY=VALUE (repeatable); PATH is set by default.
    #[arg(long, value_name = "KEY=VALUE", help_heading = "Image")]
    pub(crate) env: Vec<String>,

    /// Image working directory.
    #[arg(long, value_name = "DIR", help_heading = "Image")]
    pub(crate) workdir: Option<String>,

    /// Image user (a name from the root's /etc/passwd, UID, or UID:GID).
    #[arg(long, value_name = "USER", help_heading = "Image")]
    pub(crate) user: Option<String>,

    /// Image label KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE", help_heading = "Image")]
    pub(crate) label: Vec<String>,

    /// Image name and tag (default: the first target's file name, `latest`).
    #[arg(long, value_name = "NAME:TAG", help_heading = "Image")]
    pub(crate) tag: Option<String>,

    /// Push the image to a registry as REF (`registry[:port]/repo[:tag]`) over the OCI
    /// distribution API; with --emit FILE, that file is pushed. Credentials come from the
    /// Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). REF is
    /// also the image's tag unless --tag is given.
    #[arg(long, value_name = "REF", help_heading = "Image")]
    pub(crate) push: Option<String>,

    /// With --push: speak plain HTTP to the registry, which must be on a loopback address
    /// (127.0.0.0/8, ::1, localhost).
    #[arg(long, help_heading = "Image")]
    pub(crate) insecure_registry: bool,

    /// Do not add /etc/passwd, /etc/group and /tmp.
    #[arg(long, help_heading = "Image")]
    pub(crate) no_defaults: bool,

    /// Keep setuid and setgid bits (dropped with a warning by default).
    #[arg(long, help_heading = "Image")]
    pub(crate) keep_setuid: bool,

    /// Print a completion script for SHELL on stdout (README.md, Installing, says where it
    /// goes).
    #[arg(long, value_name = "SHELL", help_heading = "Help", exclusive = true)]
    pub(crate) completions: Option<clap_complete::Shell>,

    /// Print the manual page (roff) on stdout.
    #[arg(long, help_heading = "Help", exclusive = true)]
    pub(crate) man: bool,

    /// Leave out what makes the image's packages visible to scanners (syft, grype, trivy):
    /// a dpkg status stanza and md5sums per package under /var/lib/dpkg/status.d, the
    /// packages' copyright files, and os-release (docs/sbom.md).
    #[arg(long, help_heading = "Scanners")]
    pub(crate) no_package_metadata: bool,

    /// Write an SBOM of the image (its packages, every file with its digests, which file
    /// links which) to FILE, or to stdout with `-`; it also goes into the image tar as an
    /// OCI artifact referring to the image. Needs --emit.
    #[arg(long, value_name = "FILE", help_heading = "Scanners")]
    pub(crate) sbom: Option<PathBuf>,

    /// The SBOM's format: SPDX 2.3 or CycloneDX 1.6, both JSON.
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "Scanners")]
    pub(crate) sbom_format: Option<SbomFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SbomFormat {
    /// SPDX 2.3 JSON (the default).
    Spdx,
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One absolute path a line: targets, then every object in load order.
    List,
    /// Who needs whom, and how each object was found.
    Tree,
    /// Machine-readable report (docs/json.md).
    Json,
    /// A Graphviz graph of each closure (`dot -Tsvg`): an edge per DT_NEEDED, dashed for
    /// run-time loads; nodes coloured by how each was found, or with --audit by its worst
    /// finding.
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CacheArg {
    Auto,
    Conf,
    None,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `--no-recipe`'s help names every recipe.
    #[test]
    fn no_recipe_help_names_every_recipe() {
        let command = super::Args::command();
        let help = command
            .get_arguments()
            .find(|a| a.get_id() == "no_recipe")
            .and_then(|a| a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let names = depclose_runtime::RECIPES
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(", ");
        assert!(help.ends_with(&names), "{help}");
    }

    /// `--require`'s help names every rule.
    #[test]
    fn require_help_names_every_rule() {
        let command = super::Args::command();
        let help = command
            .get_arguments()
            .find(|a| a.get_id() == "require")
            .and_then(|a| a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let help: String = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains(depclose_audit::policy::RULES), "{help}");
    }

    /// `--with`'s help names every kind of data.
    #[test]
    fn with_help_names_every_kind_of_data() {
        let command = super::Args::command();
        let help = command
            .get_arguments()
            .find(|a| a.get_id() == "with")
            .and_then(|a| a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        for (name, _) in depclose_runtime::Data::ALL {
            assert!(help.contains(&format!("{name} (")), "{name}: {help}");
        }
    }
}
