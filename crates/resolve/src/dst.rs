//! Dynamic string tokens: `$ORIGIN`, `$LIB`, `$PLATFORM` (glibc `elf/dl-load.c`, `is_dst`,
//! `_dl_dst_substitute`).
//!
//! A token is `$NAME` not followed by `[A-Za-z0-9_]`, or `${NAME}`. Unknown names stay as
//! they are. When a known token has no value, the whole element is dropped — "If we
//! cannot substitute the DST, the path is unusable" — which the caller sees as `None`.

/// The values the tokens stand for, for one object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DstValues<'a> {
    /// `$ORIGIN`: the directory of the object holding the string.
    pub(crate) origin: Option<&'a str>,
    pub(crate) lib: &'a str,
    pub(crate) platform: Option<&'a str>,
}

/// The tokens depclose (and glibc) know.
const TOKENS: [&str; 3] = ["ORIGIN", "PLATFORM", "LIB"];

/// The length of a token starting right after a `$` in `s`, and its name, if any.
fn token_at(s: &str) -> Option<(&'static str, usize)> {
    for name in TOKENS {
        if let Some(rest) = s.strip_prefix('{') {
            if rest.strip_prefix(name).is_some_and(|r| r.starts_with('}')) {
                return Some((name, name.len() + 2));
            }
        } else if let Some(rest) = s.strip_prefix(name) {
            let ends = rest
                .bytes()
                .next()
                .is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'));
            if ends {
                return Some((name, name.len()));
            }
        }
    }
    None
}

/// True when `s` holds at least one known token.
pub(crate) fn has_dst(s: &str) -> bool {
    s.match_indices('$')
        .any(|(i, _)| token_at(&s[i + 1..]).is_some())
}

/// True when `s` holds `$ORIGIN` (either spelling).
pub(crate) fn has_origin(s: &str) -> bool {
    s.match_indices('$')
        .any(|(i, _)| token_at(&s[i + 1..]).is_some_and(|(name, _)| name == "ORIGIN"))
}

/// `s` with every known token replaced; `None` when a token has no value.
pub(crate) fn expand(s: &str, v: &DstValues<'_>) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match token_at(after) {
            Some((name, len)) => {
                let value = match name {
                    "ORIGIN" => v.origin?,
                    "PLATFORM" => v.platform?,
                    _ => v.lib,
                };
                out.push_str(value);
                rest = &after[len..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const V: DstValues<'static> = DstValues {
        origin: Some("/opt/app/bin"),
        lib: "lib/x86_64-linux-gnu",
        platform: Some("x86_64"),
    };

    #[test]
    fn both_spellings_expand() {
        assert_eq!(expand("$ORIGIN/../lib", &V).unwrap(), "/opt/app/bin/../lib");
        assert_eq!(expand("${ORIGIN}/x", &V).unwrap(), "/opt/app/bin/x");
        assert_eq!(
            expand("/usr/$LIB/$PLATFORM", &V).unwrap(),
            "/usr/lib/x86_64-linux-gnu/x86_64"
        );
        assert_eq!(expand("/a/${PLATFORM}b", &V).unwrap(), "/a/x86_64b");
    }

    #[test]
    fn a_token_must_end_at_a_non_identifier_character() {
        assert_eq!(expand("$ORIGINAL/x", &V).unwrap(), "$ORIGINAL/x");
        assert_eq!(expand("$LIB_x", &V).unwrap(), "$LIB_x");
        assert_eq!(expand("$LIB.x", &V).unwrap(), "lib/x86_64-linux-gnu.x");
        assert_eq!(expand("$HOME/$", &V).unwrap(), "$HOME/$");
        assert!(!has_dst("$ORIGINAL"));
        assert!(has_dst("a${LIB}"));
    }

    #[test]
    fn a_token_without_a_value_drops_the_element() {
        let v = DstValues {
            platform: None,
            ..V
        };
        assert_eq!(expand("/x/$PLATFORM", &v), None);
        assert_eq!(expand("/x/$ORIGIN", &DstValues { origin: None, ..V }), None);
    }
}
