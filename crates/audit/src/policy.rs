//! The policy gate (`--require`): rules an audited closure must meet, and what breaks them.

use serde::Serialize;

use crate::{ObjectAudit, TargetAudit};

/// One rule of `--require`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The target is a position-independent executable (a shared object target passes).
    Pie,
    /// Every object has RELRO, at least partial, or full.
    Relro { full: bool },
    /// Every object binds at load time.
    BindNow,
    /// Every object has a non-executable stack.
    Nx,
    /// The target uses the stack protector.
    Canary,
    /// The target calls fortified functions where it calls fortifiable ones.
    Fortify,
    /// Every object is built for CET (IBT and shadow stacks), where the machine has it.
    Cet,
    /// No object has text relocations.
    NoTextrel,
    /// No object has a writable and executable segment.
    NoRwx,
    /// No risky RPATH or RUNPATH entry.
    NoRpathRisk,
    /// Nothing unresolved.
    NoUnresolved,
    /// No unused `DT_NEEDED`.
    NoUnused,
    /// Every object comes from a package.
    Packaged,
    /// The closure runs on this glibc (`min_glibc` is not newer).
    MaxGlibc(Vec<u64>, String),
}

/// The rules `--require` knows, for messages.
pub const RULES: &str = "pie, relro, relro=full, bind-now, nx, canary, fortify, cet, no-textrel, no-rwx, no-rpath-risk, no-unresolved, no-unused, packaged, max-glibc=X.Y";

impl Rule {
    /// One comma-separated word of `--require`.
    pub fn parse(word: &str) -> Result<Rule, String> {
        Ok(match word {
            "pie" => Rule::Pie,
            "relro" | "relro=partial" => Rule::Relro { full: false },
            "relro=full" => Rule::Relro { full: true },
            "bind-now" => Rule::BindNow,
            "nx" => Rule::Nx,
            "canary" => Rule::Canary,
            "fortify" => Rule::Fortify,
            "cet" => Rule::Cet,
            "no-textrel" => Rule::NoTextrel,
            "no-rwx" => Rule::NoRwx,
            "no-rpath-risk" => Rule::NoRpathRisk,
            "no-unresolved" => Rule::NoUnresolved,
            "no-unused" => Rule::NoUnused,
            "packaged" => Rule::Packaged,
            other => match other.strip_prefix("max-glibc=") {
                Some(v) => {
                    let parts: Option<Vec<u64>> = v.split('.').map(|p| p.parse().ok()).collect();
                    match parts {
                        Some(p) if !p.is_empty() => Rule::MaxGlibc(p, v.to_owned()),
                        _ => return Err(format!("max-glibc={v}: expected a version such as 2.31")),
                    }
                }
                None => return Err(format!("{other}: no such rule (the rules: {RULES})")),
            },
        })
    }

    /// Its name as `--require` spells it.
    fn name(&self) -> String {
        match self {
            Rule::Pie => "pie".into(),
            Rule::Relro { full: false } => "relro".into(),
            Rule::Relro { full: true } => "relro=full".into(),
            Rule::BindNow => "bind-now".into(),
            Rule::Nx => "nx".into(),
            Rule::Canary => "canary".into(),
            Rule::Fortify => "fortify".into(),
            Rule::Cet => "cet".into(),
            Rule::NoTextrel => "no-textrel".into(),
            Rule::NoRwx => "no-rwx".into(),
            Rule::NoRpathRisk => "no-rpath-risk".into(),
            Rule::NoUnresolved => "no-unresolved".into(),
            Rule::NoUnused => "no-unused".into(),
            Rule::Packaged => "packaged".into(),
            Rule::MaxGlibc(_, v) => format!("max-glibc={v}"),
        }
    }

    /// What about object `a` (the target's own when `target`) breaks this rule, if anything.
    fn broken_by(&self, a: &ObjectAudit, target: bool) -> Option<String> {
        let h = a.hardening.as_ref();
        let says = |bad: bool, what: &str| bad.then(|| what.to_owned());
        match self {
            Rule::Pie => says(target && h.is_some_and(|h| h.pie == "no"), "not a PIE"),
            Rule::Relro { full } => h.and_then(|h| match (h.relro, full) {
                ("none", _) => Some("no RELRO".to_owned()),
                ("partial", true) => Some("partial RELRO".to_owned()),
                _ => None,
            }),
            Rule::BindNow => says(h.is_some_and(|h| !h.bind_now), "lazy binding"),
            Rule::Nx => says(h.is_some_and(|h| !h.nx), "an executable stack"),
            Rule::Canary => says(target && h.is_some_and(|h| !h.canary), "no stack protector"),
            Rule::Fortify => says(
                target && h.is_some_and(|h| h.fortified == 0 && h.fortifiable > 0),
                "no fortified call",
            ),
            Rule::Cet => says(
                h.is_some_and(|h| h.ibt == Some(false) || h.shstk == Some(false)),
                "not built for CET",
            ),
            Rule::NoTextrel => says(h.is_some_and(|h| h.textrel), "text relocations"),
            Rule::NoRwx => says(
                h.is_some_and(|h| h.rwx_segment),
                "a writable and executable segment",
            ),
            Rule::NoRpathRisk => a
                .rpath_risks
                .first()
                .map(|r| format!("{} entry {:?}: {}", r.tag, r.entry, r.code)),
            Rule::NoUnresolved => a.unresolved.first().map(|u| format!("unresolved {u}")),
            Rule::NoUnused => a.unused_needed.first().map(|n| format!("unused {n}")),
            Rule::Packaged => says(a.package.is_none(), "no package ships it"),
            Rule::MaxGlibc(..) => None,
        }
    }
}

/// A broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// As `--require` spells it.
    pub rule: String,
    /// The object's path, or the target for a closure-wide rule.
    pub object: String,
    pub message: String,
}

/// What of `audit` (of the closure whose object paths are `paths`, the target first, and
/// whose target is `target`) breaks `rules`.
pub fn check(rules: &[Rule], target: &str, paths: &[&str], audit: &TargetAudit) -> Vec<Violation> {
    let mut out = Vec::new();
    for rule in rules {
        if let Rule::MaxGlibc(max, v) = rule {
            let needed = audit.summary.min_glibc.as_deref().unwrap_or("0");
            let parts: Vec<u64> = needed.split('.').filter_map(|p| p.parse().ok()).collect();
            if parts > *max {
                out.push(Violation {
                    rule: rule.name(),
                    object: target.to_owned(),
                    message: format!("needs glibc {needed}, newer than {v}"),
                });
            }
            continue;
        }
        for (i, (path, a)) in paths.iter().zip(&audit.objects).enumerate() {
            if let Some(message) = rule.broken_by(a, i == 0) {
                out.push(Violation {
                    rule: rule.name(),
                    object: (*path).to_owned(),
                    message,
                });
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_name_themselves() {
        for word in RULES.split(", ") {
            let word = word.replace("X.Y", "2.31");
            assert_eq!(Rule::parse(&word).unwrap().name(), word, "{word}");
        }
        assert!(Rule::parse("pies").unwrap_err().contains("no such rule"));
        assert!(
            Rule::parse("max-glibc=two")
                .unwrap_err()
                .contains("expected a version")
        );
        assert_eq!(
            Rule::parse("max-glibc=2.31").unwrap(),
            Rule::MaxGlibc(vec![2, 31], "2.31".into())
        );
    }
}
