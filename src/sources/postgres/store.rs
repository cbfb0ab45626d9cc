//! The source's durable state in the shared redb file: its current rows and its position.
//!
//! With this, a restart loads the rows into the engine and resumes the replication slot where
//! the last durable write left off, instead of re-reading whole tables; and the slot is only
//! acknowledged up to what is written here, so PostgreSQL releases WAL while ripple runs.
//!
//! Layout:
//! * table `postgres_sources`: source id → [`Meta`] (bincode): the position and a fingerprint.
//! * table `postgres_rows`: `(source id, schema, table, element id)` → the row's values
//!   (bincode), in its table's column-name order, without the names.
//!
//! Rows are stored as the engine's values, in bincode: restoring is then a plain decode (no
//! re-parsing of column text), floats keep every bit (NaN and ±Infinity included, which JSON
//! cannot carry), and bincode is already in the dependency tree. Column names and labels are
//! not repeated per row: the tables' layout, in the fingerprint, says what each position is.
//! The price is that the encoding follows the engine's `Value` type and the source's text
//! parser; the fingerprint covers both (a probe of `Value`'s encoding and [`FORMAT`]), and a
//! mismatch means "start over with a fresh bootstrap", never a misread row. Node ids are not
//! stored: they are dense per process, and a restart hands out new ones.

use std::sync::Arc;

use pgwire_replication::Lsn;
use redb::{ReadableDatabase, TableDefinition};
use ripple_dataflows::decimal::Decimal;
use ripple_dataflows::value::{Node, Properties, Value};
use serde::{Deserialize, Serialize};

use super::PgSourceError;
use crate::config::PostgresSourceConfig;
use crate::state::StateStore;

/// Version of what a stored row means. Bump it when [`super::text::parse_text`] maps a type
/// to a different `Value`, so old rows are not mixed with new. 2: numeric is an exact decimal
/// (it was a float). 3: a row is its values by column position, not a whole node.
const FORMAT: u32 = 3;

/// Position and fingerprint of every source, by source id.
const SOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("postgres_sources");

/// Every source's rows; keys: source id, schema, table, element id.
const ROWS: TableDefinition<(&str, &str, &str, &str), &[u8]> =
    TableDefinition::new("postgres_rows");

/// What is stored next to a source's rows.
#[derive(Serialize, Deserialize)]
struct Meta {
    /// Everything the stored rows depend on; see [`SourceStore::fingerprint`].
    fingerprint: String,
    /// End LSN of the last transaction the rows reflect.
    position: u64,
}

/// One row change to write: the row's table, its element id, and its new value (`None`:
/// deleted).
pub(super) type RowChange = ((String, String), String, Option<Arc<Node>>);

/// What a restart finds.
pub(super) struct Saved {
    /// End LSN of the last transaction the rows reflect.
    pub position: Lsn,
    /// Every stored row's values, with its table.
    pub rows: Vec<((String, String), Vec<Value>)>,
}

/// One source's view of the state file.
#[derive(Clone)]
pub(super) struct SourceStore {
    store: StateStore,
    id: String,
    /// The fingerprint's part that is fixed while the source runs; see [`settings`].
    settings: String,
    /// The tables' layout ([`super::tables::Tables::layout`]) the stored rows follow.
    layout: String,
}

impl SourceStore {
    /// A view for rows that follow `layout`, the tables' layout at start-up.
    pub(super) fn new(
        store: StateStore,
        config: &PostgresSourceConfig,
        layout: String,
    ) -> SourceStore {
        SourceStore { store, id: config.id.clone(), settings: settings(config), layout }
    }

    /// Records that the rows now follow `layout` (after an ALTER TABLE), so that the next
    /// write stores it and a restart under the new layout can use the saved rows.
    pub(super) fn follow_layout(&mut self, layout: String) {
        self.layout = layout;
    }

    /// Everything the stored rows depend on.
    fn fingerprint(&self) -> String {
        format!("{}; tables {}", self.settings, self.layout)
    }

