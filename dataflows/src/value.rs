//! The one dynamic value type that flows through every dataflow.
//!
//! Differential dataflow needs `Ord + Hash + Serialize` on everything it sorts, consolidates or
//! exchanges between workers. The derived implementations here are a *storage* order: variants
//! compare by declaration order, `Int(1) != Float(1.0)` and `Null == Null`. That is what lets
//! retractions cancel insertions exactly. Cypher's own equality and ordering (three-valued,
//! numeric across int/float) live in [`crate::eval`], never in these trait impls.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use ordered_float::OrderedFloat;
use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;

/// A property map: sorted, so that its order and hash are deterministic across processes.
pub type Properties = BTreeMap<Arc<str>, Value>;

/// A Cypher value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    /// The absent value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float. `OrderedFloat` gives the total order DD needs (NaN is greatest).
    Float(OrderedFloat<f64>),
    /// An exact decimal (PostgreSQL `numeric`); see [`crate::decimal`] for its semantics.
    Decimal(Decimal),
    /// A string.
    Str(Arc<str>),
    /// A list.
    List(Arc<[Value]>),
    /// A map with string keys.
    Map(Arc<Properties>),
    /// A graph node (a source row).
    Node(Arc<Node>),
    /// A graph relationship.
    Relationship(Arc<Relationship>),
    /// A path: alternating nodes and relationships.
    Path(Arc<Path>),
}

/// A node: for PostgreSQL sources, one row of a table.
///
/// The element id comes first so that the derived order groups versions of the same element.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Node {
    /// Element id, unique among nodes: `table:key` for PostgreSQL rows (composite keys joined
    /// with `_`).
    pub id: Arc<str>,
    /// The node's labels, sorted (the bare table name for PostgreSQL rows).
    pub labels: Arc<[Arc<str>]>,
    /// Property values by key (column values by column name); null properties are absent or
    /// [`Value::Null`], which read the same.
    pub properties: Properties,
}

impl Node {
    /// Whether the node carries `label`.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| &**l == label)
    }
}

/// A relationship between two nodes, identified by their element ids.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Relationship {
    /// Element id, unique among relationships.
    pub id: Arc<str>,
    /// The relationship type.
    pub rel_type: Arc<str>,
    /// Element id of the start node.
    pub start: Arc<str>,
    /// Element id of the end node.
    pub end: Arc<str>,
    /// Property values by key.
    pub properties: Properties,
}

/// A walk through the graph: `nodes.len() == relationships.len() + 1`, relationship `i`
/// connecting nodes `i` and `i + 1` (in either direction).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Path {
    /// The nodes in walk order.
    pub nodes: Vec<Arc<Node>>,
    /// The relationships in walk order.
    pub relationships: Vec<Arc<Relationship>>,
}

/// One graph element: what sources feed the engine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Element {
    /// A node.
    Node(Arc<Node>),
    /// A relationship.
    Relationship(Arc<Relationship>),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// A float value.
    pub fn float(f: f64) -> Value {
        Value::Float(OrderedFloat(f))
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as JSON, as REST results and SSE events carry it.
    ///
    /// Floats that JSON cannot represent (NaN, ±Infinity) become the strings `"NaN"`,
    /// `"Infinity"` and `"-Infinity"`, so that no value is silently turned into `null`.
    /// A decimal becomes a JSON number with exactly its digits (serde_json's
    /// `arbitrary_precision`), however many there are.
    /// A node becomes the map of its properties, as Drasi returns it.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => match serde_json::Number::from_f64(f.0) {
                Some(n) => J::Number(n),
                None if f.0.is_nan() => J::String("NaN".into()),
                None if f.0 > 0.0 => J::String("Infinity".into()),
                None => J::String("-Infinity".into()),
            },
            Value::Decimal(d) => {
                J::Number(d.as_str().parse().expect("decimal text is a JSON number"))
            }
            Value::Str(s) => J::String(s.to_string()),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(map) => properties_to_json(map),
            Value::Node(node) => properties_to_json(&node.properties),
            Value::Relationship(rel) => properties_to_json(&rel.properties),
            Value::Path(path) => serde_json::json!({
                "nodes": path.nodes.iter().map(|n| properties_to_json(&n.properties)).collect::<Vec<_>>(),
                "relationships": path
                    .relationships
                    .iter()
                    .map(|r| properties_to_json(&r.properties))
                    .collect::<Vec<_>>(),
            }),
        }
    }

    /// The Cypher type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "BOOLEAN",
            Value::Int(_) => "INTEGER",
            Value::Float(_) => "FLOAT",
            Value::Decimal(_) => "DECIMAL",
            Value::Str(_) => "STRING",
            Value::List(_) => "LIST",
            Value::Map(_) => "MAP",
            Value::Node(_) => "NODE",
            Value::Relationship(_) => "RELATIONSHIP",
            Value::Path(_) => "PATH",
        }
    }
}

fn properties_to_json(map: &Properties) -> serde_json::Value {
    serde_json::Value::Object(map.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect())
}

impl fmt::Display for Value {
    /// Cypher literal syntax, as used in logs and test expectations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.0.is_finite() && x.0.fract() == 0.0 && x.0.abs() < 1e16 => {
                write!(f, "{:.1}", x.0)
            }
            Value::Float(x) => write!(f, "{}", x.0),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Str(s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Value::List(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            Value::Map(map) => write_map(f, map),
            Value::Node(node) => {
                write!(f, "(")?;
                for label in node.labels.iter() {
                    write!(f, ":{label}")?;
                }
                if !node.properties.is_empty() {
                    if !node.labels.is_empty() {
                        write!(f, " ")?;
                    }
                    write_map(f, &node.properties)?;
                }
                write!(f, ")")
            }
            Value::Relationship(rel) => {
                write!(f, "[:{}", rel.rel_type)?;
                if !rel.properties.is_empty() {
                    write!(f, " ")?;
                    write_map(f, &rel.properties)?;
                }
                write!(f, "]")
            }
            Value::Path(path) => {
                write!(f, "<")?;
                for (i, node) in path.nodes.iter().enumerate() {
                    if let Some(rel) = i.checked_sub(1).and_then(|r| path.relationships.get(r)) {
                        let forward = rel.start == path.nodes[i - 1].id;
                        let rel = Value::Relationship(rel.clone());
                        if forward {
                            write!(f, "-{rel}->")?;
                        } else {
                            write!(f, "<-{rel}-")?;
                        }
                    }
                    write!(f, "{}", Value::Node(node.clone()))?;
                }
                write!(f, ">")
            }
        }
    }
}

fn write_map(f: &mut fmt::Formatter<'_>, map: &Properties) -> fmt::Result {
    write!(f, "{{")?;
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{k}: {v}")?;
    }
    write!(f, "}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_stay_visible_in_json() {
        assert_eq!(Value::float(f64::NAN).to_json(), serde_json::json!("NaN"));
        assert_eq!(Value::float(f64::INFINITY).to_json(), serde_json::json!("Infinity"));
        assert_eq!(Value::float(2.5).to_json(), serde_json::json!(2.5));
    }

    #[test]
    fn decimals_are_exact_json_numbers() {
        let digits = "12345678901234567890123456789.000000000000000000001";
        let value = Value::Decimal(Decimal::parse(digits).unwrap());
        let json = serde_json::to_string(&value.to_json()).unwrap();
        assert_eq!(json, digits);
        assert_eq!(value.to_string(), digits);
    }

    #[test]
    fn storage_order_keeps_int_and_float_apart() {
        assert_ne!(Value::Int(1), Value::float(1.0));
        assert_eq!(Value::Null, Value::Null);
    }
}
