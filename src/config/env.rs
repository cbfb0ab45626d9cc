//! Environment variables: `${VAR}` references in config values, and the
//! `.env` file that may sit beside the config file.

use std::collections::HashMap;

use super::error::ConfigError;

/// A config value that is, as a whole, `${NAME}` or `${NAME:-default}`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reference<'t> {
    pub name: &'t str,
    pub default: Option<&'t str>,
}

impl<'t> Reference<'t> {
    /// Recognises a reference. `None`: the text is not one (it is used as
    /// written); `Some(Err(()))`: it looks like one but the name is invalid.
    pub fn parse(text: &'t str) -> Option<Result<Self, ()>> {
        let inner = text.strip_prefix("${")?.strip_suffix('}')?;
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        Some(if is_name(name) { Ok(Reference { name, default }) } else { Err(()) })
    }

    /// The variable's value; like the shell, `:-` also replaces an empty one.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        match (env(self.name), self.default) {
            (Some(value), Some(default)) if value.is_empty() => Some(default.to_owned()),
            (Some(value), _) => Some(value),
            (None, default) => default.map(str::to_owned),
        }
    }
}

/// A shell-style variable name: a letter or `_`, then letters, digits, `_`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a `.env` file: `KEY=VALUE` lines, blank lines and `#` comments, an
/// optional `export ` prefix, values optionally in single quotes (literal) or
/// double quotes (`\n`, `\"` and `\\` escapes); an unquoted value ends at ` #`.
pub(crate) fn parse_dotenv(
    text: &str,
    file: &str,
) -> Result<HashMap<String, String>, Vec<ConfigError>> {
    let mut vars = HashMap::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let parsed = line
            .split_once('=')
            .filter(|(key, _)| is_name(key.trim()))
            .ok_or_else(|| "expected KEY=VALUE".to_owned())
            .and_then(|(key, value)| Ok((key.trim(), dotenv_value(value.trim())?)));
        match parsed {
            Ok((key, value)) => {
                vars.insert(key.to_owned(), value);
            }
            Err(message) => errors.push(ConfigError {
                file: file.to_owned(),
                path: String::new(),
                line: Some(index + 1),
                column: None,
                message,
                help: None,
            }),
        }
    }
    if errors.is_empty() {
        Ok(vars)
    } else {
        Err(errors)
    }
}

fn dotenv_value(raw: &str) -> Result<String, String> {
    let unterminated = |quote| format!("missing closing {quote} quote");
    if let Some(rest) = raw.strip_prefix('\'') {
        let (value, _) = rest.split_once('\'').ok_or_else(|| unterminated('\''))?;
        return Ok(value.to_owned());
    }
    if let Some(rest) = raw.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(value),
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                other => value.push(other),
            }
        }
        return Err(unterminated('"'));
    }
    let value = raw.split_once(" #").map_or(raw, |(value, _)| value);
    Ok(value.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn recognises_whole_value_references_only() {
        assert_eq!(
            Reference::parse("${PG_PORT:-5432}"),
            Some(Ok(Reference { name: "PG_PORT", default: Some("5432") }))
        );
        assert_eq!(Reference::parse("${A}"), Some(Ok(Reference { name: "A", default: None })));
        assert_eq!(Reference::parse("x${A}"), None);
        assert_eq!(Reference::parse("${A}x"), None);
        assert_eq!(Reference::parse("${1A}"), Some(Err(())));
        assert_eq!(Reference::parse("${}"), Some(Err(())));
    }

    #[test]
    fn resolves_like_the_shell() {
        let resolve = |text| Reference::parse(text).unwrap().unwrap().resolve(&env);
        assert_eq!(resolve("${SET}"), Some("value".to_owned()));
        assert_eq!(resolve("${SET:-d}"), Some("value".to_owned()));
        assert_eq!(resolve("${EMPTY}"), Some(String::new()));
        assert_eq!(resolve("${EMPTY:-d}"), Some("d".to_owned()));
        assert_eq!(resolve("${UNSET:-}"), Some(String::new()));
        assert_eq!(resolve("${UNSET}"), None);
    }

    #[test]
    fn dotenv_lines() {
        let text = "# comment\n\nA=1\nexport B = two words # note\nC='lit # \\n'\nD=\"q \\\"x\\\"\\n\"\nE=\n";
        let vars = parse_dotenv(text, ".env").unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "lit # \\n");
        assert_eq!(vars["D"], "q \"x\"\n");
        assert_eq!(vars["E"], "");
    }

    #[test]
    fn dotenv_errors_are_located() {
        let errors = parse_dotenv("A=1\nnot a line\nB=\"open\n", "/cfg/.env").unwrap_err();
        let rendered: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            ["/cfg/.env:2: expected KEY=VALUE", "/cfg/.env:3: missing closing \" quote"]
        );
    }
}
