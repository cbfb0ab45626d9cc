//! Rolling a query's result forward by its change events.
//!
//! A `reset` or `snapshot` event shows several queries at one transaction, but the engine
//! reads each query's result at whatever transaction is the latest when asked. The older
//! reads are brought up to the newest by applying the change events in between, which is
//! exact: a change set is the net difference of the result multiset at its time.

use crate::queries::{JsonRow, ResultEvent};

/// Applies `event` to `rows` (a multiset: order does not matter).
pub fn apply(rows: &mut Vec<JsonRow>, event: &ResultEvent) {
    let mut remove = |gone: &JsonRow| {
        if let Some(at) = rows.iter().position(|row| row == gone) {
            rows.swap_remove(at);
        }
    };
    for row in &event.deleted {
        remove(row);
    }
    for (before, _) in &event.updated {
        remove(before);
    }
    rows.extend(event.updated.iter().map(|(_, after)| after.clone()));
    rows.extend(event.added.iter().cloned());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn row(id: i64, v: i64) -> JsonRow {
        json!({ "id": id, "v": v }).as_object().unwrap().clone()
    }

    #[test]
    fn applies_each_kind_of_change_once() {
        let mut rows = vec![row(1, 1), row(2, 2), row(3, 3), row(3, 3)];
        apply(
            &mut rows,
            &ResultEvent {
                query_id: Arc::from("q"),
                time: 2,
                added: vec![row(4, 4)],
                updated: vec![(row(2, 2), row(2, 20))],
                deleted: vec![row(3, 3)],
            },
        );
        rows.sort_by_key(|r| (r["id"].as_i64(), r["v"].as_i64()));
        assert_eq!(rows, vec![row(1, 1), row(2, 20), row(3, 3), row(4, 4)]);
    }
}
