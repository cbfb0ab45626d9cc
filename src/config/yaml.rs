//! A YAML document as a tree of nodes that remember where they were written.
//!
//! `serde_yaml` forgets positions once a document is parsed, so this module
//! builds its own small tree from `yaml-rust2`'s marked events. Each node
//! carries the line and column of its first character, which is what every
//! config error points at. Anchors and aliases are resolved here; tags are
//! ignored.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the config text: 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Mark {
    fn from(marker: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Mark { line: marker.line(), column: marker.col() + 1 }
    }
}

/// One YAML node and the position where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub mark: Mark,
}

/// The shape of a node. Scalars keep their text; typing happens later,
/// against the type each key expects.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// A scalar and whether it was quoted (or a block literal): such a scalar
    /// is always a string, never null, a boolean or a number.
    Scalar {
        text: String,
        quoted: bool,
    },
    Sequence(Vec<Node>),
    /// Key/value pairs in document order, duplicates included.
    Mapping(Vec<(Node, Node)>),
}

/// A YAML syntax error, or a document that is not exactly one node.
#[derive(Debug, PartialEq)]
pub(crate) struct SyntaxError {
    pub mark: Option<Mark>,
    pub message: String,
}

/// Parses `text` as a single YAML document. An empty document is `Ok(None)`.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = TreeBuilder::default();
    Parser::new_from_str(text).load(&mut builder, true).map_err(|error| SyntaxError {
        mark: Some((*error.marker()).into()),
        message: error.info().to_owned(),
    })?;
    let mut documents = builder.documents.into_iter();
    let first = documents.next();
    match documents.next() {
        Some(second) => Err(SyntaxError {
            mark: second.map(|node| node.mark),
            message: "expected one YAML document, found several (remove the second `---`)"
                .to_owned(),
        }),
        None => Ok(first.flatten()),
    }
}

/// A collection whose children are still arriving.
enum Open {
    Sequence {
        mark: Mark,
        anchor: usize,
        items: Vec<Node>,
    },
    Mapping {
        mark: Option<Mark>,
        anchor: usize,
        pairs: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    /// One entry per document; `None` for a document with no content.
    documents: Vec<Option<Node>>,
    current: Option<Node>,
}

impl TreeBuilder {
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.current = Some(node),
            Some(Open::Sequence { items, .. }) => items.push(node),
            Some(Open::Mapping { mark, pairs, pending_key, .. }) => match pending_key.take() {
                Some(key) => {
                    // An empty value is marked where the next key starts;
                    // its key is where the reader looks for it.
                    let empty = matches!(&node.value, Value::Scalar { text, quoted: false } if text.is_empty());
                    let mark = if empty { key.mark } else { node.mark };
                    pairs.push((key, Node { mark, ..node }));
                }
                None => {
                    // A block mapping's start event is marked oddly; its
                    // first key is where the reader sees it begin.
                    mark.get_or_insert(node.mark);
                    *pending_key = Some(node);
                }
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let mark = Mark::from(marker);
        match event {
            Event::DocumentStart => self.current = None,
            Event::DocumentEnd => self.documents.push(self.current.take()),
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = style != TScalarStyle::Plain;
                let value = Value::Scalar { text, quoted };
                self.complete(Node { value, mark }, anchor);
            }
            Event::Alias(anchor) => {
                if let Some(node) = self.anchors.get(&anchor).cloned() {
                    self.complete(node, 0);
                }
            }
            Event::SequenceStart(anchor, _tag) => {
                self.stack.push(Open::Sequence { mark, anchor, items: Vec::new() })
            }
            Event::MappingStart(anchor, _tag) => self.stack.push(Open::Mapping {
                mark: None,
                anchor,
                pairs: Vec::new(),
                pending_key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Sequence { mark, anchor, items }) => {
                        (Node { value: Value::Sequence(items), mark }, anchor)
                    }
                    Some(Open::Mapping { mark: first_key, anchor, pairs, .. }) => (
                        Node { value: Value::Mapping(pairs), mark: first_key.unwrap_or(mark) },
                        anchor,
                    ),
                    None => return,
                };
                self.complete(node, anchor);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str, line: usize, column: usize) -> Node {
        Node {
            value: Value::Scalar { text: text.to_owned(), quoted: false },
            mark: Mark { line, column },
        }
    }

    #[test]
    fn nodes_carry_one_based_positions() {
        let node = parse("id: x\nlist:\n  - a\n  - 'b'\n").unwrap().unwrap();
        let Value::Mapping(pairs) = node.value else { panic!("expected a mapping") };
        assert_eq!(node.mark, Mark { line: 1, column: 1 });
        assert_eq!(pairs[0], (scalar("id", 1, 1), scalar("x", 1, 5)));
        let Value::Sequence(items) = &pairs[1].1.value else { panic!("expected a sequence") };
        assert_eq!(pairs[1].1.mark, Mark { line: 3, column: 3 });
        assert_eq!(items[0], scalar("a", 3, 5));
        assert_eq!(items[1].value, Value::Scalar { text: "b".to_owned(), quoted: true });
    }

    #[test]
    fn nested_block_mapping_starts_at_its_first_key() {
        let node = parse("a:\n  - kind: x\n    id: y\n").unwrap().unwrap();
        let Value::Mapping(pairs) = node.value else { panic!("expected a mapping") };
        let Value::Sequence(items) = &pairs[0].1.value else { panic!("expected a sequence") };
        assert_eq!(items[0].mark, Mark { line: 2, column: 5 });
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let node = parse("a: &x [1]\nb: *x\n").unwrap().unwrap();
        let Value::Mapping(pairs) = node.value else { panic!("expected a mapping") };
        assert_eq!(pairs[0].1.value, pairs[1].1.value);
    }

    #[test]
    fn empty_document_is_none() {
        assert_eq!(parse("# nothing\n"), Ok(None));
    }

    #[test]
    fn syntax_errors_are_located() {
        let error = parse("a: b\n c: d\n").unwrap_err();
        assert_eq!(error.mark, Some(Mark { line: 2, column: 3 }));
        assert!(error.message.starts_with("mapping values are not allowed"));
    }

    #[test]
    fn second_document_is_rejected() {
        let error = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(error.mark, Some(Mark { line: 3, column: 1 }));
    }
}
