//! Entries of `reactions`.

use std::collections::BTreeMap;

use crate::config::fields::{Ctx, Fields, Path};
use crate::config::model::{
    LogReactionConfig, LogRoutes, ReactionConfig, SseFormat, SseReactionConfig,
    DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_JOURNAL_SIZE, DEFAULT_MAX_CLIENT_BACKLOG_BYTES,
    DEFAULT_SSE_HOST, DEFAULT_SSE_PATH, DEFAULT_SSE_PORT,
};
use crate::config::yaml::{Node, Value};

use super::{choice, id, kind, non_empty_list};

/// One reaction, by its `kind`. A reaction whose kind is missing or unknown
/// is left out.
pub(crate) fn reaction(ctx: &mut Ctx, node: &Node, path: &Path) -> Option<ReactionConfig> {
    let mut fields = ctx.mapping(node, path)?;
    let kind = fields
        .required(ctx, "kind")
        .and_then(|(node, path)| kind(ctx, node, &path, "reaction", &["sse", "log"]))?;
    let id = id(ctx, &mut fields);
    let queries =
        non_empty_list(ctx, &mut fields, "queries", |ctx, node, path| ctx.string(node, path));
    let reaction = if kind == "sse" {
        ReactionConfig::Sse(sse(ctx, &mut fields, id, queries))
    } else {
        ReactionConfig::Log(log(ctx, &mut fields, id, queries))
    };
    fields.finish(ctx);
    Some(reaction)
}

fn sse(ctx: &mut Ctx, fields: &mut Fields, id: String, queries: Vec<String>) -> SseReactionConfig {
    let host = fields.string_or(ctx, "host", DEFAULT_SSE_HOST);
    let port = fields.port_or(ctx, "port", DEFAULT_SSE_PORT);
    let sse_path = fields
        .optional(ctx, "sse_path")
        .and_then(|(node, path)| {
            let sse_path = ctx.string(node, &path)?;
            if !sse_path.starts_with('/') {
                let message = format!("{sse_path:?} is not a URL path");
                let help = Some(format!("start it with '/': \"/{sse_path}\""));
                ctx.error(&path.written, Some(node.mark), message, help);
            }
            Some(sse_path)
        })
        .unwrap_or_else(|| DEFAULT_SSE_PATH.to_owned());
    let heartbeat_interval_ms = positive(
        ctx,
        fields,
        "heartbeat_interval_ms",
        "milliseconds",
        DEFAULT_HEARTBEAT_INTERVAL_MS,
    );
    let journal_size = positive(ctx, fields, "journal_size", "events", DEFAULT_JOURNAL_SIZE);
    let max_client_backlog_bytes = positive(
        ctx,
        fields,
        "max_client_backlog_bytes",
        "bytes",
        DEFAULT_MAX_CLIENT_BACKLOG_BYTES,
    );
    let format = fields
        .optional(ctx, "format")
        .and_then(|(node, path)| choice(ctx, node, &path, &["tutorial", "drasi"]))
        .map_or(SseFormat::Tutorial, |format| match format {
            "drasi" => SseFormat::Drasi,
            _ => SseFormat::Tutorial,
        });
    SseReactionConfig {
        id,
        queries,
        host,
        port,
        sse_path,
        heartbeat_interval_ms,
        journal_size,
        max_client_backlog_bytes,
        format,
    }
}

/// The optional positive integer `key` (counting `unit`), or `default`.
fn positive<T>(ctx: &mut Ctx, fields: &mut Fields, key: &'static str, unit: &str, default: T) -> T
where
    T: TryFrom<i128> + PartialEq + From<u8>,
{
    fields
        .optional(ctx, key)
        .and_then(|(node, path)| {
            let expected = format!("a positive integer ({unit})");
            let found = ctx.integer::<T>(node, &path, &expected)?;
            if found == T::from(0) {
                let message = format!("expected {expected}, found integer 0");
                ctx.error(&path.written, Some(node.mark), message, None);
            }
            Some(found)
        })
        .unwrap_or(default)
}

fn log(ctx: &mut Ctx, fields: &mut Fields, id: String, queries: Vec<String>) -> LogReactionConfig {
    let routes = match fields.optional(ctx, "routes") {
        Some((node, path)) => ctx
            .entries(node, &path)
            .into_iter()
            .map(|(query, node, path)| (query, log_routes(ctx, node, &path)))
            .collect(),
        None => BTreeMap::new(),
    };
    let default_template =
        fields.optional(ctx, "default_template").map(|(node, path)| log_routes(ctx, node, &path));
    LogReactionConfig { id, queries, routes, default_template }
}

/// `{added: {template}, updated: {template}, deleted: {template}}`.
fn log_routes(ctx: &mut Ctx, node: &Node, path: &Path) -> LogRoutes {
    let Some(mut fields) = ctx.mapping(node, path) else {
        return LogRoutes::default();
    };
    let mut read = |name| {
        let (node, path) = fields.optional(ctx, name)?;
        template(ctx, node, &path)
    };
    let routes =
        LogRoutes { added: read("added"), updated: read("updated"), deleted: read("deleted") };
    fields.finish(ctx);
    routes
}

/// `{template: ".."}`, or just `".."`.
fn template(ctx: &mut Ctx, node: &Node, path: &Path) -> Option<String> {
    if matches!(node.value, Value::Scalar { .. }) {
        return ctx.string(node, path);
    }
    let mut fields = ctx.mapping(node, path)?;
    let text = fields.required_string(ctx, "template");
    fields.finish(ctx);
    Some(text)
}
