//! What a scenario asks for, read from its steps: the graph to build, the query, and the
//! expected outcome.
//!
//! Scenarios the engine can never run (writes, procedures) are recognised here and marked
//! excluded, so that they count neither as passes nor as failures.

use std::path::Path;

use crate::gherkin::{Scenario, StepArg};
use crate::setup;

/// When a TCK error is expected to surface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `at compile time`.
    Compile,
    /// `at runtime`.
    Runtime,
    /// `at any time`.
    Any,
}

/// The `Then` of a scenario.
#[derive(Clone, Debug)]
pub enum Expect {
    /// A result table (no header and no rows for `the result should be empty`).
    Rows {
        /// Column names, as the query spells them.
        header: Vec<String>,
        /// Cells in TCK value syntax.
        rows: Vec<Vec<String>>,
        /// `in order`: compare as sequences rather than bags.
        ordered: bool,
        /// `ignoring element order for lists`: compare lists as bags.
        lists_as_bags: bool,
    },
    /// `a <error> should be raised at <phase>: <detail>`.
    Error {
        /// E.g. `SyntaxError`.
        error: String,
        /// When.
        phase: Phase,
        /// E.g. `UndefinedVariable`.
        detail: String,
    },
}

/// A scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Case {
    /// Setup statements in order (a named graph's script first).
    pub setup: Vec<String>,
    /// Query parameters: (name, value as Cypher literal text).
    pub parameters: Vec<(String, String)>,
    /// The query under test.
    pub query: String,
    /// The expected outcome.
    pub expect: Expect,
    /// Why the scenario is outside what a read-only engine can run, if it is.
    pub excluded: Option<String>,
}

impl Case {
    /// Reads a scenario's steps; `tck_root` locates named graphs.
    pub fn read(scenario: &Scenario, tck_root: &Path) -> Result<Case, String> {
        let mut setup = Vec::new();
        let mut parameters = Vec::new();
        let mut query = None;
        let mut expect = None;
        let mut excluded = None;
        for step in &scenario.steps {
            let text = step.text.as_str();
            let doc = || match &step.arg {
                StepArg::DocString(doc) => Ok(doc.clone()),
                _ => Err(format!("step `{text}` has no docstring")),
            };
            let table = || match &step.arg {
                StepArg::Table(rows) => rows.clone(),
                _ => Vec::new(),
            };
            if text == "an empty graph" || text == "any graph" {
                continue;
            }
            if let Some(name) = text.strip_prefix("the ").and_then(|t| t.strip_suffix(" graph")) {
                let path = tck_root.join("graphs").join(name).join(format!("{name}.cypher"));
                let script = std::fs::read_to_string(&path)
                    .map_err(|e| format!("named graph {}: {e}", path.display()))?;
                setup.push(script);
            } else if text == "having executed:" {
                setup.push(doc()?);
            } else if text == "parameters are:" {
                for row in table() {
                    if let [name, value] = row.as_slice() {
                        parameters.push((name.clone(), value.clone()));
                    }
                }
            } else if text == "executing query:" {
                query = Some(doc()?);
            } else if text == "executing control query:" {
                excluded = Some("control query after a write".to_string());
            } else if text.starts_with("there exists a procedure") {
                excluded = Some("procedures".to_string());
            } else if let Some(rest) = text.strip_prefix("the result should be") {
                expect = Some(if rest.trim() == "empty" {
                    Expect::Rows {
                        header: Vec::new(),
                        rows: Vec::new(),
                        ordered: false,
                        lists_as_bags: false,
                    }
                } else {
                    let mut rows = table().into_iter();
                    Expect::Rows {
                        header: rows.next().unwrap_or_default(),
                        rows: rows.collect(),
                        ordered: rest.contains("in order"),
                        lists_as_bags: rest.contains("ignoring element order for lists"),
                    }
                });
            } else if text.starts_with("a ") && text.contains(" should be raised at ") {
                expect = Some(error_expectation(text)?);
            } else if text == "no side effects" {
                continue;
            } else if text == "the side effects should be:" {
                let writes = table().iter().any(|row| row.get(1).is_some_and(|n| n != "0"));
                if writes {
                    excluded = Some("writes".to_string());
                }
            } else {
                return Err(format!("unknown step `{text}`"));
            }
        }
        let query = query.ok_or("no `executing query` step")?;
        if excluded.is_none() {
            excluded = setup::write_clause(&query).map(|clause| format!("writes ({clause})"));
        }
        Ok(Case { setup, parameters, query, expect: expect.ok_or("no `Then` step")?, excluded })
    }
}

/// Reads `a SyntaxError should be raised at compile time: UndefinedVariable`.
fn error_expectation(text: &str) -> Result<Expect, String> {
    let bad = || format!("cannot read error step `{text}`");
    let rest = text.strip_prefix("a ").ok_or_else(bad)?;
    let (error, rest) = rest.split_once(" should be raised at ").ok_or_else(bad)?;
    let (phase, detail) = rest.split_once(':').unwrap_or((rest, ""));
    let phase = match phase.trim() {
        "compile time" => Phase::Compile,
        "runtime" => Phase::Runtime,
        "any time" => Phase::Any,
        _ => return Err(bad()),
    };
    Ok(Expect::Error { error: error.to_string(), phase, detail: detail.trim().to_string() })
}
