//! Where a JSON answer ends.
//!
//! A schema-constrained answer is one JSON value; once it is complete the
//! grammar allows only trailing whitespace or the end token, so decoding
//! another token (one full model evaluation) is wasted. [`JsonEnd`] follows
//! the answer byte by byte and says when its top-level value has closed.

/// Incremental scanner of one JSON value's brackets and strings.
#[derive(Debug, Default, Clone)]
pub(crate) struct JsonEnd {
    depth: usize,
    in_string: bool,
    escaped: bool,
    opened: bool,
    closed: bool,
}

impl JsonEnd {
    /// Feeds more bytes of the answer; returns true once the top-level
    /// object or array has closed (and stays true).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if self.closed {
                break;
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.opened = true;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.opened && self.depth == 0 {
                        self.closed = true;
                    }
                }
                _ => {}
            }
        }
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::JsonEnd;

    fn ends_at(pieces: &[&str]) -> Option<usize> {
        let mut j = JsonEnd::default();
        pieces.iter().position(|p| j.feed(p.as_bytes()))
    }

    #[test]
    fn closes_with_the_top_level_object() {
        assert_eq!(ends_at(&["{\"", "facts", "\":", " [", "]}", " "]), Some(4));
        assert_eq!(
            ends_at(&["{\"facts\": [\"Likes tea\"", ", \"Has a dog\"", "]", "}"]),
            Some(3)
        );
        assert_eq!(ends_at(&["[1, [2]", ", 3]"]), Some(1));
    }

    #[test]
    fn brackets_and_quotes_inside_strings_do_not_count() {
        assert_eq!(
            ends_at(&[r#"{"facts": ["Said \"hi}\" to Ana]""#, "]", "}"]),
            Some(2)
        );
        assert_eq!(ends_at(&[r#"{"a": "\\"#, r#"", "b": "}"}"#]), Some(1));
    }

    #[test]
    fn open_or_bare_values_never_close() {
        assert_eq!(ends_at(&["{\"a\": [1, 2]", ", \"b\": {}"]), None);
        assert_eq!(ends_at(&["\"text\"", " 12"]), None);
        assert_eq!(ends_at(&[]), None);
    }
}
