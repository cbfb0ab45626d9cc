//! The validated configuration: what the rest of ripple runs on.
//!
//! The doc comment of each field is the user documentation of its key. Every
//! key may also be spelled in camelCase (`log_level` or `logLevel`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

/// Default `host` of the REST API.
pub const DEFAULT_HOST: &str = "0.0.0.0";
/// Default `port` of the REST API.
pub const DEFAULT_PORT: u16 = 8080;
/// Default `log_level`.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// The accepted `log_level` values.
pub const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
/// Default PostgreSQL `host`.
pub const DEFAULT_PG_HOST: &str = "localhost";
/// Default PostgreSQL `port`.
pub const DEFAULT_PG_PORT: u16 = 5432;
/// Default replication `slot_name`.
pub const DEFAULT_SLOT_NAME: &str = "drasi_slot";
/// Default `publication_name`.
pub const DEFAULT_PUBLICATION_NAME: &str = "drasi_publication";
/// Default `host` of an SSE reaction.
pub const DEFAULT_SSE_HOST: &str = "0.0.0.0";
/// Default `port` of an SSE reaction.
pub const DEFAULT_SSE_PORT: u16 = 8081;
/// Default `sse_path` of an SSE reaction.
pub const DEFAULT_SSE_PATH: &str = "/events";
/// Default `heartbeat_interval_ms` of an SSE reaction.
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 30_000;
/// Default `journal_size` of an SSE reaction.
pub const DEFAULT_JOURNAL_SIZE: usize = 10_000;
/// Default `max_client_backlog_bytes` of an SSE reaction (16 MiB).
pub const DEFAULT_MAX_CLIENT_BACKLOG_BYTES: u64 = 16 << 20;

/// A ripple server: one config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `id` (required): the name of this server instance, shown in logs.
    pub id: String,
    /// `host`: the address the REST API listens on. Default `0.0.0.0`.
    pub host: String,
    /// `port`: the port of the REST API (`/api/v1/...`). Default `8080`;
    /// `0` picks a free port.
    pub port: u16,
    /// `log_level`: one of `trace`, `debug`, `info`, `warn`, `error`, `off`
    /// (any case; stored in lower case). Default `info`. `RUST_LOG`, when
    /// set, overrides it.
    pub log_level: String,
    /// `log_format`: `text` (human-readable lines) or `json` (one JSON object
    /// per line, for log collectors). Default `text`. The command line's
    /// `--log-format` overrides it.
    pub log_format: LogFormat,
    /// `state_store`: where to persist state across restarts. Default: none,
    /// state lives in memory.
    pub state_store: Option<StateStoreConfig>,
    /// `sources`: the databases changes come from. Default: none.
    pub sources: Vec<SourceConfig>,
    /// `queries`: the continuous queries. Default: none.
    pub queries: Vec<QueryConfig>,
    /// `reactions`: what happens when query results change. Default: none.
    pub reactions: Vec<ReactionConfig>,
}

/// How log lines are written (`log_format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `text`: human-readable lines.
    #[default]
    Text,
    /// `json`: one JSON object per line.
    Json,
}

/// `state_store: {kind: redb, path: ...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateStoreConfig {
    /// `kind` (required): the storage engine; only `redb`.
    pub kind: StateStoreKind,
    /// `path` (required): the database file.
    pub path: PathBuf,
}

/// The storage engines a `state_store` can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateStoreKind {
    /// `redb`: an embedded single-file database.
    Redb,
}

/// An entry of `sources`; its `kind` key selects the variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceConfig {
    /// `kind: postgres`.
    Postgres(PostgresSourceConfig),
}

impl SourceConfig {
    /// The source's `id`.
    pub fn id(&self) -> &str {
        match self {
            SourceConfig::Postgres(source) => &source.id,
        }
    }
}

/// A PostgreSQL database, read by logical replication (`kind: postgres`).
///
/// Each row becomes a node labelled with its bare table name (`metrics`),
/// with every column as a property.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresSourceConfig {
    /// `id` (required): how queries refer to this source (`source_id`).
    pub id: String,
    /// `host`: the database server. Default `localhost`.
    pub host: String,
    /// `port`: the database port. Default `5432`.
    pub port: u16,
    /// `database` (required): the database name.
    pub database: String,
    /// `user` (required): a role with the `REPLICATION` attribute.
    pub user: String,
    /// `password`: the role's password. Default empty. Never printed; write
    /// `${PG_PASSWORD}` to take it from the environment.
    pub password: String,
    /// `tables`: the tables to read, each `table` or `schema.table`.
    /// Default: none.
    pub tables: Vec<String>,
    /// `slot_name`: the replication slot, created if missing; lower-case
    /// letters, digits and `_`, at most 63 characters. Default `drasi_slot`.
    pub slot_name: String,
    /// `publication_name`: the publication that covers `tables`.
    /// Default `drasi_publication`.
    pub publication_name: String,
    /// `ssl_mode`: `disable`, `prefer` or `require`, as in libpq, for both the SQL and the
    /// replication connection; the server certificate is not verified. Default `prefer`.
    pub ssl_mode: SslMode,
    /// `table_keys`: the key columns of tables without a primary key,
    /// `[{table, key_columns: [..]}]`. Default: none.
    pub table_keys: Vec<TableKeyConfig>,
    /// `bootstrap_provider: {type: postgres}` (or `kind: postgres`): load the
    /// tables' current rows before streaming changes. Default: absent, so
    /// queries start empty and see only new changes.
    pub bootstrap: bool,
    /// `auto_start`: start the source with the server. Default `true`.
    pub auto_start: bool,
}

