//! The JSON an SSE reaction sends: change events in the configured [`SseFormat`], and the
//! full results of a `reset` or `snapshot` event.

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use super::position::Cursor;
use crate::config::SseFormat;
use crate::queries::{JsonRow, ResultEvent};

/// A change event's `data:` in `format`. `timestamp_ms` is when the event left the engine
/// (Drasi's `timestamp`).
pub fn change_event(format: SseFormat, event: &ResultEvent, timestamp_ms: u64) -> String {
    match format {
        SseFormat::Tutorial => tutorial_event(event),
        SseFormat::Drasi => drasi_event(event, timestamp_ms),
    }
    .to_string()
}

/// The tutorial's event format (drasi-compat.md §3):
/// `{"queryId", "added": [{"after"}], "updated": [{"before", "after"}], "deleted": [{"before"}]}`.
pub fn tutorial_event(event: &ResultEvent) -> Json {
    json!({
        "queryId": &*event.query_id,
        "added": event.added.iter().map(|row| json!({ "after": row })).collect::<Vec<_>>(),
        "updated": event
            .updated
            .iter()
            .map(|(before, after)| json!({ "before": before, "after": after }))
            .collect::<Vec<_>>(),
        "deleted": event.deleted.iter().map(|row| json!({ "before": row })).collect::<Vec<_>>(),
    })
}

/// Drasi Server's released format (drasi-compat.md §3):
/// `{"queryId", "results": [{"type": "ADD"|"UPDATE"|"DELETE", ...}], "timestamp"}`.
///
/// Deletions come first, then updates, then additions, so that a client keyed by something
/// other than row identity never deletes a row added by the same transaction.
pub fn drasi_event(event: &ResultEvent, timestamp_ms: u64) -> Json {
    let deleted = event.deleted.iter().map(|row| json!({ "type": "DELETE", "data": row }));
    let updated = event.updated.iter().map(|(before, after)| {
        json!({ "type": "UPDATE", "before": before, "after": after, "data": after })
    });
    let added = event.added.iter().map(|row| json!({ "type": "ADD", "data": row }));
    json!({
        "queryId": &*event.query_id,
        "results": deleted.chain(updated).chain(added).collect::<Vec<_>>(),
        "timestamp": timestamp_ms,
    })
}

/// A `reset` or `snapshot` event's `data:`: every query's full result as of `position`,
/// `{"position": "<epoch>.<time>", "queries": {"<query id>": [rows], ...}}`.
pub fn full_results(position: Cursor, results: &[(Arc<str>, Vec<JsonRow>)]) -> String {
    let queries: Map<String, Json> = results
        .iter()
        .map(|(id, rows)| {
            (id.to_string(), Json::Array(rows.iter().cloned().map(Json::Object).collect()))
        })
        .collect();
    json!({ "position": position.to_string(), "queries": queries }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, value: f64) -> JsonRow {
        json!({ "name": name, "value": value }).as_object().unwrap().clone()
    }

    fn event() -> ResultEvent {
        ResultEvent {
            query_id: Arc::from("q"),
            time: 3,
            added: vec![row("a", 1.0)],
            updated: vec![(row("b", 1.0), row("b", 2.0))],
            deleted: vec![row("c", 3.0)],
        }
    }

    #[test]
    fn tutorial_shape() {
        let text = change_event(SseFormat::Tutorial, &event(), 99);
        assert_eq!(
            text,
            r#"{"queryId":"q","added":[{"after":{"name":"a","value":1.0}}],"updated":[{"before":{"name":"b","value":1.0},"after":{"name":"b","value":2.0}}],"deleted":[{"before":{"name":"c","value":3.0}}]}"#
        );
    }

    #[test]
    fn drasi_shape() {
        let text = change_event(SseFormat::Drasi, &event(), 99);
        assert_eq!(
            text,
            r#"{"queryId":"q","results":[{"type":"DELETE","data":{"name":"c","value":3.0}},{"type":"UPDATE","before":{"name":"b","value":1.0},"after":{"name":"b","value":2.0},"data":{"name":"b","value":2.0}},{"type":"ADD","data":{"name":"a","value":1.0}}],"timestamp":99}"#
        );
    }

    #[test]
    fn full_results_shape() {
        let text = full_results(Cursor::after(4, 7), &[(Arc::from("q"), vec![row("a", 1.0)])]);
        assert_eq!(text, r#"{"position":"4.7","queries":{"q":[{"name":"a","value":1.0}]}}"#);
    }
}
