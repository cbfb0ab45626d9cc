//! Engine values as JSON, serialised straight from the values.
//!
//! REST results, SSE events and log lines show values as JSON. Serialising through these
//! wrappers writes each value once, into whatever the serializer writes to (the bytes of a
//! response or an event with `serde_json::to_writer`), instead of first building a
//! `serde_json::Value` tree and copying every string into it. A template engine that needs a
//! tree gets one from the same wrappers (`serde_json::to_value`), so there is one mapping:
//!
//! * floats JSON cannot represent (NaN, ±Infinity) become the strings `"NaN"`, `"Infinity"`
//!   and `"-Infinity"`, so that no value is silently turned into `null`;
//! * a decimal becomes a JSON number with exactly its digits (serde_json's
//!   `arbitrary_precision`), however many there are;
//! * a node or relationship becomes the map of its properties, as Drasi returns it; a path
//!   becomes `{"nodes": [...], "relationships": [...]}` of those maps.
//!
//! The wrappers are for JSON serializers only: the derived `Serialize` of [`Value`] is the
//! engine's exchange format between workers, a different thing.

use std::sync::Arc;

use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};

use crate::value::{Node, Path, Relationship, Value};

/// A value, serialised as JSON shows it (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct Json<'a>(pub &'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) if f.0.is_finite() => serializer.serialize_f64(f.0),
            Value::Float(f) if f.0.is_nan() => serializer.serialize_str("NaN"),
            Value::Float(f) if f.0 > 0.0 => serializer.serialize_str("Infinity"),
            Value::Float(_) => serializer.serialize_str("-Infinity"),
            Value::Decimal(d) => {
                // A `Number` is how serde_json takes number text verbatim; canonical decimal
                // text always is a JSON number.
                let number: serde_json::Number = d.as_str().parse().map_err(S::Error::custom)?;
                number.serialize(serializer)
            }
            Value::Str(s) => serializer.serialize_str(s),
            Value::List(items) => serializer.collect_seq(items.iter().map(Json)),
            Value::Map(map) => properties(serializer, map.iter()),
            Value::Node(node) => NodeJson(node).serialize(serializer),
            Value::Relationship(rel) => RelationshipJson(rel).serialize(serializer),
            Value::Path(path) => PathJson(path).serialize(serializer),
        }
    }
}

fn properties<'a, S: Serializer>(
    serializer: S,
    properties: impl Iterator<Item = (&'a Arc<str>, &'a Value)>,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(properties.map(|(k, v)| (&**k, Json(v))))
}

/// A node as the map of its properties.
struct NodeJson<'a>(&'a Node);

impl Serialize for NodeJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        properties(serializer, self.0.properties())
    }
}

/// A relationship as the map of its properties.
struct RelationshipJson<'a>(&'a Relationship);

impl Serialize for RelationshipJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        properties(serializer, self.0.properties.iter())
    }
}

/// A path as `{"nodes": [property maps], "relationships": [property maps]}`.
struct PathJson<'a>(&'a Path);

impl Serialize for PathJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let nodes = Array(|| self.0.nodes.iter().map(|n| NodeJson(n)));
        let relationships = Array(|| self.0.relationships.iter().map(|r| RelationshipJson(r)));
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("nodes", &nodes)?;
        map.serialize_entry("relationships", &relationships)?;
        map.end()
    }
}

/// A result row as a JSON object: each column's name with its value, in the query's column
/// order (what the tutorial's page and Drasi's clients read).
#[derive(Clone, Copy, Debug)]
pub struct JsonRow<'a> {
    columns: &'a [Arc<str>],
    values: &'a [Value],
}

impl<'a> JsonRow<'a> {
    /// The row `values` of a query with columns `columns`.
    pub fn new(columns: &'a [Arc<str>], values: &'a [Value]) -> JsonRow<'a> {
        JsonRow { columns, values }
    }
}

