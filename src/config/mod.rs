//! The config file: loading, checking and the types ripple runs on.
//!
//! A config is a YAML file, read in four steps, each its own module:
//!
//! 1. `yaml`: the text becomes a tree of nodes that know their line and
//!    column (a syntax error stops here);
//! 2. `decode`: the tree becomes a [`Config`]. Keys may be spelled in
//!    snake_case or camelCase; unknown keys, wrong types and missing keys are
//!    reported, and a scalar that is exactly `${VAR}` or `${VAR:-default}` is
//!    replaced by the variable (`env`) before it is typed;
//! 3. `validate`: ids must be unique and must exist where they are
//!    referenced, and listeners must not clash;
//! 4. every problem from steps 2 and 3 is returned at once, in file order,
//!    as [`ConfigErrors`]: `server.yaml:31:5: reactions[0].sse_pth: unknown
//!    key 'sse_pth' (did you mean 'sse_path'?)`.
//!
//! The doc comment of each field in [`Config`] and below documents its key.
//!
//! ```
//! use ripple::config::Config;
//!
//! let text = "id: demo\nsources:\n  - kind: postgres\n    id: db\n    database: app\n    user: ${PGUSER:-postgres}\n";
//! let config = Config::parse(text, "demo.yaml", &|_| None).unwrap();
//! assert_eq!(config.summary(), "config OK: 1 source, 0 queries, 0 reactions (id demo)");
//! ```

mod decode;
mod env;
mod error;
mod fields;
mod model;
mod suggest;
mod validate;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;

/// Checks a query's text, returning the problem as text located inside the query (e.g.
/// `2:25: expected an expression ...`). `ripple validate` compiles every query this way, so
/// that Cypher errors are reported together with the file's other problems.
pub type QueryCheck<'a> = dyn Fn(&str) -> Result<(), String> + 'a;

impl Config {
    /// Loads the config file at `path`. Variables come from the process
    /// environment and, for those it lacks, from a `.env` file beside the
    /// config file, if there is one.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_checked(path, None)
    }

    /// [`Config::load`], also running `query_check` on every query's text.
    pub fn load_checked(
        path: &Path,
        query_check: Option<&QueryCheck<'_>>,
    ) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|error| file_error(&file, format!("cannot read the config file: {error}")))?;
        let dotenv_path = path.with_file_name(".env");
        let dotenv = match std::fs::read_to_string(&dotenv_path) {
            Ok(text) => env::parse_dotenv(&text, &dotenv_path.display().to_string())
                .map_err(ConfigErrors)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(error) => {
                let dotenv_file = dotenv_path.display().to_string();
                return Err(file_error(
                    &dotenv_file,
                    format!("cannot read the .env file: {error}"),
                ));
            }
        };
        let lookup = |name: &str| std::env::var(name).ok().or_else(|| dotenv.get(name).cloned());
        Config::parse_checked(&text, &file, &lookup, query_check)
    }

    /// Parses and checks config `text`; `file_name` is used in error
    /// messages and `env` looks up `${VAR}` references.
    pub fn parse(
        text: &str,
        file_name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        Config::parse_checked(text, file_name, env, None)
    }

    /// [`Config::parse`], also running `query_check` on every query's text.
    pub fn parse_checked(
        text: &str,
        file_name: &str,
        env: &dyn Fn(&str) -> Option<String>,
        query_check: Option<&QueryCheck<'_>>,
    ) -> Result<Config, ConfigErrors> {
        let root = match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => return Err(file_error(file_name, "the config file is empty".to_owned())),
            Err(error) => return Err(syntax_error(file_name, error)),
        };
        let mut ctx = fields::Ctx::new(file_name, env, query_check);
        let draft = decode::config(&mut ctx, &root);
        if let Some(draft) = &draft {
            validate::check(&mut ctx, draft);
        }
        let errors = ctx.into_errors();
        match draft {
            Some(draft) if errors.is_empty() => Ok(draft.config),
            _ => Err(ConfigErrors::sorted(errors)),
        }
    }

    /// One line for the log once the config is loaded, e.g.
    /// `config OK: 1 source, 3 queries, 2 reactions (id dashboard-server)`.
    pub fn summary(&self) -> String {
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "config OK: {}, {}, {} (id {})",
            count(self.sources.len(), "source", "sources"),
            count(self.queries.len(), "query", "queries"),
            count(self.reactions.len(), "reaction", "reactions"),
            self.id
        )
    }
}

impl QueryConfig {
    /// Parses one query from a request body (`POST /api/v1/queries`): the config file's query
    /// fields, as JSON or YAML (JSON is YAML). Errors are located in the body, whose name in
    /// messages is `file_name`. `${VAR}` references are not substituted: a request must not
    /// read the server's environment.
    pub fn parse(text: &str, file_name: &str) -> Result<QueryConfig, ConfigErrors> {
        parse_item(text, file_name, decode::query)
    }
}

impl ReactionConfig {
    /// Parses one reaction from a request body (`POST /api/v1/reactions`), as
    /// [`QueryConfig::parse`] does a query.
    pub fn parse(text: &str, file_name: &str) -> Result<ReactionConfig, ConfigErrors> {
        parse_item(text, file_name, decode::reaction)
    }
}

/// Decodes a document holding one item of a config list.
fn parse_item<T>(
    text: &str,
    file_name: &str,
    item: impl FnOnce(&mut fields::Ctx, &yaml::Node, &fields::Path) -> Option<T>,
) -> Result<T, ConfigErrors> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Err(file_error(file_name, "the request body is empty".to_owned())),
        Err(error) => return Err(syntax_error(file_name, error)),
    };
    let no_env = |_: &str| None;
    let mut ctx = fields::Ctx::new(file_name, &no_env, None);
    ctx.visit(&fields::Path::default(), root.mark);
    let decoded = item(&mut ctx, &root, &fields::Path::default());
    let errors = ctx.into_errors();
    match decoded {
        Some(decoded) if errors.is_empty() => Ok(decoded),
        _ => Err(ConfigErrors::sorted(errors)),
    }
}

/// A YAML syntax error, located.
fn syntax_error(file: &str, error: yaml::SyntaxError) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: file.to_owned(),
        path: String::new(),
        line: error.mark.map(|mark| mark.line),
        column: error.mark.map(|mark| mark.column),
        message: format!("invalid YAML: {}", error.message),
        help: None,
    }])
}

/// A problem with a whole file.
fn file_error(file: &str, message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: file.to_owned(),
        path: String::new(),
        line: None,
        column: None,
        message,
        help: None,
    }])
}
