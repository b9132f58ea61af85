//! The layer tar: the tree's entries as tar members.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::archive::{self, Counter, HashWriter, Kind, Member};
use crate::tree::Node;
use crate::{Error, LayerSummary, Tree, WriteOptions, WriteSummary};

impl Tree {
    /// Writes the layer tar (uncompressed) to `out`, hashing it on the way. File contents
    /// are streamed from their sources, never held whole in memory. The same tree and
    /// options give the same bytes:
    ///
    /// - members in tree order (by path components: parents first, no duplicates), names
    ///   relative without `./`, directories with a trailing `/`;
    /// - owner 0:0 with *empty* user and group names: OCI ignores names when ids are
    ///   present, and GNU tar extracting as root would map a name like `root` through the
    ///   extracting host's `/etc/passwd` before the id;
    /// - every mtime `options.epoch`; modes exact, but setuid/setgid cleared on regular
    ///   files unless `keep_setuid`; symlinks 0777;
    /// - `security.capability` as a PAX `SCHILY.xattr.security.capability` record;
    /// - POSIX pax format: a name or link name over 100 bytes or not printable ASCII goes
    ///   into a PAX `path`/`linkpath` record (`hdrcharset=BINARY` if not UTF-8). PAX rather
    ///   than GNU long-name members (what tar-rs' `Builder` would write) because the
    ///   capability needs PAX anyway, and one standard extension then covers everything;
    /// - a host inode reached by several paths is written once, at its first path in tree
    ///   order; later paths are hard-link members (typeflag `1`) naming that first path.
    pub fn write_layer<W: Write>(
        &self,
        out: W,
        options: &WriteOptions<'_>,
    ) -> Result<LayerSummary, Error> {
        std::thread::scope(|scope| {
            let mut out = HashWriter::new(scope, out);
            let contents = self.write_members(&mut out, options)?;
            archive::finish(&mut out).map_err(Error::write)?;
            let (digest, size, _) = out.finish().map_err(Error::write)?;
            Ok(LayerSummary {
                digest,
                size,
                contents,
            })
        })
    }

