//! Image references as Docker reads them (distribution/reference: `ParseNormalizedNamed`,
//! `FamiliarString`), enough to write the names `docker save` writes.

use crate::Error;

/// A `name[:tag]` reference, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// `docker.io`, `ghcr.io`, `localhost:5000`.
    domain: String,
    /// `library/busybox`, `team/app`.
    path: String,
    /// `latest` when none was given.
    pub(crate) tag: String,
}

pub(crate) const DEFAULT_DOMAIN: &str = "docker.io";

impl Reference {
    pub(crate) fn parse(reference: &str) -> Result<Reference, Error> {
        let err = |reason| Error::InvalidReference {
            reference: reference.to_owned(),
            reason,
        };
        if reference.contains('@') {
            return Err(err("digest references cannot name a new image"));
        }
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match reference[last_slash..].rfind(':') {
            Some(i) => (
                &reference[..last_slash + i],
                &reference[last_slash + i + 1..],
            ),
            None => (reference, "latest"),
        };
        if !valid_tag(tag) {
            return Err(err(
                "a tag is 1-128 of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
        if name.len() > 255 {
            return Err(err("the name is longer than 255 characters"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first, rest.to_owned())
            }
            _ => (DEFAULT_DOMAIN, name.to_owned()),
        };
        if !valid_domain(domain) {
            return Err(err("invalid registry host"));
        }
        if !path.split('/').all(valid_component) {
            return Err(err(
                "name components are lowercase letters and digits, separated by '.', '_', '__' or dashes",
            ));
        }
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN
        } else {
            domain
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(Reference {
            domain: domain.to_owned(),
            path,
            tag: tag.to_owned(),
        })
    }

    /// `docker.io`, `ghcr.io`, `localhost:5000`: the registry.
    pub(crate) fn domain(&self) -> &str {
        &self.domain
    }

    /// `library/busybox`, `team/app`: the repository in the registry.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// `docker.io/library/busybox:latest`: what Docker writes as `io.containerd.image.name`.
    pub(crate) fn full(&self) -> String {
        format!("{}/{}:{}", self.domain, self.path, self.tag)
    }

    /// `busybox`: the key of the legacy `repositories` file.
    pub(crate) fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.path)
                .to_owned()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// `busybox:latest`: what `docker save` writes in `RepoTags`.
    pub(crate) fn familiar(&self) -> String {
        format!("{}:{}", self.familiar_name(), self.tag)
    }
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    (1..=128).contains(&b.len())
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-')) {
            return false;
        }
    }
    true
}

/// `host[:port]`, host being dot-separated labels of letters, digits and dashes, or an
/// IPv6 address in brackets (`[::1]:5000`).
fn valid_domain(d: &str) -> bool {
    if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = match after.strip_prefix(':') {
            Some(p) => !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()),
            None => after.is_empty(),
        };
        return port_ok && v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_as_docker_writes_them() {
        let cases = [
            (
                "true",
                "docker.io/library/true:latest",
                "true:latest",
                "true",
            ),
            ("app:1.0", "docker.io/library/app:1.0", "app:1.0", "app"),
            (
                "team/app:v2",
                "docker.io/team/app:v2",
                "team/app:v2",
                "team/app",
            ),
            (
                "localhost:5000/a/b:t",
                "localhost:5000/a/b:t",
                "localhost:5000/a/b:t",
                "localhost:5000/a/b",
            ),
            ("docker.io/library/x:y", "docker.io/library/x:y", "x:y", "x"),
            (
                "[::1]:5000/app:v1",
                "[::1]:5000/app:v1",
                "[::1]:5000/app:v1",
                "[::1]:5000/app",
            ),
            (
                "ghcr.io/o/p",
                "ghcr.io/o/p:latest",
                "ghcr.io/o/p:latest",
                "ghcr.io/o/p",
            ),
        ];
        for (input, full, familiar, name) in cases {
            let r = Reference::parse(input).unwrap();
            assert_eq!(r.full(), full, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
            assert_eq!(r.familiar_name(), name, "{input}");
        }
    }

    #[test]
    fn bad_references() {
        for bad in [
            "",
            "App:1",
            "app:",
            "app:-x",
            "a//b",
            "app@sha256:00",
            "a-:1",
            "a/b_:1",
            "-a",
            "host:port/x",
            "[::1/x",
            "[nope]:5000/x",
            "[::1]:/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }
}