impl Serialize for JsonRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = self.columns.iter().zip(self.values).map(|(c, v)| (&**c, Json(v)));
        serializer.collect_map(entries)
    }
}

/// A JSON array of what `items()` yields, serialised while it is iterated: no `Vec` of the
/// items is built first. A closure because serialising takes `&self` and may not consume.
#[derive(Clone, Copy)]
pub struct Array<F>(pub F);

impl<F, I> Serialize for Array<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ordered_float::OrderedFloat;

    use super::*;
    use crate::decimal::Decimal;
    use crate::value::{Properties, RelId};

    /// The mapping as it was first written, through a `serde_json::Value` tree: the oracle the
    /// direct serialisation must match byte for byte.
    fn reference(value: &Value) -> serde_json::Value {
        use serde_json::Value as J;
        let props = |props: &mut dyn Iterator<Item = (&Arc<str>, &Value)>| {
            J::Object(props.map(|(k, v)| (k.to_string(), reference(v))).collect())
        };
        match value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => match serde_json::Number::from_f64(f.0) {
                Some(n) => J::Number(n),
                None if f.0.is_nan() => J::String("NaN".into()),
                None if f.0 > 0.0 => J::String("Infinity".into()),
                None => J::String("-Infinity".into()),
            },
            Value::Decimal(d) => J::Number(d.as_str().parse().unwrap()),
            Value::Str(s) => J::String(s.to_string()),
            Value::List(items) => J::Array(items.iter().map(reference).collect()),
            Value::Map(map) => props(&mut map.iter()),
            Value::Node(node) => props(&mut node.properties()),
            Value::Relationship(rel) => props(&mut rel.properties.iter()),
            Value::Path(path) => serde_json::json!({
                "nodes": path.nodes.iter().map(|n| props(&mut n.properties())).collect::<Vec<_>>(),
                "relationships": path
                    .relationships
                    .iter()
                    .map(|r| props(&mut r.properties.iter()))
                    .collect::<Vec<_>>(),
            }),
        }
    }

    /// The crate's deterministic generator, so failures reproduce.
    use crate::testing::XorShift as Rng;

    impl Rng {
        fn up_to(&mut self, n: u64) -> u64 {
            self.below(n as usize) as u64
        }

        fn string(&mut self) -> String {
            const PIECES: &[&str] = &[
                "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{8}", "\u{c}", "\u{0}",
                "\u{1f}", "\u{7f}", "é", "ß", "€", "😀", "\u{2028}", "\u{feff}", "<%>", "{}",
            ];
            let len = self.up_to(8);
            (0..len).map(|_| PIECES[self.up_to(PIECES.len() as u64) as usize]).collect()
        }

        fn float(&mut self) -> f64 {
            const SPECIAL: &[f64] = &[
                0.0,
                -0.0,
                1.0,
                -1.5,
                0.1,
                1e21,
                1e-7,
                123456789.125,
                f64::MAX,
                f64::MIN_POSITIVE,
                f64::EPSILON,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ];
            match self.up_to(3) {
                0 => SPECIAL[self.up_to(SPECIAL.len() as u64) as usize],
                1 => f64::from_bits(self.next()),
                _ => (self.next() as i64 as f64) / 1000.0,
            }
        }

        fn decimal(&mut self) -> Decimal {
            let int = self.next() % 10u64.pow(self.up_to(19) as u32 + 1);
            let digits = "0123456789";
            let frac: String = (0..self.up_to(30))
                .map(|_| digits.as_bytes()[self.up_to(10) as usize] as char)
                .collect();
            let sign = if self.up_to(2) == 0 { "-" } else { "" };
            Decimal::parse(&format!("{sign}{int}.{frac}1")).unwrap()
        }

        fn properties(&mut self, depth: u32) -> Properties {
            (0..self.up_to(4)).map(|_| (Arc::from(self.string()), self.value(depth))).collect()
        }

        fn node(&mut self, depth: u32) -> Arc<Node> {
            let id = self.next();
            Arc::new(Node::table_row(id, "t", &[], self.properties(depth)))
        }

        fn relationship(&mut self, depth: u32) -> Arc<Relationship> {
            Arc::new(Relationship {
                id: RelId::Stored(self.next()),
                rel_type: Arc::from("R"),
                start: 1,
                end: 2,
                properties: self.properties(depth),
            })
        }

        fn value(&mut self, depth: u32) -> Value {
            let kinds = if depth == 0 { 6 } else { 11 };
            match self.up_to(kinds) {
                0 => Value::Null,
                1 => Value::Bool(self.up_to(2) == 0),
                2 => Value::Int(self.next() as i64 >> self.up_to(64)),
                3 => Value::Float(OrderedFloat(self.float())),
                4 => Value::Decimal(self.decimal()),
                5 => Value::str(&self.string()),
                6 => Value::List((0..self.up_to(4)).map(|_| self.value(depth - 1)).collect()),
                7 => Value::Map(Arc::new(self.properties(depth - 1))),
                8 => Value::Node(self.node(depth - 1)),
                9 => Value::Relationship(self.relationship(depth - 1)),
                _ => {
                    let hops = self.up_to(3) as usize;
                    Value::Path(Arc::new(Path {
                        nodes: (0..=hops).map(|_| self.node(depth - 1)).collect(),
                        relationships: (0..hops).map(|_| self.relationship(depth - 1)).collect(),
                    }))
                }
            }
        }
    }

    fn direct(value: &Value) -> String {
        serde_json::to_string(&Json(value)).unwrap()
    }

    #[test]
    fn random_values_serialise_byte_for_byte_as_through_a_tree() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let value = rng.value(3);
            let expected = serde_json::to_string(&reference(&value)).unwrap();
            assert_eq!(direct(&value), expected, "{value}");
            // Templates read the same mapping as a tree.
            assert_eq!(serde_json::to_value(Json(&value)).unwrap(), reference(&value));
        }
    }

    #[test]
    fn non_finite_floats_stay_visible() {
        assert_eq!(direct(&Value::float(f64::NAN)), r#""NaN""#);
        assert_eq!(direct(&Value::float(f64::INFINITY)), r#""Infinity""#);
        assert_eq!(direct(&Value::float(f64::NEG_INFINITY)), r#""-Infinity""#);
        assert_eq!(direct(&Value::float(2.5)), "2.5");
    }

    #[test]
    fn decimals_are_exact_json_numbers() {
        let digits = "12345678901234567890123456789.000000000000000000001";
        let value = Value::Decimal(Decimal::parse(digits).unwrap());
        assert_eq!(direct(&value), digits);
    }

    #[test]
    fn rows_keep_the_column_order_and_graph_elements_show_their_properties() {
        let props: Properties = [(Arc::from("b"), Value::Int(1)), (Arc::from("a"), Value::Null)]
            .into_iter()
            .collect::<BTreeMap<_, _>>();
        let node = Arc::new(Node::table_row(1, "t", &["b"], props.clone()));
        let rel = Arc::new(Relationship {
            id: RelId::Joined,
            rel_type: Arc::from("R"),
            start: 1,
            end: 1,
            properties: props,
        });
        let path = Path { nodes: vec![node.clone(), node.clone()], relationships: vec![rel] };
        let columns: Vec<Arc<str>> = vec![Arc::from("z"), Arc::from("p"), Arc::from("n")];
        let values = vec![Value::str("é\"\n"), Value::Path(Arc::new(path)), Value::Node(node)];
        assert_eq!(
            serde_json::to_string(&JsonRow::new(&columns, &values)).unwrap(),
            r#"{"z":"é\"\n","p":{"nodes":[{"a":null,"b":1},{"a":null,"b":1}],"relationships":[{"a":null,"b":1}]},"n":{"a":null,"b":1}}"#
        );
    }
}
