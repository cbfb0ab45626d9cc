//! What the source needs to know from the catalog before it reads anything.

use pgwire_replication::Lsn;
use tokio_postgres::Client;

use super::PgSourceError;
use crate::config::PostgresSourceConfig;

/// A published table the source reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TableInfo {
    /// Schema name.
    pub schema: String,
    /// Table name; also the node label.
    pub name: String,
    /// Columns in order, with their type OIDs (generated and dropped columns excluded, as
    /// pgoutput excludes them).
    pub columns: Vec<(String, u32)>,
    /// Columns whose values identify a row: the primary key, or `table_keys` from the config.
    pub key_columns: Vec<String>,
}

/// A replication slot as `pg_replication_slots` shows it.
pub(super) struct SlotInfo {
    /// The backend streaming from it, if any.
    pub active_pid: Option<i32>,
    /// The position up to which the consumer acknowledged; streaming resumes after it.
    pub confirmed_flush: Lsn,
    /// Whether PostgreSQL invalidated the slot (`wal_status = 'lost'`, after
    /// `max_slot_wal_keep_size`): the WAL it needed is gone.
    pub lost: bool,
}

impl SlotInfo {
    /// Whether streaming from the slot continues state that reflects everything up to
    /// `position`; otherwise why not.
    pub(super) fn resumes(&self, position: Lsn) -> Result<(), String> {
        if self.lost {
            return Err("the replication slot was invalidated (wal_status 'lost'): PostgreSQL removed WAL it still needed; consider raising max_slot_wal_keep_size".into());
        }
        if self.confirmed_flush > position {
            return Err(format!(
                "the replication slot was advanced to {} past the state's position {position}, so the changes in between are gone",
                self.confirmed_flush
            ));
        }
        Ok(())
    }
}

/// Checks the server and publication, and describes every table the source reads.
pub(super) async fn load(
    client: &Client,
    config: &PostgresSourceConfig,
) -> Result<Vec<TableInfo>, PgSourceError> {
    let wal_level: String = client.query_one("SHOW wal_level", &[]).await?.get(0);
    if wal_level != "logical" {
        return Err(PgSourceError::Fatal(format!(
            "source '{}': wal_level is '{wal_level}', but logical replication needs 'logical': set wal_level = logical in postgresql.conf and restart PostgreSQL",
            config.id
        )));
    }
    let publication = &config.publication_name;
    let published = client
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1",
            &[publication],
        )
        .await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[publication])
        .await?
        .is_some();
    let wanted: Vec<(String, String)> = config.tables.iter().map(|t| split_table(t)).collect();
    if !exists {
        let target = if wanted.is_empty() {
            "ALL TABLES".to_string()
        } else {
            format!(
                "TABLE {}",
                wanted.iter().map(|(s, t)| format!("{s}.{t}")).collect::<Vec<_>>().join(", ")
            )
        };
        return Err(PgSourceError::Fatal(format!(
            "source '{}': publication '{publication}' does not exist in database '{}'; create it with: CREATE PUBLICATION {publication} FOR {target};",
            config.id, config.database
        )));
    }
    let published: Vec<(String, String)> = published.iter().map(|r| (r.get(0), r.get(1))).collect();
    let tables = if wanted.is_empty() { published.clone() } else { wanted };
    let mut infos = Vec::with_capacity(tables.len());
    for (schema, name) in tables {
        if !published.contains(&(schema.clone(), name.clone())) {
            return Err(PgSourceError::Fatal(format!(
                "source '{}': table {schema}.{name} is not in publication '{publication}'; add it with: ALTER PUBLICATION {publication} ADD TABLE {schema}.{name};",
                config.id
            )));
        }
        infos.push(describe(client, config, schema, name).await?);
    }
    Ok(infos)
}

/// `schema.table` or `table` (schema `public`).
pub(super) fn split_table(name: &str) -> (String, String) {
    match name.split_once('.') {
        Some((schema, table)) => (schema.to_string(), table.to_string()),
        None => ("public".to_string(), name.to_string()),
    }
}

async fn describe(
    client: &Client,
    config: &PostgresSourceConfig,
    schema: String,
    name: String,
) -> Result<TableInfo, PgSourceError> {
    const RELATION: &str = "(quote_ident($1) || '.' || quote_ident($2))::regclass";
    let columns = client
        .query(
            &format!(
                "SELECT attname::text, atttypid FROM pg_attribute \
                 WHERE attrelid = {RELATION} AND attnum > 0 AND NOT attisdropped AND attgenerated = '' \
                 ORDER BY attnum"
            ),
            &[&schema, &name],
        )
        .await?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, u32>(1)))
        .collect();
    let configured = config.table_keys.iter().find(|k| {
        let (s, t) = split_table(&k.table);
        s == schema && t == name
    });
    let key_columns = match configured {
        Some(keys) => keys.key_columns.clone(),
        None => client
            .query(
                &format!(
                    "SELECT a.attname::text FROM pg_index i \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                     WHERE i.indrelid = {RELATION} AND i.indisprimary \
                     ORDER BY array_position(i.indkey::int2[], a.attnum)"
                ),
                &[&schema, &name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect(),
    };
    if key_columns.is_empty() {
        return Err(PgSourceError::Fatal(format!(
            "source '{}': table {schema}.{name} has no primary key, so its rows cannot be told apart; add a primary key or list the identifying columns under table_keys: [{{table: {schema}.{name}, key_columns: [...]}}]",
            config.id
        )));
    }
    Ok(TableInfo { schema, name, columns, key_columns })
}

/// The slot, if it exists in this database.
pub(super) async fn slot(
    client: &Client,
    config: &PostgresSourceConfig,
) -> Result<Option<SlotInfo>, PgSourceError> {
    let row = client
        .query_opt(
            "SELECT active_pid, plugin::text, database::text, confirmed_flush_lsn::text, \
             wal_status = 'lost' FROM pg_replication_slots WHERE slot_name = $1",
            &[&config.slot_name],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (plugin, database): (Option<String>, Option<String>) = (row.get(1), row.get(2));
    if plugin.as_deref() != Some("pgoutput")
        || database.as_deref() != Some(config.database.as_str())
    {
        return Err(PgSourceError::Fatal(format!(
            "source '{}': replication slot '{}' exists but belongs to database {:?} with plugin {:?}; choose another slot_name",
            config.id, config.slot_name, database, plugin
        )));
    }
    let confirmed_flush =
        row.get::<_, Option<String>>(3).and_then(|lsn| Lsn::parse(&lsn).ok()).unwrap_or(Lsn::ZERO);
    let lost = row.get::<_, Option<bool>>(4).unwrap_or(false);
    Ok(Some(SlotInfo { active_pid: row.get(0), confirmed_flush, lost }))
}

/// A description of the oldest open transactions, for a slot creation that is waiting on them.
pub(super) async fn open_transactions(client: &Client) -> String {
    let rows = client
        .query(
            "SELECT pid, coalesce(state, ''), coalesce(xact_start::text, ''), left(query, 60) \
             FROM pg_stat_activity \
             WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() \
             ORDER BY xact_start LIMIT 3",
            &[],
        )
        .await;
    match rows {
        Ok(rows) if !rows.is_empty() => rows
            .iter()
            .map(|r| {
                format!(
                    "pid {} ({}, since {}): {}",
                    r.get::<_, i32>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, String>(3)
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Ok(_) => "no open transaction found".into(),
        Err(error) => format!("could not list open transactions: {error}"),
    }
}
