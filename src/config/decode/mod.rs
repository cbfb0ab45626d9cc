//! The YAML tree → [`Config`]: which keys each section has, their types and
//! defaults, and the rules a single value must follow. Rules that relate
//! several sections (ids that must exist or be unique, ports that must not
//! clash) are in `validate`.

mod query;
mod reaction;
mod source;

pub(crate) use query::query;
pub(crate) use reaction::reaction;

use super::fields::{Ctx, Fields, Path};
use super::model::{
    Config, LogFormat, StateStoreConfig, StateStoreKind, DEFAULT_HOST, DEFAULT_LOG_LEVEL,
    DEFAULT_PORT, LOG_LEVELS,
};
use super::yaml::{Node, Value};

/// A decoded config, and what `validate` needs to know beyond it.
pub(crate) struct Draft {
    pub config: Config,
    /// Ids of sources whose `kind` was missing or unknown: they are not in
    /// `config`, but queries that name them should not be reported again.
    pub undecoded_source_ids: Vec<String>,
}

/// Decodes the whole document. `None` when it is not even a mapping.
pub(crate) fn config(ctx: &mut Ctx, root: &Node) -> Option<Draft> {
    let path = Path::default();
    ctx.visit(&path, root.mark);
    let mut fields = ctx.mapping(root, &path)?;
    let id = fields.required_string(ctx, "id");
    let host = fields.string_or(ctx, "host", DEFAULT_HOST);
    let port = fields.port_or(ctx, "port", DEFAULT_PORT);
    let log_level = fields
        .optional(ctx, "log_level")
        .and_then(|(node, path)| choice(ctx, node, &path, &LOG_LEVELS))
        .unwrap_or(DEFAULT_LOG_LEVEL)
        .to_owned();
    let log_format = fields
        .optional(ctx, "log_format")
        .and_then(|(node, path)| choice(ctx, node, &path, &["text", "json"]))
        .map_or(LogFormat::Text, |format| match format {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        });
    let state_store =
        fields.optional(ctx, "state_store").and_then(|(node, path)| state_store(ctx, node, &path));
    let mut undecoded_source_ids = Vec::new();
    let sources = list(ctx, &mut fields, "sources", |ctx, item, path| {
        source::source(ctx, item, path, &mut undecoded_source_ids)
    });
    let queries = list(ctx, &mut fields, "queries", query::query);
    let reactions = list(ctx, &mut fields, "reactions", reaction::reaction);
    fields.finish(ctx);
    Some(Draft {
        config: Config {
            id,
            host,
            port,
            log_level,
            log_format,
            state_store,
            sources,
            queries,
            reactions,
        },
        undecoded_source_ids,
    })
}

/// `state_store: {kind: redb, path: ...}`.
fn state_store(ctx: &mut Ctx, node: &Node, path: &Path) -> Option<StateStoreConfig> {
    let mut fields = ctx.mapping(node, path)?;
    let kind = fields
        .required(ctx, "kind")
        .and_then(|(node, path)| kind(ctx, node, &path, "state store", &["redb"]))
        .map(|_| StateStoreKind::Redb);
    let store_path = fields.required_string(ctx, "path");
    fields.finish(ctx);
    Some(StateStoreConfig { kind: kind?, path: store_path.into() })
}

/// An optional list under `name`, each item decoded by `item` (items that
/// cannot be decoded are left out, their errors reported).
fn list<'n, T>(
    ctx: &mut Ctx,
    fields: &mut Fields<'n>,
    name: &'static str,
    mut item: impl FnMut(&mut Ctx, &'n Node, &Path) -> Option<T>,
) -> Vec<T> {
    let Some((node, path)) = fields.optional(ctx, name) else {
        return Vec::new();
    };
    ctx.sequence(node, &path)
        .into_iter()
        .filter_map(|(node, path)| item(ctx, node, &path))
        .collect()
}

/// A required list under `name` that must have at least one item.
fn non_empty_list<'n, T>(
    ctx: &mut Ctx,
    fields: &mut Fields<'n>,
    name: &'static str,
    mut item: impl FnMut(&mut Ctx, &'n Node, &Path) -> Option<T>,
) -> Vec<T> {
    let Some((node, path)) = fields.required(ctx, name) else {
        return Vec::new();
    };
    let items = ctx.sequence(node, &path);
    if items.is_empty() && matches!(node.value, Value::Sequence(_)) {
        ctx.error(&path.written, Some(node.mark), format!("'{name}' must not be empty"), None);
    }
    items.into_iter().filter_map(|(node, path)| item(ctx, node, &path)).collect()
}

/// A required `id`: not empty, no whitespace, no `/` (ids appear in URLs).
fn id(ctx: &mut Ctx, fields: &mut Fields) -> String {
    let Some((node, path)) = fields.required(ctx, "id") else {
        return String::new();
    };
    let id = ctx.string(node, &path).unwrap_or_default();
    if id.is_empty() || id.contains(|c: char| c.is_whitespace() || c == '/') {
        ctx.error(
            &path.written,
            Some(node.mark),
            format!("invalid id {id:?}"),
            Some("an id must not be empty, nor contain whitespace or '/'".to_owned()),
        );
    }
    id
}

/// One of `choices`, matched ignoring case; the choice as spelled there.
fn choice<'c>(ctx: &mut Ctx, node: &Node, path: &Path, choices: &[&'c str]) -> Option<&'c str> {
    let value = ctx.string(node, path)?;
    let found = choices.iter().find(|choice| choice.eq_ignore_ascii_case(&value)).copied();
    if found.is_none() {
        let expected = one_of(choices);
        let message = format!("expected {expected}, found {value:?}");
        ctx.error(&path.written, Some(node.mark), message, None);
    }
    found
}

/// The `kind` of a source, reaction or state store: one of `known`.
fn kind<'c>(
    ctx: &mut Ctx,
    node: &Node,
    path: &Path,
    what: &str,
    known: &[&'c str],
) -> Option<&'c str> {
    let value = ctx.string(node, path)?;
    let found = known.iter().find(|kind| kind.eq_ignore_ascii_case(&value)).copied();
    if found.is_none() {
        let help = format!("known kinds: {}", known.join(", "));
        let message = format!("unknown {what} kind {value:?}");
        ctx.error(&path.written, Some(node.mark), message, Some(help));
    }
    found
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(choices: &[&str]) -> String {
    match choices {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_choices_in_prose() {
        assert_eq!(one_of(&["a"]), "a");
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
    }
}
