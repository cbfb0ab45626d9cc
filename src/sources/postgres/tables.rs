//! Rows as nodes: the current row of every key, so that each change can retract what it
//! replaces.
//!
//! Under PostgreSQL's default replica identity an UPDATE carries only the new row, and a
//! DELETE only the key. Differential dataflow needs the exact old record to retract it, so the
//! source remembers the current node per element id. The same map resolves unchanged TOASTed
//! columns (`u` in pgoutput), which keep their previous value.
//!
//! With a state store, the tables also note which rows changed since the last durable write
//! ([`Tables::take_changes`]), so each write carries only those.
//!
//! After an ALTER TABLE, the held rows follow the new columns ([`super::schema`]): a renamed
//! column's values move to the new name, a dropped column's values go, both as updates in the
//! transaction that carried the new Relation message.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use hashbrown::hash_table::{Entry, HashTable};
use ripple_dataflows::value::{fresh_node_id, Element, Node, Value};
use ripple_dataflows::Schema;

use super::catalog::TableInfo;
use super::pgoutput::{Message, Relation, TupleValue};
use super::schema::{self, ColumnChange};
use super::store::RowChange;
use super::text::parse_text;
use super::PgSourceError;

/// A change to the graph, as the engine takes it.
pub(super) type Update = (Element, ripple_dataflows::runtime::Diff);

/// A row's key values, in key order: what identifies it within its table.
type Key = Box<[Value]>;

/// One table's mapping and current rows.
struct Table {
    info: TableInfo,
    /// The columns (name, type OID) the held rows follow: the catalog's at first, then each
    /// Relation message's.
    columns: Vec<(String, u32)>,
    /// The layout of rows built from `columns`, interned once.
    schema: Arc<Schema>,
    /// Current node per key: the one dictionary of key → dense id. The table stores the
    /// nodes alone and hashes their key values, so a row costs one pointer here.
    rows: HashTable<Arc<Node>>,
    /// Ids of rows removed in the transaction being applied, by key: a row deleted and
    /// inserted again in one transaction keeps its id, so the change folds into an update
    /// (and a re-bootstrap, which retracts every row and adds the snapshot's, nets out).
    removed: HashMap<Key, u64>,
    /// Keys changed since the last [`Tables::take_changes`] (only while tracking).
    changed: HashSet<Key>,
    /// Whether to fill `changed`: only a source with a state store needs it.
    tracking: bool,
}

/// The hasher of every table's row dictionary.
static HASHER: std::sync::LazyLock<hashbrown::DefaultHashBuilder> =
    std::sync::LazyLock::new(Default::default);

fn hash_key<'v>(values: impl Iterator<Item = &'v Value>) -> u64 {
    let mut hasher = HASHER.build_hasher();
    for value in values {
        value.hash(&mut hasher);
    }
    std::hash::Hasher::finish(&hasher)
}

/// A node's key values, in key order.
fn key_of(node: &Node) -> impl Iterator<Item = &Value> + '_ {
    node.schema().key().iter().map(|&k| &node.values()[k])
}

/// The tables' layout of rows and the stream's relation ids.
pub struct Tables {
    tables: HashMap<(String, String), Table>,
    /// Relation id → (qualified name, relation as last described by the stream). Relations of
    /// tables the source does not read are kept too, so their changes can be skipped.
    relations: HashMap<u32, ((String, String), Relation)>,
    /// Column changes seen since the last [`Tables::take_column_changes`], with the label of
    /// their table.
    column_changes: Vec<(Arc<str>, ColumnChange)>,
}

impl Tables {
    pub(super) fn new(infos: Vec<TableInfo>) -> Result<Tables, PgSourceError> {
        let mut tables = HashMap::new();
        for info in infos {
            let key = (info.schema.clone(), info.name.clone());
            let schema = layout_of(&info, &info.columns)?;
            let table = Table {
                columns: info.columns.clone(),
                info,
                schema,
                rows: HashTable::new(),
                removed: HashMap::new(),
                changed: HashSet::new(),
                tracking: false,
            };
            tables.insert(key, table);
        }
        Ok(Tables { tables, relations: HashMap::new(), column_changes: Vec::new() })
    }

