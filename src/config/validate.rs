//! Rules that relate several parts of a config: ids that must be unique or
//! must exist, and listeners that must not clash. Every broken rule is
//! reported; nothing stops at the first.

use std::collections::HashMap;

use super::decode::Draft;
use super::fields::Ctx;
use super::model::{Config, ReactionConfig, SourceConfig};
use super::suggest::closest;

/// Checks every cross-reference in `draft`.
pub(crate) fn check(ctx: &mut Ctx, draft: &Draft) {
    let config = &draft.config;
    unique_ids(ctx, "source", "sources", config.sources.iter().map(|s| s.id()));
    unique_ids(ctx, "query", "queries", config.queries.iter().map(|q| q.id.as_str()));
    unique_ids(ctx, "reaction", "reactions", config.reactions.iter().map(|r| r.id()));
    query_sources_exist(ctx, draft);
    reaction_queries_exist(ctx, config);
    log_routes_are_subscribed(ctx, config);
    listeners_do_not_clash(ctx, config);
    tables_have_one_source(ctx, config);
}

/// Reports each id that an earlier item of the same list already has.
fn unique_ids<'c>(ctx: &mut Ctx, what: &str, list: &str, ids: impl Iterator<Item = &'c str>) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (index, id) in ids.enumerate() {
        // An empty id is missing or invalid, and reported as such.
        if id.is_empty() {
            continue;
        }
        match first.get(id) {
            Some(&earlier) => {
                let (earlier_path, mark) = ctx.locate(&format!("{list}[{earlier}].id"));
                let line = mark.map(|mark| format!(" on line {}", mark.line)).unwrap_or_default();
                let message =
                    format!("duplicate {what} id '{id}', first defined at {earlier_path}{line}");
                ctx.error_at(&format!("{list}[{index}].id"), message, None);
            }
            None => {
                first.insert(id, index);
            }
        }
    }
}

/// "did you mean ..." for a name missing from `known`, or the list of names.
fn known_help(what: &str, name: &str, known: &[&str]) -> String {
    match closest(name, known.iter().copied()) {
        Some(near) => format!("did you mean '{near}'?"),
        None if known.is_empty() => format!("no {what} are defined"),
        None => format!("known {what}: {}", known.join(", ")),
    }
}

fn query_sources_exist(ctx: &mut Ctx, draft: &Draft) {
    let config = &draft.config;
    let known: Vec<&str> = config.sources.iter().map(|source| source.id()).collect();
    let undecoded = draft.undecoded_source_ids.iter().map(String::as_str);
    for (q, query) in config.queries.iter().enumerate() {
        for (s, source) in query.sources.iter().enumerate() {
            let id = source.source_id.as_str();
            if id.is_empty() || known.contains(&id) || undecoded.clone().any(|u| u == id) {
                continue;
            }
            ctx.error_at(
                &format!("queries[{q}].sources[{s}].source_id"),
                format!("unknown source '{id}'"),
                Some(known_help("sources", id, &known)),
            );
        }
    }
}

fn reaction_queries_exist(ctx: &mut Ctx, config: &Config) {
    let known: Vec<&str> = config.queries.iter().map(|query| query.id.as_str()).collect();
    for (r, reaction) in config.reactions.iter().enumerate() {
        for (i, id) in reaction.queries().iter().enumerate() {
            if !id.is_empty() && !known.contains(&id.as_str()) {
                ctx.error_at(
                    &format!("reactions[{r}].queries[{i}]"),
                    format!("unknown query '{id}'"),
                    Some(known_help("queries", id, &known)),
                );
            }
        }
    }
}

