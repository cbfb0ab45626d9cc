//! The openCypher TCK, run against the incremental engine.
//!
//! Every scenario of the feature files in the shared TCK checkout is read, its graph built by
//! the harness's own setup interpreter, and its query run through `compile` and the
//! timely/differential runtime in three ways (bulk, shuffled one-element transactions, and
//! retract-everything-then-reinsert). See `check.rs` for what counts as a pass.
//!
//! The test prints a per-directory summary and writes every scenario's outcome to
//! `target/tmp/tck-report.txt`. It fails if fewer in-scope result scenarios pass than
//! `baseline.txt` records, if fewer in-scope error scenarios fail with the TCK's error
//! category and detail than it records, or if any scenario's incremental runs disagree with its
//! bulk run.
//! `TCK_BLESS=1 cargo test -p ripple-dataflows --test tck` rewrites the baseline.

mod case;
mod check;
mod compare;
mod gherkin;
mod guard;
mod report;
mod run;
mod setup;
mod values;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use case::{Case, Expect};
use check::{Outcome, Status};
use report::Record;

/// The shared TCK checkout: `features/` and `graphs/`.
const TCK_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/tck");
const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tck/baseline.txt");
const REPORT: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/tck-report.txt");
/// The in-scope result scenarios that do not pass, each with its reason (kept with the
/// baseline, so a change in either shows up in review).
const NOT_PASSING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tck/not-passing.txt");

/// ripple's own scenarios in the TCK's format, for constructs the TCK does not cover (label
/// alternatives `(n:A|B)`). They run like the TCK's and are reported under [`OWN_PREFIX`].
const OWN_FEATURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tck/features");
const OWN_PREFIX: &str = "ripple";

/// The directories whose result scenarios the baseline counts: the read-only core and
/// ripple's own scenarios.
const SCOPE: &[&str] = &[
    OWN_PREFIX,
    "clauses/match",
    "clauses/match-where",
    "clauses/return",
    "clauses/with",
    "clauses/with-where",
    "clauses/unwind",
    "expressions/aggregation",
    "expressions/boolean",
    "expressions/comparison",
    "expressions/null",
    "expressions/conditional",
    "expressions/literals",
    "expressions/list",
    "expressions/map",
    "expressions/string",
    "expressions/precedence",
    "expressions/typeConversion",
    "expressions/graph",
    "expressions/mathematical",
];

/// A scenario still running after this is abandoned and reported as a timeout. The limit only
/// guards against hangs: the slowest scenario (7 251 single-node transactions into one
/// aggregate) takes a few seconds, and a loaded 2-core CI machine must not turn that into a
/// failure.
const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

/// After this many timeouts the remaining scenarios are not run: abandoned scenarios may keep
/// spinning on the (two) cores and slow every later one into a timeout too.
const MAX_TIMEOUTS: usize = 5;

#[test]
fn tck() {
    let root = Path::new(TCK_ROOT);
    let features = root.join("features");
    assert!(
        features.is_dir(),
        "the openCypher TCK feature files are missing: expected them at {} (the shared checkout, /work/shared/tck)",
        features.display()
    );
    let started = Instant::now();
    let quiet = guard::QuietPanics::install();
    let mut records = Vec::new();
    let mut timeouts = 0;
    let own = Path::new(OWN_FEATURES);
    let files = feature_files(&features).into_iter().map(|f| (f, features.as_path(), ""));
    let own_files = feature_files(own).into_iter().map(|f| (f, own, OWN_PREFIX));
    for (file, base, prefix) in files.chain(own_files) {
        let relative = file.strip_prefix(base).unwrap_or(&file);
        let relative = Path::new(prefix).join(relative);
        let dir = relative.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let name = relative.to_string_lossy().into_owned();
        let scenarios = std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| gherkin::parse(&text));
        let scenarios = match scenarios {
            Ok(scenarios) => scenarios,
            Err(e) => {
                let outcome = Outcome::new(Status::Skipped, "harness: unreadable feature file", e);
                records.push(Record { dir, id: name, expects_error: false, outcome });
                continue;
            }
        };
        for scenario in scenarios {
            let id = format!("{name}:{} {}", scenario.line, scenario.name);
            let (expects_error, outcome) = match Case::read(&scenario, root) {
                Ok(case) if timeouts >= MAX_TIMEOUTS && case.excluded.is_none() => (
                    matches!(case.expect, Expect::Error { .. }),
                    Outcome::new(Status::Timeout, "not run: too many timeouts before", ""),
                ),
                Ok(case) => (matches!(case.expect, Expect::Error { .. }), run_guarded(case, &id)),
                Err(e) => (false, Outcome::new(Status::Skipped, format!("harness: {e}"), "")),
            };
            timeouts += usize::from(outcome.status == Status::Timeout);
            records.push(Record { dir: dir.clone(), id, expects_error, outcome });
        }
    }
    drop(quiet);

    let summary = report::summarize(&records, SCOPE);
    println!("{}", summary.text);
    println!(
        "{} scenarios in {:.1} s; every outcome is listed in {REPORT}",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = std::fs::write(REPORT, report::full_report(&records)) {
        println!("could not write {REPORT}: {e}");
    }
    gate(&summary, &records);
}

