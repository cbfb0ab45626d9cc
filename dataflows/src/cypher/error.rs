//! Errors in a Cypher query, located in its text.
//!
//! Every error carries a byte span. [`CypherError::render`] turns it into the form users see in
//! `ripple validate`, in logs and in REST responses:
//!
//! ```text
//! 2:7: expected an expression, found ')'
//!   |
//! 2 | WHERE )
//!   |       ^
//! ```

use std::fmt;

use super::ast::Span;

/// What kind of problem a [`CypherError`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not Cypher.
    Syntax,
    /// Valid Cypher that a continuous query cannot run (writes, ORDER BY, ...).
    Unsupported,
    /// Valid syntax with a meaning error (undefined variable, misplaced aggregate, ...).
    Semantic,
}

/// A located error in a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CypherError {
    /// Category.
    pub kind: ErrorKind,
    /// The message, without location, e.g. `expected an expression, found ')'`.
    pub message: String,
    /// Where.
    pub span: Span,
}

impl CypherError {
    /// A syntax error.
    pub fn syntax(message: impl Into<String>, span: Span) -> CypherError {
        CypherError { kind: ErrorKind::Syntax, message: message.into(), span }
    }

    /// A construct that is valid Cypher but cannot run in a continuous query.
    pub fn unsupported(message: impl Into<String>, span: Span) -> CypherError {
        CypherError { kind: ErrorKind::Unsupported, message: message.into(), span }
    }

    /// A semantic error.
    pub fn semantic(message: impl Into<String>, span: Span) -> CypherError {
        CypherError { kind: ErrorKind::Semantic, message: message.into(), span }
    }

    /// 1-based line and column (in characters) of the span's start within `source`.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start)
    }

    /// `line:col: message`, then the source line with a caret under the span.
    pub fn render(&self, source: &str) -> String {
        let (line, col) = self.line_col(source);
        let text = source.lines().nth(line - 1).unwrap_or("");
        let width = source
            .get(self.span.start..self.span.end.min(self.span.start + text.len()))
            .map(|s| s.lines().next().unwrap_or("").chars().count())
            .unwrap_or(1)
            .max(1);
        let gutter = " ".repeat(line.to_string().len());
        format!(
            "{line}:{col}: {}\n{gutter} |\n{line} | {text}\n{gutter} | {}{}",
            self.message,
            " ".repeat(col - 1),
            "^".repeat(width)
        )
    }
}

impl fmt::Display for CypherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.span.start)
    }
}

impl std::error::Error for CypherError {}

/// 1-based line and character column of byte `offset` in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_column_and_caret() {
        let src = "MATCH (m)\nWHERE )";
        let err = CypherError::syntax("expected an expression, found ')'", Span::new(16, 17));
        assert_eq!(err.line_col(src), (2, 7));
        assert_eq!(
            err.render(src),
            "2:7: expected an expression, found ')'\n  |\n2 | WHERE )\n  |       ^"
        );
    }
}
