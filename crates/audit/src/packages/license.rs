//! A package's licence, from its machine-readable copyright file (DEP-5,
//! <https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/>), as an SPDX
//! expression.

use std::path::Path;

use depclose_resolve::Root;

use super::deb822;

/// The SPDX expression for the licence of `package`'s files as a whole: the first line of
/// the `License:` field of the `Files: *` paragraph of `/usr/share/doc/<package>/copyright`
/// (else of the header paragraph, which DEP-5 lets speak for the whole package). The doc
/// directory may be a symlink to another package's (Debian links those of packages built
/// from one source); it is followed inside the root. `None` when the file is not there, is
/// not machine-readable (no `Format:` header naming the format), or gives no licence.
pub fn license(root: &Root, package: &str) -> Option<String> {
    // `name:arch` names the package, the doc directory has the name alone.
    let name = package.split_once(':').map_or(package, |(name, _)| name);
    let path = Path::new("/usr/share/doc").join(name).join("copyright");
    let bytes = root.read(&path).ok()?;
    let paragraphs = deb822::paragraphs(&String::from_utf8_lossy(&bytes)).ok()?;
    let header = paragraphs.first()?;
    let format = header.get("Format")?;
    // The draft URLs (`dep.debian.net/deps/dep5`) are still met in old packages.
    if !(format.contains("copyright-format") || format.contains("dep5")) {
        return None;
    }
    let files_all = paragraphs.iter().find(|p| {
        p.get("Files")
            .is_some_and(|f| f.split_whitespace().any(|g| g == "*"))
    });
    let field = files_all
        .and_then(|p| p.get("License"))
        .or_else(|| header.get("License"))?;
    let first = field.lines().next()?.trim();
    (!first.is_empty()).then(|| spdx(first))
}

