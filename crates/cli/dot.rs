//! `--format dot`: each closure as a Graphviz graph, one node per object (its name, package
//! and size), coloured by how it was found — or, with `--audit`, by its worst finding —
//! with an edge for each `DT_NEEDED` and a dashed one for each load at run time.

use std::io::{self, Write};

use depclose_audit::{Severity, TargetAudit};
use depclose_resolve::{Closure, EdgeTarget, How};
use depclose_runtime::{Added, Evidence};

/// A string as a DOT quoted string.
fn quoted(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// The fill colour of how an object was found.
fn how_colour(how: How, by: Option<&Evidence>) -> &'static str {
    match (how, by) {
        (_, Some(Evidence::Traced { .. })) => "orange",
        (_, Some(_)) => "khaki",
        (How::Program, None) => "lightblue",
        (How::Interpreter, None) => "lightgrey",
        (_, None) => "white",
    }
}

/// The fill colour of an object's worst finding.
fn finding_colour(worst: Option<Severity>) -> &'static str {
    match worst {
        Some(Severity::High) => "#f08080",
        Some(Severity::Medium) => "orange",
        Some(Severity::Low) => "#fff3a0",
        Some(Severity::Info) | None => "palegreen",
    }
}

pub(crate) fn write(
    out: &mut impl Write,
    closures: &[Closure],
    added: &[Vec<Added>],
    audits: Option<&[TargetAudit]>,
) -> io::Result<()> {
    writeln!(out, "digraph depclose {{")?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(
        out,
        "  node [shape=box, style=filled, fontname=\"sans-serif\", fontsize=10];"
    )?;
    for (n, (c, added)) in closures.iter().zip(added).enumerate() {
        let audit = audits.and_then(|a| a.get(n));
        let id = |i: usize| format!("t{n}o{i}");
        writeln!(out, "  subgraph cluster_{n} {{")?;
        writeln!(
            out,
            "    label={};",
            quoted(&depclose_elf::name::from_path(&c.target))
        )?;
        for (i, o) in c.objects.iter().enumerate() {
            let name = o.path.rsplit('/').next().unwrap_or(&o.path);
            let package = audit
                .and_then(|a| a.objects.get(i)?.package.as_ref())
                .map(|p| format!("\n{} {}", p.name, p.version))
                .unwrap_or_default();
            let label = format!("{name}{package}\n{:.1} kB", o.size as f64 / 1e3);
            let colour = match audit {
                Some(a) => finding_colour(
                    a.summary
                        .findings
                        .iter()
                        .filter(|f| f.object == o.path)
                        .map(|f| f.severity)
                        .min(),
                ),
                None => how_colour(
                    o.found.how,
                    crate::text::recipe_reason(added, i).map(|r| &r.evidence),
                ),
            };
            writeln!(
                out,
                "    {} [label={}, tooltip={}, fillcolor={}];",
                id(i),
                quoted(&label),
                quoted(&o.path),
                quoted(colour)
            )?;
        }
        for (i, o) in c.objects.iter().enumerate() {
            for e in &o.deps {
                if let EdgeTarget::Object(t) = e.target {
                    writeln!(out, "    {} -> {};", id(i), id(t))?;
                }
            }
            // A load at run time that no `DT_NEEDED` explains: from the object that asked.
            let needed = |l: usize| {
                c.objects[l]
                    .deps
                    .iter()
                    .any(|e| e.target == EdgeTarget::Object(i))
            };
            if let Some(from) = o.loader.filter(|&l| o.runtime && !needed(l)) {
                writeln!(out, "    {} -> {} [style=dashed];", id(from), id(i))?;
            }
        }
        writeln!(out, "  }}")?;
    }
    writeln!(out, "}}")
}
