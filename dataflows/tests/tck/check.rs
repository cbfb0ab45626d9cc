//! One scenario, start to finish: build the graph, compile, run every mode, judge.
//!
//! The engine is checked against itself before it is checked against the TCK: the shuffled
//! and insert-then-delete runs must reproduce the bulk result exactly (and the empty-graph
//! result after retraction). A disagreement is an incremental-maintenance bug, reported as
//! [`Status::Inconsistent`] whatever the TCK expects.

use std::sync::Arc;
use std::time::Instant;

use std::collections::BTreeMap;

use ripple_dataflows::cypher::{CypherError, ErrorKind};
use ripple_dataflows::plan::{CompileOptions, Op};
use ripple_dataflows::runtime::{QuerySpec, Row};
use ripple_dataflows::Value;

use crate::case::{Case, Expect, Phase};
use crate::compare::{compare_table, Table};
use crate::run::{self, RunError};
use crate::setup::Graph;
use crate::values;

/// How a scenario ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// As the TCK expects.
    Pass,
    /// An error scenario that failed, but with another category or detail than expected.
    WrongError,
    /// A runtime-error scenario whose erroring rows the engine dropped (it logs evaluation
    /// errors instead of failing the query, and does not classify them).
    RowsDropped,
    /// An error scenario whose query the engine rejects as unsupported (writes, CALL, ...)
    /// before it could check what the TCK expects.
    Unsupported,
    /// Not as the TCK expects.
    Fail,
    /// The incremental runs disagree with the bulk run.
    Inconsistent,
    /// The scenario did not finish in time.
    Timeout,
    /// The harness could not set the scenario up.
    Skipped,
    /// Outside what a read-only engine runs (writes, procedures).
    Excluded,
}

/// A scenario's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// A short reason shared by similar outcomes, for the failure summary.
    pub group: String,
    /// The full story, for the report file.
    pub detail: String,
}

impl Outcome {
    pub fn new(status: Status, group: impl Into<String>, detail: impl Into<String>) -> Outcome {
        Outcome { status, group: group.into(), detail: detail.into() }
    }
}

/// Runs `case`; `seed` fixes the shuffles, `deadline` bounds every wait.
pub fn check(case: &Case, seed: u64, deadline: Instant) -> Outcome {
    if let Some(why) = &case.excluded {
        return Outcome::new(Status::Excluded, why.clone(), "");
    }
    let mut graph = Graph::default();
    for script in &case.setup {
        if let Err(construct) = graph.execute(script) {
            let group = format!("setup not supported ({construct})");
            return Outcome::new(Status::Skipped, group, script.clone());
        }
    }
    let options = match parameters(&case.parameters) {
        Ok(parameters) => CompileOptions { parameters, ..Default::default() },
        Err(e) => return Outcome::new(Status::Skipped, "harness: unreadable parameter", e),
    };
    let spec = QuerySpec { text: case.query.clone(), options };
    let compiled = spec.compile();
    let elements = graph.elements();
    match &case.expect {
        Expect::Error { error, phase, detail } => {
            check_error(&spec, compiled, error, *phase, detail, &elements, deadline)
        }
        Expect::Rows { header, rows, ordered, lists_as_bags } => {
            let table = match parse_table(header, rows) {
                Ok(table) => table,
                Err(e) => {
                    return Outcome::new(Status::Skipped, "harness: unreadable expected value", e)
                }
            };
            let plan = match compiled {
                Ok(plan) => Arc::new(plan),
                Err(e) => return Outcome::new(Status::Fail, compile_group(&e), e.message),
            };
            let columns = plan.column_names();
            let bulk = match run::bulk(&spec, &elements, deadline) {
                Ok(bulk) => bulk,
                Err(e) => return run_failure("bulk", e),
            };
            let incremental = match run::incremental(&spec, &elements, seed, deadline) {
                Ok(incremental) => incremental,
                Err(e) => return run_failure("incremental", e),
            };
            let checks = [
                ("(b) shuffled insertion, change sets", &incremental.inserted, &bulk.rows),
                ("(b) shuffled insertion, peek", &incremental.inserted_peek, &bulk.rows),
                ("(c) after retracting everything", &incremental.retracted, &bulk.empty),
                ("(c) after re-insertion, change sets", &incremental.reinserted, &bulk.rows),
                ("(c) after re-insertion, peek", &incremental.reinserted_peek, &bulk.rows),
            ];
            for (what, got, want) in checks {
                if sorted(got) != sorted(want) {
                    return Outcome::new(
                        Status::Inconsistent,
                        format!("{what} differs from the bulk run"),
                        format!("{what}: {got:?}; bulk run: {want:?}"),
                    );
                }
            }
            match compare_table(&table, &columns, &bulk.rows, *ordered, *lists_as_bags) {
                Ok(()) => Outcome::new(Status::Pass, "", ""),
                Err(e) => {
                    let group = if e.starts_with("column names differ") {
                        "column names differ"
                    } else {
                        "wrong result"
                    };
                    Outcome::new(Status::Fail, group, e)
                }
            }
        }
    }
}