impl fmt::Debug for PostgresSourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSourceConfig")
            .field("id", &self.id)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"***")
            .field("tables", &self.tables)
            .field("slot_name", &self.slot_name)
            .field("publication_name", &self.publication_name)
            .field("ssl_mode", &self.ssl_mode)
            .field("table_keys", &self.table_keys)
            .field("bootstrap", &self.bootstrap)
            .field("auto_start", &self.auto_start)
            .finish()
    }
}

/// Whether the connection to PostgreSQL uses TLS (`ssl_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    /// `disable`: never.
    Disable,
    /// `prefer`: when the server offers it (libpq's default).
    #[default]
    Prefer,
    /// `require`: always; fail otherwise.
    Require,
}

/// An entry of `table_keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableKeyConfig {
    /// `table` (required): one of the source's `tables`.
    pub table: String,
    /// `key_columns` (required): the columns that identify a row.
    pub key_columns: Vec<String>,
}

/// A continuous query: an entry of `queries`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueryConfig {
    /// `id` (required): names the query in the API and in reactions.
    pub id: String,
    /// `query` (required): the query text.
    pub query: String,
    /// `query_language`: only `Cypher` (the default).
    pub query_language: QueryLanguage,
    /// `sources` (required, at least one): the sources the query reads.
    pub sources: Vec<QuerySourceConfig>,
    /// `joins`: relationships synthesised between nodes whose properties
    /// are equal. Default: none.
    pub joins: Vec<JoinConfig>,
    /// `auto_start`: start the query with the server. Default `true`.
    pub auto_start: bool,
}

/// The language of a query's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum QueryLanguage {
    /// openCypher.
    #[default]
    Cypher,
}

/// An entry of a query's `sources`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuerySourceConfig {
    /// `source_id` (required): the `id` of a source.
    pub source_id: String,
    /// `nodes`: the node labels (table names) to take from it. Default: none.
    pub nodes: Vec<String>,
    /// `relations`: the relationship labels to take from it. Default: none.
    pub relations: Vec<String>,
}

/// An entry of a query's `joins`: `(a)-[:ID]-(b)` wherever
/// `a.property = b.property`, usable in either direction in `MATCH`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JoinConfig {
    /// `id` (required): the relationship type the join creates.
    pub id: String,
    /// `keys` (required, exactly two): the node properties to match.
    pub keys: Vec<JoinKeyConfig>,
}

/// One side of a join.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JoinKeyConfig {
    /// `label` (required): a node label.
    pub label: String,
    /// `property` (required): a property of nodes with that label.
    pub property: String,
}

/// An entry of `reactions`; its `kind` key selects the variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ReactionConfig {
    /// `kind: sse`.
    Sse(SseReactionConfig),
    /// `kind: log`.
    Log(LogReactionConfig),
}

impl ReactionConfig {
    /// The reaction's `id`.
    pub fn id(&self) -> &str {
        match self {
            ReactionConfig::Sse(reaction) => &reaction.id,
            ReactionConfig::Log(reaction) => &reaction.id,
        }
    }

    /// The ids of the queries the reaction subscribes to.
    pub fn queries(&self) -> &[String] {
        match self {
            ReactionConfig::Sse(reaction) => &reaction.queries,
            ReactionConfig::Log(reaction) => &reaction.queries,
        }
    }
}

/// Streams result changes as Server-Sent Events on a listener of its own
/// (`kind: sse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SseReactionConfig {
    /// `id` (required): names the reaction in the API.
    pub id: String,
    /// `queries` (required, at least one): the ids of the queries to stream.
    pub queries: Vec<String>,
    /// `host`: the address to listen on. Default `0.0.0.0`.
    pub host: String,
    /// `port`: the port to listen on; must not clash with the API's or
    /// another SSE reaction's. Default `8081`; `0` picks a free port.
    pub port: u16,
    /// `sse_path`: the URL path of the event stream, starting with `/`.
    /// Default `/events`.
    pub sse_path: String,
    /// `heartbeat_interval_ms`: how often an idle stream gets a keep-alive
    /// comment, in milliseconds, at least 1. Default `30000`.
    pub heartbeat_interval_ms: u64,
    /// `journal_size`: how many of the latest change events the reaction
    /// keeps, at least 1, so that a client reconnecting with `Last-Event-ID`
    /// (or `?since=`) gets exactly what it missed; an older id gets a `reset`
    /// event with the full current results instead. Default `10000`. The journal also
    /// keeps, beyond that, every event a connected client has yet to read.
    pub journal_size: usize,
    /// `max_client_backlog_bytes`: how many bytes of events a client may have yet to read;
    /// one further behind is dropped (it can reconnect with `Last-Event-ID`), so a stalled
    /// client never holds more than this in the journal. At least 1. Default `16777216`
    /// (16 MiB).
    pub max_client_backlog_bytes: u64,
    /// `format`: the shape of change events. `tutorial` (the tutorial's
    /// `{queryId, added, updated, deleted}`) or `drasi` (Drasi Server's
    /// `{queryId, results: [{type, ...}], timestamp}`). Default `tutorial`.
    pub format: SseFormat,
}

