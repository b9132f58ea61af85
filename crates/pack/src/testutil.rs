//! A sample tree with every kind of entry, and a tar reader for the tests.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::Tree;

/// A valid `vfs_cap_data` (revision 2, effective): cap_net_bind_service.
pub(crate) const CAP_NET_BIND_SERVICE: [u8; 20] =
    [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// A name over 100 bytes and one that is not UTF-8.
pub(crate) fn long_name() -> String {
    format!("usr/share/{}/file.txt", "long-directory-name".repeat(6))
}
pub(crate) const NON_UTF8: &[u8] = b"usr/share/caf\xe9";

pub(crate) struct Sample {
    pub(crate) dir: TempDir,
    pub(crate) tree: Tree,
    /// Whether the capability could be set on the host file (needs root).
    pub(crate) has_cap: bool,
}

impl Sample {
    pub(crate) fn host(&self, name: &str) -> PathBuf {
        self.dir.path().join("host").join(name)
    }
}

fn file(path: &Path, contents: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub(crate) fn sample() -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    file(&host.join("bin/tool"), b"#!tool\n", 0o755);
    file(&host.join("bin/su"), b"setuid", 0o4755);
    file(&host.join("bin/ping"), b"cap", 0o755);
    // Larger than one copy buffer, so streaming is exercised.
    let lib: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    file(&host.join("lib/libx.so.1.2"), &lib, 0o644);
    fs::hard_link(host.join("lib/libx.so.1.2"), host.join("lib/libx-hard.so")).unwrap();
    file(&host.join("misc/long"), b"long", 0o600);
    fs::create_dir(host.join("etc")).unwrap();
    fs::set_permissions(host.join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
    let has_cap = rustix::fs::setxattr(
        host.join("bin/ping"),
        "security.capability",
        &CAP_NET_BIND_SERVICE,
        rustix::fs::XattrFlags::empty(),
    )
    .is_ok();

    let mut tree = Tree::new();
    tree.add_dir("/etc", Some(&host.join("etc"))).unwrap();
    tree.add_bytes("/etc/passwd", "root:x:0:0::/:/bin/sh\n", 0o644)
        .unwrap();
    tree.add_file("/usr/bin/tool", host.join("bin/tool"))
        .unwrap();
    tree.add_file("/usr/bin/su", host.join("bin/su")).unwrap();
    tree.add_file("/usr/bin/ping", host.join("bin/ping"))
        .unwrap();
    tree.add_file("/usr/lib/libx.so.1.2", host.join("lib/libx.so.1.2"))
        .unwrap();
    // The hard link sorts after its first path: it becomes the link member.
    tree.add_file("/usr/lib/zz-hard.so", host.join("lib/libx-hard.so"))
        .unwrap();
    tree.add_symlink("/usr/lib/libx.so.1", "libx.so.1.2")
        .unwrap();
    tree.add_symlink("/lib", "usr/lib").unwrap();
    tree.add_file(long_name(), host.join("misc/long")).unwrap();
    tree.add_bytes(Path::new(OsStr::from_bytes(NON_UTF8)), "café", 0o644)
        .unwrap();
    tree.add_symlink("/usr/share/far", format!("/{}", long_name()))
        .unwrap();
    Sample { dir, tree, has_cap }
}

/// One member as read back by tar-rs (directories without their trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) path: Vec<u8>,
    pub(crate) kind: tar::EntryType,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) uname: Vec<u8>,
    pub(crate) gname: Vec<u8>,
    pub(crate) mtime: u64,
    pub(crate) link: Option<Vec<u8>>,
    pub(crate) capability: Option<Vec<u8>>,
    pub(crate) data: Vec<u8>,
}

pub(crate) fn read_tar(bytes: &[u8]) -> Vec<Member> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut capability = None;
        if let Some(pax) = entry.pax_extensions().unwrap() {
            for ext in pax {
                let ext = ext.unwrap();
                if ext.key_bytes() == b"SCHILY.xattr.security.capability" {
                    capability = Some(ext.value_bytes().to_vec());
                }
            }
        }
        let h = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let mut path = entry.path_bytes().into_owned();
        // Directories, and only they, carry the conventional trailing slash.
        assert_eq!(
            path.last() == Some(&b'/'),
            h.entry_type() == tar::EntryType::Directory,
            "{}",
            String::from_utf8_lossy(&path)
        );
        if h.entry_type() == tar::EntryType::Directory {
            path.pop();
        }
        out.push(Member {
            path,
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            uname: h.username_bytes().unwrap_or_default().to_vec(),
            gname: h.groupname_bytes().unwrap_or_default().to_vec(),
            mtime: h.mtime().unwrap(),
            link: entry.link_name_bytes().map(|l| l.into_owned()),
            capability,
            data,
        });
    }
    out
}
