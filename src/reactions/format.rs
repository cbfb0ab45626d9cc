//! The JSON an SSE reaction sends: change events in the configured [`SseFormat`], and the
//! full results of a `reset` or `snapshot` event.
//!
//! Each shape is a [`Serialize`] view over the engine's rows and the query's column names,
//! so an event is written once, straight into the bytes of its frame ([`super::sse::frame`]),
//! with no JSON tree or string in between. Field order is part of the wire format: the
//! structs declare their fields in the order they are sent.

use std::sync::Arc;

use ripple_dataflows::json::{Array, JsonRow};
use ripple_dataflows::runtime::Row;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::position::Cursor;
use crate::config::SseFormat;
use crate::queries::{QueryResults, ResultEvent};

/// A change event's `data:` in `format`. `timestamp_ms` is when the event left the engine
/// (Drasi's `timestamp`).
pub enum ChangeEvent<'a> {
    /// The tutorial's shape (drasi-compat.md §3):
    /// `{"queryId", "added": [{"after"}], "updated": [{"before", "after"}], "deleted": [{"before"}]}`.
    Tutorial(&'a ResultEvent),
    /// Drasi Server's released shape (drasi-compat.md §3):
    /// `{"queryId", "results": [{"type": "DELETE"|"UPDATE"|"ADD", ...}], "timestamp"}`.
    ///
    /// Deletions come first, then updates, then additions, so that a client keyed by
    /// something other than row identity never deletes a row added by the same transaction.
    Drasi(&'a ResultEvent, u64),
}

impl<'a> ChangeEvent<'a> {
    /// `event` in `format`, stamped `timestamp_ms` where the format carries a time.
    pub fn new(format: SseFormat, event: &'a ResultEvent, timestamp_ms: u64) -> ChangeEvent<'a> {
        match format {
            SseFormat::Tutorial => ChangeEvent::Tutorial(event),
            SseFormat::Drasi => ChangeEvent::Drasi(event, timestamp_ms),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tutorial<'a, A, U, D> {
    query_id: &'a str,
    added: A,
    updated: U,
    deleted: D,
}

#[derive(Serialize)]
struct After<'a> {
    after: JsonRow<'a>,
}

#[derive(Serialize)]
struct Before<'a> {
    before: JsonRow<'a>,
}

#[derive(Serialize)]
struct Update<'a> {
    before: JsonRow<'a>,
    after: JsonRow<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Drasi<'a, R> {
    query_id: &'a str,
    results: R,
    timestamp: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
enum DrasiChange<'a> {
    Delete { data: JsonRow<'a> },
    Update { before: JsonRow<'a>, after: JsonRow<'a>, data: JsonRow<'a> },
    Add { data: JsonRow<'a> },
}

impl<'a> Serialize for ChangeEvent<'a> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (ResultEvent { query_id, columns, changes, .. }, timestamp) = match self {
            ChangeEvent::Tutorial(event) => (*event, None),
            ChangeEvent::Drasi(event, timestamp) => (*event, Some(*timestamp)),
        };
        let row = |values: &'a Row| JsonRow::new(columns, values);
        let Some(timestamp) = timestamp else {
            return Tutorial {
                query_id,
                added: Array(|| changes.added.iter().map(|a| After { after: row(a) })),
                updated: Array(|| {
                    changes.updated.iter().map(|(b, a)| Update { before: row(b), after: row(a) })
                }),
                deleted: Array(|| changes.deleted.iter().map(|b| Before { before: row(b) })),
            }
            .serialize(serializer);
        };
        let results = Array(|| {
            let deleted = changes.deleted.iter().map(|d| DrasiChange::Delete { data: row(d) });
            let updated = changes.updated.iter().map(|(b, a)| DrasiChange::Update {
                before: row(b),
                after: row(a),
                data: row(a),
            });
            let added = changes.added.iter().map(|a| DrasiChange::Add { data: row(a) });
            deleted.chain(updated).chain(added)
        });
        Drasi { query_id, results, timestamp }.serialize(serializer)
    }
}

/// A `reset` or `snapshot` event's `data:`: every query's full result as of `position`,
/// `{"position": "<epoch>.<time>", "queries": {"<query id>": [rows], ...}}`. A query listed
/// twice shows once, with its first result.
pub struct FullResults<'a> {
    /// The transaction every result reflects.
    pub position: Cursor,
    /// Each query's id and result, in the reaction's order.
    pub results: &'a [(Arc<str>, QueryResults)],
}

impl Serialize for FullResults<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let queries = Queries(self.results);
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("position", &self.position.to_string())?;
        map.serialize_entry("queries", &queries)?;
        map.end()
    }
}

struct Queries<'a>(&'a [(Arc<str>, QueryResults)]);

impl Serialize for Queries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let firsts = self
            .0
            .iter()
            .enumerate()
            .filter(|(i, (id, _))| !self.0[..*i].iter().any(|(earlier, _)| earlier == id));
        serializer.collect_map(firsts.map(|(_, (id, results))| (&**id, rows(results))))
    }
}

/// A result's rows as a JSON array of row objects.
pub fn rows(results: &QueryResults) -> impl Serialize + '_ {
    Array(|| results.rows.iter().map(|row| JsonRow::new(&results.columns, row)))
}