    /// The stored rows and position, or why there are none usable (`Err` holds the reason, for
    /// the log line that announces a bootstrap).
    pub(super) fn load(&self) -> Result<Result<Saved, String>, PgSourceError> {
        let tx = self.store.db().begin_read().map_err(fatal)?;
        let meta = match tx.open_table(SOURCES) {
            Ok(table) => table.get(self.id.as_str()).map_err(fatal)?.map(|v| v.value().to_vec()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(error) => return Err(fatal(error)),
        };
        let Some(meta) = meta else { return Ok(Err("no saved state".into())) };
        let Ok(meta) = bincode::deserialize::<Meta>(&meta) else {
            return Ok(Err("the saved state is unreadable".into()));
        };
        if meta.fingerprint != self.fingerprint() {
            return Ok(Err(mismatch(&meta.fingerprint)));
        }
        let mut rows = Vec::new();
        match tx.open_table(ROWS) {
            Ok(table) => {
                for entry in table.range((self.id.as_str(), "", "", "")..).map_err(fatal)? {
                    let (key, value) = entry.map_err(fatal)?;
                    let (source, schema, name, _) = key.value();
                    if source != self.id {
                        break;
                    }
                    let Ok(values) = bincode::deserialize::<Vec<Value>>(value.value()) else {
                        return Ok(Err("a saved row is unreadable".into()));
                    };
                    rows.push(((schema.to_string(), name.to_string()), values));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(error) => return Err(fatal(error)),
        }
        Ok(Ok(Saved { position: Lsn::from_u64(meta.position), rows }))
    }

    /// Durably writes `changes` and `position` in one transaction. With `reset`, the stored
    /// rows are first dropped (a bootstrap writes every row anew). Blocks on the disk; takes
    /// the changes one by one, so they may arrive while it writes.
    pub(super) fn write(
        &self,
        reset: bool,
        changes: impl IntoIterator<Item = RowChange>,
        position: Lsn,
    ) -> Result<(), PgSourceError> {
        let tx = self.store.db().begin_write().map_err(fatal)?;
        {
            let mut rows = tx.open_table(ROWS).map_err(fatal)?;
            if reset {
                let id = self.id.as_str();
                rows.retain_in((id, "", "", "").., |key, _| key.0 != id).map_err(fatal)?;
            }
            for ((schema, name), id, node) in changes {
                let key = (self.id.as_str(), schema.as_str(), name.as_str(), &*id);
                match node {
                    Some(node) => {
                        let bytes = bincode::serialize(node.values()).map_err(fatal)?;
                        rows.insert(key, bytes.as_slice()).map_err(fatal)?;
                    }
                    None => {
                        rows.remove(key).map_err(fatal)?;
                    }
                }
            }
            let meta = Meta { fingerprint: self.fingerprint(), position: position.as_u64() };
            let meta = bincode::serialize(&meta).map_err(fatal)?;
            tx.open_table(SOURCES)
                .map_err(fatal)?
                .insert(self.id.as_str(), meta.as_slice())
                .map_err(fatal)?;
        }
        tx.commit().map_err(fatal)
    }
}

/// A failure of the state file: ripple cannot keep its promise without it.
fn fatal(error: impl std::fmt::Display) -> PgSourceError {
    PgSourceError::Fatal(format!("state store: {error}"))
}

/// What stored rows depend on besides the tables' layout: the row format, the engine's value
/// encoding, and the settings that decide which rows exist. The host and port are left out,
/// so a server that moves keeps its state; the slot's own checks catch a wrong server.
fn settings(config: &PostgresSourceConfig) -> String {
    format!(
        "format {FORMAT}; values {}; database {}; slot {}",
        value_probe(),
        config.database,
        config.slot_name
    )
}

/// Why a saved fingerprint does not match: a row format from another ripple version is named
/// as such, since the operator did not change anything.
fn mismatch(saved: &str) -> String {
    let current = format!("format {FORMAT};");
    match saved.split_once(' ').and_then(|(_, rest)| rest.split_once(';')) {
        Some((version, _)) if !saved.starts_with(&current) => format!(
            "the saved state has row format {version} from another ripple version (this one \
             writes format {FORMAT})"
        ),
        _ => "the saved state was made for other settings, tables or ripple version".into(),
    }
}

/// The bincode encoding of one value of every kind a source produces, in hex: it changes
/// when the engine's `Value` changes shape in a way that would misread stored rows.
fn value_probe() -> String {
    let probe = Value::List(Arc::from(vec![
        Value::Null,
        Value::Bool(true),
        Value::Int(-2),
        Value::float(0.5),
        Value::Decimal(Decimal::parse("-1.5").expect("a decimal")),
        Value::str("s"),
        Value::Map(Arc::new(Properties::from([(Arc::from("k"), Value::Int(1))]))),
    ]));
    let bytes = bincode::serialize(&probe).expect("values always encode");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::postgres::catalog::TableInfo;
    use crate::sources::postgres::tables::Tables;

    fn config() -> PostgresSourceConfig {
        let text =
            "id: s\nsources:\n  - kind: postgres\n    id: pg\n    database: d\n    user: u\n";
        crate::config::Config::parse(text, "server.yaml", &|_: &str| None)
            .expect("config")
            .sources
            .into_iter()
            .map(|s| match s {
                crate::config::SourceConfig::Postgres(pg) => pg,
            })
            .next()
            .expect("one source")
    }

    fn layout(keys: &[&str]) -> String {
        Tables::new(vec![TableInfo {
            schema: "public".into(),
            name: "t".into(),
            columns: vec![("id".into(), 23), ("v".into(), 701)],
            key_columns: keys.iter().map(|k| k.to_string()).collect(),
        }])
        .expect("key columns are columns")
        .layout()
    }

    fn node(id: i64, value: Value) -> Arc<Node> {
        let properties =
            Properties::from([(Arc::from("id"), Value::Int(id)), (Arc::from("v"), value)]);
        Arc::new(Node::table_row(id as u64, "t", &["id"], properties))
    }

    #[test]
    fn rows_and_position_survive_reopening_and_other_settings_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let table = ("public".to_string(), "t".to_string());
        {
            let store =
                SourceStore::new(StateStore::open(&path).unwrap(), &config(), layout(&["id"]));
            assert!(store.load().unwrap().is_err(), "nothing saved yet");
            let changes = vec![
                (table.clone(), "t:1".to_string(), Some(node(1, Value::float(f64::NAN)))),
                (table.clone(), "t:2".to_string(), Some(node(2, Value::Int(2)))),
            ];
            store.write(true, changes, Lsn::from_u64(10)).unwrap();
            store
                .write(false, [(table.clone(), "t:2".to_string(), None)], Lsn::from_u64(20))
                .unwrap();
        }
        let state = StateStore::open(&path).unwrap();
        let saved = SourceStore::new(state.clone(), &config(), layout(&["id"])).load().unwrap();
        let saved = saved.expect("state saved");
        assert_eq!(saved.position, Lsn::from_u64(20));
        assert_eq!(saved.rows, vec![(table, node(1, Value::float(f64::NAN)).values().to_vec())]);
        let other_keys = SourceStore::new(state.clone(), &config(), layout(&["id", "v"]));
        assert!(other_keys.load().unwrap().is_err(), "other keys mean other element ids");
        let mut renamed = SourceStore::new(state, &config(), layout(&["id"]).replace("id", "k"));
        assert!(renamed.load().unwrap().is_err(), "rows under old column names are not restored");
        renamed.follow_layout(layout(&["id"]));
        assert!(renamed.load().unwrap().is_ok(), "the layout the rows were written under");
    }

    #[test]
    fn rows_of_an_older_format_are_dropped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(&dir.path().join("state.redb")).unwrap();
        let store = SourceStore::new(state, &config(), layout(&["id"]));
        store.write(true, [], Lsn::from_u64(10)).unwrap();
        assert!(store.load().unwrap().is_ok());
        let old = SourceStore {
            settings: store.settings.replacen(&format!("format {FORMAT};"), "format 1;", 1),
            ..store.clone()
        };
        old.write(true, [], Lsn::from_u64(10)).unwrap();
        let reason = store.load().unwrap().err().expect("an old format is not loaded");
        assert_eq!(
            reason,
            format!(
                "the saved state has row format 1 from another ripple version (this one writes \
                 format {FORMAT})"
            )
        );
    }
}
