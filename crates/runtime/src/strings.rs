//! Values compiled into a file: the NUL-terminated strings of its bytes, as `strings(1)`
//! would find them. Libraries keep their directories this way (`OPENSSLDIR`, gconv's
//! directory, Perl's `@INC`); reading them is how depclose learns them without running
//! anything.

/// The shortest run of printable bytes taken as a string.
const MIN_LEN: usize = 4;

/// The NUL-terminated runs of printable ASCII of a file (the bytes after its last NUL too),
/// in file order, kept in one buffer: a large library holds hundreds of thousands, and a
/// `String` each costs more than the strings (ffmpeg's image: 23 MB).
#[derive(Debug, Default)]
pub struct CStrings(String);

impl CStrings {
    /// The strings of what `input` reads, a chunk at a time: a 15 MB library is not held
    /// whole, only the printable run being read.
    pub(crate) fn read(mut input: impl std::io::Read) -> std::io::Result<CStrings> {
        let mut found = CStrings::default();
        let mut chunk = vec![0; 256 * 1024];
        // The run since the last NUL, while it is printable.
        let mut run = String::new();
        let mut printable = true;
        loop {
            let n = match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut pieces = chunk[..n].split(|&b| b == 0).peekable();
            while let Some(piece) = pieces.next() {
                if printable && piece.iter().all(|&b| (0x20..0x7f).contains(&b)) {
                    // ASCII, so one char per byte.
                    run.extend(piece.iter().map(|&b| char::from(b)));
                } else {
                    printable = false;
                    run.clear();
                }
                // The last piece runs on into the next chunk.
                if pieces.peek().is_some() {
                    found.end_run(&mut run, &mut printable);
                }
            }
        }
        found.end_run(&mut run, &mut printable);
        Ok(found)
    }

    #[cfg(test)]
    pub(crate) fn of(bytes: &[u8]) -> CStrings {
        CStrings::read(bytes).unwrap_or_default()
    }

    /// A NUL (or the end) ends `run`: kept if it is a string.
    fn end_run(&mut self, run: &mut String, printable: &mut bool) {
        if *printable && run.len() >= MIN_LEN {
            self.0.push_str(run);
            // Printable ASCII: a NUL separates the strings unambiguously.
            self.0.push('\0');
        }
        run.clear();
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
}