/// The shape of an SSE reaction's change events (`format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SseFormat {
    /// `tutorial`: `{"queryId", "added": [{"after"}], "updated": [{"before", "after"}],
    /// "deleted": [{"before"}]}`.
    #[default]
    Tutorial,
    /// `drasi`: `{"queryId", "results": [{"type": "ADD"|"UPDATE"|"DELETE", ...}],
    /// "timestamp"}`.
    Drasi,
}

/// Writes result changes to the log through Handlebars templates
/// (`kind: log`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogReactionConfig {
    /// `id` (required): names the reaction in the API.
    pub id: String,
    /// `queries` (required, at least one): the ids of the queries to log.
    pub queries: Vec<String>,
    /// `routes`: templates per query id (one of `queries`). Default: none.
    pub routes: BTreeMap<String, LogRoutes>,
    /// `default_template`: templates for queries without a route. Default:
    /// none, which logs changes in a built-in format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_template: Option<LogRoutes>,
}

/// Templates by kind of change: `{added: {template: ".."}, updated: ..,
/// deleted: ..}`, each optional. A template sees `after` (added, updated),
/// `before` (updated, deleted), `query_name`, `queryId` and `operation`.
/// `added: ".."` is accepted as short for `added: {template: ".."}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogRoutes {
    /// `added.template`: for rows that entered the result.
    #[serde(serialize_with = "template", skip_serializing_if = "Option::is_none")]
    pub added: Option<String>,
    /// `updated.template`: for rows that changed.
    #[serde(serialize_with = "template", skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// `deleted.template`: for rows that left the result.
    #[serde(serialize_with = "template", skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// Serialises a template in the shape it is written in: `{template: ".."}`.
fn template<S: Serializer>(text: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Template<'t> {
        template: &'t Option<String>,
    }
    Template { template: text }.serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> PostgresSourceConfig {
        PostgresSourceConfig {
            id: "db".to_owned(),
            host: DEFAULT_PG_HOST.to_owned(),
            port: DEFAULT_PG_PORT,
            database: "metrics".to_owned(),
            user: "postgres".to_owned(),
            password: "s3cret".to_owned(),
            tables: vec![],
            slot_name: DEFAULT_SLOT_NAME.to_owned(),
            publication_name: DEFAULT_PUBLICATION_NAME.to_owned(),
            ssl_mode: SslMode::Prefer,
            table_keys: vec![],
            bootstrap: false,
            auto_start: true,
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let printed = format!("{:?}", SourceConfig::Postgres(source()));
        assert!(printed.contains("password: \"***\""), "{printed}");
        assert!(!printed.contains("s3cret"));
    }

    #[test]
    fn reactions_serialise_in_config_shape() {
        let reaction = ReactionConfig::Log(LogReactionConfig {
            id: "logger".to_owned(),
            queries: vec!["q".to_owned()],
            routes: BTreeMap::from([(
                "q".to_owned(),
                LogRoutes { added: Some("+{{after.name}}".to_owned()), ..LogRoutes::default() },
            )]),
            default_template: None,
        });
        assert_eq!(
            serde_json::to_string(&reaction).unwrap(),
            r#"{"kind":"log","id":"logger","queries":["q"],"routes":{"q":{"added":{"template":"+{{after.name}}"}}}}"#
        );
    }

    #[test]
    fn queries_serialise_with_their_language() {
        let query = QueryConfig {
            id: "q".to_owned(),
            query: "MATCH (n) RETURN n".to_owned(),
            query_language: QueryLanguage::Cypher,
            sources: vec![QuerySourceConfig {
                source_id: "db".to_owned(),
                nodes: vec!["n".to_owned()],
                relations: vec![],
            }],
            joins: vec![],
            auto_start: true,
        };
        assert_eq!(
            serde_json::to_string(&query).unwrap(),
            r#"{"id":"q","query":"MATCH (n) RETURN n","query_language":"Cypher","sources":[{"source_id":"db","nodes":["n"],"relations":[]}],"joins":[],"auto_start":true}"#
        );
    }
}