    /// Every table with its key and the columns its held rows follow, as one line. Stored rows
    /// are only valid under the same layout, so the state store keeps it in its fingerprint:
    /// a column renamed or dropped while ripple was down leads to a fresh bootstrap instead of
    /// restored rows under old column names.
    pub(super) fn layout(&self) -> String {
        let mut tables: Vec<String> = self
            .tables
            .values()
            .map(|t| {
                let columns: Vec<String> =
                    t.columns.iter().map(|(name, oid)| format!("{name:?}:{oid}")).collect();
                format!(
                    "{:?}.{:?}({:?})[{}]",
                    t.info.schema,
                    t.info.name,
                    t.info.key_columns,
                    columns.join(",")
                )
            })
            .collect();
        tables.sort();
        tables.join(" ")
    }

    /// The column changes seen since the last call, with their table's label.
    pub(super) fn take_column_changes(&mut self) -> Vec<(Arc<str>, ColumnChange)> {
        std::mem::take(&mut self.column_changes)
    }

    /// Starts noting changed rows for [`Tables::take_changes`].
    pub(super) fn track_changes(&mut self) {
        for table in self.tables.values_mut() {
            table.tracking = true;
        }
    }

    /// Retracts every row: the first half of a re-bootstrap, whose second half adds the
    /// snapshot's rows in the same transaction, so queries see only the net difference. The
    /// rows leave as the retractions are taken, so they need not be held twice; their ids are
    /// kept until the transaction ends, so the snapshot's rows take them up again.
    pub(super) fn clear(&mut self) -> impl Iterator<Item = Update> + Send + '_ {
        self.tables.values_mut().flat_map(|t| {
            let Table { rows, removed, changed, .. } = t;
            changed.clear();
            rows.drain().map(move |node| {
                removed.insert(key_of(&node).cloned().collect(), node.id);
                (Element::Node(node), -1)
            })
        })
    }

    /// Ends the transaction being applied: ids of rows it removed for good are forgotten.
    pub(super) fn end_transaction(&mut self) {
        for t in self.tables.values_mut() {
            t.removed.clear();
        }
    }

    /// Puts rows saved by an earlier run back, returning their insertions (one transaction).
    /// Rows of tables the source no longer reads are dropped. Saved rows that do not fit
    /// their table's columns are refused whole (`Err` says why): the caller bootstraps.
    pub(super) fn restore(
        &mut self,
        rows: Vec<((String, String), Vec<Value>)>,
    ) -> Result<Vec<Update>, String> {
        let fits = |(table, values): &((String, String), Vec<Value>)| {
            self.tables.get(table).is_none_or(|t| t.schema.columns().len() == values.len())
        };
        if !rows.iter().all(fits) {
            return Err("a saved row does not fit its table's columns".into());
        }
        let mut out = Vec::with_capacity(rows.len());
        for (table, values) in rows {
            if let Some(table) = self.tables.get_mut(&table) {
                let node = Node::new(fresh_node_id(), table.schema.clone(), values);
                table.upsert(node, &mut out);
            }
        }
        for t in self.tables.values_mut() {
            t.changed.clear();
        }
        Ok(out)
    }

    /// The rows changed since the last call, each with its current value (`None`: deleted).
    pub(super) fn take_changes(&mut self) -> Vec<RowChange> {
        let mut changes = Vec::new();
        for (name, table) in &mut self.tables {
            for key in std::mem::take(&mut table.changed) {
                let row = table.find(&key).cloned();
                changes.push((name.clone(), table.schema.spell_id(key.iter()), row));
            }
        }
        changes
    }

    /// Every current row, for a write that replaces the stored rows, made as it is taken.
    pub(super) fn all_rows(&mut self) -> impl Iterator<Item = RowChange> + Send + '_ {
        self.tables.iter_mut().flat_map(|(name, table)| {
            table.changed.clear();
            let table: &Table = table;
            table.rows.iter().map(|node| (name.clone(), node.element_id(), Some(node.clone())))
        })
    }

    /// Every current row.
    #[cfg(test)]
    pub(super) fn rows(&self) -> Vec<Arc<Node>> {
        self.tables.values().flat_map(|t| t.rows.iter().cloned()).collect()
    }

    /// The tables to read in a bootstrap.
    pub(super) fn infos(&self) -> impl Iterator<Item = &TableInfo> {
        self.tables.values().map(|t| &t.info)
    }

    /// Adds a row read by the bootstrap; `values` follow `TableInfo::columns`.
    pub(super) fn insert_snapshot_row(
        &mut self,
        table: &(String, String),
        values: Vec<Option<String>>,
        out: &mut Vec<Update>,
    ) -> Result<(), PgSourceError> {
        let t = self.tables.get_mut(table).expect("bootstrap reads known tables");
        let columns: Vec<(&str, u32)> =
            t.info.columns.iter().map(|(n, o)| (n.as_str(), *o)).collect();
        let values: Vec<TupleValue> =
            values.into_iter().map(|v| v.map_or(TupleValue::Null, TupleValue::Text)).collect();
        let node = t.node(&columns, values, None)?;
        t.upsert(node, out);
        Ok(())
    }

    /// Applies one decoded pgoutput message, appending the node updates it causes.
    pub(super) fn apply(
        &mut self,
        message: Message,
        out: &mut Vec<Update>,
    ) -> Result<(), PgSourceError> {
        match message {
            Message::Relation(relation) => {
                let name = (relation.namespace.clone(), relation.name.clone());
                if let Some(table) = self.tables.get_mut(&name) {
                    let changes = table.follow_columns(&relation, out)?;
                    let label = table.label();
                    self.column_changes.extend(changes.into_iter().map(|c| (label.clone(), c)));
                }
                self.describe(relation);
            }
            Message::Insert { relation, new } => {
                if let Some((table, columns)) = self.table_of(relation)? {
                    let node = table.node(&columns, new, None)?;
                    table.upsert(node, out);
                }
            }
            Message::Update { relation, old, new } => {
                if let Some((table, columns)) = self.table_of(relation)? {
                    // The old key: from the old tuple if the key changed or identity is FULL,
                    // otherwise the new row's key.
                    let old_key = match old {
                        Some(old) => Some(table.key(&columns, &old.values)?),
                        None => None,
                    };
                    let new_key = table.key(&columns, &new)?;
                    let previous = table.find(old_key.as_ref().unwrap_or(&new_key)).cloned();
                    if let Some(old_key) = old_key.filter(|key| *key != new_key) {
                        table.remove(&old_key, out);
                    }
                    let node = table.node(&columns, new, previous.as_deref())?;
                    table.upsert(node, out);
                }
            }
            Message::Delete { relation, old } => {
                if let Some((table, columns)) = self.table_of(relation)? {
                    let key = table.key(&columns, &old.values)?;
                    table.remove(&key, out);
                }
            }
            Message::Truncate { relations, .. } => {
                for relation in relations {
                    if let Some((table, _)) = self.table_of(relation)? {
                        let keys: Vec<Key> =
                            table.rows.iter().map(|node| key_of(node).cloned().collect()).collect();
                        for key in keys {
                            table.remove(&key, out);
                        }
                    }
                }
            }
            Message::Type { .. } | Message::Origin { .. } => {}
        }
        Ok(())
    }

    /// Records what a relation id refers to, without changing any row (a Relation message of
    /// a transaction applied before).
    pub(super) fn describe(&mut self, relation: Relation) {
        let name = (relation.namespace.clone(), relation.name.clone());
        self.relations.insert(relation.id, (name, relation));
    }

    /// The table a relation id refers to, with the stream's column list; `None` for tables
    /// this source does not read.
    #[allow(clippy::type_complexity)]
    fn table_of(
        &mut self,
        relation: u32,
    ) -> Result<Option<(&mut Table, Vec<(&str, u32)>)>, PgSourceError> {
        let Some((name, rel)) = self.relations.get(&relation) else {
            return Err(PgSourceError::Transient(format!(
                "pgoutput sent a change for relation {relation} before describing it"
            )));
        };
        let Some(table) = self.tables.get_mut(name) else { return Ok(None) };
        let columns = rel.columns.iter().map(|c| (c.name.as_str(), c.type_oid)).collect();
        Ok(Some((table, columns)))
    }
}