#[cfg(test)]
mod tests {
    use ripple_dataflows::decimal::Decimal;
    use ripple_dataflows::runtime::ChangeSet;
    use ripple_dataflows::{Node, Value};

    use super::*;

    fn columns() -> Arc<[Arc<str>]> {
        Arc::from([Arc::from("name"), Arc::from("value")])
    }

    fn row(name: &str, value: f64) -> Row {
        vec![Value::str(name), Value::float(value)]
    }

    fn event() -> ResultEvent {
        ResultEvent {
            query_id: Arc::from("q"),
            time: 3,
            columns: columns(),
            changes: ChangeSet {
                added: vec![row("a", 1.0)],
                updated: vec![(row("b", 1.0), row("b", 2.0))],
                deleted: vec![row("c", 3.0)],
            },
        }
    }

    fn text(data: &impl Serialize) -> String {
        serde_json::to_string(data).unwrap()
    }

    #[test]
    fn tutorial_shape() {
        assert_eq!(
            text(&ChangeEvent::new(SseFormat::Tutorial, &event(), 99)),
            r#"{"queryId":"q","added":[{"after":{"name":"a","value":1.0}}],"updated":[{"before":{"name":"b","value":1.0},"after":{"name":"b","value":2.0}}],"deleted":[{"before":{"name":"c","value":3.0}}]}"#
        );
    }

    #[test]
    fn drasi_shape() {
        assert_eq!(
            text(&ChangeEvent::new(SseFormat::Drasi, &event(), 99)),
            r#"{"queryId":"q","results":[{"type":"DELETE","data":{"name":"c","value":3.0}},{"type":"UPDATE","before":{"name":"b","value":1.0},"after":{"name":"b","value":2.0},"data":{"name":"b","value":2.0}},{"type":"ADD","data":{"name":"a","value":1.0}}],"timestamp":99}"#
        );
    }

    #[test]
    fn empty_change_lists_stay_on_the_wire() {
        let event = ResultEvent { changes: ChangeSet::default(), ..event() };
        assert_eq!(
            text(&ChangeEvent::new(SseFormat::Tutorial, &event, 1)),
            r#"{"queryId":"q","added":[],"updated":[],"deleted":[]}"#
        );
        assert_eq!(
            text(&ChangeEvent::new(SseFormat::Drasi, &event, 1)),
            r#"{"queryId":"q","results":[],"timestamp":1}"#
        );
    }

    /// One row with a value of every kind, in a column order that is not alphabetical: the
    /// exact bytes of both formats, as clients have always received them.
    #[test]
    fn every_value_kind_in_the_column_order() {
        let properties = [(Arc::from("id"), Value::Int(7)), (Arc::from("ok"), Value::Bool(true))];
        let node = Arc::new(Node::table_row(1, "t", &["id"], properties.into_iter().collect()));
        let columns: Arc<[Arc<str>]> =
            ["s", "n", "b", "i", "f", "nan", "inf", "ninf", "d", "l", "m", "node"]
                .into_iter()
                .map(Arc::from)
                .collect();
        let values = vec![
            Value::str("a \"q\" \\ é\n\t\u{1}"),
            Value::Null,
            Value::Bool(false),
            Value::Int(-42),
            Value::float(0.1),
            Value::float(f64::NAN),
            Value::float(f64::INFINITY),
            Value::float(f64::NEG_INFINITY),
            Value::Decimal(Decimal::parse("12345678901234567890.50").unwrap()),
            Value::List(Arc::from([Value::Int(1), Value::str("x")])),
            Value::Map(Arc::new([(Arc::from("k"), Value::float(1e21))].into_iter().collect())),
            Value::Node(node),
        ];
        let changes = ChangeSet { added: vec![values], ..ChangeSet::default() };
        let event = ResultEvent { query_id: Arc::from("q"), time: 1, columns, changes };
        let row = r#"{"s":"a \"q\" \\ é\n\t\u0001","n":null,"b":false,"i":-42,"f":0.1,"nan":"NaN","inf":"Infinity","ninf":"-Infinity","d":12345678901234567890.5,"l":[1,"x"],"m":{"k":1e+21},"node":{"id":7,"ok":true}}"#;
        assert_eq!(
            text(&ChangeEvent::new(SseFormat::Tutorial, &event, 5)),
            format!(r#"{{"queryId":"q","added":[{{"after":{row}}}],"updated":[],"deleted":[]}}"#)
        );
        assert_eq!(
            text(&ChangeEvent::new(SseFormat::Drasi, &event, 5)),
            format!(r#"{{"queryId":"q","results":[{{"type":"ADD","data":{row}}}],"timestamp":5}}"#)
        );
    }

    #[test]
    fn full_results_shape() {
        let results = QueryResults { time: 7, columns: columns(), rows: vec![row("a", 1.0)] };
        let other = QueryResults { rows: vec![], ..results.clone() };
        let all =
            [(Arc::from("q"), results), (Arc::from("r"), other.clone()), (Arc::from("q"), other)];
        assert_eq!(
            text(&FullResults { position: Cursor::after(4, 7), results: &all }),
            r#"{"position":"4.7","queries":{"q":[{"name":"a","value":1.0}],"r":[]}}"#
        );
    }
}
