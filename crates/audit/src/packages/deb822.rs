//! The control-file syntax dpkg's status file and machine-readable copyright files share
//! (deb822): paragraphs of `Field: value` lines, separated by blank lines, a value going on
//! over lines that start with a space or a tab.

/// One paragraph: its fields in file order, and the line it starts on.
///
/// Kept as one string in a normal form, `Name: value` lines (`Name:` alone for an empty
/// value), each continuation line after its field unchanged: what writing the paragraph
/// back gives, and one allocation a paragraph instead of two a field (a status file has
/// ~20 fields a package).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Paragraph {
    /// The line of its first field, from 1.
    pub(crate) line: usize,
    text: String,
}

impl Paragraph {
    /// The value of a field; names are compared without case, as dpkg does.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Each field's name as written, and its value: the first line's text without the
    /// spaces around it, then each continuation line after a `\n`, unchanged (its leading
    /// space kept).
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut rest = self.text.as_str();
        std::iter::from_fn(move || {
            let (name, after) = rest.split_once(':')?;
            // The field ends before the next line that starts with neither space nor tab.
            let end = memchr::memchr_iter(b'\n', after.as_bytes())
                .find(|&i| !after[i + 1..].starts_with([' ', '\t']))
                .unwrap_or(after.len());
            rest = after.get(end + 1..).unwrap_or("");
            let value = &after[..end];
            Some((name, value.strip_prefix(' ').unwrap_or(value)))
        })
    }

    /// The paragraph's lines in the normal form, each ending in a newline.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

/// A paragraph being read: its text grows in one buffer, used again for every paragraph, and
/// each is then copied out at its size.
struct Current {
    line: usize,
    text: String,
}

impl Current {
    fn field(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        self.text.push(':');
        if !value.is_empty() {
            self.text.push(' ');
            self.text.push_str(value);
        }
        self.text.push('\n');
    }

    fn continuation(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// The paragraph read, if it has a field; the buffer is left empty.
    fn take(&mut self) -> Option<Paragraph> {
        let paragraph = (!self.text.is_empty()).then(|| Paragraph {
            line: self.line,
            text: self.text.as_str().to_owned(),
        });
        self.text.clear();
        paragraph
    }
}

/// A line that is neither a field, a continuation, a comment nor blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// From 1.
    pub(crate) line: usize,
    pub(crate) reason: &'static str,
}

/// Split `text` into paragraphs. A line of only spaces ends a paragraph, as an empty one
/// does; a line starting with `#` is a comment (no field name may start with it).
pub(crate) fn paragraphs(text: &str) -> Result<Vec<Paragraph>, SyntaxError> {
    let mut out = Vec::new();
    let mut current = Current {
        line: 0,
        text: String::new(),
    };
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() {
            out.extend(current.take());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if current.text.is_empty() {
                return Err(SyntaxError {
                    line: number,
                    reason: "a continuation line with no field before it",
                });
            }
            current.continuation(line);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(SyntaxError {
                line: number,
                reason: "a line with no `:` that does not continue a field",
            });
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(SyntaxError {
                line: number,
                reason: "a field name that is empty or holds a space",
            });
        }
        if current.text.is_empty() {
            current.line = number;
        }
        current.field(name, value.trim());
    }
    out.extend(current.take());
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_are_kept_as_written() {
        let text = "A: 1\nB:  two  \n words\n .\n\tmore\n \nC: 3\n# note\nD:\n";
        let got = paragraphs(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].line, 1);
        assert_eq!(got[0].get("b"), Some("two\n words\n .\n\tmore"));
        assert_eq!(got[1].line, 7);
        let fields: Vec<_> = got[1].fields().collect();
        assert_eq!(fields, [("C", "3"), ("D", "")]);
        assert_eq!(got[0].text(), "A: 1\nB: two\n words\n .\n\tmore\n");
    }

    #[test]
    fn stray_lines_are_errors_with_their_line() {
        assert_eq!(
            paragraphs("A: 1\n\n continued").unwrap_err(),
            SyntaxError {
                line: 3,
                reason: "a continuation line with no field before it",
            }
        );
        assert_eq!(paragraphs("A: 1\nnonsense\n").unwrap_err().line, 2);
    }
}