/// A DEP-5 licence expression as SPDX. DEP-5's `and` binds tighter than `or`, as SPDX's
/// `AND` does, but `, and` binds loosest, so what it joins is put in parentheses; `with X
/// exception` becomes `WITH` a listed exception, or, for one SPDX does not list, a single
/// `LicenseRef-` for the licence and the words of its exception.
fn spdx(expression: &str) -> String {
    use std::mem::take;
    // parts (", and") → alternatives ("or") → terms ("and"): those done, and the current.
    let mut parts: Vec<Vec<Vec<Term>>> = Vec::new();
    let mut alternatives: Vec<Vec<Term>> = Vec::new();
    let mut terms: Vec<Term> = Vec::new();
    let mut term = Term::default();
    let mut after_comma = false;
    let mut words = expression.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let bare = word.trim_end_matches(',');
        let comma = std::mem::replace(&mut after_comma, bare.len() < word.len());
        if bare.eq_ignore_ascii_case("and") && comma {
            terms.push(take(&mut term));
            alternatives.push(take(&mut terms));
            parts.push(take(&mut alternatives));
        } else if bare.eq_ignore_ascii_case("or") {
            terms.push(take(&mut term));
            alternatives.push(take(&mut terms));
        } else if bare.eq_ignore_ascii_case("and") {
            terms.push(take(&mut term));
        } else if bare.eq_ignore_ascii_case("with") {
            // `with NAME exception`: the words up to an operator or a comma.
            let mut exception = Vec::new();
            while let Some(&next) = words.peek() {
                let name = next.trim_end_matches(',');
                if name.eq_ignore_ascii_case("or") || name.eq_ignore_ascii_case("and") {
                    break;
                }
                words.next();
                exception.push(name);
                after_comma = name.len() < next.len();
                if after_comma {
                    break;
                }
            }
            term.exception = Some(exception.join(" "));
        } else if !bare.is_empty() {
            term.words.push(bare.to_owned());
        }
    }
    terms.push(term);
    alternatives.push(terms);
    parts.push(alternatives);
    let terms = || parts.iter().flatten().flatten();
    if terms().any(|t| t.words.is_empty()) {
        // An operator with nothing on one side: not an expression, but still a name.
        return license_ref(expression);
    }
    let many = parts.len() > 1;
    parts
        .iter()
        .map(|alternatives| {
            let text = alternatives
                .iter()
                .map(|terms| {
                    terms
                        .iter()
                        .map(Term::spdx)
                        .collect::<Vec<_>>()
                        .join(" AND ")
                })
                .collect::<Vec<_>>()
                .join(" OR ");
            if many && alternatives.len() > 1 {
                format!("({text})")
            } else {
                text
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// One licence of an expression: its name (a short name has no spaces, but a free-text one
/// may) and the exception it comes `with`.
#[derive(Debug, Default)]
struct Term {
    words: Vec<String>,
    exception: Option<String>,
}

impl Term {
    fn spdx(&self) -> String {
        let name = self.words.join(" ");
        let id = identifier(&name).unwrap_or_else(|| license_ref(&name));
        match self.exception.as_deref() {
            None => id,
            Some(exception) => {
                let name = exception.strip_suffix(" exception").unwrap_or(exception);
                match EXCEPTIONS
                    .iter()
                    .find(|(debian, _)| debian.eq_ignore_ascii_case(name))
                {
                    // A name mapped to `X WITH Y` already takes no second exception.
                    Some((_, spdx)) if !id.contains(' ') => format!("{id} WITH {spdx}"),
                    _ => license_ref(&format!(
                        "{}-with-{exception}",
                        id.strip_prefix("LicenseRef-").unwrap_or(&id)
                    )),
                }
            }
        }
    }
}

/// `LicenseRef-` and `name` in the characters SPDX allows there (letters, digits, `-`,
/// `.`): a `+` becomes `-plus`, anything else a `-`.
fn license_ref(name: &str) -> String {
    let mut id = String::from("LicenseRef-");
    for c in name.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '.' => id.push(c),
            '+' if id.ends_with('-') => id.push_str("plus"),
            '+' => id.push_str("-plus"),
            _ if id.ends_with('-') => {}
            _ => id.push('-'),
        }
    }
    let id = id.trim_end_matches('-');
    if id == "LicenseRef" {
        "LicenseRef-unknown".to_owned()
    } else {
        id.to_owned()
    }
}

/// The SPDX identifier of a Debian short name, if it has one.
fn identifier(name: &str) -> Option<String> {
    if let Some(id) = gnu(name) {
        return Some(id);
    }
    NAMES
        .iter()
        .find(|(debian, _)| debian.eq_ignore_ascii_case(name))
        .map(|(_, spdx)| (*spdx).to_owned())
}

/// The GNU licences, which Debian writes `GPL-2+`, `LGPL-2.1`, `GFDL-NIV-1.3+`, and SPDX
/// `GPL-2.0-or-later`, `LGPL-2.1-only`, `GFDL-1.3-no-invariants-or-later`.
fn gnu(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let (family, rest) = upper.split_once('-')?;
    let (invariants, rest) = match rest.strip_prefix("NIV-") {
        Some(rest) if family == "GFDL" => ("-no-invariants", rest),
        _ => ("", rest),
    };
    let (version, later) = if let Some(v) = rest.strip_suffix('+') {
        (v, true)
    } else if let Some(v) = rest.strip_suffix("-OR-LATER") {
        (v, true)
    } else {
        (rest.strip_suffix("-ONLY").unwrap_or(rest), false)
    };
    let versions: &[&str] = match family {
        "GPL" => &["1.0", "2.0", "3.0"],
        "LGPL" => &["2.0", "2.1", "3.0"],
        "AGPL" => &["1.0", "3.0"],
        "GFDL" => &["1.1", "1.2", "1.3"],
        _ => return None,
    };
    let version = if version.contains('.') {
        version.to_owned()
    } else {
        format!("{version}.0")
    };
    if !versions.contains(&version.as_str()) {
        return None;
    }
    let suffix = if later { "or-later" } else { "only" };
    Some(format!("{family}-{version}{invariants}-{suffix}"))
}

/// Debian short names (and SPDX identifiers, to give them SPDX's spelling), compared
/// without case, and their SPDX identifiers.
const NAMES: &[(&str, &str)] = &[
    ("Expat", "MIT"),
    ("MIT", "MIT"),
    ("MIT/X11", "MIT"),
    ("X11", "X11"),
    ("MIT-0", "MIT-0"),
    ("0BSD", "0BSD"),
    ("BSD-2-clause", "BSD-2-Clause"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("BSD-4-clause", "BSD-4-Clause"),
    ("ISC", "ISC"),
    ("Apache-1.0", "Apache-1.0"),
    ("Apache-1.1", "Apache-1.1"),
    ("Apache-2.0", "Apache-2.0"),
    // Debian's `Artistic` (/usr/share/common-licenses/Artistic) is Perl's.
    ("Artistic", "Artistic-1.0-Perl"),
    ("Artistic-1.0", "Artistic-1.0"),
    ("Artistic-2.0", "Artistic-2.0"),
    // LLVM's, as its Debian packages name it.
    ("APACHE-2-LLVM-EXCEPTIONS", "Apache-2.0 WITH LLVM-exception"),
    ("AFL-2.1", "AFL-2.1"),
    ("AFL-3.0", "AFL-3.0"),
    ("BSL-1.0", "BSL-1.0"),
    ("CC0", "CC0-1.0"),
    ("CC0-1.0", "CC0-1.0"),
    ("CDDL-1.0", "CDDL-1.0"),
    ("curl", "curl"),
    ("EPL-1.0", "EPL-1.0"),
    ("EPL-2.0", "EPL-2.0"),
    ("FSFAP", "FSFAP"),
    ("FSFUL", "FSFUL"),
    ("FSFULLR", "FSFULLR"),
    ("FTL", "FTL"),
    ("GD", "GD"),
    ("HPND", "HPND"),
    ("ICU", "ICU"),
    ("IJG", "IJG"),
    ("Info-ZIP", "Info-ZIP"),
    ("libpng", "Libpng"),
    ("libpng-2.0", "libpng-2.0"),
    ("LPPL-1.3c", "LPPL-1.3c"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
    ("NCSA", "NCSA"),
    ("NTP", "NTP"),
    ("OFL-1.1", "OFL-1.1"),
    ("SIL-OFL-1.1", "OFL-1.1"),
    ("OpenLDAP-2.8", "OLDAP-2.8"),
    ("OpenSSL", "OpenSSL"),
    ("PostgreSQL", "PostgreSQL"),
    ("PSF-2.0", "PSF-2.0"),
    ("Python-2.0", "Python-2.0"),
    ("Sleepycat", "Sleepycat"),
    ("Tcl", "TCL"),
    ("TU-Berlin-2.0", "TU-Berlin-2.0"),
    ("Unicode-DFS-2016", "Unicode-DFS-2016"),
    ("Unlicense", "Unlicense"),
    ("UPL-1.0", "UPL-1.0"),
    ("Vim", "Vim"),
    ("W3C", "W3C"),
    ("WTFPL", "WTFPL"),
    ("WTFPL-2", "WTFPL"),
    ("Zlib", "Zlib"),
    ("zlib/libpng", "Zlib"),
    ("ZPL-2.1", "ZPL-2.1"),
    ("public-domain", "LicenseRef-public-domain"),
    ("PD", "LicenseRef-public-domain"),
];

/// The exceptions DEP-5 names (`with Font exception`) that SPDX lists, compared without
/// case.
const EXCEPTIONS: &[(&str, &str)] = &[
    ("Classpath", "Classpath-exception-2.0"),
    ("Font", "Font-exception-2.0"),
    ("LLVM", "LLVM-exception"),
    ("GCC", "GCC-exception-3.1"),
    ("Bison", "Bison-exception-2.2"),
    ("Qt", "Qt-LGPL-exception-1.1"),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debian_names_become_spdx() {
        for (debian, want) in [
            ("GPL-2+", "GPL-2.0-or-later"),
            ("GPL-2", "GPL-2.0-only"),
            ("GPL-2.0+", "GPL-2.0-or-later"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("LGPL-2", "LGPL-2.0-only"),
            ("LGPL-3.0", "LGPL-3.0-only"),
            ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
            ("BSD-3-clause", "BSD-3-Clause"),
            ("Expat", "MIT"),
            ("expat", "MIT"),
            ("MIT/X11", "MIT"),
            ("Apache-2.0", "Apache-2.0"),
            ("public-domain", "LicenseRef-public-domain"),
            ("GPL-4+", "LicenseRef-GPL-4-plus"),
            ("BSD-variant", "LicenseRef-BSD-variant"),
            (
                "MIT/X Consortium License",
                "LicenseRef-MIT-X-Consortium-License",
            ),
        ] {
            assert_eq!(spdx(debian), want, "{debian}");
        }
    }

    #[test]
    fn operators_keep_dep5_precedence() {
        assert_eq!(
            spdx("BSD-3-clause or GPL-2"),
            "BSD-3-Clause OR GPL-2.0-only"
        );
        assert_eq!(
            spdx("GPL-2+ and LGPL-2.1+ or MIT"),
            "GPL-2.0-or-later AND LGPL-2.1-or-later OR MIT"
        );
        assert_eq!(
            spdx("GPL-2+ or AFL-2.1, and Expat and Tcl-BSDish"),
            "(GPL-2.0-or-later OR AFL-2.1) AND MIT AND LicenseRef-Tcl-BSDish"
        );
        assert_eq!(
            spdx("GPL with Classpath exception"),
            "LicenseRef-GPL WITH Classpath-exception-2.0"
        );
        assert_eq!(
            spdx("GPL-2+ with OpenSSL exception or MIT"),
            "LicenseRef-GPL-2.0-or-later-with-OpenSSL-exception OR MIT"
        );
        assert_eq!(
            spdx("LGPL-3.0+ with special exception granted by copyright holders, and MIT"),
            "LicenseRef-LGPL-3.0-or-later-with-special-exception-granted-by-copyright-holders AND MIT"
        );
        assert_eq!(
            spdx("APACHE-2-LLVM-EXCEPTIONS"),
            "Apache-2.0 WITH LLVM-exception"
        );
        assert_eq!(spdx("or MIT"), "LicenseRef-or-MIT");
    }

    fn doc(dir: &std::path::Path, package: &str, copyright: &str) {
        let d = dir.join("usr/share/doc").join(package);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("copyright"), copyright).unwrap();
    }

    #[test]
    fn the_files_star_paragraph_gives_the_licence() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        doc(
            d,
            "libfoo1",
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: foo\n\
             \n\
             Files: debian/*\n\
             License: GPL-2+\n\
             \n\
             Files: *\n\
             Copyright: 2020 Someone\n\
             License: BSD-3-clause or GPL-2\n \
             Redistribution and use in source and binary forms, with or without\n\
             \n\
             License: BSD-3-clause\n \
             The text.\n",
        );
        doc(
            d,
            "libbar1",
            "This is the Debian package of bar.\n\nCopyright: GPL-2+\n",
        );
        doc(
            d,
            "libbaz1",
            "Format: http://dep.debian.net/deps/dep5\nLicense: Expat\n\nFiles: src/*\nLicense: Zlib\n",
        );
        std::os::unix::fs::symlink("libfoo1", d.join("usr/share/doc/libfoo-dev")).unwrap();
        // An absolute link is followed inside the root, not on the host.
        std::os::unix::fs::symlink("/usr/share/doc/libbaz1", d.join("usr/share/doc/baz-utils"))
            .unwrap();
        let root = Root::new(d).unwrap();
        let want = Some("BSD-3-Clause OR GPL-2.0-only".to_owned());
        assert_eq!(license(&root, "libfoo1"), want);
        assert_eq!(license(&root, "libfoo-dev:amd64"), want);
        assert_eq!(license(&root, "libbar1"), None);
        assert_eq!(license(&root, "baz-utils").as_deref(), Some("MIT"));
        assert_eq!(license(&root, "absent"), None);
    }
}
