//! The one dynamic value type that flows through every dataflow.
//!
//! Differential dataflow needs `Ord + Hash + Serialize` on everything it sorts, consolidates or
//! exchanges between workers. The derived implementations here are a *storage* order: variants
//! compare by declaration order, `Int(1) != Float(1.0)` and `Null == Null`. That is what lets
//! retractions cancel insertions exactly. Cypher's own equality and ordering (three-valued,
//! numeric across int/float) live in [`crate::eval`], never in these trait impls.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use ordered_float::OrderedFloat;
use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;
use crate::schema::Schema;

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
/// ```text
///  Arc<Node> ──▶ ┌──────────┬──────────────┬───────────────────────────┐
///                │ id: u64  │ schema: Arc ─┼──▶ Schema (one per table    │
///                │          │              │    layout: labels, sorted │
///                │          │              │    column names, key)     │
///                ├──────────┴──────────────┴───────────────────────────┤
///                │ values: [Value; columns]  by column position         │
///                └─────────────────────────────────────────────────────┘
/// ```
///
/// The id comes first so that the derived order groups versions of the same element, and
/// compares as one integer. Ids are dense and per process ([`fresh_node_id`]); the textual
/// element id users see (`table:key`) is spelled from the schema and the key values only
/// when asked for ([`Node::element_id`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Node {
    /// Dense element id, unique among the nodes of this process.
    pub id: u64,
    #[serde(deserialize_with = "crate::schema::deserialize_interned")]
    schema: Arc<Schema>,
    /// One value per schema column; `Value::Null` for an absent property.
    values: Box<[Value]>,
}

/// A new node id, never handed out before in this process.
pub fn fresh_node_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, AtomicOrdering::Relaxed)
}

impl Node {
    /// A node of `schema` with one value per column, in column order.
    ///
    /// # Panics
    /// If the number of values is not the number of columns.
    pub fn new(id: u64, schema: Arc<Schema>, values: Vec<Value>) -> Node {
        assert_eq!(values.len(), schema.columns().len(), "one value per column");
        Node { id, schema, values: values.into_boxed_slice() }
    }

    /// A node without a key (the TCK's graphs, tests): its schema is interned from its
    /// labels and property names.
    pub fn with_properties(id: u64, labels: &[Arc<str>], properties: Properties) -> Node {
        Node::from_map(id, labels, &[], "", properties)
    }

    /// A row of table `table` (its one label) keyed by the `key` properties, from a map:
    /// for tests and benchmarks, which build a few rows; a source builds many through one
    /// schema with [`Node::new`].
    pub fn table_row(id: u64, table: &str, key: &[&str], properties: Properties) -> Node {
        Node::from_map(id, &[Arc::from(table)], key, table, properties)
    }

    fn from_map(
        id: u64,
        labels: &[Arc<str>],
        key: &[&str],
        prefix: &str,
        properties: Properties,
    ) -> Node {
        let columns: Vec<Arc<str>> = properties.keys().cloned().collect();
        let schema = Schema::intern(labels, &columns, key, prefix);
        Node::new(id, schema, properties.into_values().collect())
    }

    /// The layout the values follow.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The node's labels, sorted.
    pub fn labels(&self) -> &[Arc<str>] {
        self.schema.labels()
    }

    /// Whether the node carries `label`.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels().iter().any(|l| &**l == label)
    }

    /// The value of property `key`; `None` if the node's schema has no such column.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.schema.position(key).map(|i| &self.values[i])
    }

    /// The values, by column position.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Every property with its value (null ones included), sorted by name.
    pub fn properties(&self) -> impl Iterator<Item = (&Arc<str>, &Value)> {
        self.schema.columns().iter().zip(self.values.iter())
    }

    /// The element id users see: `table:key` for table rows (Drasi's: composite keys joined
    /// with `_`), `n<id>` for nodes without a key.
    pub fn element_id(&self) -> String {
        let key = self.schema.key();
        if key.is_empty() {
            return format!("n{}", self.id);
        }
        self.schema.spell_id(key.iter().map(|&k| &self.values[k]))
    }

    /// The same node with only the columns of `schema`, a projection of this node's schema.
    pub fn project(&self, schema: Arc<Schema>) -> Node {
        let values =
            schema.columns().iter().map(|c| self.get(c).cloned().unwrap_or(Value::Null)).collect();
        Node::new(self.id, schema, values)
    }
}

/// How a relationship is identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RelId {
    /// A stored relationship, with its dense id.
    Stored(u64),
    /// A relationship a `joins` entry derives: identified by its type and its two ends.
    Joined,
}

/// A relationship between two nodes, identified by their ids.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Relationship {
    /// How it is identified.
    pub id: RelId,
    /// The relationship type.
    pub rel_type: Arc<str>,
    /// Id of the start node.
    pub start: u64,
    /// Id of the end node.
    pub end: u64,
    /// Property values by key.
    pub properties: Properties,
}

impl Relationship {
    /// Whether both are the same relationship (whatever their properties).
    pub fn is(&self, other: &Relationship) -> bool {
        match (self.id, other.id) {
            (RelId::Stored(a), RelId::Stored(b)) => a == b,
            (RelId::Joined, RelId::Joined) => {
                (&self.rel_type, self.start, self.end) == (&other.rel_type, other.start, other.end)
            }
            _ => false,
        }
    }

    /// The relationship's identity as a value, for row identities.
    pub fn ident(&self) -> Value {
        match self.id {
            RelId::Stored(id) => Value::Int(id as i64),
            RelId::Joined => Value::List(Arc::from([
                Value::Int(self.start as i64),
                Value::Int(self.end as i64),
                Value::Str(self.rel_type.clone()),
            ])),
        }
    }

    /// The element id users see.
    pub fn element_id(&self) -> String {
        match self.id {
            RelId::Stored(id) => format!("r{id}"),
            RelId::Joined => format!("{}:{}:{}", self.rel_type, self.start, self.end),
        }
    }
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
            Value::Map(map) => write_map(f, map.iter()),
            Value::Node(node) => {
                write!(f, "(")?;
                for label in node.labels() {
                    write!(f, ":{label}")?;
                }
                if !node.values().is_empty() {
                    if !node.labels().is_empty() {
                        write!(f, " ")?;
                    }
                    write_map(f, node.properties())?;
                }
                write!(f, ")")
            }
            Value::Relationship(rel) => {
                write!(f, "[:{}", rel.rel_type)?;
                if !rel.properties.is_empty() {
                    write!(f, " ")?;
                    write_map(f, rel.properties.iter())?;
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

fn write_map<'a>(
    f: &mut fmt::Formatter<'_>,
    properties: impl Iterator<Item = (&'a Arc<str>, &'a Value)>,
) -> fmt::Result {
    write!(f, "{{")?;
    for (i, (k, v)) in properties.enumerate() {
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
    fn decimals_display_with_exactly_their_digits() {
        let digits = "12345678901234567890123456789.000000000000000000001";
        assert_eq!(Value::Decimal(Decimal::parse(digits).unwrap()).to_string(), digits);
    }

    #[test]
    fn storage_order_keeps_int_and_float_apart() {
        assert_ne!(Value::Int(1), Value::float(1.0));
        assert_eq!(Value::Null, Value::Null);
    }
}
