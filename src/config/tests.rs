//! Whole-file tests: the tutorial's config, both spellings, variables, and
//! the exact text of every kind of error.

use std::collections::BTreeMap;

use super::*;

const TUTORIAL: &str = include_str!("testdata/tutorial.yaml");
const TUTORIAL_CAMEL: &str = include_str!("testdata/tutorial-camel.yaml");

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(text, "server.yaml", &no_env)
}

/// The rendered errors of a config that must fail.
fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn tutorial_query(id: &str, query: &str, label: &str) -> QueryConfig {
    QueryConfig {
        id: id.to_owned(),
        query: query.to_owned(),
        query_language: QueryLanguage::Cypher,
        sources: vec![QuerySourceConfig {
            source_id: "metrics-db".to_owned(),
            nodes: strings(&[label]),
            relations: vec![],
        }],
        joins: vec![],
        auto_start: true,
    }
}

fn tutorial_config() -> Config {
    Config {
        id: "dashboard-server".to_owned(),
        host: "0.0.0.0".to_owned(),
        port: 8080,
        log_level: "info".to_owned(),
        log_format: LogFormat::Text,
        state_store: Some(StateStoreConfig {
            kind: StateStoreKind::Redb,
            path: "/data/state.redb".into(),
        }),
        sources: vec![SourceConfig::Postgres(PostgresSourceConfig {
            id: "metrics-db".to_owned(),
            host: "postgres".to_owned(),
            port: 5432,
            database: "metrics".to_owned(),
            user: "postgres".to_owned(),
            password: "postgres".to_owned(),
            tables: strings(&["public.metrics", "public.alerts"]),
            slot_name: "drasi_dashboard_slot".to_owned(),
            publication_name: "drasi_publication".to_owned(),
            ssl_mode: SslMode::Prefer,
            table_keys: vec![],
            bootstrap: true,
            auto_start: true,
        })],
        queries: vec![
            tutorial_query(
                "current-metrics",
                "MATCH (m:metrics)\nRETURN m.id, m.name, m.value, m.unit, m.updated_at\n",
                "metrics",
            ),
            tutorial_query(
                "active-alerts",
                "MATCH (a:alerts)\nWHERE a.acknowledged = false\nRETURN a.id, a.metric_name, a.severity, a.message, a.created_at\n",
                "alerts",
            ),
            tutorial_query(
                "critical-metrics",
                "MATCH (m:metrics)\nWHERE (m.name = 'cpu_usage' AND m.value > 80)\n   OR (m.name = 'memory_usage' AND m.value > 85)\n   OR (m.name = 'disk_usage' AND m.value > 90)\n   OR (m.name = 'error_rate' AND m.value > 5)\nRETURN m.name, m.value, m.unit\n",
                "metrics",
            ),
        ],
        reactions: vec![
            ReactionConfig::Sse(SseReactionConfig {
                id: "dashboard-stream".to_owned(),
                queries: strings(&["current-metrics", "active-alerts", "critical-metrics"]),
                host: "0.0.0.0".to_owned(),
                port: 8081,
                sse_path: "/events".to_owned(),
                heartbeat_interval_ms: 30000,
                journal_size: 10000,
                max_client_backlog_bytes: 16 << 20,
                format: SseFormat::Tutorial,
            }),
            ReactionConfig::Log(LogReactionConfig {
                id: "metric-logger".to_owned(),
                queries: strings(&["critical-metrics"]),
                routes: BTreeMap::from([(
                    "critical-metrics".to_owned(),
                    LogRoutes {
                        added: Some("CRITICAL: {{after.name}} = {{after.value}}{{after.unit}}".to_owned()),
                        updated: None,
                        deleted: None,
                    },
                )]),
                default_template: None,
            }),
        ],
    }
}

#[test]
fn tutorial_config_loads_as_written() {
    let config = parse(TUTORIAL).unwrap();
    assert_eq!(config, tutorial_config());
    assert_eq!(
        config.summary(),
        "config OK: 1 source, 3 queries, 2 reactions (id dashboard-server)"
    );
}

#[test]
fn tutorial_config_in_camel_case_loads_the_same() {
    assert_eq!(parse(TUTORIAL_CAMEL).unwrap(), tutorial_config());
}

