//! The `--audit` text report: per target a summary first (size, packages, the oldest glibc,
//! what one object does to the whole process, the findings), then a line per object.

use std::io::{self, Write};

use depclose_audit::{ObjectAudit, TargetAudit};
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
            c.target.display(),
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
                let severity = format!("{:?}", f.severity).to_uppercase();
                writeln!(
                    out,
                    "    {severity:<6} {}: {} ({})",
                    f.object, f.message, f.code
                )?;
            }
        }
        writeln!(out, "  packages:")?;
        for p in &s.packages {
            let files = if p.files == 1 { "file" } else { "files" };
            writeln!(
                out,
                "    {} {} ({} {files}, {})",
                p.name,
                p.version,
                p.files,
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
