//! The log reaction: one templated line per changed row.
//!
//! Templates are Handlebars with HTML escaping off (log lines are plain text). Their context
//! has `after` (added, updated), `before` (updated, deleted), `queryId`/`query_name` and
//! `operation` (`added`, `updated`, `deleted`). The route for the query and operation wins,
//! then `default_template`, then a built-in line with the row as JSON.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use handlebars::Handlebars;
use ripple_dataflows::json::JsonRow;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::ReactionStats;
use crate::config::{LogReactionConfig, LogRoutes};
use crate::queries::{Queries, ResultEvent};

/// The three kinds of row change.
#[derive(Clone, Copy)]
enum Operation {
    Added,
    Updated,
    Deleted,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Added => "added",
            Operation::Updated => "updated",
            Operation::Deleted => "deleted",
        }
    }

    fn template(self, routes: &LogRoutes) -> Option<&str> {
        match self {
            Operation::Added => routes.added.as_deref(),
            Operation::Updated => routes.updated.as_deref(),
            Operation::Deleted => routes.deleted.as_deref(),
        }
    }
}

/// Renders lines for one reaction.
pub struct LineRenderer {
    config: LogReactionConfig,
    handlebars: Handlebars<'static>,
}

impl LineRenderer {
    /// Registers every template, failing with the route's location on a template error.
    pub fn new(config: LogReactionConfig) -> Result<LineRenderer, String> {
        let mut handlebars = Handlebars::new();
        handlebars.register_escape_fn(handlebars::no_escape);
        let mut templates: Vec<(String, &LogRoutes)> =
            config.routes.iter().map(|(q, r)| (format!("routes.{q}"), r)).collect();
        if let Some(default) = &config.default_template {
            templates.push(("default_template".into(), default));
        }
        for (path, routes) in templates {
            for op in [Operation::Added, Operation::Updated, Operation::Deleted] {
                if let Some(text) = op.template(routes) {
                    let name = format!("{path}.{}", op.name());
                    handlebars.register_template_string(&name, text).map_err(|e| {
                        format!("log reaction '{}': template {name}: {e}", config.id)
                    })?;
                }
            }
        }
        Ok(LineRenderer { config, handlebars })
    }

    /// Every line an event produces, in order: deleted, updated, added.
    pub fn lines(&self, event: &ResultEvent) -> Vec<String> {
        let row = |values| Some(JsonRow::new(&event.columns, values));
        let changes = &event.changes;
        let mut lines = Vec::new();
        for before in &changes.deleted {
            lines.push(self.line(event, Operation::Deleted, row(before), None));
        }
        for (before, after) in &changes.updated {
            lines.push(self.line(event, Operation::Updated, row(before), row(after)));
        }
        for after in &changes.added {
            lines.push(self.line(event, Operation::Added, None, row(after)));
        }
        lines
    }

    fn line(
        &self,
        event: &ResultEvent,
        op: Operation,
        before: Option<JsonRow<'_>>,
        after: Option<JsonRow<'_>>,
    ) -> String {
        let query = &*event.query_id;
        let route = self.config.routes.get(query).filter(|r| op.template(r).is_some());
        let name = match (route, &self.config.default_template) {
            (Some(_), _) => format!("routes.{query}.{}", op.name()),
            (None, Some(d)) if op.template(d).is_some() => {
                format!("default_template.{}", op.name())
            }
            _ => return default_line(query, op, before, after),
        };
        // Handlebars reads a JSON tree; only lines rendered through a template build one.
        let context = json!({
            "queryId": query,
            "query_name": query,
            "operation": op.name(),
            "before": before,
            "after": after,
        });
        self.handlebars
            .render(&name, &context)
            .unwrap_or_else(|error| format!("[{query}] {}: template error: {error}", op.name()))
    }
}

fn default_line(
    query: &str,
    op: Operation,
    before: Option<JsonRow<'_>>,
    after: Option<JsonRow<'_>>,
) -> String {
    let show = |row: Option<JsonRow<'_>>| {
        serde_json::to_string(&row).expect("engine values always serialise")
    };
    match op {
        Operation::Added => format!("[{query}] added: {}", show(after)),
        Operation::Updated => format!("[{query}] updated: {} -> {}", show(before), show(after)),
        Operation::Deleted => format!("[{query}] deleted: {}", show(before)),
    }
}

/// Runs the reaction until `shutdown`.
pub fn start(
    renderer: LineRenderer,
    queries: &Queries,
    stats: Arc<ReactionStats>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let reaction = renderer.config.id.clone();
    let receivers: Vec<_> = renderer
        .config
        .queries
        .iter()
        .filter_map(|id| queries.get(id))
        .map(|q| q.subscribe())
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for mut receiver in receivers {
        let tx = tx.clone();
        let stats = stats.clone();
        let reaction = reaction.clone();
        tokio::spawn(async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => {
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        stats.events_missed.fetch_add(missed, Ordering::Relaxed);
                        tracing::warn!(message = "Log reaction fell behind; events were skipped.", %reaction, missed);
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }
    drop(tx);
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = rx.recv() => event,
                () = shutdown.cancelled() => None,
            };
            let Some(event) = event else { return };
            for line in renderer.lines(&event) {
                stats.events_sent.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: "ripple::reaction::log", reaction = %reaction, "{line}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripple_dataflows::runtime::ChangeSet;
    use ripple_dataflows::Value;
    use std::collections::BTreeMap;

    #[test]
    fn tutorial_template_renders_without_escaping() {
        let mut routes = BTreeMap::new();
        routes.insert(
            "critical-metrics".to_string(),
            LogRoutes {
                added: Some("CRITICAL: {{after.name}} = {{after.value}}{{after.unit}}".into()),
                updated: None,
                deleted: None,
            },
        );
        let renderer = LineRenderer::new(LogReactionConfig {
            id: "metric-logger".into(),
            queries: vec!["critical-metrics".into()],
            routes,
            default_template: None,
        })
        .unwrap();
        let event = ResultEvent {
            query_id: Arc::from("critical-metrics"),
            time: 7,
            columns: Arc::from([Arc::from("name"), Arc::from("value"), Arc::from("unit")]),
            changes: ChangeSet {
                added: vec![vec![Value::str("disk_usage"), Value::float(95.0), Value::str("<%>")]],
                updated: vec![],
                deleted: vec![vec![Value::str("cpu"), Value::Int(80), Value::Null]],
            },
        };
        assert_eq!(
            renderer.lines(&event),
            vec![
                r#"[critical-metrics] deleted: {"name":"cpu","value":80,"unit":null}"#.to_string(),
                "CRITICAL: disk_usage = 95.0<%>".to_string(),
            ]
        );
    }
}