#[test]
fn minimal_config_takes_every_default() {
    let text = "id: x\nsources:\n  - {kind: postgres, id: db, database: d, user: u}\nreactions:\n  - {kind: sse, id: s, queries: [q]}\nqueries:\n  - {id: q, query: 'MATCH (n) RETURN n', sources: [{source_id: db}]}\n";
    let config = parse(text).unwrap();
    assert_eq!(
        (config.host.as_str(), config.port, config.log_level.as_str()),
        ("0.0.0.0", 8080, "info")
    );
    assert_eq!(config.state_store, None);
    let SourceConfig::Postgres(source) = &config.sources[0];
    assert_eq!(
        (source.host.as_str(), source.port, source.password.as_str()),
        ("localhost", 5432, "")
    );
    assert_eq!(
        (source.slot_name.as_str(), source.publication_name.as_str()),
        ("drasi_slot", "drasi_publication")
    );
    assert_eq!(
        (source.ssl_mode, source.bootstrap, source.auto_start),
        (SslMode::Prefer, false, true)
    );
    let ReactionConfig::Sse(sse) = &config.reactions[0] else { panic!("expected an SSE reaction") };
    assert_eq!((sse.host.as_str(), sse.port, sse.sse_path.as_str()), ("0.0.0.0", 8081, "/events"));
    assert_eq!(sse.heartbeat_interval_ms, 30000);
    assert_eq!((sse.journal_size, sse.format), (10000, SseFormat::Tutorial));
    assert_eq!(config.log_format, LogFormat::Text);
    assert!(config.queries[0].auto_start);
}

#[test]
fn every_other_key_has_a_camel_case_spelling() {
    let text = r#"id: x
logLevel: DEBUG
sources:
  - kind: postgres
    id: db
    database: d
    user: u
    sslMode: require
    tables: [t]
    tableKeys: [{table: t, keyColumns: [a, b]}]
    autoStart: false
queries:
  - id: q
    query: MATCH (a:t)-[:SAME]->(b:t) RETURN a
    queryLanguage: cypher
    sources: [{sourceId: db, nodes: [t]}]
    joins: [{id: SAME, keys: [{label: t, property: a}, {label: t, property: b}]}]
reactions:
  - kind: log
    id: l
    queries: [q]
    defaultTemplate:
      deleted: {template: "gone {{before.a}}"}
"#;
    let config = parse(text).unwrap();
    assert_eq!(config.log_level, "debug");
    let SourceConfig::Postgres(source) = &config.sources[0];
    assert_eq!(source.ssl_mode, SslMode::Require);
    assert!(!source.auto_start);
    assert_eq!(
        source.table_keys,
        [TableKeyConfig { table: "t".to_owned(), key_columns: strings(&["a", "b"]) }]
    );
    assert_eq!(config.queries[0].joins[0].keys[1].property, "b");
    let ReactionConfig::Log(log) = &config.reactions[0] else { panic!("expected a log reaction") };
    let default = log.default_template.as_ref().unwrap();
    assert_eq!(default.deleted.as_deref(), Some("gone {{before.a}}"));
}

const WITH_VARS: &str = "id: x\nsources:\n  - kind: postgres\n    id: db\n    port: ${PG_PORT:-5432}\n    database: d\n    user: \"${PG_USER}\"\n    password: ${PG_PASSWORD}\n";

fn source_with(vars: &[(&str, &str)]) -> Result<PostgresSourceConfig, ConfigErrors> {
    let env =
        |name: &str| vars.iter().find(|(var, _)| *var == name).map(|(_, value)| value.to_string());
    let config = Config::parse(WITH_VARS, "server.yaml", &env)?;
    let SourceConfig::Postgres(source) = config.sources.into_iter().next().unwrap();
    Ok(source)
}

#[test]
fn variables_are_substituted_and_then_typed() {
    let source =
        source_with(&[("PG_PORT", "6543"), ("PG_USER", "app"), ("PG_PASSWORD", "pw")]).unwrap();
    assert_eq!((source.port, source.user.as_str(), source.password.as_str()), (6543, "app", "pw"));
}

#[test]
fn variable_defaults_apply_when_unset() {
    let source = source_with(&[("PG_USER", "app"), ("PG_PASSWORD", "pw")]).unwrap();
    assert_eq!(source.port, 5432);
}

#[test]
fn missing_and_mistyped_variables_are_errors() {
    let errors = source_with(&[("PG_PORT", "abc")]).unwrap_err();
    let rendered: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            "server.yaml:5:11: sources[0].port: expected an integer 0..=65535, found string \"abc\" (from ${PG_PORT})",
            "server.yaml:7:11: sources[0].user: environment variable 'PG_USER' is not set (set it, add it to the .env file beside the config file, or give a default: ${PG_USER:-value})",
            "server.yaml:8:15: sources[0].password: environment variable 'PG_PASSWORD' is not set (set it, add it to the .env file beside the config file, or give a default: ${PG_PASSWORD:-value})",
        ]
    );
}