/// The layout of `info`'s rows under `columns`; every key column must be among them.
fn layout_of(info: &TableInfo, columns: &[(String, u32)]) -> Result<Arc<Schema>, PgSourceError> {
    if let Some(missing) = info.key_columns.iter().find(|k| !columns.iter().any(|(c, _)| c == *k)) {
        return Err(PgSourceError::Fatal(format!(
            "table {}.{}: key column '{missing}' is not among the table's columns",
            info.schema, info.name
        )));
    }
    let names: Vec<Arc<str>> = columns.iter().map(|(name, _)| Arc::from(name.as_str())).collect();
    let key: Vec<&str> = info.key_columns.iter().map(String::as_str).collect();
    let prefix = if info.schema == "public" {
        info.name.clone()
    } else {
        format!("{}.{}", info.schema, info.name)
    };
    Ok(Schema::intern(&[Arc::from(info.name.as_str())], &names, &key, &prefix))
}

impl Table {
    /// The label of the table's rows: the bare table name.
    fn label(&self) -> Arc<str> {
        self.schema.labels()[0].clone()
    }

    fn find(&self, key: &[Value]) -> Option<&Arc<Node>> {
        self.rows.find(hash_key(key.iter()), |node| key_of(node).eq(key.iter()))
    }

    /// Moves the held rows to the columns of `relation`, returning what changed. A renamed
    /// key column is renamed in the key too; a dropped one is an error (the rows could no
    /// longer be told apart).
    fn follow_columns(
        &mut self,
        relation: &Relation,
        out: &mut Vec<Update>,
    ) -> Result<Vec<ColumnChange>, PgSourceError> {
        let columns: Vec<(String, u32)> =
            relation.columns.iter().map(|c| (c.name.clone(), c.type_oid)).collect();
        let changes = schema::diff(&self.columns, &columns);
        let mut moves: Vec<(&str, Option<&str>)> = Vec::new();
        for change in &changes {
            match change {
                ColumnChange::Renamed { from, to } => moves.push((from, Some(to))),
                ColumnChange::Dropped { name } => moves.push((name, None)),
                ColumnChange::Retyped { .. } | ColumnChange::Added { .. } => {}
            }
        }
        for key in &mut self.info.key_columns {
            match moves.iter().find(|(from, _)| from == key) {
                Some((_, Some(to))) => *key = to.to_string(),
                Some((_, None)) => {
                    return Err(PgSourceError::Fatal(format!(
                        "table {}.{}: key column '{key}' was dropped; configure other key \
                         columns in table_keys and restart",
                        self.info.schema, self.info.name
                    )))
                }
                None => {}
            }
        }
        self.schema = layout_of(&self.info, &columns)?;
        self.columns = columns;
        if !moves.is_empty() {
            // Each new column reads the value of the column it was (a rename's source).
            let sources: Vec<String> = self
                .schema
                .columns()
                .iter()
                .map(|c| {
                    let from = moves.iter().find(|(_, to)| *to == Some(&**c));
                    from.map_or(c.to_string(), |(from, _)| from.to_string())
                })
                .collect();
            let rows: Vec<Arc<Node>> = self.rows.iter().cloned().collect();
            for row in rows {
                let values =
                    sources.iter().map(|c| row.get(c).cloned().unwrap_or(Value::Null)).collect();
                self.upsert(Node::new(row.id, self.schema.clone(), values), out);
            }
        }
        for change in &changes {
            tracing::info!(
                message = "A table's columns changed.",
                table = %format!("{}.{}", self.info.schema, self.info.name),
                change = ?change
            );
        }
        Ok(changes)
    }

