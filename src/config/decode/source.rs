//! Entries of `sources`.

use super::{choice, id, kind, list, non_empty_list};
use crate::config::fields::{Ctx, Fields, Path};
use crate::config::model::{
    PostgresSourceConfig, SourceConfig, SslMode, TableKeyConfig, DEFAULT_PG_HOST, DEFAULT_PG_PORT,
    DEFAULT_PUBLICATION_NAME, DEFAULT_SLOT_NAME,
};
use crate::config::yaml::Node;

/// One source, by its `kind`. A source whose kind is missing or unknown is
/// left out; its id goes to `undecoded_ids`.
pub(super) fn source(
    ctx: &mut Ctx,
    node: &Node,
    path: &Path,
    undecoded_ids: &mut Vec<String>,
) -> Option<SourceConfig> {
    let mut fields = ctx.mapping(node, path)?;
    let kind = fields
        .required(ctx, "kind")
        .and_then(|(node, path)| kind(ctx, node, &path, "source", &["postgres"]));
    match kind {
        Some(_) => {
            let source = postgres(ctx, &mut fields);
            fields.finish(ctx);
            Some(SourceConfig::Postgres(source))
        }
        None => {
            // Its other keys cannot be checked without a kind.
            let id = fields.optional(ctx, "id").and_then(|(node, path)| ctx.string(node, &path));
            undecoded_ids.extend(id);
            None
        }
    }
}

fn postgres(ctx: &mut Ctx, fields: &mut Fields) -> PostgresSourceConfig {
    let id = id(ctx, fields);
    let host = fields.string_or(ctx, "host", DEFAULT_PG_HOST);
    let port = fields.port_or(ctx, "port", DEFAULT_PG_PORT);
    let database = fields.required_string(ctx, "database");
    let user = fields.required_string(ctx, "user");
    let password = fields.string_or(ctx, "password", "");
    let tables = tables(ctx, fields);
    let slot_name = slot_name(ctx, fields);
    let publication_name = fields.string_or(ctx, "publication_name", DEFAULT_PUBLICATION_NAME);
    let ssl_mode = fields
        .optional(ctx, "ssl_mode")
        .and_then(|(node, path)| choice(ctx, node, &path, &["disable", "prefer", "require"]))
        .map_or(SslMode::default(), |mode| match mode {
            "disable" => SslMode::Disable,
            "require" => SslMode::Require,
            _ => SslMode::Prefer,
        });
    let table_keys =
        list(ctx, fields, "table_keys", |ctx, node, path| table_key(ctx, node, path, &tables));
    let bootstrap = fields
        .optional(ctx, "bootstrap_provider")
        .map(|(node, path)| bootstrap_provider(ctx, node, &path))
        .is_some();
    let auto_start = fields.bool_or(ctx, "auto_start", true);
    PostgresSourceConfig {
        id,
        host,
        port,
        database,
        user,
        password,
        tables,
        slot_name,
        publication_name,
        ssl_mode,
        table_keys,
        bootstrap,
        auto_start,
    }
}

/// `tables`: each `table` or `schema.table`, in unquoted SQL identifiers.
fn tables(ctx: &mut Ctx, fields: &mut Fields) -> Vec<String> {
    let Some((node, path)) = fields.optional(ctx, "tables") else {
        return Vec::new();
    };
    let mut tables = Vec::new();
    for (item, path) in ctx.sequence(node, &path) {
        let Some(table) = ctx.string(item, &path) else {
            continue;
        };
        let parts: Vec<&str> = table.split('.').collect();
        if parts.len() > 2 || !parts.iter().all(|part| is_identifier(part)) {
            ctx.error(
                &path.written,
                Some(item.mark),
                format!("{table:?} is not a table name"),
                Some("write 'table' or 'schema.table'".to_owned()),
            );
        }
        tables.push(table);
    }
    tables
}

/// An unquoted SQL identifier: a letter or `_`, then letters, digits, `_`, `$`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// `slot_name`: PostgreSQL accepts lower-case letters, digits and `_`, at
/// most 63 characters.
fn slot_name(ctx: &mut Ctx, fields: &mut Fields) -> String {
    let Some((node, path)) = fields.optional(ctx, "slot_name") else {
        return DEFAULT_SLOT_NAME.to_owned();
    };
    let name = ctx.string(node, &path).unwrap_or_default();
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        ctx.error(
            &path.written,
            Some(node.mark),
            format!("{name:?} is not a valid replication slot name"),
            Some("use 1 to 63 lower-case letters, digits and '_'".to_owned()),
        );
    }
    name
}

/// An entry of `table_keys`; its table must be one of `tables` if any are given.
fn table_key(ctx: &mut Ctx, node: &Node, path: &Path, tables: &[String]) -> Option<TableKeyConfig> {
    let mut fields = ctx.mapping(node, path)?;
    let table = fields.required(ctx, "table").and_then(|(node, path)| {
        let table = ctx.string(node, &path)?;
        if !tables.is_empty() && !tables.iter().any(|listed| same_table(listed, &table)) {
            ctx.error(
                &path.written,
                Some(node.mark),
                format!("table {table:?} is not in this source's tables"),
                Some(format!("tables: {}", tables.join(", "))),
            );
        }
        Some(table)
    });
    let key_columns =
        non_empty_list(ctx, &mut fields, "key_columns", |ctx, node, path| ctx.string(node, path));
    fields.finish(ctx);
    Some(TableKeyConfig { table: table?, key_columns })
}

/// Whether two table names denote the same table; a bare name matches any schema.
fn same_table(a: &str, b: &str) -> bool {
    let bare = |name: &str| name.rsplit('.').next().unwrap_or(name).to_owned();
    a == b || ((!a.contains('.') || !b.contains('.')) && bare(a) == bare(b))
}

/// `bootstrap_provider: {type: postgres}` (`kind` is accepted for `type`).
fn bootstrap_provider(ctx: &mut Ctx, node: &Node, path: &Path) {
    let Some(mut fields) = ctx.mapping(node, path) else {
        return;
    };
    if let Some((node, path)) = fields.required_any(ctx, &["type", "kind"]) {
        kind(ctx, node, &path, "bootstrap provider", &["postgres"]);
    }
    fields.finish(ctx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(is_identifier("metrics"));
        assert!(is_identifier("_t$1"));
        assert!(!is_identifier("1t"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("my table"));
    }

    #[test]
    fn bare_table_names_match_any_schema() {
        assert!(same_table("public.metrics", "metrics"));
        assert!(same_table("metrics", "metrics"));
        assert!(!same_table("public.metrics", "other.metrics"));
        assert!(!same_table("public.metrics", "alerts"));
    }
}