#[test]
fn invalid_variable_reference() {
    assert_eq!(
        errors("id: ${1X}\n"),
        ["server.yaml:1:5: id: \"${1X}\" is not a valid variable reference (write ${NAME} or ${NAME:-default}; NAME is letters, digits and _)"]
    );
}

/// The tutorial's config with `from` replaced by `to` (which must occur).
fn tutorial_with(from: &str, to: &str) -> String {
    assert!(TUTORIAL.contains(from), "{from:?} is not in the tutorial");
    TUTORIAL.replacen(from, to, 1)
}

#[test]
fn unknown_key_with_suggestion() {
    assert_eq!(
        errors(&tutorial_with("sse_path:", "sse_pth:")),
        ["server.yaml:65:5: reactions[0].sse_pth: unknown key 'sse_pth' (did you mean 'sse_path'?)"]
    );
}

#[test]
fn subscription_keys_in_both_spellings() {
    let snake = "id: x\nlog_format: JSON\nqueries: [{id: q, query: x, sources: [{source_id: s}]}]\nsources: [{kind: postgres, id: s, database: d, user: u}]\nreactions:\n  - {kind: sse, id: r, queries: [q], journal_size: 5, max_client_backlog_bytes: 4096, format: drasi}\n";
    let camel = snake
        .replace("log_format", "logFormat")
        .replace("journal_size", "journalSize")
        .replace("max_client_backlog_bytes", "maxClientBacklogBytes");
    for text in [snake.to_owned(), camel] {
        let config = parse(&text).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        let ReactionConfig::Sse(sse) = &config.reactions[0] else { panic!("expected SSE") };
        assert_eq!((sse.journal_size, sse.format), (5, SseFormat::Drasi));
        assert_eq!(sse.max_client_backlog_bytes, 4096);
    }
}

