//! Node layouts, interned once and shared by every node that follows them.
//!
//! A PostgreSQL table holds millions of rows with the same labels and column names. Storing
//! those names in every row made a row cost thirty times what PostgreSQL pays for it, and
//! made every property read a string search in a per-row map. A [`Schema`] holds them once:
//! a node is its dense id, an `Arc<Schema>` and its values by column position.
//!
//! Contract:
//! * Schemas are interned per process: two schemas with the same content are the same `Arc`,
//!   so comparing layouts is a pointer comparison in the common case.
//! * Columns are sorted by name and distinct, so a node's properties iterate in name order
//!   (the order results have always had) and a name is found by binary search.
//! * Order, equality and hash follow the content, never the address, so they are the same in
//!   every process of a cluster; a schema travels between processes as its content and is
//!   interned again on arrival.
//! * An ALTER TABLE gives the table a new schema (other columns); rows already held keep the
//!   schema they were built with until the source rebuilds them.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The layout of a family of nodes: labels, property names and how element ids are spelled.
#[derive(Debug)]
pub struct Schema {
    content: Content,
    /// A hash of `content` with a fixed hasher: the same in every process.
    fingerprint: u64,
}

/// What a schema is made of; what interning compares.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Content {
    /// Sorted, distinct.
    labels: Arc<[Arc<str>]>,
    /// Sorted, distinct: the properties a node of this schema has, by position.
    columns: Arc<[Arc<str>]>,
    /// Positions (in `columns`) of the key columns, in key order: what element ids are made of.
    key: Arc<[usize]>,
    /// What element ids start with (the table's name); empty for nodes without a key.
    prefix: Arc<str>,
}

impl Schema {
    /// The one schema with this content. `columns` are sorted (and must be distinct); `key`
    /// names key columns, in key order, each of which must be among `columns`.
    ///
    /// # Panics
    /// If a key column is not among the columns, or a column is named twice: a bug of the
    /// caller, which derives both from one table description.
    pub fn intern(
        labels: &[Arc<str>],
        columns: &[Arc<str>],
        key: &[&str],
        prefix: &str,
    ) -> Arc<Schema> {
        let mut labels = labels.to_vec();
        labels.sort();
        labels.dedup();
        let mut sorted = columns.to_vec();
        sorted.sort();
        let names = sorted.len();
        sorted.dedup();
        assert_eq!(names, sorted.len(), "a schema names each column once");
        let key = key
            .iter()
            .map(|k| sorted.binary_search_by(|c| (**c).cmp(k)).expect("key columns are columns"))
            .collect();
        Schema::from_content(Content {
            labels: labels.into(),
            columns: sorted.into(),
            key,
            prefix: Arc::from(prefix),
        })
    }

    fn from_content(content: Content) -> Arc<Schema> {
        static INTERNED: OnceLock<Mutex<HashMap<Content, Arc<Schema>>>> = OnceLock::new();
        let mut interned =
            INTERNED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(schema) = interned.get(&content) {
            return schema.clone();
        }
        #[allow(deprecated)] // SipHasher's fixed keys are the point: the same in every process.
        let mut hasher = std::hash::SipHasher::new();
        content.hash(&mut hasher);
        let schema = Arc::new(Schema { content: content.clone(), fingerprint: hasher.finish() });
        interned.insert(content, schema.clone());
        schema
    }

    /// The labels, sorted.
    pub fn labels(&self) -> &[Arc<str>] {
        &self.content.labels
    }

    /// The property names, sorted: a node's values follow them by position.
    pub fn columns(&self) -> &[Arc<str>] {
        &self.content.columns
    }

    /// The position of property `name`, if nodes of this schema have it.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.content.columns.binary_search_by(|c| (**c).cmp(name)).ok()
    }

    /// Positions of the key columns, in key order.
    pub fn key(&self) -> &[usize] {
        &self.content.key
    }

    /// What element ids of keyed nodes start with.
    pub fn prefix(&self) -> &str {
        &self.content.prefix
    }

    /// The element id users see for a row with these key values (in key order): Drasi's
    /// `table:key`, composite keys joined with `_`.
    pub fn spell_id<'v>(&self, key: impl Iterator<Item = &'v crate::value::Value>) -> String {
        let parts: Vec<String> = key
            .map(|value| match value {
                crate::value::Value::Str(s) => s.to_string(),
                other => other.to_string(),
            })
            .collect();
        format!("{}:{}", self.prefix(), parts.join("_"))
    }

    /// This layout with only the columns `keep` says yes to (key columns always stay, so that
    /// element ids can still be spelled).
    pub fn project(&self, keep: impl Fn(&str) -> bool) -> Arc<Schema> {
        let key_names: Vec<&str> = self.key().iter().map(|&k| &*self.columns()[k]).collect();
        let columns: Vec<Arc<str>> = self
            .columns()
            .iter()
            .filter(|c| keep(c) || key_names.contains(&&***c))
            .cloned()
            .collect();
        Schema::intern(self.labels(), &columns, &key_names, self.prefix())
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Schema) -> bool {
        std::ptr::eq(self, other) || self.content == other.content
    }
}

impl Eq for Schema {}

impl PartialOrd for Schema {
    fn partial_cmp(&self, other: &Schema) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Schema {
    fn cmp(&self, other: &Schema) -> Ordering {
        if std::ptr::eq(self, other) {
            return Ordering::Equal;
        }
        self.content.cmp(&other.content)
    }
}

impl Hash for Schema {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.fingerprint);
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.content.serialize(serializer)
    }
}

/// Deserializes as an interned schema, so that nodes received from other processes share
/// their layout again.
pub fn deserialize_interned<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Schema>, D::Error> {
    Content::deserialize(d).map(Schema::from_content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    #[test]
    fn equal_content_is_one_schema() {
        let a = Schema::intern(&names(&["t"]), &names(&["b", "a"]), &["a"], "t");
        let b = Schema::intern(&names(&["t"]), &names(&["a", "b"]), &["a"], "t");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.columns(), &names(&["a", "b"])[..]);
        assert_eq!((a.position("b"), a.position("c")), (Some(1), None));
    }

    #[test]
    fn projection_keeps_the_key() {
        let s = Schema::intern(&names(&["t"]), &names(&["id", "v", "w"]), &["id"], "t");
        let p = s.project(|c| c == "w");
        assert_eq!(p.columns(), &names(&["id", "w"])[..]);
        assert_eq!(p.key(), &[0]);
    }

    #[test]
    fn a_schema_comes_back_from_serialization_as_the_same_arc() {
        let s = Schema::intern(&names(&["t"]), &names(&["id"]), &["id"], "t");
        let bytes = serde_json::to_vec(&*s).unwrap();
        let back = deserialize_interned(&mut serde_json::Deserializer::from_slice(&bytes));
        assert!(Arc::ptr_eq(&s, &back.unwrap()));
    }
}
