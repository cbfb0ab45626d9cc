//! The summary printed after a run, the per-scenario report file, and their numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::check::{Outcome, Status};

/// One scenario's outcome and where it came from.
pub struct Record {
    /// Feature directory relative to `features/`, e.g. `clauses/match`.
    pub dir: String,
    /// `file:line name`.
    pub id: String,
    /// Whether the scenario expects an error rather than a result.
    pub expects_error: bool,
    pub outcome: Outcome,
}

/// Counts for one group of scenarios.
#[derive(Default)]
pub struct Tally {
    pub results_passed: usize,
    pub results: usize,
    /// Error scenarios failing with the expected category and detail.
    pub errors_passed: usize,
    /// Error scenarios failing with another category or detail.
    pub errors_wrong: usize,
    /// Runtime-error scenarios whose erroring rows were dropped.
    pub errors_dropped: usize,
    /// Error scenarios rejected as unsupported.
    pub errors_unsupported: usize,
    pub errors: usize,
    pub inconsistent: usize,
    pub timeouts: usize,
    pub skipped: usize,
    pub excluded: usize,
}

impl Tally {
    fn add(&mut self, record: &Record) {
        let status = record.outcome.status;
        match status {
            Status::Excluded => self.excluded += 1,
            Status::Skipped => self.skipped += 1,
            _ if record.expects_error => {
                self.errors += 1;
                self.errors_passed += usize::from(status == Status::Pass);
                self.errors_wrong += usize::from(status == Status::WrongError);
                self.errors_unsupported += usize::from(status == Status::Unsupported);
                self.errors_dropped += usize::from(status == Status::RowsDropped);
            }
            _ => {
                self.results += 1;
                self.results_passed += usize::from(status == Status::Pass);
            }
        }
        self.inconsistent += usize::from(status == Status::Inconsistent);
        self.timeouts += usize::from(status == Status::Timeout);
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6} {:>7} {:>7} {:>8}\n",
            format!("{}/{}", self.results_passed, self.results),
            format!("{}/{}", self.errors_passed, self.errors),
            self.errors_wrong,
            self.errors_unsupported,
            self.errors_dropped,
            self.inconsistent,
            self.timeouts,
            self.skipped,
            self.excluded,
        )
    }
}

/// The printed summary: per in-scope directory, the in-scope total, everything else, and the
/// most common failure reasons.
pub struct Summary {
    pub in_scope: Tally,
    pub text: String,
}

/// How many failure reasons the summary lists.
const TOP_REASONS: usize = 15;

pub fn summarize(records: &[Record], scope: &[&str]) -> Summary {
    let mut per_dir: BTreeMap<&str, Tally> = scope.iter().map(|d| (*d, Tally::default())).collect();
    let (mut in_scope, mut others) = (Tally::default(), Tally::default());
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut other_reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for record in records {
        let failing_result = !record.expects_error
            && !matches!(record.outcome.status, Status::Pass | Status::Excluded);
        if let Some(tally) = per_dir.get_mut(record.dir.as_str()) {
            tally.add(record);
            in_scope.add(record);
            if failing_result {
                *reasons.entry(&record.outcome.group).or_default() += 1;
            }
        } else {
            others.add(record);
            if failing_result {
                *other_reasons.entry(&record.outcome.group).or_default() += 1;
            }
        }
    }
    let mut text = String::from("\nopenCypher TCK against ripple-dataflows\n");
    text.push_str(&format!(
        "{:<34} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6} {:>7} {:>7} {:>8}\n",
        "directory",
        "results",
        "errors",
        "wrong",
        "unsup",
        "dropped",
        "incons",
        "timeout",
        "skipped",
        "excluded"
    ));
    for dir in scope {
        if let Some(tally) = per_dir.get(dir) {
            text.push_str(&tally.line(dir));
        }
    }
    text.push_str(&in_scope.line("TOTAL in scope"));
    text.push_str(&others.line("other read-only (not in scope)"));
    for (title, reasons) in
        [("result scenarios in scope", reasons), ("result scenarios not in scope", other_reasons)]
    {
        let mut reasons: Vec<(&str, usize)> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let _ = writeln!(text, "\nTop failure reasons, {title}:");
        for (reason, count) in reasons.iter().take(TOP_REASONS) {
            let _ = writeln!(text, "  {count:>5} × {reason}");
        }
    }
    Summary { in_scope, text }
}

/// Every scenario, one line each: status, id, reason and detail.
pub fn full_report(records: &[Record]) -> String {
    let mut out = String::new();
    for record in records {
        let kind = if record.expects_error { "error" } else { "result" };
        let detail = record.outcome.detail.replace('\n', "\\n");
        let _ = writeln!(
            out,
            "{:?}\t{kind}\t{}\t{}\t{detail}",
            record.outcome.status, record.id, record.outcome.group
        );
    }
    out
}

/// The in-scope scenarios that do not pass, one per line (`id: reason`): result scenarios
/// first, then error scenarios (wrong error, unsupported construct, rows dropped instead of a
/// runtime error, or no error).
pub fn not_passing(records: &[Record], scope: &[&str]) -> String {
    let mut out = String::from(
        "# In-scope openCypher TCK scenarios that do not pass through ripple's engine, with the\n\
         # reason. Regenerate: TCK_BLESS=1 cargo test -p ripple-dataflows --test tck\n",
    );
    for errors in [false, true] {
        let _ = writeln!(out, "\n# {} scenarios", if errors { "Error" } else { "Result" });
        for r in records {
            let in_scope = scope.contains(&r.dir.as_str());
            let failing = !matches!(r.outcome.status, Status::Excluded | Status::Pass);
            if in_scope && failing && r.expects_error == errors {
                let _ = writeln!(out, "{}: {}", r.id, r.outcome.group);
            }
        }
    }
    out
}