    /// Replaces the row with the same key, retracting the old version.
    fn upsert(&mut self, node: Node, out: &mut Vec<Update>) {
        let hash = hash_key(key_of(&node));
        let entry = self.rows.entry(
            hash,
            |held| key_of(held).eq(key_of(&node)),
            |held| hash_key(key_of(held)),
        );
        let node = match entry {
            Entry::Occupied(mut held) => {
                if **held.get() == node {
                    return;
                }
                let node = Arc::new(node);
                let old = std::mem::replace(held.get_mut(), node.clone());
                out.push((Element::Node(old), -1));
                node
            }
            Entry::Vacant(vacant) => {
                let node = Arc::new(node);
                vacant.insert(node.clone());
                node
            }
        };
        if self.tracking {
            self.changed.insert(key_of(&node).cloned().collect());
        }
        out.push((Element::Node(node), 1));
    }

    /// Removes the row with key `key`, if there is one, retracting it.
    fn remove(&mut self, key: &[Value], out: &mut Vec<Update>) {
        let hash = hash_key(key.iter());
        let Ok(held) = self.rows.find_entry(hash, |node| key_of(node).eq(key.iter())) else {
            return;
        };
        let (node, _) = held.remove();
        let key: Key = key.into();
        self.removed.insert(key.clone(), node.id);
        if self.tracking {
            self.changed.insert(key);
        }
        out.push((Element::Node(node), -1));
    }

