//! Values compiled into a file: the NUL-terminated strings of its bytes, as `strings(1)`
//! would find them. Libraries keep their directories this way (`OPENSSLDIR`, gconv's
//! directory, Perl's `@INC`); reading them is how depclose learns them without running
//! anything.

/// The shortest run of printable bytes taken as a string.
const MIN_LEN: usize = 4;
/// The bytes read at a time.
const CHUNK: usize = 256 * 1024;

/// The NUL-terminated runs of printable ASCII of a file (the bytes after its last NUL too),
/// in file order, kept in one buffer: a large library holds hundreds of thousands, and a
/// `String` each costs more than the strings (ffmpeg's image: 23 MB).
#[derive(Debug, Default)]
pub struct CStrings(String);

impl CStrings {
    /// The strings of what `input` reads, a chunk at a time: a 15 MB library is not held
    /// whole, only the printable run being read.
    pub(crate) fn read(input: impl std::io::Read) -> std::io::Result<CStrings> {
        let mut found = CStrings::default();
        found.scan(input, &mut vec![0; CHUNK])?;
        Ok(found.kept())
    }

    /// Without the slack of growing: a file's strings are kept for the run (the ffmpeg
    /// image's were 2.8 MB of its peak memory, up to half of it slack).
    fn kept(mut self) -> CStrings {
        self.0.shrink_to_fit();
        self
    }

    /// The strings of an ELF file's data ([`depclose_elf::data_ranges`]: a fifth of libc's
    /// bytes; its code is 70%), or of all its bytes when it is not ELF; each range ends a
    /// string as the file's end does.
    pub(crate) fn of_file(file: &std::fs::File) -> std::io::Result<CStrings> {
        use std::io::{Read, Seek};
        let Some(ranges) = depclose_elf::data_ranges(file) else {
            return CStrings::read(file);
        };
        let mut found = CStrings::default();
        let mut chunk = vec![0; CHUNK];
        for (offset, len) in ranges {
            let mut input = file;
            input.seek(std::io::SeekFrom::Start(offset))?;
            found.scan(input.take(len), &mut chunk)?;
        }
        Ok(found.kept())
    }

    /// Adds the strings of what `input` reads, through `chunk`.
    fn scan(&mut self, mut input: impl std::io::Read, chunk: &mut [u8]) -> std::io::Result<()> {
        let found = self;
        // The run since the last NUL is appended to the strings as it is read, from `start`,
        // and taken back when it turns out not to be one; it may go on into the next chunk.
        let mut start = found.0.len();
        let mut printable = true;
        loop {
            let n = match input.read(chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // A byte at a time, inline: pieces between NULs are a few bytes in code and
            // tables, and a call per piece cost more than the bytes.
            for &b in &chunk[..n] {
                if b == 0 {
                    found.end_run(&mut start, &mut printable);
                } else if printable {
                    if (0x20..0x7f).contains(&b) {
                        found.0.push(char::from(b));
                    } else {
                        printable = false;
                        found.0.truncate(start);
                    }
                }
            }
        }
        found.end_run(&mut start, &mut printable);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn of(bytes: &[u8]) -> CStrings {
        CStrings::read(bytes).unwrap_or_default()
    }

    /// A NUL (or the end) ends the run since `start`: kept if it is a string.
    fn end_run(&mut self, start: &mut usize, printable: &mut bool) {
        if *printable && self.0.len() - *start >= MIN_LEN {
            // Printable ASCII: a NUL separates the strings unambiguously.
            self.0.push('\0');
        } else {
            self.0.truncate(*start);
        }
        *start = self.0.len();
        *printable = true;
    }

    /// The strings, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split_terminator('\0')
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_nul_terminated_printable_runs() {
        let bytes = b"\x01\x02abc\0OPENSSLDIR: \"/usr/lib/ssl\"\0\xffxx\xfe\0/usr/lib/x\0tail";
        let want = ["OPENSSLDIR: \"/usr/lib/ssl\"", "/usr/lib/x", "tail"];
        assert_eq!(CStrings::of(bytes).iter().collect::<Vec<_>>(), want);
        assert_eq!(CStrings::of(b"").iter().count(), 0);
    }

    #[test]
    fn strings_across_chunks_are_whole() {
        // A reader that hands out one byte at a time splits every string.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((&b, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = b;
                self.0 = rest;
                Ok(1)
            }
        }
        let bytes = b"libfoo.so.1\0ab\xffcdef\0/usr/share/x\0\0abc\0";
        let strings = CStrings::read(Trickle(bytes)).unwrap();
        assert_eq!(
            strings.iter().collect::<Vec<_>>(),
            ["libfoo.so.1", "/usr/share/x"]
        );
    }

    #[test]
    fn strings_are_those_of_a_split_at_every_nul() {
        // Bytes mostly printable, with NULs and other bytes among them (a xorshift stream),
        // read in chunks of several sizes: the same strings as splitting the whole at NULs.
        let mut x: u32 = 0x9e37_79b9;
        let bytes: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                match x % 16 {
                    0 => 0,
                    1 => (x >> 8) as u8,
                    _ => b'a' + (x >> 8) as u8 % 26,
                }
            })
            .collect();
        let want: Vec<&str> = bytes
            .split(|&b| b == 0)
            .filter(|p| p.len() >= MIN_LEN && p.iter().all(|b| (0x20..0x7f).contains(b)))
            .map(|p| std::str::from_utf8(p).unwrap())
            .collect();
        assert!(want.len() > 1000);
        struct Chunks<'a>(&'a [u8], usize);
        impl std::io::Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for size in [1, 3, 4096, usize::MAX] {
            let strings = CStrings::read(Chunks(&bytes, size)).unwrap();
            assert_eq!(strings.iter().collect::<Vec<_>>(), want, "chunks of {size}");
        }
    }

    #[test]
    fn a_files_strings_are_those_of_its_data() {
        let Ok(libc) = std::fs::File::open("/lib/x86_64-linux-gnu/libc.so.6") else {
            println!("SKIPPED a_files_strings_are_those_of_its_data: no x86-64 libc");
            return;
        };
        let strings = CStrings::of_file(&libc).unwrap();
        assert!(strings.iter().any(|s| s.ends_with("/gconv-modules.cache")));
        // Its symbol names are in `.dynstr`, no data.
        assert!(!strings.iter().any(|s| s == "iconv_open"));
        // A file that is not ELF is read whole.
        let mut plain = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut plain, b"\x01/usr/lib/x\0tail").unwrap();
        std::io::Seek::rewind(&mut plain).unwrap();
        let whole = CStrings::of_file(&plain).unwrap();
        assert_eq!(whole.iter().collect::<Vec<_>>(), ["tail"]);
    }
}
