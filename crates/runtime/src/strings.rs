//! Values compiled into a file: the NUL-terminated strings of its bytes, as `strings(1)`
//! would find them. Libraries keep their directories this way (`OPENSSLDIR`, gconv's
//! directory, Perl's `@INC`); reading them is how depclose learns them without running
//! anything.

/// The shortest run of printable bytes taken as a string.
const MIN_LEN: usize = 4;

/// The NUL-terminated runs of printable ASCII in `bytes`, in file order.
pub(crate) fn c_strings(bytes: &[u8]) -> impl Iterator<Item = &str> {
    bytes
        .split(|&b| b == 0)
        .filter(|s| s.len() >= MIN_LEN && s.iter().all(|&b| (0x20..0x7f).contains(&b)))
        .filter_map(|s| std::str::from_utf8(s).ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_nul_terminated_printable_runs() {
        let bytes = b"\x01\x02abc\0OPENSSLDIR: \"/usr/lib/ssl\"\0\xffxx\xfe\0/usr/lib/x\0";
        let found: Vec<&str> = c_strings(bytes).collect();
        assert_eq!(found, ["OPENSSLDIR: \"/usr/lib/ssl\"", "/usr/lib/x"]);
    }
}
