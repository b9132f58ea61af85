//! Names the loader handles as bytes, held in a `String` without loss.
//!
//! The loader's strings (`DT_NEEDED`, `DT_RUNPATH`, `PT_INTERP`, the paths it joins from
//! them) and file names are bytes, usually but not always UTF-8. depclose keeps them as
//! `String`s, so [`encode`] writes each byte that is not part of valid UTF-8 as a character
//! of its own, and [`decode`] gives the bytes back:
//!
//! - a byte `b` (always `0x80..=0xFF` there) becomes U+10FF00 + `b`, in U+10FF80..=U+10FFFF
//!   (the end of Plane 16's private use area);
//! - a character of that range in valid UTF-8 has each of its four bytes escaped so, which
//!   keeps the escape unambiguous;
//! - everything else passes through unchanged.
//!
//! `decode(&encode(b)) == b` for every byte string. An escape is never ASCII, so splitting an
//! encoded string at `/`, `:` or `;`, or finding `$ORIGIN` in it, splits the bytes at the
//! same places.
//!
//! ```
//! use depclose_elf::name;
//!
//! let encoded = name::encode(b"lib\xff.so");
//! assert_eq!(encoded, "lib\u{10ffff}.so");
//! assert_eq!(&*name::decode(&encoded), b"lib\xff.so");
//! assert_eq!(name::encode(b"libc.so.6"), "libc.so.6");
//! ```

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The bytes of a NUL-terminated string: up to its first NUL, or all of them without one.
/// ELF and cache strings are short: core's search, which needs no run-time CPU detection
/// (a dozen CPUID traps in a VM, docs/benchmarks.md), is as fast there as memchr's.
pub fn until_nul(bytes: &[u8]) -> &[u8] {
    std::ffi::CStr::from_bytes_until_nul(bytes).map_or(bytes, std::ffi::CStr::to_bytes)
}

/// The escape of byte `b` is `BASE + b`.
const BASE: u32 = 0x10_FF00;

/// The escapes of the bytes 0x80..=0xFF, worked out at compile time.
const ESCAPES: [char; 128] = {
    let mut table = ['\0'; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = match char::from_u32(BASE + 0x80 + i as u32) {
            Some(c) => c,
            // Compile-time only: every value of the range is a scalar value.
            None => panic!("an escape is not a scalar value"),
        };
        i += 1;
    }
    table
};

/// The escape of a byte that is not part of valid UTF-8 (never ASCII, so its low seven bits
/// pick it).
fn escape(b: u8) -> char {
    ESCAPES[usize::from(b & 0x7F)]
}

/// True for a character of the reserved range, U+10FF80..=U+10FFFF.
fn is_escape(c: char) -> bool {
    u32::from(c) >= BASE + 0x80
}

/// Whether `s` holds a character of the reserved range: as an encoded name, whether it
/// stands for bytes that are not UTF-8 (or for such a character).
pub fn has_escapes(s: &str) -> bool {
    // Every reserved character is encoded as `F4 8F BE xx` or `F4 8F BF xx`: the byte scan
    // rules most strings out cheaply.
    s.as_bytes().contains(&0xF4) && s.chars().any(is_escape)
}

/// `bytes` as a string: valid UTF-8 as it is (borrowed when it holds no reserved
/// character), every other byte escaped.
pub fn encode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !has_escapes(s) => Cow::Borrowed(s),
        _ => Cow::Owned(escaped(bytes)),
    }
}

/// [`encode`] of bytes the caller owns: UTF-8 without a reserved character is kept, not
/// copied.
pub fn encode_vec(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) if !has_escapes(&s) => s,
        Ok(s) => escaped(s.as_bytes()),
        Err(e) => escaped(e.as_bytes()),
    }
}

fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                let mut buf = [0; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(escape));
            } else {
                out.push(c);
            }
        }
        out.extend(chunk.invalid().iter().map(|&b| escape(b)));
    }
    out
}

