//! What objects say they `dlopen`: the `.note.dlopen` metadata they carry, the names the user
//! gives with `--dlopen`, and — as notes, never additions — shared-object names found among
//! the strings of objects that import `dlopen`.

use depclose_resolve::Closure;
use serde::Deserialize;

use crate::recipe::{Addition, Context, Recipe, Want};
use crate::{Error, Evidence, Reason};

/// The "ELF dlopen metadata" note (freedesktop.org / UAPI group spec): owner `FDO`, type
/// `0x407c0c0a`, a JSON array of `{soname: [...], feature, description, priority}`.
const NOTE_OWNER: &str = "FDO";
const NOTE_TYPE: u32 = 0x407c_0c0a;

/// One entry of a `.note.dlopen` note.
#[derive(Debug, Deserialize)]
struct DlopenEntry {
    /// Alternatives, most preferred first: the program loads the first it finds.
    soname: Vec<String>,
    #[serde(default)]
    feature: Option<String>,
    /// `required`, `recommended` (the default) or `suggested`.
    #[serde(default)]
    priority: Option<String>,
}

/// Libraries an object's `.note.dlopen` declares.
#[derive(Debug)]
pub(crate) struct Notes;

impl Recipe for Notes {
    fn name(&self) -> &'static str {
        "dlopen-notes"
    }

    fn summary(&self) -> &'static str {
        "objects with a .note.dlopen note (ELF dlopen metadata): the required and recommended libraries it declares are added, the suggested ones named"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let mut out = Vec::new();
        for (i, o) in closure.objects.iter().enumerate() {
            for desc in cx.notes(o, NOTE_OWNER, NOTE_TYPE).iter() {
                // The descriptor is NUL-padded JSON.
                let text = String::from_utf8_lossy(desc);
                let text = text.trim_end_matches('\0');
                let entries: Vec<DlopenEntry> =
                    serde_json::from_str(text).map_err(|e| Error::BadNote {
                        object: o.path.clone(),
                        reason: e.to_string(),
                    })?;
                for entry in entries {
                    let priority = entry.priority.as_deref().unwrap_or("recommended");
                    let reason = Reason {
                        recipe: self.name(),
                        evidence: Evidence::Note {
                            object: o.path.clone(),
                            text: format!(
                                "{} ({priority}{})",
                                entry.soname.join(" or "),
                                entry
                                    .feature
                                    .as_deref()
                                    .map(|f| format!(", feature {f}"))
                                    .unwrap_or_default()
                            ),
                        },
                    };
                    // The first alternative that would be found, else the first.
                    let Some(name) = entry
                        .soname
                        .iter()
                        .find(|n| cx.would_load(closure, i, n))
                        .or(entry.soname.first())
                    else {
                        continue;
                    };
                    let want = match priority {
                        "suggested" => Want::Mention {
                            name: name.clone(),
                            path: cx.load_path(closure, i, name),
                        },
                        _ => Want::Load {
                            from: i,
                            name: name.clone(),
                        },
                    };
                    out.push(Addition { want, reason });
                }
            }
        }
        Ok(out)
    }
}

/// The names the user gives with `--dlopen`, loaded from the program.
#[derive(Debug)]
pub(crate) struct Named;

impl Recipe for Named {
    fn name(&self) -> &'static str {
        "dlopen-option"
    }

    fn summary(&self) -> &'static str {
        "--dlopen NAME: NAME loaded as dlopen from the first target would load it, with its closure"
    }

    fn on_request(&self) -> bool {
        true
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        if cx.options.dlopen_target.as_ref() != Some(&closure.target) {
            return Ok(Vec::new());
        }
        Ok(cx
            .options
            .dlopen
            .iter()
            .map(|name| Addition {
                want: Want::Load {
                    from: 0,
                    name: name.clone(),
                },
                reason: Reason {
                    recipe: self.name(),
                    evidence: Evidence::Option(format!("--dlopen {name}")),
                },
            })
            .collect())
    }
}

/// Shared-object names among the strings of objects that import `dlopen`: named, not added.
#[derive(Debug)]
pub(crate) struct Strings;

/// `libNAME.so` with an optional version (`libfoo.so.1.2`): what a `dlopen` argument looks
/// like.
fn looks_like_soname(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("lib") else {
        return false;
    };
    let Some((stem, version)) = rest.split_once(".so") else {
        return false;
    };
    !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
        && (version.is_empty()
            || version.strip_prefix('.').is_some_and(|v| {
                !v.is_empty()
                    && v.split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            }))
}

impl Recipe for Strings {
    fn name(&self) -> &'static str {
        "dlopen-strings"
    }

    fn summary(&self) -> &'static str {
        "objects that import dlopen: shared-object names among their strings are named as what they may load at run time, with the path each would resolve to (never added)"
    }

    fn wants(&self, cx: &Context<'_>, closure: &Closure) -> Result<Vec<Addition>, Error> {
        let loaded: std::collections::HashSet<&str> = closure
            .objects
            .iter()
            .flat_map(|l| {
                l.names
                    .iter()
                    .map(String::as_str)
                    .chain(l.elf.soname.as_deref())
            })
            .collect();
        let mut out = Vec::new();
        for (i, o) in closure.objects.iter().enumerate() {
            if !cx.imports(o, "dlopen") {
                continue;
            }
            for s in cx.strings(&o.real).iter() {
                if !looks_like_soname(s) || loaded.contains(s) {
                    continue;
                }
                out.push(Addition {
                    want: Want::Mention {
                        path: cx.load_path(closure, i, s),
                        name: s.to_owned(),
                    },
                    reason: Reason {
                        recipe: self.name(),
                        evidence: Evidence::Symbol {
                            object: o.path.clone(),
                            symbol: "dlopen".to_owned(),
                        },
                    },
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sonames_are_told_from_other_strings() {
        for yes in [
            "libfoo.so",
            "libfoo.so.1",
            "libz.so.1.2.13",
            "libstdc++.so.6",
            "libnss_files.so.2",
        ] {
            assert!(looks_like_soname(yes), "{yes}");
        }
        for no in [
            "lib.so",
            "libfoo.so.",
            "libfoo.so.x",
            "foo.so",
            "libfoo",
            "libfoo.so.1 ",
            "lib%s.so",
        ] {
            assert!(!looks_like_soname(no), "{no}");
        }
    }

    #[test]
    fn note_entries_parse_as_the_spec_writes_them() {
        let text = r#"[{"soname":["libfido2.so.1"],"feature":"fido2","description":"Support fido2","priority":"suggested"},{"soname":["libz.so.1","libz.so"]}]"#;
        let entries: Vec<DlopenEntry> = serde_json::from_str(text).unwrap();
        assert_eq!(entries[0].priority.as_deref(), Some("suggested"));
        assert_eq!(entries[1].soname, ["libz.so.1", "libz.so"]);
        assert!(entries[1].priority.is_none());
    }
}
