//! The control-file syntax dpkg's status file and machine-readable copyright files share
//! (deb822): paragraphs of `Field: value` lines, separated by blank lines, a value going on
//! over lines that start with a space or a tab.

/// One paragraph: its fields in file order, and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paragraph {
    /// The line of its first field, from 1.
    pub(crate) line: usize,
    /// Each field's name as written, and its value: the first line's text without the
    /// spaces around it, then each continuation line after a `\n`, unchanged (its leading
    /// space kept), so that writing `Name: value` back gives the same lines.
    pub(crate) fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of a field; names are compared without case, as dpkg does.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
    let mut current: Option<Paragraph> = None;
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
            let Some((_, value)) = current.as_mut().and_then(|p| p.fields.last_mut()) else {
                return Err(SyntaxError {
                    line: number,
                    reason: "a continuation line with no field before it",
                });
            };
            value.push('\n');
            value.push_str(line);
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
        current
            .get_or_insert_with(|| Paragraph {
                line: number,
                fields: Vec::new(),
            })
            .fields
            .push((name.to_owned(), value.trim().to_owned()));
    }
    out.extend(current);
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
        assert_eq!(
            got[1].fields,
            vec![("C".into(), "3".into()), ("D".into(), String::new())]
        );
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
