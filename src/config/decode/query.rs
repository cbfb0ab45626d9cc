//! Entries of `queries`.

use crate::config::fields::{Ctx, Path};
use crate::config::model::{
    JoinConfig, JoinKeyConfig, QueryConfig, QueryLanguage, QuerySourceConfig,
};
use crate::config::yaml::{Node, Value};

use super::{id, list, non_empty_list};

/// One continuous query.
pub(crate) fn query(ctx: &mut Ctx, node: &Node, path: &Path) -> Option<QueryConfig> {
    let mut fields = ctx.mapping(node, path)?;
    let id = id(ctx, &mut fields);
    let query = fields
        .required(ctx, "query")
        .and_then(|(node, path)| {
            let text = ctx.string(node, &path)?;
            if text.trim().is_empty() {
                ctx.error(&path.written, Some(node.mark), "the query text is empty", None);
            } else if let Some(Err(problem)) = ctx.query_check.map(|check| check(&text)) {
                ctx.error(&path.written, Some(node.mark), problem, None);
            }
            Some(text)
        })
        .unwrap_or_default();
    let query_language =
        fields.optional(ctx, "query_language").map(|(node, path)| language(ctx, node, &path));
    let sources = non_empty_list(ctx, &mut fields, "sources", query_source);
    let joins = list(ctx, &mut fields, "joins", join);
    let auto_start = fields.bool_or(ctx, "auto_start", true);
    fields.finish(ctx);
    Some(QueryConfig {
        id,
        query,
        query_language: query_language.unwrap_or_default(),
        sources,
        joins,
        auto_start,
    })
}

/// `query_language`: `Cypher`, in any case. Drasi's `GQL` is refused by name.
fn language(ctx: &mut Ctx, node: &Node, path: &Path) -> QueryLanguage {
    if let Some(value) = ctx.string(node, path) {
        if value.eq_ignore_ascii_case("gql") {
            ctx.error(&path.written, Some(node.mark), "query_language GQL is not supported", None);
        } else if !value.eq_ignore_ascii_case("cypher") {
            let message = format!("expected Cypher, found {value:?}");
            ctx.error(&path.written, Some(node.mark), message, None);
        }
    }
    QueryLanguage::Cypher
}

/// An entry of a query's `sources`.
fn query_source(ctx: &mut Ctx, node: &Node, path: &Path) -> Option<QuerySourceConfig> {
    let mut fields = ctx.mapping(node, path)?;
    let source_id = fields.required_string(ctx, "source_id");
    let nodes = fields.strings(ctx, "nodes");
    let relations = fields.strings(ctx, "relations");
    fields.finish(ctx);
    Some(QuerySourceConfig { source_id, nodes, relations })
}

/// An entry of a query's `joins`: an id and exactly two keys.
fn join(ctx: &mut Ctx, node: &Node, path: &Path) -> Option<JoinConfig> {
    let mut fields = ctx.mapping(node, path)?;
    let id = fields.required_string(ctx, "id");
    let keys = match fields.required(ctx, "keys") {
        Some((node, path)) => {
            let items = ctx.sequence(node, &path);
            if items.len() != 2 && matches!(node.value, Value::Sequence(_)) {
                let message = format!("a join needs exactly two keys, found {}", items.len());
                ctx.error(&path.written, Some(node.mark), message, None);
            }
            items.into_iter().filter_map(|(node, path)| join_key(ctx, node, &path)).collect()
        }
        None => Vec::new(),
    };
    fields.finish(ctx);
    Some(JoinConfig { id, keys })
}

/// `{label, property}`.
fn join_key(ctx: &mut Ctx, node: &Node, path: &Path) -> Option<JoinKeyConfig> {
    let mut fields = ctx.mapping(node, path)?;
    let label = fields.required_string(ctx, "label");
    let property = fields.required_string(ctx, "property");
    fields.finish(ctx);
    Some(JoinKeyConfig { label, property })
}