fn log_routes_are_subscribed(ctx: &mut Ctx, config: &Config) {
    for (r, reaction) in config.reactions.iter().enumerate() {
        let ReactionConfig::Log(log) = reaction else {
            continue;
        };
        let subscribed: Vec<&str> = log.queries.iter().map(String::as_str).collect();
        for query in log.routes.keys().filter(|query| !subscribed.contains(&query.as_str())) {
            let help = match closest(query, subscribed.iter().copied()) {
                Some(near) => format!("did you mean '{near}'?"),
                None => format!("add '{query}' to this reaction's queries"),
            };
            ctx.error_at(
                &format!("reactions[{r}].routes.{query}"),
                format!("route for query '{query}', which this reaction does not subscribe to"),
                Some(help),
            );
        }
    }
}

/// A table name is a node label and the prefix of its element ids (`table:key`), both global
/// to the server: two sources listing the same table name would mix their rows. (Sources that
/// read whole publications are checked when they load their tables.)
fn tables_have_one_source(ctx: &mut Ctx, config: &Config) {
    let mut claimed: HashMap<&str, (usize, usize, &str)> = HashMap::new();
    for (s, source) in config.sources.iter().enumerate() {
        let SourceConfig::Postgres(pg) = source;
        for (t, table) in pg.tables.iter().enumerate() {
            let label = table.rsplit('.').next().unwrap_or(table);
            match claimed.get(label) {
                Some(&(earlier, _, _)) if earlier == s => {}
                Some(&(earlier, et, id)) => {
                    let (earlier_path, _) = ctx.locate(&format!("sources[{earlier}].tables[{et}]"));
                    ctx.error_at(
                        &format!("sources[{s}].tables[{t}]"),
                        format!(
                            "source '{id}' already reads a table named '{label}' ({earlier_path}); \
                             its node label and element ids would be the same"
                        ),
                        Some("read each table name from one source only".to_owned()),
                    );
                }
                None => {
                    claimed.insert(label, (s, t, source.id()));
                }
            }
        }
    }
}

/// Whether two listen addresses can collide: equal, or either is a wildcard.
fn hosts_overlap(a: &str, b: &str) -> bool {
    let wildcard = |host: &str| matches!(host, "0.0.0.0" | "::" | "[::]" | "");
    a == b || wildcard(a) || wildcard(b)
}

/// Each SSE reaction listens on its own port: not the API's, not another's.
/// Port 0 (any free port) never clashes.
fn listeners_do_not_clash(ctx: &mut Ctx, config: &Config) {
    let mut taken: Vec<(usize, &str, u16)> = Vec::new();
    for (r, reaction) in config.reactions.iter().enumerate() {
        let ReactionConfig::Sse(sse) = reaction else {
            continue;
        };
        if sse.port == 0 {
            continue;
        }
        let path = format!("reactions[{r}].port");
        if sse.port == config.port && hosts_overlap(&sse.host, &config.host) {
            ctx.error_at(
                &path,
                format!("port {} is also the API server's port", sse.port),
                Some(
                    "give the SSE reaction another port, or a host other than the API's".to_owned(),
                ),
            );
        }
        let clash = taken
            .iter()
            .find(|&&(_, host, port)| port == sse.port && hosts_overlap(host, &sse.host));
        if let Some(&(earlier, host, port)) = clash {
            let (earlier_path, _) = ctx.locate(&format!("reactions[{earlier}]"));
            ctx.error_at(
                &path,
                format!("{earlier_path} already listens on {host}:{port}"),
                Some("give each SSE reaction its own port".to_owned()),
            );
        }
        taken.push((r, &sse.host, sse.port));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_overlap_everything() {
        assert!(hosts_overlap("0.0.0.0", "127.0.0.1"));
        assert!(hosts_overlap("127.0.0.1", "::"));
        assert!(hosts_overlap("localhost", "localhost"));
        assert!(!hosts_overlap("127.0.0.1", "10.0.0.1"));
    }

    #[test]
    fn help_suggests_or_lists() {
        assert_eq!(
            known_help("sources", "metrics-dbx", &["metrics-db"]),
            "did you mean 'metrics-db'?"
        );
        assert_eq!(known_help("sources", "zzz", &["a", "b"]), "known sources: a, b");
        assert_eq!(known_help("sources", "zzz", &[]), "no sources are defined");
    }
}