    /// The id for a row with `key`: the held row's, or that of the row removed earlier in
    /// this transaction, or a fresh one.
    fn id_for(&self, key: &[Value]) -> u64 {
        self.find(key)
            .map(|node| node.id)
            .or_else(|| self.removed.get(key).copied())
            .unwrap_or_else(fresh_node_id)
    }

    /// The key values of a replicated tuple whose values follow `columns`.
    fn key(&self, columns: &[(&str, u32)], values: &[TupleValue]) -> Result<Key, PgSourceError> {
        self.info
            .key_columns
            .iter()
            .map(|key| {
                let position = columns.iter().position(|(name, _)| name == key);
                match position.and_then(|i| values.get(i).map(|v| (columns[i].1, v))) {
                    Some((oid, TupleValue::Text(text))) => Ok(self.parse(key, oid, text)),
                    _ => Err(self.missing_key(key)),
                }
            })
            .collect()
    }

    fn missing_key(&self, key: &str) -> PgSourceError {
        PgSourceError::Fatal(format!(
            "table {}.{}: key column '{key}' is missing from a replicated row; if table_keys names columns other than the replica identity, set REPLICA IDENTITY FULL on the table",
            self.info.schema, self.info.name
        ))
    }

    fn parse(&self, column: &str, oid: u32, text: &str) -> Value {
        parse_text(oid, text).unwrap_or_else(|error| {
            tracing::warn!(
                message = "Could not parse a column value; keeping its text.",
                table = %self.info.name,
                column = %column,
                %error
            );
            Value::Str(Arc::from(text))
        })
    }