#[test]
fn subscription_key_errors() {
    assert_eq!(
        errors(&tutorial_with("heartbeat_interval_ms: 30000", "heartbeat_interval_ms: 30000\n    journal_size: 0")),
        ["server.yaml:67:19: reactions[0].journal_size: expected a positive integer (events), found integer 0"]
    );
    assert_eq!(
        errors(&tutorial_with("heartbeat_interval_ms: 30000", "heartbeat_interval_ms: 30000
    max_client_backlog_bytes: 0")),
        ["server.yaml:67:31: reactions[0].max_client_backlog_bytes: expected a positive integer (bytes), found integer 0"]
    );
    assert_eq!(
        errors(&tutorial_with("heartbeat_interval_ms: 30000", "heartbeat_interval_ms: 30000\n    format: cloudevents")),
        ["server.yaml:67:13: reactions[0].format: expected tutorial or drasi, found \"cloudevents\""]
    );
    assert_eq!(
        errors(&tutorial_with("log_level: info", "log_level: info\nlog_format: xml")),
        ["server.yaml:5:13: log_format: expected text or json, found \"xml\""]
    );
}

#[test]
fn unknown_key_without_suggestion() {
    assert_eq!(
        errors(&tutorial_with("log_level: info", "log_level: info\ncolour: red")),
        ["server.yaml:5:1: colour: unknown key 'colour' (expected one of: id, host, port, log_level, log_format, state_store, sources, queries, reactions)"]
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        errors(&tutorial_with("port: 5432", "port: abc")),
        ["server.yaml:14:11: sources[0].port: expected an integer 0..=65535, found string \"abc\""]
    );
    assert_eq!(
        errors(&tutorial_with("auto_start: true", "auto_start: yes")),
        ["server.yaml:34:17: queries[0].auto_start: expected a boolean (true or false), found string \"yes\""]
    );
    assert_eq!(
        errors(&tutorial_with("nodes: [metrics]", "nodes: metrics")),
        ["server.yaml:33:16: queries[0].sources[0].nodes: expected a list, found string \"metrics\""]
    );
}

#[test]
fn missing_required_key() {
    assert_eq!(
        errors(&tutorial_with("    database: metrics\n", "")),
        ["server.yaml:11:5: sources[0]: missing required key 'database'"]
    );
}

#[test]
fn unknown_kinds_list_the_known_ones() {
    assert_eq!(
        errors(&tutorial_with("kind: postgres", "kind: mysql")),
        ["server.yaml:11:11: sources[0].kind: unknown source kind \"mysql\" (known kinds: postgres)"]
    );
    assert_eq!(
        errors(&tutorial_with("kind: sse", "kind: websocket")),
        ["server.yaml:60:11: reactions[0].kind: unknown reaction kind \"websocket\" (known kinds: sse, log)"]
    );
    assert_eq!(
        errors(&tutorial_with("type: postgres", "type: script")),
        ["server.yaml:24:13: sources[0].bootstrap_provider.type: unknown bootstrap provider kind \"script\" (known kinds: postgres)"]
    );
}

#[test]
fn choices() {
    assert_eq!(
        errors(&tutorial_with("log_level: info", "log_level: loud")),
        ["server.yaml:4:12: log_level: expected trace, debug, info, warn, error or off, found \"loud\""]
    );
    assert_eq!(
        errors(&tutorial_with("    auto_start: true\n", "    query_language: GQL\n")),
        ["server.yaml:34:21: queries[0].query_language: query_language GQL is not supported"]
    );
}

/// Adds a fourth query, with the id of the first, before `reactions`.
const DUPLICATE_QUERY: &str = "\n  - id: current-metrics\n    query: MATCH (m:metrics) RETURN m\n    sources: [{source_id: metrics-db}]\n\nreactions:\n";

#[test]
fn duplicate_ids_name_both_places() {
    assert_eq!(
        errors(&tutorial_with("\nreactions:\n", DUPLICATE_QUERY)),
        ["server.yaml:59:5: queries[3].id: duplicate query id 'current-metrics', first defined at queries[0].id on line 27"]
    );
}

#[test]
fn references_must_exist() {
    assert_eq!(
        errors(&tutorial_with("- source_id: metrics-db", "- source_id: metrics-dbx")),
        ["server.yaml:32:9: queries[0].sources[0].source_id: unknown source 'metrics-dbx' (did you mean 'metrics-db'?)"]
    );
    assert_eq!(
        errors(&tutorial_with("queries: [critical-metrics]", "queries: [critical-metric]")),
        [
            "server.yaml:70:15: reactions[1].queries[0]: unknown query 'critical-metric' (did you mean 'critical-metrics'?)",
            "server.yaml:72:7: reactions[1].routes.critical-metrics: route for query 'critical-metrics', which this reaction does not subscribe to (did you mean 'critical-metric'?)",
        ]
    );
}

#[test]
fn a_table_name_belongs_to_one_source() {
    let second =
        "\n  - kind: postgres\n    id: other-db\n    database: other\n    user: postgres\n    \
                  tables: [metrics, sales.alerts, orders]\n\nqueries:\n";
    assert_eq!(
        errors(&tutorial_with("\nqueries:\n", second)),
        [
            "server.yaml:30:14: sources[1].tables[0]: source 'metrics-db' already reads a table named 'metrics' (sources[0].tables[0]); its node label and element ids would be the same (read each table name from one source only)",
            "server.yaml:30:23: sources[1].tables[1]: source 'metrics-db' already reads a table named 'alerts' (sources[0].tables[1]); its node label and element ids would be the same (read each table name from one source only)",
        ]
    );
}

#[test]
fn log_routes_must_be_subscribed() {
    assert_eq!(
        errors(&tutorial_with("queries: [critical-metrics]", "queries: [current-metrics]")),
        ["server.yaml:72:7: reactions[1].routes.critical-metrics: route for query 'critical-metrics', which this reaction does not subscribe to (add 'critical-metrics' to this reaction's queries)"]
    );
}

#[test]
fn sse_ports_must_not_clash() {
    assert_eq!(
        errors(&tutorial_with("port: 8081", "port: 8080")),
        ["server.yaml:64:5: reactions[0].port: port 8080 is also the API server's port (give the SSE reaction another port, or a host other than the API's)"]
    );
    let second = "reactions:\n  - kind: sse\n    id: second\n    queries: [active-alerts]\n    host: 127.0.0.1\n";
    assert_eq!(
        errors(&tutorial_with("reactions:\n", second)),
        ["server.yaml:68:5: reactions[1].port: reactions[0] already listens on 127.0.0.1:8081 (give each SSE reaction its own port)"]
    );
}

#[test]
fn value_rules() {
    assert_eq!(
        errors(&tutorial_with("- public.alerts", "- public.alerts.x")),
        ["server.yaml:20:9: sources[0].tables[1]: \"public.alerts.x\" is not a table name (write 'table' or 'schema.table')"]
    );
    assert_eq!(
        errors(&tutorial_with("slot_name: drasi_dashboard_slot", "slot_name: Dashboard-Slot")),
        ["server.yaml:21:16: sources[0].slot_name: \"Dashboard-Slot\" is not a valid replication slot name (use 1 to 63 lower-case letters, digits and '_')"]
    );
    assert_eq!(
        errors(&tutorial_with("sse_path: /events", "sse_path: events")),
        ["server.yaml:65:15: reactions[0].sse_path: \"events\" is not a URL path (start it with '/': \"/events\")"]
    );
    assert_eq!(
        errors(&tutorial_with("heartbeat_interval_ms: 30000", "heartbeat_interval_ms: 0")),
        ["server.yaml:66:28: reactions[0].heartbeat_interval_ms: expected a positive integer (milliseconds), found integer 0"]
    );
    assert_eq!(
        errors(&tutorial_with("id: metric-logger", "id: metric logger")),
        ["server.yaml:69:9: reactions[1].id: invalid id \"metric logger\" (an id must not be empty, nor contain whitespace or '/')"]
    );
}

#[test]
fn empty_query_text() {
    assert_eq!(
        errors("id: x\nqueries:\n  - id: q\n    query: ' '\n    sources: [{source_id: s}]\nsources: [{kind: postgres, id: s, database: d, user: u}]\n"),
        ["server.yaml:4:12: queries[0].query: the query text is empty"]
    );
}

#[test]
fn joins_have_exactly_two_keys() {
    let text = "id: x\nsources: [{kind: postgres, id: s, database: d, user: u}]\nqueries:\n  - id: q\n    query: MATCH (a) RETURN a\n    sources: [{source_id: s}]\n    joins:\n      - id: J\n        keys: [{label: a, property: p}]\n";
    assert_eq!(
        errors(text),
        ["server.yaml:9:15: queries[0].joins[0].keys: a join needs exactly two keys, found 1"]
    );
}

#[test]
fn table_keys_name_listed_tables() {
    let text = "id: x\nsources:\n  - kind: postgres\n    id: s\n    database: d\n    user: u\n    tables: [public.a]\n    table_keys: [{table: b, key_columns: [id]}]\n";
    assert_eq!(
        errors(text),
        ["server.yaml:8:26: sources[0].table_keys[0].table: table \"b\" is not in this source's tables (tables: public.a)"]
    );
}

#[test]
fn both_spellings_of_one_key() {
    assert_eq!(
        errors(&tutorial_with("log_level: info", "log_level: info\nlogLevel: debug")),
        ["server.yaml:5:1: logLevel: 'logLevel' and 'log_level' are the same key (keep one of them)"]
    );
}

#[test]
fn syntax_errors_and_empty_files() {
    assert_eq!(
        errors("id: x\n  port: 1\n"),
        ["server.yaml:2:7: invalid YAML: mapping values are not allowed in this context"]
    );
    assert_eq!(errors("# nothing yet\n"), ["server.yaml: the config file is empty"]);
    assert_eq!(errors("- a\n"), ["server.yaml:1:1: expected a mapping, found a sequence"]);
}

#[test]
fn every_error_is_reported_in_one_pass() {
    let text = tutorial_with("sse_path:", "sse_pth:")
        .replacen("- source_id: metrics-db", "- source_id: metrics-dbx", 1)
        .replacen("\nreactions:\n", DUPLICATE_QUERY, 1);
    assert_eq!(
        errors(&text),
        [
            "server.yaml:32:9: queries[0].sources[0].source_id: unknown source 'metrics-dbx' (did you mean 'metrics-db'?)",
            "server.yaml:59:5: queries[3].id: duplicate query id 'current-metrics', first defined at queries[0].id on line 27",
            "server.yaml:69:5: reactions[0].sse_pth: unknown key 'sse_pth' (did you mean 'sse_path'?)",
        ]
    );
}

#[test]
fn camel_case_errors_use_the_written_spelling() {
    let text = TUTORIAL_CAMEL.replacen("- sourceId: metrics-db", "- sourceId: nope", 1);
    assert_eq!(
        errors(&text),
        ["server.yaml:32:9: queries[0].sources[0].sourceId: unknown source 'nope' (known sources: metrics-db)"]
    );
}

#[test]
fn load_reads_the_dotenv_beside_the_file() {
    let dir = std::env::temp_dir().join(format!("ripple-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("server.yaml");
    let text = tutorial_with("password: postgres", "password: ${RIPPLE_TEST_DOTENV_PASSWORD}");
    std::fs::write(&file, text).unwrap();
    std::fs::write(dir.join(".env"), "# secrets\nRIPPLE_TEST_DOTENV_PASSWORD='from dotenv'\n")
        .unwrap();
    let config = Config::load(&file);
    std::fs::remove_dir_all(&dir).unwrap();
    let SourceConfig::Postgres(source) = &config.unwrap().sources[0];
    assert_eq!(source.password, "from dotenv");
}

#[test]
fn load_reports_a_missing_file() {
    let errors = Config::load(Path::new("/nonexistent/ripple.yaml")).unwrap_err();
    assert!(
        errors.to_string().starts_with("/nonexistent/ripple.yaml: cannot read the config file:"),
        "{errors}"
    );
}

#[test]
fn a_source_without_kind_is_reported_once() {
    let text = "id: x\nsources:\n  - id: db\n    database: d\n    user: u\nqueries:\n  - {id: q, query: MATCH (n) RETURN n, sources: [{source_id: db}]}\n";
    assert_eq!(errors(text), ["server.yaml:3:5: sources[0]: missing required key 'kind'"]);
}

#[test]
fn required_lists_must_not_be_empty() {
    let text = "id: x\nqueries:\n  - {id: q, query: MATCH (n) RETURN n, sources: []}\nreactions:\n  - {kind: log, id: l, queries: []}\n";
    assert_eq!(
        errors(text),
        [
            "server.yaml:3:49: queries[0].sources: 'sources' must not be empty",
            "server.yaml:5:33: reactions[0].queries: 'queries' must not be empty",
        ]
    );
}

#[test]
fn null_values_take_the_default() {
    assert_eq!(
        errors("id: x\nhost:\nqueries: ~\nreactions:\n  - {kind: sse, id: s, queries: [q]}\n"),
        ["server.yaml:5:34: reactions[0].queries[0]: unknown query 'q' (no queries are defined)"]
    );
    assert_eq!(parse("id: x\nhost:\nsources:\n").unwrap().host, "0.0.0.0");
}

#[test]
fn a_template_may_be_just_its_text() {
    let text = "id: x\nreactions:\n  - kind: log\n    id: l\n    queries: [q]\n    default_template:\n      added: \"+ {{after.id}}\"\nqueries: [{id: q, query: x, sources: [{source_id: s}]}]\nsources: [{kind: postgres, id: s, database: d, user: u}]\n";
    let ReactionConfig::Log(log) = &parse(text).unwrap().reactions[0] else {
        panic!("expected a log reaction")
    };
    let added = log.default_template.as_ref().and_then(|routes| routes.added.as_deref());
    assert_eq!(added, Some("+ {{after.id}}"));
}

#[test]
fn a_request_body_holds_one_query_as_json_or_yaml() {
    let json = r#"{"id": "hot", "query": "MATCH (m:metrics) RETURN m.name", "sources": [{"sourceId": "metrics-db", "nodes": ["metrics"]}]}"#;
    let yaml = "id: hot\nquery: MATCH (m:metrics) RETURN m.name\nsources:\n  - source_id: metrics-db\n    nodes: [metrics]\n";
    let expected = tutorial_query("hot", "MATCH (m:metrics) RETURN m.name", "metrics");
    assert_eq!(QueryConfig::parse(json, "request").unwrap(), expected);
    assert_eq!(QueryConfig::parse(yaml, "request").unwrap(), expected);
}

#[test]
fn a_request_body_is_located_and_reads_no_environment() {
    let errors = QueryConfig::parse("id: q\nquery: ${HOME}\nsourcs: []\n", "request")
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0], "request:1:1: missing required key 'sources'");
    assert!(errors[1].starts_with("request:2:8: query: environment variable 'HOME'"), "{errors:?}");
    assert!(errors[2].starts_with("request:3:1: sourcs: unknown key"), "{errors:?}");
}

#[test]
fn a_request_body_holds_one_reaction() {
    let reaction = ReactionConfig::parse("kind: log\nid: lines\nqueries: [hot]\n", "request");
    assert!(matches!(reaction, Ok(ReactionConfig::Log(log)) if log.queries == ["hot"]));
    let errors = ReactionConfig::parse("kind: smoke\nid: x\n", "request").unwrap_err();
    assert_eq!(
        errors.0[0].to_string(),
        "request:1:7: kind: unknown reaction kind \"smoke\" (known kinds: sse, log)"
    );
}
