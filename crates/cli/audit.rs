//! The `--audit` text report: per target a summary first (size, packages, the oldest glibc,
//! what one object does to the whole process, the findings), then a line per object.

use std::io::{self, Write};
use std::path::Path;

use depclose_audit::diff::{Diff, FindingRef, TargetDiff};
use depclose_audit::{ObjectAudit, Severity, TargetAudit};
use depclose_resolve::Closure;

/// Megabytes with one decimal, for sizes a person reads.
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub(crate) fn text(
    out: &mut impl Write,
    closures: &[Closure],
    audits: &[TargetAudit],
) -> io::Result<()> {
    for (n, (c, a)) in closures.iter().zip(audits).enumerate() {
        if n > 0 {
            writeln!(out)?;
        }
        let s = &a.summary;
        writeln!(
            out,
            "{}: {} files, {}, {} packages{}",
            depclose_elf::name::from_path(&c.target),
            s.files,
            mb(s.bytes),
            s.packages.len(),
            match &s.min_glibc {
                Some(v) => format!("; runs on glibc {v} or newer"),
                None => String::new(),
            }
        )?;
        for line in &s.consequences {
            writeln!(out, "  ! {line}")?;
        }
        if s.findings.is_empty() {
            writeln!(out, "  findings: none")?;
        } else {
            writeln!(out, "  findings:")?;
            for f in &s.findings {
                writeln!(
                    out,
                    "    {:<6} {}: {} ({})",
                    severity(f.severity),
                    f.object,
                    f.message,
                    f.code
                )?;
            }
        }
        writeln!(out, "  packages:")?;
        for p in &s.packages {
            writeln!(
                out,
                "    {} {} ({}, {})",
                p.name,
                p.version,
                count(p.files, "file"),
                mb(p.bytes)
            )?;
        }
        if !s.unpackaged.is_empty() {
            writeln!(out, "    (no package) {}", s.unpackaged.join(", "))?;
        }
        writeln!(out, "  objects:")?;
        for (o, oa) in c.objects.iter().zip(&a.objects) {
            writeln!(out, "    {} {}", o.path, object_line(oa))?;
            if let Some(l) = &oa.license {
                writeln!(out, "      licence {l}")?;
            }
        }
    }
    Ok(())
}

/// `--audit --diff`: per target a line that sums the changes up, then each change.
pub(crate) fn diff_text(out: &mut impl Write, old: &Path, d: &Diff) -> io::Result<()> {
    writeln!(out, "compared with {}", old.display())?;
    diff_body(out, d)
}

/// The changes of each target, and the targets that came or went.
pub(crate) fn diff_body(out: &mut impl Write, d: &Diff) -> io::Result<()> {
    for t in &d.targets {
        target_diff(out, t)?;
    }
    for (sign, what, list) in [
        ('+', "target added", &d.targets_added),
        ('-', "target removed", &d.targets_removed),
    ] {
        for t in list {
            writeln!(out, "{sign} {what}: {t}")?;
        }
    }
    Ok(())
}

fn target_diff(out: &mut impl Write, t: &TargetDiff) -> io::Result<()> {
    let was = match &t.old_target {
        Some(o) => format!(" (was {o})"),
        None => String::new(),
    };
    if t.is_empty() {
        return writeln!(out, "{}{was}: no changes", t.target);
    }
    let mut sum = vec![format!(
        "{} added, {} removed, {} changed",
        count(t.objects_added.len(), "object"),
        t.objects_removed.len(),
        t.objects_changed.len()
    )];
    if !t.packages.is_empty() {
        sum.push(format!("{} changed", count(t.packages.len(), "package")));
    }
    if let Some(g) = &t.min_glibc {
        let raised = if g.raised { " (raised)" } else { "" };
        sum.push(format!(
            "oldest glibc {} -> {}{raised}",
            g.old.as_deref().unwrap_or("none"),
            g.new.as_deref().unwrap_or("none")
        ));
    }
    sum.push(match t.regressions() {
        0 => "no regressions".to_owned(),
        n => count(n, "regression"),
    });
    writeln!(out, "{}{was}: {}", t.target, sum.join("; "))?;
    let package = |p: &Option<String>| match p {
        Some(p) => format!(" ({p})"),
        None => " (no package)".to_owned(),
    };
    for o in &t.objects_added {
        writeln!(out, "  + {}{}", o.path, package(&o.package))?;
    }
    for o in &t.objects_removed {
        writeln!(out, "  - {}{}", o.path, package(&o.package))?;
    }
    for c in &t.objects_changed {
        let moved = if c.old.real_path != c.new.real_path {
            format!(", file {} -> {}", c.old.real_path, c.new.real_path)
        } else {
            String::new()
        };
        writeln!(
            out,
            "  ~ {}: sha256 {} -> {}, {} -> {} bytes{moved}",
            c.path,
            short(&c.old.sha256),
            short(&c.new.sha256),
            c.old.size,
            c.new.size
        )?;
    }
    for p in &t.packages {
        match (&p.old, &p.new) {
            (Some(o), Some(n)) => writeln!(out, "  package {} {o} -> {n}", p.name)?,
            (None, Some(n)) => writeln!(out, "  package + {} {n}", p.name)?,
            (Some(o), None) => writeln!(out, "  package - {} {o}", p.name)?,
            (None, None) => {}
        }
    }
    for h in &t.hardening {
        let how = if h.regression { "WORSE" } else { "changed" };
        writeln!(
            out,
            "  {how} {}: {} {} -> {}",
            h.object, h.field, h.old, h.new
        )?;
    }
    for (sign, list) in [('+', &t.findings_new), ('-', &t.findings_gone)] {
        for f in list {
            writeln!(out, "  {sign} {}", finding(f))?;
        }
    }
    for m in &t.missing_new {
        writeln!(out, "  MISSING {} (needed by {})", m.name, m.needed_by)?;
    }
    Ok(())
}

/// `1 object`, `2 objects`.
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A digest's first 12 digits: enough to tell two files apart in a report.
pub(crate) fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

fn finding(f: &FindingRef) -> String {
    format!(
        "{} {}: {} ({})",
        severity(f.severity),
        f.object,
        f.message,
        f.code
    )
}

fn severity(s: Severity) -> String {
    format!("{s:?}").to_uppercase()
}

/// The hardening and package of an object in a few words.
fn object_line(a: &ObjectAudit) -> String {
    let package = a
        .package
        .as_ref()
        .map(|p| format!("{} {}", p.name, p.version))
        .unwrap_or_else(|| "no package".to_owned());
    let Some(h) = &a.hardening else {
        return format!("[{package}; not readable as ELF]");
    };
    let mut words = vec![
        format!("pie={}", h.pie),
        format!("relro={}", h.relro),
        format!("nx={}", yes(h.nx)),
        format!("canary={}", yes(h.canary)),
        format!("fortify={}/{}", h.fortified, h.fortifiable),
    ];
    if let (Some(ibt), Some(shstk)) = (h.ibt, h.shstk) {
        words.push(format!("ibt={} shstk={}", yes(ibt), yes(shstk)));
    }
    if let Some(g) = a.versions_needed.get("GLIBC") {
        words.push(format!("glibc>={g}"));
    }
    format!("[{package}; {}]", words.join(" "))
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
