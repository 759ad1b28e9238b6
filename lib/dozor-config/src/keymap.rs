//! Where every key path sits in the (interpolated) text, from the YAML parser's events.
//!
//! Paths look like `a.b[2].c`. A mapping entry is located at its key, a sequence item at the item;
//! both also record where their value starts, so a problem reported at a value (a bad duration, a
//! type error) can be traced back to its path.

use std::collections::HashMap;

use granit_parser::{Event, Parser, Span};

use crate::saphyr::MAX_EVENTS;

/// A 1-based line and column in the interpolated text.
pub(crate) type Pos = (usize, usize);

/// One located key path.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub path: String,
    /// Where the key (or the sequence item) is.
    pub key: Pos,
    /// Where the value starts.
    pub value: Pos,
    /// Byte offset of the value's start.
    pub value_offset: usize,
}

/// Key paths and their locations.
#[derive(Debug, Default)]
pub(crate) struct KeyMap {
    entries: Vec<Entry>,
    by_path: HashMap<String, usize>,
    by_value: HashMap<Pos, usize>,
    by_key: HashMap<Pos, usize>,
    /// Whether the first document holds any node at all.
    pub has_root: bool,
    /// Whether the walk stopped at a syntax error.
    pub syntax_error: bool,
}

enum Frame {
    Map {
        path: String,
        /// `None` while a key is expected; `Some(None)` after a key that is not a plain name.
        key: Option<Option<(String, Pos)>>,
        skip: bool,
    },
    Seq {
        path: String,
        index: usize,
        skip: bool,
    },
}

impl KeyMap {
    /// Walks the first document of `text`; stops quietly at a syntax error or after
    /// [`MAX_EVENTS`] (the deserializer reports both).
    pub fn build(text: &str) -> Self {
        let mut map = KeyMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text).take(MAX_EVENTS) {
            let Ok((event, span)) = event else {
                map.syntax_error = true;
                break;
            };
            match event {
                Event::Scalar(ref value, ..) => {
                    map.node(&mut stack, span, Some(value));
                }
                Event::Alias(_) => {
                    map.node(&mut stack, span, None);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let (path, skip) = map.node(&mut stack, span, None);
                    stack.push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map {
                            path,
                            key: None,
                            skip,
                        }
                    } else {
                        Frame::Seq {
                            path,
                            index: 0,
                            skip,
                        }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::DocumentEnd => break,
                _ => {}
            }
        }
        map
    }

    /// Records one node (scalar, alias or the start of a collection) and returns its path and
    /// whether it is outside any addressable path (inside a complex key).
    fn node(&mut self, stack: &mut [Frame], span: Span, scalar: Option<&str>) -> (String, bool) {
        let at = (span.start.line(), span.start.col() + 1);
        let offset = span.start.byte_offset().unwrap_or_default();
        let (path, key, skip) = match stack.last_mut() {
            None => {
                self.has_root = true;
                (String::new(), at, false)
            }
            Some(Frame::Map {
                key: key @ None, ..
            }) => {
                *key = Some(scalar.map(|name| (name.to_owned(), at)));
                return (String::new(), true);
            }
            Some(Frame::Map { path, key, skip }) => match key.take().flatten() {
                Some((name, key_at)) => (join(path, &name), key_at, *skip),
                None => (String::new(), at, true),
            },
            Some(Frame::Seq { path, index, skip }) => {
                *index += 1;
                (format!("{path}[{}]", *index - 1), at, *skip)
            }
        };
        if !skip {
            // A repeated key keeps its first place for the path, but is still found by position.
            self.by_path
                .entry(path.clone())
                .or_insert(self.entries.len());
            self.by_value.entry(at).or_insert(self.entries.len());
            self.by_key.entry(key).or_insert(self.entries.len());
            self.entries.push(Entry {
                path: path.clone(),
                key,
                value: at,
                value_offset: offset,
            });
        }
        (path, skip)
    }

    /// The entry at exactly this path.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.by_path.get(path).map(|&i| &self.entries[i])
    }

    /// The entry whose value starts at `at`, or else whose key is at `at`.
    pub fn at(&self, at: Pos) -> Option<&Entry> {
        let index = self.by_value.get(&at).or_else(|| self.by_key.get(&at));
        index.map(|&i| &self.entries[i])
    }

    /// The entry whose value starts last at or before `offset` on the same line, for locating a
    /// substitution inside a value.
    pub fn containing(&self, offset: usize, line: usize) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.value.0 == line && e.value_offset <= offset)
            .max_by_key(|e| e.value_offset)
    }

    /// The entry at `path`, or else at its nearest existing parent.
    pub fn nearest(&self, mut path: &str) -> Option<&Entry> {
        loop {
            if let Some(entry) = self.get(path) {
                return Some(entry);
            }
            if path.is_empty() {
                return None;
            }
            path = parent(path);
        }
    }
}

/// `a.b[1]` → `a.b`, `a.b` → `a`, `a` → ``.
pub(crate) fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

/// `a` + `b` → `a.b`; the root has no leading dot.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys_items_and_values() {
        let text = "a:\n  b:\n    - c: 1\n    - c: 2\n      d: &x [x, {e: f}]\n? [k]\n: v\ng: *x\n";
        let map = KeyMap::build(text);
        let got = |p: &str| map.get(p).map(|e| (e.key, e.value));
        assert!(map.has_root);
        assert_eq!(got(""), Some(((1, 1), (1, 1))));
        assert_eq!(got("a"), Some(((1, 1), (2, 3))));
        assert_eq!(got("a.b"), Some(((2, 3), (3, 5))));
        assert_eq!(got("a.b[0]"), Some(((3, 7), (3, 7))));
        assert_eq!(got("a.b[1].c"), Some(((4, 7), (4, 10))));
        // A node's position is its content, after any anchor.
        assert_eq!(got("a.b[1].d"), Some(((5, 7), (5, 13))));
        assert_eq!(got("a.b[1].d[1].e"), Some(((5, 18), (5, 21))));
        assert_eq!(got("g"), Some(((8, 1), (8, 4))));
        assert_eq!(
            map.entries.len(),
            12,
            "nothing recorded for the complex key"
        );
        assert_eq!(map.at((4, 10)).map(|e| e.path.as_str()), Some("a.b[1].c"));
        assert_eq!(map.at((4, 7)).map(|e| e.path.as_str()), Some("a.b[1]"));
        assert_eq!(map.at((5, 7)).map(|e| e.path.as_str()), Some("a.b[1].d"));
        assert_eq!(
            map.nearest("a.b[1].zz").map(|e| e.path.as_str()),
            Some("a.b[1]")
        );
        assert_eq!(parent("a.b[1]"), "a.b");
    }

    #[test]
    fn empty_document_has_no_root() {
        assert!(!KeyMap::build("# nothing\n").has_root);
        assert!(!KeyMap::build("").has_root);
    }
}