fn check_error(
    spec: &QuerySpec,
    compiled: Result<ripple_dataflows::plan::QueryPlan, CypherError>,
    error: &str,
    phase: Phase,
    detail: &str,
    elements: &[ripple_dataflows::Element],
    deadline: Instant,
) -> Outcome {
    let expected = format!("{error}: {detail}");
    match (compiled, phase) {
        (Err(e), _) if e.kind == ErrorKind::Unsupported => {
            Outcome::new(Status::Unsupported, compile_group(&e), e.message)
        }
        (Err(e), _) => {
            let category = e.kind.tck_category().unwrap_or_default();
            let raised = match e.detail {
                Some(d) => format!("{category}: {d:?}"),
                None => category.to_string(),
            };
            // The TCK leaves the detail open with `*` or nothing.
            let matches =
                category == error && (detail.is_empty() || detail == "*" || raised == expected);
            let when = if phase == Phase::Compile { "" } else { " (expected at runtime)" };
            let status = if matches { Status::Pass } else { Status::WrongError };
            let group = format!("expected {expected}, raised {raised}{when}");
            Outcome::new(status, group, e.message)
        }
        (Ok(_), Phase::Compile) => Outcome::new(
            Status::Fail,
            format!("query compiled; expected {error} at compile time"),
            format!("expected {expected}"),
        ),
        (Ok(_), _) => match run::bulk(spec, elements, deadline) {
            Ok(bulk) if bulk.rows.is_empty() => Outcome::new(
                Status::RowsDropped,
                "runtime error: the erroring rows were dropped",
                format!("expected {expected}; the query returned no rows"),
            ),
            Ok(bulk) => Outcome::new(
                Status::Fail,
                format!("query returned rows; expected {error} at runtime"),
                format!("expected {expected}; got {} rows: {:?}", bulk.rows.len(), bulk.rows),
            ),
            Err(e) => run_failure("bulk", e),
        },
    }
}

/// Parameter values: each is a Cypher literal, evaluated by compiling `RETURN <literal>`.
fn parameters(rows: &[(String, String)]) -> Result<BTreeMap<String, Value>, String> {
    rows.iter()
        .map(|(name, text)| {
            let plan = ripple_dataflows::compile(&format!("RETURN {text} AS v"))
                .map_err(|e| format!("parameter {name} = {text}: {}", e.message))?;
            let Op::Project { exprs, .. } = &plan.root else {
                return Err(format!("parameter {name} = {text}: not a literal"));
            };
            let value = exprs[0].eval(&[]).map_err(|e| format!("parameter {name}: {e}"))?;
            Ok((name.clone(), value))
        })
        .collect()
}

fn run_failure(mode: &str, error: RunError) -> Outcome {
    match error {
        RunError::Timeout(what) => {
            Outcome::new(Status::Timeout, "timeout", format!("{mode} run: timeout {what}"))
        }
        RunError::Inconsistent(what) => Outcome::new(
            Status::Inconsistent,
            "a change set contradicts the result",
            format!("{mode} run: {what}"),
        ),
        RunError::Engine(what) => {
            Outcome::new(Status::Fail, format!("runtime: {what}"), format!("{mode} run: {what}"))
        }
    }
}

/// The stable part of a compile error, for grouping: the text before any `: explanation`,
/// with quoted names blanked, prefixed by the error kind.
fn compile_group(error: &CypherError) -> String {
    let head = error.message.split(": ").next().unwrap_or_default();
    let mut group = String::new();
    let mut quote = None;
    for c in head.chars() {
        match quote {
            Some(q) if c == q => {
                group.push('…');
                group.push(c);
                quote = None;
            }
            Some(_) => {}
            None => {
                group.push(c);
                if c == '`' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    format!("{:?}: {group}", error.kind)
}

fn parse_table(header: &[String], rows: &[Vec<String>]) -> Result<Table, String> {
    let rows = rows
        .iter()
        .map(|row| row.iter().map(|cell| values::parse(cell)).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Table { header: header.to_vec(), rows })
}

fn sorted(rows: &[Row]) -> Vec<Row> {
    let mut rows = rows.to_vec();
    rows.sort();
    rows
}