/// Runs one scenario under the time limit; the seed of its shuffles derives from its id.
fn run_guarded(case: Case, id: &str) -> Outcome {
    let seed = fnv1a(id);
    let (result, panics) =
        guard::run(SCENARIO_LIMIT, move |deadline| check::check(&case, seed, deadline));
    let mut outcome = match result {
        Ok(outcome) => outcome,
        Err(guard::Stopped::Timeout) => {
            Outcome::new(Status::Timeout, "timeout", format!("gave up after {SCENARIO_LIMIT:?}"))
        }
        Err(guard::Stopped::Panicked(message)) => Outcome::new(Status::Fail, "panic", message),
    };
    if !panics.is_empty() && outcome.status != Status::Pass {
        outcome.detail = format!("{} [panics: {}]", outcome.detail, panics.join("; "));
    }
    outcome
}

/// The baseline file: `results <n>` and `errors <n>`, the in-scope result scenarios that
/// pass and the in-scope error scenarios that fail with the expected category and detail.
fn read_baseline() -> (usize, usize) {
    let text = std::fs::read_to_string(BASELINE).unwrap_or_default();
    let count = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{BASELINE} must hold a line `{key} <number>`"))
    };
    (count("results "), count("errors "))
}

fn gate(summary: &report::Summary, records: &[Record]) {
    let passed = summary.in_scope.results_passed;
    let errors = summary.in_scope.errors_passed;
    if std::env::var_os("TCK_BLESS").is_some() {
        if let Err(e) = std::fs::write(BASELINE, format!("results {passed}\nerrors {errors}\n")) {
            panic!("could not write {BASELINE}: {e}");
        }
        if let Err(e) = std::fs::write(NOT_PASSING, report::not_passing(records, SCOPE)) {
            panic!("could not write {NOT_PASSING}: {e}");
        }
        println!("baseline set to {passed} results, {errors} errors; not-passing scenarios listed in {NOT_PASSING}");
    }
    let (baseline, baseline_errors) = read_baseline();
    let update = "TCK_BLESS=1 cargo test -p ripple-dataflows --test tck";
    println!("in-scope scenarios passing: {passed} results (baseline {baseline}), {errors} errors with the expected category and detail (baseline {baseline_errors}); to record a new baseline run `{update}`");
    let inconsistent: Vec<&str> = records
        .iter()
        .filter(|r| r.outcome.status == Status::Inconsistent)
        .map(|r| r.id.as_str())
        .collect();
    assert!(
        inconsistent.is_empty(),
        "{} scenario(s) where incremental maintenance disagrees with the bulk run (see {REPORT}): {inconsistent:#?}",
        inconsistent.len()
    );
    assert!(
        passed >= baseline,
        "only {passed} in-scope result scenarios pass, below the baseline of {baseline} (see {REPORT})"
    );
    assert!(
        errors >= baseline_errors,
        "only {errors} in-scope error scenarios fail with the expected category and detail, below the baseline of {baseline_errors} (see {REPORT})"
    );
}

/// Every `.feature` file under `dir`, sorted, so that runs and reports are reproducible.
fn feature_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "feature") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// FNV-1a: a stable hash (std's hasher may change between releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