    /// Builds the node for a row; `u` (unchanged TOAST) values come from `previous`.
    fn node(
        &self,
        columns: &[(&str, u32)],
        values: Vec<TupleValue>,
        previous: Option<&Node>,
    ) -> Result<Node, PgSourceError> {
        let mut row = vec![Value::Null; self.schema.columns().len()];
        for ((name, oid), value) in columns.iter().zip(values) {
            let Some(position) = self.schema.position(name) else { continue };
            row[position] = match value {
                TupleValue::Null => Value::Null,
                TupleValue::Text(text) => self.parse(name, *oid, &text),
                TupleValue::UnchangedToast => previous
                    .and_then(|p| p.get(name).cloned())
                    .ok_or_else(|| {
                        PgSourceError::Fatal(format!(
                            "table {}.{}: column '{name}' arrived as an unchanged TOAST value for a row ripple has not seen; set REPLICA IDENTITY FULL on the table",
                            self.info.schema, self.info.name
                        ))
                    })?,
                TupleValue::Binary(_) => {
                    return Err(PgSourceError::Fatal(
                        "pgoutput sent a binary column value, but ripple requests text format".into(),
                    ))
                }
            };
        }
        // The key is read off the built row rather than parsed a second time: a key column
        // that was absent or NULL is null there.
        let key: Key = self.schema.key().iter().map(|&k| row[k].clone()).collect();
        if let Some(null) = key.iter().position(Value::is_null) {
            return Err(self.missing_key(&self.info.key_columns[null]));
        }
        Ok(Node::new(self.id_for(&key), self.schema.clone(), row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::postgres::pgoutput::{Column, OldTuple, OldTupleKind, ReplicaIdentity};

    const INT4: u32 = 23;
    const TEXT: u32 = 25;

    fn tables() -> Tables {
        let info = TableInfo {
            schema: "public".into(),
            name: "items".into(),
            columns: vec![("id".into(), INT4), ("name".into(), TEXT)],
            key_columns: vec!["id".into()],
        };
        let mut tables = Tables::new(vec![info]).unwrap();
        let column = |name: &str, type_oid| Column {
            name: name.into(),
            type_oid,
            type_modifier: -1,
            is_key: name == "id",
        };
        tables.describe(Relation {
            id: 1,
            namespace: "public".into(),
            name: "items".into(),
            replica_identity: ReplicaIdentity::Default,
            columns: vec![column("id", INT4), column("name", TEXT)],
        });
        tables
    }

    fn text(values: &[&str]) -> Vec<TupleValue> {
        values.iter().map(|v| TupleValue::Text(v.to_string())).collect()
    }

    fn insert(id: &str, name: &str) -> Message {
        Message::Insert { relation: 1, new: text(&[id, name]) }
    }

    fn delete(id: &str) -> Message {
        let old = OldTuple {
            kind: OldTupleKind::Key,
            values: vec![text(&[id])[0].clone(), TupleValue::Null],
        };
        Message::Delete { relation: 1, old }
    }

    /// Applies `messages` as one transaction.
    fn apply(tables: &mut Tables, messages: Vec<Message>) -> Vec<Update> {
        let mut out = Vec::new();
        for message in messages {
            tables.apply(message, &mut out).unwrap();
        }
        tables.end_transaction();
        out
    }

    fn id_of(update: &Update) -> u64 {
        match &update.0 {
            Element::Node(node) => node.id,
            Element::Relationship(_) => panic!("a table yields nodes"),
        }
    }

    #[test]
    fn a_row_keeps_its_id_through_updates_and_a_delete_and_insert_in_one_transaction() {
        let mut tables = tables();
        let first = apply(&mut tables, vec![insert("1", "a")]);
        let id = id_of(&first[0]);
        let Element::Node(node) = &first[0].0 else { unreachable!() };
        assert_eq!(
            (node.element_id(), node.get("name")),
            ("items:1".into(), Some(&Value::str("a")))
        );
        let update = apply(&mut tables, vec![insert("1", "b")]);
        assert_eq!(update.iter().map(|u| (id_of(u), u.1)).collect::<Vec<_>>(), [(id, -1), (id, 1)]);
        let again = apply(&mut tables, vec![delete("1"), insert("1", "c")]);
        assert_eq!(again.iter().map(|u| (id_of(u), u.1)).collect::<Vec<_>>(), [(id, -1), (id, 1)]);
        let gone = apply(&mut tables, vec![delete("1")]);
        assert_eq!(gone.iter().map(|u| (id_of(u), u.1)).collect::<Vec<_>>(), [(id, -1)]);
        let fresh = apply(&mut tables, vec![insert("1", "d")]);
        assert_ne!(id_of(&fresh[0]), id, "a row inserted in a later transaction is a new element");
    }

    #[test]
    fn a_re_bootstrap_of_unchanged_rows_nets_out() {
        let mut tables = tables();
        apply(&mut tables, vec![insert("1", "a"), insert("2", "b")]);
        let mut updates: Vec<Update> = tables.clear().collect();
        let table = ("public".to_string(), "items".to_string());
        for (id, name) in [("1", "a"), ("2", "b")] {
            let values = vec![Some(id.to_string()), Some(name.to_string())];
            tables.insert_snapshot_row(&table, values, &mut updates).unwrap();
        }
        tables.end_transaction();
        let mut net: std::collections::BTreeMap<Element, i64> = Default::default();
        for (element, diff) in updates {
            *net.entry(element).or_default() += diff;
        }
        net.retain(|_, diff| *diff != 0);
        assert!(net.is_empty(), "the same rows with the same ids cancel: {net:?}");
    }
}
