//! Config errors: each one located by file, YAML path, line and column.

use std::fmt;

/// One problem found in a config file.
///
/// Rendered as `FILE:LINE:COL: PATH: message (help)`; parts that are unknown
/// are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in: the config file, or the `.env` beside it.
    pub file: String,
    /// Where in the document, e.g. `reactions[0].sse_pth`; `""` for the
    /// document itself. Keys are spelled as they are in the file.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file)?;
        if let Some(line) = self.line {
            write!(f, "{line}:")?;
            if let Some(column) = self.column {
                write!(f, "{column}:")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, " {}:", self.path)?;
        }
        write!(f, " {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config file, in the order they appear in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Sorts by position; errors without a line keep their order, last.
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|error| (error.line.is_none(), error.line, error.column));
        ConfigErrors(errors)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(path: &str, line: Option<usize>, help: Option<&str>) -> ConfigError {
        ConfigError {
            file: "server.yaml".to_owned(),
            path: path.to_owned(),
            line,
            column: line.map(|_| 5),
            message: "unknown key 'sse_pth'".to_owned(),
            help: help.map(str::to_owned),
        }
    }

    #[test]
    fn renders_every_part() {
        let e = error("reactions[0].sse_pth", Some(31), Some("did you mean 'sse_path'?"));
        assert_eq!(
            e.to_string(),
            "server.yaml:31:5: reactions[0].sse_pth: unknown key 'sse_pth' (did you mean 'sse_path'?)"
        );
    }

    #[test]
    fn leaves_out_unknown_parts() {
        assert_eq!(error("", None, None).to_string(), "server.yaml: unknown key 'sse_pth'");
    }

    #[test]
    fn one_error_per_line_sorted_by_position() {
        let errors = ConfigErrors::sorted(vec![
            error("b", None, None),
            error("a", Some(9), None),
            error("c", Some(2), None),
        ]);
        let paths: Vec<_> = errors.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["c", "a", "b"]);
        assert_eq!(errors.to_string().lines().count(), 3);
    }
}
