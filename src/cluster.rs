//! Cluster mode: the command-line flags that place this process in a timely cluster.
//!
//! Every process runs the same dataflows; process 0 also runs sources, queries, reactions
//! and the REST API, and the others run workers only. Processes find each other through a
//! host file: one `host:port` per line, in process order (the same file for every process).
//! Without one, process `i` listens on `localhost:2101+i`, as timely's own `-n/-p` do.

use std::path::Path;

use ripple_dataflows::runtime::Communication;

/// The first port of the default addresses.
const DEFAULT_BASE_PORT: u16 = 2101;

/// How this process talks to the others: `processes` in all, this one `process`.
pub fn communication(
    processes: usize,
    process: usize,
    hostfile: Option<&Path>,
) -> Result<Communication, String> {
    if process >= processes {
        return Err(format!(
            "--process {process} is out of range: --processes {processes} numbers them 0 to {}",
            processes.saturating_sub(1)
        ));
    }
    let addresses = match hostfile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--hostfile {}: {e}", path.display()))?;
            addresses(&text, processes)
                .map_err(|e| format!("--hostfile {}: {e}", path.display()))?
        }
        None if processes == 1 => return Ok(Communication::Threads),
        None => (0..processes)
            .map(|i| format!("localhost:{}", DEFAULT_BASE_PORT as usize + i))
            .collect(),
    };
    Ok(Communication::Cluster { process, addresses })
}

/// The addresses in a host file: non-empty lines (comments start with `#`), exactly one per
/// process.
fn addresses(text: &str, processes: usize) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if line.rsplit_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_err()) {
            return Err(format!("line {}: expected host:port, found {line:?}", number + 1));
        }
        found.push(line.to_string());
    }
    if found.len() != processes {
        return Err(format!(
            "{} addresses for --processes {processes}; list one host:port per process",
            found.len()
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_without_a_hostfile_is_plain_threads() {
        assert_eq!(communication(1, 0, None), Ok(Communication::Threads));
    }

    #[test]
    fn default_addresses_follow_timely() {
        assert_eq!(
            communication(2, 1, None),
            Ok(Communication::Cluster {
                process: 1,
                addresses: vec!["localhost:2101".into(), "localhost:2102".into()]
            })
        );
    }

    #[test]
    fn hostfile_lines_are_checked() {
        let text = "# the cluster\n10.0.0.1:2101\n\n10.0.0.2:2101  # second\n";
        assert_eq!(addresses(text, 2).unwrap(), ["10.0.0.1:2101", "10.0.0.2:2101"]);
        assert_eq!(
            addresses(text, 3).unwrap_err(),
            "2 addresses for --processes 3; list one host:port per process"
        );
        assert_eq!(
            addresses("10.0.0.1\n", 1).unwrap_err(),
            "line 1: expected host:port, found \"10.0.0.1\""
        );
    }

    #[test]
    fn process_index_is_in_range() {
        assert_eq!(
            communication(2, 2, None).unwrap_err(),
            "--process 2 is out of range: --processes 2 numbers them 0 to 1"
        );
    }
}