    fn write_members(
        &self,
        out: &mut impl Write,
        options: &WriteOptions<'_>,
    ) -> Result<WriteSummary, Error> {
        let mut summary = WriteSummary::default();
        let mut counter = Counter::new(*options, self.content_bytes());
        let mut first_path: BTreeMap<(u64, u64), &Path> = BTreeMap::new();
        for (path, node) in &self.nodes {
            summary.entries += 1;
            let mut member = Member {
                name: path.as_os_str().as_bytes(),
                kind: Kind::Dir,
                mode: 0,
                size: 0,
                mtime: options.epoch,
                link: None,
                capability: None,
            };
            match node {
                Node::Dir { mode, .. } => {
                    member.mode = *mode;
                    archive::write_header(out, &member).map_err(Error::write)?;
                }
                Node::Symlink { target, .. } => {
                    member.kind = Kind::Symlink;
                    member.mode = 0o777;
                    member.link = Some(target.as_bytes());
                    archive::write_header(out, &member).map_err(Error::write)?;
                }
                Node::Bytes { contents, mode } => {
                    member.kind = Kind::File;
                    member.mode = options.file_mode(*mode, path, &mut summary);
                    member.size = contents.len() as u64;
                    archive::write_header(out, &member).map_err(Error::write)?;
                    out.write_all(contents).map_err(Error::write)?;
                    archive::pad(out, member.size).map_err(Error::write)?;
                    counter.add(member.size)?;
                    summary.files += 1;
                    summary.content_bytes += member.size;
                }
                Node::File(source) => {
                    member.mode = options.file_mode(source.mode, path, &mut summary);
                    if let Some(first) = first_path.get(&(source.dev, source.ino)) {
                        member.kind = Kind::HardLink;
                        member.link = Some(first.as_os_str().as_bytes());
                        archive::write_header(out, &member).map_err(Error::write)?;
                        summary.hardlinks += 1;
                        continue;
                    }
                    first_path.insert((source.dev, source.ino), path);
                    member.kind = Kind::File;
                    member.size = source.size;
                    member.capability = source.capability.as_deref();
                    archive::write_header(out, &member).map_err(Error::write)?;
                    source.copy_to(out, &mut counter)?;
                    archive::pad(out, source.size).map_err(Error::write)?;
                    summary.files += 1;
                    summary.content_bytes += source.size;
                }
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use tar::EntryType;

    use super::*;
    use crate::testutil::{self, CAP_NET_BIND_SERVICE, NON_UTF8, read_tar};

    fn layer(tree: &Tree, options: &WriteOptions<'_>) -> (Vec<u8>, LayerSummary) {
        let mut out = Vec::new();
        let summary = tree.write_layer(&mut out, options).unwrap();
        (out, summary)
    }

    #[test]
    fn same_input_same_bytes_and_epoch_changes_only_mtimes() {
        let s = testutil::sample();
        let options = WriteOptions {
            epoch: 1_700_000_000,
            ..WriteOptions::default()
        };
        let (a, sa) = layer(&s.tree, &options);
        let (b, sb) = layer(&s.tree, &options);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        assert_eq!(sa.size, a.len() as u64);
        assert_eq!(sa.digest, archive::sha256_of(&a));

        let (c, sc) = layer(&s.tree, &WriteOptions::default());
        assert_ne!(sa.digest, sc.digest);
        let strip = |bytes: &[u8], epoch| {
            read_tar(bytes)
                .into_iter()
                .map(|mut m| {
                    assert_eq!(m.mtime, epoch);
                    m.mtime = 0;
                    m
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&a, 1_700_000_000), strip(&c, 0));
    }

    #[test]
    fn members_read_back() {
        let s = testutil::sample();
        let (bytes, summary) = layer(&s.tree, &WriteOptions::default());
        let members = read_tar(&bytes);
        let by_path = |p: &str| {
            members
                .iter()
                .find(|m| m.path == p.as_bytes())
                .unwrap_or_else(|| panic!("{p} missing"))
        };

        let mut seen = BTreeSet::new();
        for (i, m) in members.iter().enumerate() {
            assert!(!m.path.starts_with(b"/") && !m.path.starts_with(b"./"));
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(&m.path));
            assert!(path.components().all(|c| c.as_os_str() != ".."));
            assert!(seen.insert(path.clone()), "duplicate {path:?}");
            for parent in path
                .ancestors()
                .skip(1)
                .filter(|p| !p.as_os_str().is_empty())
            {
                assert!(
                    members[..i]
                        .iter()
                        .any(|p| p.path == parent.as_os_str().as_bytes()
                            && p.kind == EntryType::Directory),
                    "{parent:?} not before {path:?}"
                );
            }
            assert_eq!((m.uid, m.gid), (0, 0));
            assert!(m.uname.is_empty() && m.gname.is_empty());
            assert_eq!(m.mtime, 0);
        }
        assert_eq!(summary.contents.entries, members.len());

        let etc = by_path("etc");
        assert_eq!((etc.kind, etc.mode), (EntryType::Directory, 0o750));
        assert_eq!(by_path("usr").mode, 0o755);
        let passwd = by_path("etc/passwd");
        assert_eq!((passwd.kind, passwd.mode), (EntryType::Regular, 0o644));
        assert_eq!(passwd.data, b"root:x:0:0::/:/bin/sh\n");
        let tool = by_path("usr/bin/tool");
        assert_eq!((tool.mode, &tool.data[..]), (0o755, &b"#!tool\n"[..]));
        let lib = by_path("usr/lib/libx.so.1.2");
        assert_eq!(lib.data, std::fs::read(s.host("lib/libx.so.1.2")).unwrap());
        let hard = by_path("usr/lib/zz-hard.so");
        assert_eq!(hard.kind, EntryType::Link);
        assert_eq!(hard.link.as_deref(), Some(&b"usr/lib/libx.so.1.2"[..]));
        assert!(hard.data.is_empty());
        let soname = by_path("usr/lib/libx.so.1");
        assert_eq!((soname.kind, soname.mode), (EntryType::Symlink, 0o777));
        assert_eq!(soname.link.as_deref(), Some(&b"libx.so.1.2"[..]));
        assert_eq!(by_path("lib").link.as_deref(), Some(&b"usr/lib"[..]));
        let ping = by_path("usr/bin/ping");
        if s.has_cap {
            assert_eq!(ping.capability.as_deref(), Some(&CAP_NET_BIND_SERVICE[..]));
        } else {
            eprintln!("not root: capability not checked");
        }
        assert_eq!((summary.contents.files, summary.contents.hardlinks), (7, 1));
        assert_eq!(summary.contents.content_bytes, s.tree.content_bytes());
    }

    #[test]
    fn long_and_non_utf8_names_round_trip() {
        let s = testutil::sample();
        let (bytes, _) = layer(&s.tree, &WriteOptions::default());
        let members = read_tar(&bytes);
        let long = testutil::long_name();
        assert!(long.len() > 100);
        let m = members.iter().find(|m| m.path == long.as_bytes()).unwrap();
        assert_eq!((m.mode, &m.data[..]), (0o600, &b"long"[..]));
        let m = members.iter().find(|m| m.path == NON_UTF8).unwrap();
        assert_eq!(m.data, "café".as_bytes());
        let far = members.iter().find(|m| m.path == b"usr/share/far").unwrap();
        assert_eq!(far.link.as_deref(), Some(format!("/{long}").as_bytes()));
        // A long directory name keeps its trailing slash through PAX.
        let dir = long.rsplit_once('/').unwrap().0;
        assert!(
            members
                .iter()
                .any(|m| m.path == dir.as_bytes() && m.kind == EntryType::Directory)
        );
    }

    #[test]
    fn setuid_dropped_and_reported_unless_kept() {
        let s = testutil::sample();
        let (bytes, summary) = layer(&s.tree, &WriteOptions::default());
        let su = |bytes: &[u8]| {
            read_tar(bytes)
                .into_iter()
                .find(|m| m.path == b"usr/bin/su")
                .unwrap()
                .mode
        };
        assert_eq!(su(&bytes), 0o755);
        assert_eq!(
            summary.contents.dropped_setuid,
            [PathBuf::from("/usr/bin/su")]
        );

        let keep = WriteOptions {
            keep_setuid: true,
            ..WriteOptions::default()
        };
        let (bytes, summary) = layer(&s.tree, &keep);
        assert_eq!(su(&bytes), 0o4755);
        assert!(summary.contents.dropped_setuid.is_empty());
    }

    #[test]
    fn progress_reaches_total() {
        let s = testutil::sample();
        let calls = std::cell::RefCell::new(Vec::new());
        let record = |done, total| calls.borrow_mut().push((done, total));
        let options = WriteOptions {
            progress: Some(&record),
            ..WriteOptions::default()
        };
        layer(&s.tree, &options);
        let calls = calls.into_inner();
        let total = s.tree.content_bytes();
        assert!(calls.len() > 3);
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(calls.last(), Some(&(total, total)));
    }

    #[test]
    fn a_source_changed_after_adding_is_an_error() {
        let s = testutil::sample();
        std::fs::write(s.host("bin/tool"), "longer than before").unwrap();
        let err = s
            .tree
            .write_layer(std::io::sink(), &WriteOptions::default());
        assert!(
            matches!(&err, Err(Error::SourceChanged { path, .. }) if path == &s.host("bin/tool")),
            "{err:?}"
        );
    }
}
