//! Symbol versions: the newest an object needs of each library family (`GLIBC_2.34`,
//! `GLIBCXX_3.4.30`), and from them the oldest glibc a program runs on.

use std::collections::BTreeMap;

use depclose_elf::AuditFacts;

/// A version name split before its number: `GLIBC_2.2.5` is (`GLIBC`, [2, 2, 5]), and
/// OpenSSL 1.1's `OPENSSL_1_1_0` is (`OPENSSL`, [1, 1, 0]). Names of another shape (`Base`,
/// `V1`, `GLIBC_PRIVATE`) have none.
pub(crate) fn split(name: &str) -> Option<(&str, Vec<u64>)> {
    let at = name
        .char_indices()
        .find(|&(i, c)| {
            c == '_' && i > 0 && name[i + 1..].starts_with(|d: char| d.is_ascii_digit())
        })?
        .0;
    let parts: Option<Vec<u64>> = name[at + 1..]
        .split(['.', '_'])
        .map(|p| p.parse().ok())
        .collect();
    Some((&name[..at], parts?))
}

/// The newest version an object needs per prefix; `GLIBC_PRIVATE` (no number) and names of
/// no known shape are left out.
pub(crate) fn needed(f: &AuditFacts) -> BTreeMap<String, String> {
    let mut newest: BTreeMap<String, (Vec<u64>, String)> = BTreeMap::new();
    for need in &f.needed_versions {
        for v in &need.versions {
            let Some((prefix, number)) = split(&v.name) else {
                continue;
            };
            match newest.get(prefix) {
                Some((have, _)) if *have >= number => {}
                _ => {
                    newest.insert(prefix.to_owned(), (number, v.name.clone()));
                }
            }
        }
    }
    newest
        .into_iter()
        .map(|(prefix, (_, name))| {
            let number = name[prefix.len() + 1..].replace('_', ".");
            (prefix, number)
        })
        .collect()
}

/// Whether the object is part of glibc: it defines `GLIBC_*` versions and no others (the
/// libxcrypt that replaced glibc's libcrypt defines `GLIBC_2.2.5` for old programs, and
/// `XCRYPT_*` of its own), or it uses glibc's internal `GLIBC_PRIVATE`.
pub(crate) fn is_glibc(f: &AuditFacts) -> bool {
    let defines = !f.defined_versions.is_empty()
        && f.defined_versions.iter().all(|v| v.starts_with("GLIBC_"));
    let private = f
        .needed_versions
        .iter()
        .flat_map(|n| &n.versions)
        .any(|v| v.name == "GLIBC_PRIVATE");
    defines || private
}

/// The newer of two dotted versions (`2.10` after `2.9`).
pub(crate) fn newer(a: Option<String>, b: &str) -> Option<String> {
    let parse = |v: &str| -> Vec<u64> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    match a {
        Some(a) if parse(&a) >= parse(b) => Some(a),
        _ => Some(b.to_owned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn version_names_split_at_the_number() {
        assert_eq!(split("GLIBC_2.2.5"), Some(("GLIBC", vec![2, 2, 5])));
        assert_eq!(split("GLIBCXX_3.4.30"), Some(("GLIBCXX", vec![3, 4, 30])));
        assert_eq!(split("OPENSSL_3.0.0"), Some(("OPENSSL", vec![3, 0, 0])));
        assert_eq!(split("OPENSSL_1_1_0"), Some(("OPENSSL", vec![1, 1, 0])));
        assert_eq!(split("LIBXML2_2.4.30"), Some(("LIBXML2", vec![2, 4, 30])));
        assert_eq!(split("GLIBC_PRIVATE"), None);
        assert_eq!(split("V1"), None);
        assert_eq!(split("_1.0"), None);
    }

    #[test]
    fn ten_is_newer_than_nine() {
        assert_eq!(newer(Some("2.9".into()), "2.10").as_deref(), Some("2.10"));
        assert_eq!(newer(Some("2.34".into()), "2.3.4").as_deref(), Some("2.34"));
        assert_eq!(newer(None, "2.17").as_deref(), Some("2.17"));
    }
}
