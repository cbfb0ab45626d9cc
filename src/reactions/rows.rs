//! Rolling a query's result forward by its change events.
//!
//! A `reset` or `snapshot` event shows several queries at one transaction, but the engine
//! reads each query's result at whatever transaction is the latest when asked. The older
//! reads are brought up to the newest by applying the change events in between, which is
//! exact: a change set is the net difference of the result multiset at its time. Both are
//! engine rows, compared by the engine's own equality, so no row is converted to apply it.

use ripple_dataflows::runtime::Row;

use crate::queries::ResultEvent;

/// Applies `event` to `rows` (a multiset: order does not matter).
pub fn apply(rows: &mut Vec<Row>, event: &ResultEvent) {
    let changes = &event.changes;
    let mut remove = |gone: &Row| {
        if let Some(at) = rows.iter().position(|row| row == gone) {
            rows.swap_remove(at);
        }
    };
    for row in &changes.deleted {
        remove(row);
    }
    for (before, _) in &changes.updated {
        remove(before);
    }
    rows.extend(changes.updated.iter().map(|(_, after)| after.clone()));
    rows.extend(changes.added.iter().cloned());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ripple_dataflows::runtime::ChangeSet;
    use ripple_dataflows::Value;

    use super::*;

    fn row(id: i64, v: i64) -> Row {
        vec![Value::Int(id), Value::Int(v)]
    }

    #[test]
    fn applies_each_kind_of_change_once() {
        let mut rows = vec![row(1, 1), row(2, 2), row(3, 3), row(3, 3)];
        apply(
            &mut rows,
            &ResultEvent {
                query_id: Arc::from("q"),
                time: 2,
                columns: Arc::from([Arc::from("id"), Arc::from("v")]),
                changes: ChangeSet {
                    added: vec![row(4, 4)],
                    updated: vec![(row(2, 2), row(2, 20))],
                    deleted: vec![row(3, 3)],
                },
            },
        );
        rows.sort();
        assert_eq!(rows, vec![row(1, 1), row(2, 20), row(3, 3), row(4, 4)]);
    }
}
