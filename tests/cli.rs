//! `ripple validate` and the command line.

use std::process::Command;

fn validate(config: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ripple"))
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn shipped() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/server.yaml")).unwrap()
}

#[test]
fn the_shipped_config_is_valid() {
    let (code, stdout, stderr) = validate(&shipped());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "config OK: 1 source, 3 queries, 2 reactions (id dashboard-server)");
}

#[test]
fn validate_reports_every_problem_located() {
    let broken = shipped()
        .replace("sse_path: /events", "sse_pth: /events")
        .replacen("source_id: metrics-db", "source_id: metrics-dbx", 1)
        .replace("WHERE a.acknowledged = false", "WHERE a.acknowledged = ");
    let (code, _, stderr) = validate(&broken);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("reactions[0].sse_pth: unknown key 'sse_pth' (did you mean 'sse_path'?)"),
        "{stderr}"
    );
    assert!(stderr.contains("queries[0].sources[0].source_id"), "{stderr}");
    assert!(stderr.contains("metrics-dbx"), "{stderr}");
    // The query's syntax error is located by line:column inside the query text.
    assert!(
        stderr.contains(
            "queries[1].query: 3:1: expected an expression, found 'RETURN'\n  |\n3 | RETURN a.id"
        ),
        "{stderr}"
    );
}

#[test]
fn unsupported_cypher_is_named() {
    let config = shipped().replace(
        "RETURN m.name, m.value, m.unit",
        "RETURN m.name, m.value, m.unit ORDER BY m.value",
    );
    let (code, _, stderr) = validate(&config);
    assert_ne!(code, 0);
    assert!(stderr.contains("ORDER BY is not supported in a continuous query"), "{stderr}");
}

#[test]
fn version_and_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_ripple")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ripple "));
    let out = Command::new(env!("CARGO_BIN_EXE_ripple")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--workers") && help.contains("validate"), "{help}");
}
