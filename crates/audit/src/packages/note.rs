//! The package an object names itself: its `.note.package` ELF note (systemd's "Package
//! Metadata for Executable Files", <https://systemd.io/ELF_PACKAGE_METADATA/>), for objects
//! no package database knows (built elsewhere, copied in).

use super::Package;

/// The owner of a package-metadata note.
pub const PACKAGE_NOTE_OWNER: &str = "FDO";
/// The type of a package-metadata note (`NT_FDO_PACKAGING_METADATA`).
pub const PACKAGE_NOTE_TYPE: u32 = 0xcafe_1a7e;

/// The package a `.note.package` descriptor names: a NUL-terminated (and NUL-padded) JSON
/// object, of which `name`, `version` and `architecture` are read and the rest (`type`,
/// `os`, `debugInfoUrl`, …) passed over. Debian and Fedora stamp the *source* package's
/// name and version, so the source is the package itself; a missing `version` or
/// `architecture` is empty. `None` when the descriptor is not such an object or has no
/// `name`.
pub fn from_package_note(desc: &[u8]) -> Option<Package> {
    let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&desc[..end]).ok()?;
    let text = |key: &str| object.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    let name = text("name");
    if name.is_empty() {
        return None;
    }
    Some(Package::named(
        name.to_owned(),
        text("version").to_owned(),
        text("architecture").to_owned(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_fedora_note_names_its_package() {
        let desc = b"{\"type\":\"rpm\",\"name\":\"coreutils\",\"version\":\"9.4-7.fc40\",\"architecture\":\"x86_64\",\"osCpe\":\"cpe:/o:fedoraproject:fedora:40\"}\0\0\0";
        let p = from_package_note(desc).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str(), p.architecture.as_str()),
            ("coreutils", "9.4-7.fc40", "x86_64")
        );
        assert_eq!(
            (p.source.as_str(), p.source_version.as_str()),
            ("coreutils", "9.4-7.fc40")
        );
        assert!(p.stanza().is_empty());
    }

    #[test]
    fn anything_else_is_none() {
        assert!(from_package_note(b"{\"type\":\"deb\"}\0").is_none());
        assert!(from_package_note(b"{\"name\":\"\"}\0").is_none());
        assert!(from_package_note(b"[\"x\"]\0").is_none());
        assert!(from_package_note(b"{\"name\":\"x\"").is_none());
        assert!(from_package_note(&[0xff, 0]).is_none());
    }
}