/// The bytes `s` stands for: each reserved character the byte it escapes, every other
/// character its UTF-8. Borrowed when nothing is escaped.
pub fn decode(s: &str) -> Cow<'_, [u8]> {
    if !has_escapes(s) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if is_escape(c) {
            // 0x10FF80..=0x10FFFF less BASE is 0x80..=0xFF.
            out.push((u32::from(c) - BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
    Cow::Owned(out)
}

/// The path an encoded string names.
pub fn to_path(s: &str) -> Cow<'_, Path> {
    match decode(s) {
        Cow::Borrowed(b) => Cow::Borrowed(Path::new(OsStr::from_bytes(b))),
        Cow::Owned(v) => Cow::Owned(PathBuf::from(OsString::from_vec(v))),
    }
}

/// [`to_path`], owned.
pub fn to_path_buf(s: &str) -> PathBuf {
    to_path(s).into_owned()
}

/// A path as an encoded string.
pub fn from_path(p: &Path) -> Cow<'_, str> {
    from_os(p.as_os_str())
}

/// An OS string (a program argument, a file name) as an encoded string.
pub fn from_os(s: &OsStr) -> Cow<'_, str> {
    encode(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips(bytes: &[u8]) {
        let encoded = encode(bytes);
        assert_eq!(&*decode(&encoded), bytes, "{bytes:x?} as {encoded:?}");
        assert_eq!(encode_vec(bytes.to_vec()), encoded, "{bytes:x?}");
    }

    #[test]
    fn every_one_and_two_byte_string_round_trips() {
        for a in 0..=255u8 {
            round_trips(&[a]);
            for b in 0..=255u8 {
                round_trips(&[a, b]);
            }
        }
    }

    #[test]
    fn reserved_characters_are_escaped_and_round_trip() {
        for c in ESCAPES {
            let mut buf = [0; 4];
            let utf8 = c.encode_utf8(&mut buf).as_bytes();
            let encoded = encode(utf8);
            assert_eq!(encoded.chars().count(), 4, "{c:?}");
            assert!(encoded.chars().all(is_escape), "{c:?}");
            assert_eq!(&*decode(&encoded), utf8);
            let around = [b"a/".as_slice(), utf8, b":b"].concat();
            round_trips(&around);
        }
        // The last character below the range passes through.
        assert_eq!(encode("\u{10FF7F}".as_bytes()), "\u{10FF7F}");
    }

    #[test]
    fn random_byte_strings_round_trip() {
        // xorshift64, fixed seed: the same sample every run.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Bytes near the escapes' own encoding, ASCII and anything, mixed.
        const NEAR: [u8; 8] = [0xF4, 0x8F, 0xBE, 0xBF, 0x80, 0xC3, b'/', b':'];
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    match r % 3 {
                        0 => NEAR[(r >> 8) as usize % NEAR.len()],
                        1 => (r >> 8) as u8 & 0x7F,
                        _ => (r >> 8) as u8,
                    }
                })
                .collect();
            round_trips(&bytes);
        }
    }

    #[test]
    fn utf8_names_are_unchanged_and_borrowed() {
        assert!(has_escapes(&encode(b"lib\xff.so")));
        for s in [
            "",
            "libc.so.6",
            "$ORIGIN/../lib:/usr/lib;x",
            "/opt/é/ünï.so",
            "日本",
        ] {
            assert!(!has_escapes(s), "{s}");
            assert!(
                matches!(encode(s.as_bytes()), Cow::Borrowed(e) if e == s),
                "{s}"
            );
            assert!(
                matches!(decode(s), Cow::Borrowed(b) if b == s.as_bytes()),
                "{s}"
            );
            assert!(
                matches!(to_path(s), Cow::Borrowed(p) if p == Path::new(s)),
                "{s}"
            );
        }
    }

    #[test]
    fn escapes_keep_the_separators() {
        let encoded = encode(b"$ORIGIN/d\xfe:/x\xff;y");
        let parts: Vec<&str> = encoded.split([':', ';']).collect();
        assert_eq!(parts, ["$ORIGIN/d\u{10fffe}", "/x\u{10ffff}", "y"]);
        assert!(encoded.starts_with("$ORIGIN/"));
    }

    #[test]
    fn paths_and_os_strings() {
        let p = Path::new(OsStr::from_bytes(b"/d\xfe/lib\xff.so"));
        let s = from_path(p);
        assert_eq!(s, "/d\u{10fffe}/lib\u{10ffff}.so");
        assert_eq!(to_path(&s), p);
        assert_eq!(to_path_buf(&s), p);
        assert_eq!(from_os(p.as_os_str()), s);
    }
}
