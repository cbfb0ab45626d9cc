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
use std::sync::Arc;

use ripple_dataflows::value::{Element, Node, Properties, Value};

use super::catalog::TableInfo;
use super::pgoutput::{Message, Relation, TupleValue};
use super::schema::{self, ColumnChange};
use super::store::RowChange;
use super::text::parse_text;
use super::PgSourceError;

/// A change to the graph, as the engine takes it.
pub(super) type Update = (Element, ripple_dataflows::runtime::Diff);

/// One table's mapping and current rows.
struct Table {
    info: TableInfo,
    /// The node labels: the bare table name.
    labels: Arc<[Arc<str>]>,
    /// The columns (name, type OID) the held rows follow: the catalog's at first, then each
    /// Relation message's.
    columns: Vec<(String, u32)>,
    /// Current node per element id.
    rows: HashMap<Arc<str>, Arc<Node>>,
    /// Element ids changed since the last [`Tables::take_changes`] (only while tracking).
    changed: HashSet<Arc<str>>,
    /// Whether to fill `changed`: only a source with a state store needs it.
    tracking: bool,
}

/// The source's tables, by qualified name, and the stream's relation ids.
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
    pub(super) fn new(infos: Vec<TableInfo>) -> Tables {
        let tables = infos
            .into_iter()
            .map(|info| {
                let key = (info.schema.clone(), info.name.clone());
                let labels = Arc::from([Arc::from(info.name.as_str())]);
                let table = Table {
                    columns: info.columns.clone(),
                    info,
                    labels,
                    rows: HashMap::new(),
                    changed: HashSet::new(),
                    tracking: false,
                };
                (key, table)
            })
            .collect();
        Tables { tables, relations: HashMap::new(), column_changes: Vec::new() }
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
    /// snapshot's rows in the same transaction, so queries see only the net difference.
    pub(super) fn clear(&mut self) -> Vec<Update> {
        self.tables
            .values_mut()
            .flat_map(|t| {
                t.changed.clear();
                t.rows.drain().map(|(_, node)| (Element::Node(node), -1))
            })
            .collect()
    }

    /// Puts rows saved by an earlier run back, returning their insertions (one transaction).
    /// Rows of tables the source no longer reads are dropped.
    pub(super) fn restore(&mut self, rows: Vec<((String, String), Arc<Node>)>) -> Vec<Update> {
        let mut out = Vec::with_capacity(rows.len());
        for (table, node) in rows {
            if let Some(table) = self.tables.get_mut(&table) {
                table.rows.insert(node.id.clone(), node.clone());
                out.push((Element::Node(node), 1));
            }
        }
        out
    }

    /// The rows changed since the last call, each with its current value (`None`: deleted).
    pub(super) fn take_changes(&mut self) -> Vec<RowChange> {
        let mut changes = Vec::new();
        for (key, table) in &mut self.tables {
            for id in table.changed.drain() {
                let row = table.rows.get(&id).cloned();
                changes.push((key.clone(), id, row));
            }
        }
        changes
    }

    /// Every current row, for a write that replaces the stored rows.
    pub(super) fn all_rows(&mut self) -> Vec<RowChange> {
        let mut rows = Vec::new();
        for (key, table) in &mut self.tables {
            table.changed.clear();
            rows.extend(
                table.rows.iter().map(|(id, node)| (key.clone(), id.clone(), Some(node.clone()))),
            );
        }
        rows
    }

    /// Every current row.
    #[cfg(test)]
    pub(super) fn rows(&self) -> Vec<Arc<Node>> {
        self.tables.values().flat_map(|t| t.rows.values().cloned()).collect()
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
        let node = t.node(
            &columns,
            values.into_iter().map(|v| v.map_or(TupleValue::Null, TupleValue::Text)),
            None,
        )?;
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
                    let label = table.labels[0].clone();
                    self.column_changes.extend(changes.into_iter().map(|c| (label.clone(), c)));
                }
                self.describe(relation);
            }
            Message::Insert { relation, new } => {
                if let Some((table, columns)) = self.table_of(relation)? {
                    let node = table.node(&columns, new.into_iter(), None)?;
                    table.upsert(node, out);
                }
            }
            Message::Update { relation, old, new } => {
                if let Some((table, columns)) = self.table_of(relation)? {
                    // The old key: from the old tuple if the key changed or identity is FULL,
                    // otherwise the new row's key.
                    let old_id = match old {
                        Some(old) => Some(table.element_id(&columns, &old.values)?),
                        None => None,
                    };
                    let new_id = table.element_id(&columns, &new)?;
                    let previous = table.rows.get(old_id.as_ref().unwrap_or(&new_id)).cloned();
                    let node = table.node(&columns, new.into_iter(), previous.as_deref())?;
                    if let Some(old_id) = old_id.filter(|id| *id != new_id) {
                        table.remove(&old_id, out);
                    }
                    table.upsert(node, out);
                }
            }
            Message::Delete { relation, old } => {
                if let Some((table, columns)) = self.table_of(relation)? {
                    let id = table.element_id(&columns, &old.values)?;
                    table.remove(&id, out);
                }
            }
            Message::Truncate { relations, .. } => {
                for relation in relations {
                    if let Some((table, _)) = self.table_of(relation)? {
                        let ids: Vec<Arc<str>> = table.rows.keys().cloned().collect();
                        for id in ids {
                            table.remove(&id, out);
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

impl Table {
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
        self.columns = columns;
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
        if !moves.is_empty() {
            let rows: Vec<Arc<Node>> = self.rows.values().cloned().collect();
            for row in rows {
                let mut properties = row.properties.clone();
                for (from, to) in &moves {
                    let value = properties.remove(*from);
                    if let (Some(to), Some(value)) = (to, value) {
                        properties.insert(Arc::from(*to), value);
                    }
                }
                let node = Node { id: row.id.clone(), labels: row.labels.clone(), properties };
                self.upsert(Arc::new(node), out);
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

    /// Replaces the row with the same element id, retracting the old version.
    fn upsert(&mut self, node: Arc<Node>, out: &mut Vec<Update>) {
        if let Some(old) = self.rows.insert(node.id.clone(), node.clone()) {
            if old == node {
                return;
            }
            out.push((Element::Node(old), -1));
        }
        self.note(&node.id);
        out.push((Element::Node(node), 1));
    }

    /// Removes the row with element id `id`, if there is one, retracting it.
    fn remove(&mut self, id: &Arc<str>, out: &mut Vec<Update>) {
        if let Some(node) = self.rows.remove(id) {
            self.note(id);
            out.push((Element::Node(node), -1));
        }
    }

    fn note(&mut self, id: &Arc<str>) {
        if self.tracking {
            self.changed.insert(id.clone());
        }
    }

    /// `table:key` for public tables, `schema.table:key` otherwise; composite keys are joined
    /// with `_` (Drasi's element ids).
    fn element_id(
        &self,
        columns: &[(&str, u32)],
        values: &[TupleValue],
    ) -> Result<Arc<str>, PgSourceError> {
        let mut parts = Vec::with_capacity(self.info.key_columns.len());
        for key in &self.info.key_columns {
            let position = columns.iter().position(|(name, _)| name == key);
            match position.and_then(|i| values.get(i)) {
                Some(TupleValue::Text(text)) => parts.push(text.as_str()),
                _ => {
                    return Err(PgSourceError::Fatal(format!(
                        "table {}.{}: key column '{key}' is missing from a replicated row; if table_keys names columns other than the replica identity, set REPLICA IDENTITY FULL on the table",
                        self.info.schema, self.info.name
                    )))
                }
            }
        }
        let table = if self.info.schema == "public" {
            self.info.name.clone()
        } else {
            format!("{}.{}", self.info.schema, self.info.name)
        };
        Ok(Arc::from(format!("{table}:{}", parts.join("_")).as_str()))
    }

    /// Builds the node for a row; `u` (unchanged TOAST) values come from `previous`.
    fn node(
        &self,
        columns: &[(&str, u32)],
        values: impl Iterator<Item = TupleValue>,
        previous: Option<&Node>,
    ) -> Result<Arc<Node>, PgSourceError> {
        let values: Vec<TupleValue> = values.collect();
        let id = self.element_id(columns, &values)?;
        let mut properties = Properties::new();
        for ((name, oid), value) in columns.iter().zip(values) {
            let value = match value {
                TupleValue::Null => Value::Null,
                TupleValue::Text(text) => parse_text(*oid, &text).unwrap_or_else(|error| {
                    tracing::warn!(
                        message = "Could not parse a column value; keeping its text.",
                        table = %self.info.name,
                        column = %name,
                        %error
                    );
                    Value::Str(Arc::from(text.as_str()))
                }),
                TupleValue::UnchangedToast => previous
                    .and_then(|p| p.properties.get(*name).cloned())
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
            properties.insert(Arc::from(*name), value);
        }
        Ok(Arc::new(Node { id, labels: self.labels.clone(), properties }))
    }
}
