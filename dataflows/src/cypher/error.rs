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

/// What kind of problem a [`CypherError`] reports. Besides [`ErrorKind::Unsupported`], the
/// kinds are the openCypher TCK's error categories ([`ErrorKind::tck_category`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not Cypher (TCK `SyntaxError`).
    Syntax,
    /// Valid syntax with a meaning error: undefined variable, misplaced aggregate, ... The TCK
    /// files these under `SyntaxError` too.
    Semantic,
    /// An operand whose type is known before running is of the wrong type (TCK `TypeError`).
    Type,
    /// An argument whose value is out of range (TCK `ArgumentError`).
    Argument,
    /// A `$parameter` without a value (TCK `ParameterMissing`).
    ParameterMissing,
    /// Valid Cypher that a continuous query cannot run (writes, CALL, ...): not a TCK category.
    Unsupported,
}

impl ErrorKind {
    /// The openCypher error category, e.g. `SyntaxError`; `None` for
    /// [`ErrorKind::Unsupported`].
    pub fn tck_category(self) -> Option<&'static str> {
        match self {
            ErrorKind::Syntax | ErrorKind::Semantic => Some("SyntaxError"),
            ErrorKind::Type => Some("TypeError"),
            ErrorKind::Argument => Some("ArgumentError"),
            ErrorKind::ParameterMissing => Some("ParameterMissing"),
            ErrorKind::Unsupported => None,
        }
    }
}

/// The openCypher TCK's error detail: what exactly is wrong. The variant names are the TCK's
/// (`Debug` prints them as the TCK spells them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorDetail {
    /// Text that does not parse.
    UnexpectedSyntax,
    /// A malformed number such as `0x` or `9223372h54775808`.
    InvalidNumberLiteral,
    /// An integer literal outside 64 bits.
    IntegerOverflow,
    /// A float literal outside 64 bits.
    FloatingPointOverflow,
    /// A malformed `\u` escape.
    InvalidUnicodeLiteral,
    /// A character outside ASCII where only ASCII may stand (`—` for `-`).
    InvalidUnicodeCharacter,
    /// A variable used but never bound.
    UndefinedVariable,
    /// A variable bound twice where that is not allowed.
    VariableAlreadyBound,
    /// A variable used as two kinds of things (node and relationship, say).
    VariableTypeConflict,
    /// An argument or operand of the wrong type.
    InvalidArgumentType,
    /// A map indexed by something other than a string.
    MapElementAccessByNonString,
    /// A function that does not exist.
    UnknownFunction,
    /// A function called with the wrong number of arguments.
    InvalidNumberOfArguments,
    /// An aggregate where none is allowed.
    InvalidAggregation,
    /// An aggregate inside an aggregate.
    NestedAggregation,
    /// An expression mixing aggregates with values that are not grouping keys.
    AmbiguousAggregationExpression,
    /// An unaliased expression in WITH.
    NoExpressionAlias,
    /// Two columns of the same name.
    ColumnNameConflict,
    /// `RETURN *` / `WITH *` with nothing in scope.
    NoVariablesInScope,
    /// A value that must be a constant is not.
    NonConstantExpression,
    /// A relationship pattern that cannot be matched as written.
    InvalidRelationshipPattern,
    /// The same relationship twice in one pattern.
    RelationshipUniquenessViolation,
    /// A parameter where none may stand (a pattern's property map, say).
    InvalidParameterUse,
    /// A parameter without a value.
    MissingParameter,
    /// `DISTINCT` passed to a function that does not aggregate.
    InvalidArgumentPassingMode,
    /// A number outside the range an argument allows.
    NumberOutOfRange,
    /// A negative value where only a non-negative one makes sense.
    NegativeIntegerArgument,
}

/// A located error in a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CypherError {
    /// Category.
    pub kind: ErrorKind,
    /// The TCK detail; `None` only for [`ErrorKind::Unsupported`].
    pub detail: Option<ErrorDetail>,
    /// The message, without location, e.g. `expected an expression, found ')'`.
    pub message: String,
    /// Where.
    pub span: Span,
}

impl CypherError {
    /// A syntax error (detail `UnexpectedSyntax`; see [`CypherError::with_detail`]).
    pub fn syntax(message: impl Into<String>, span: Span) -> CypherError {
        CypherError {
            kind: ErrorKind::Syntax,
            detail: Some(ErrorDetail::UnexpectedSyntax),
            message: message.into(),
            span,
        }
    }

    /// A construct that is valid Cypher but cannot run in a continuous query.
    pub fn unsupported(message: impl Into<String>, span: Span) -> CypherError {
        CypherError { kind: ErrorKind::Unsupported, detail: None, message: message.into(), span }
    }

    /// A semantic error.
    pub fn semantic(detail: ErrorDetail, message: impl Into<String>, span: Span) -> CypherError {
        CypherError {
            kind: ErrorKind::Semantic,
            detail: Some(detail),
            message: message.into(),
            span,
        }
    }

    /// A type error known before running (detail `InvalidArgumentType`).
    pub fn type_error(message: impl Into<String>, span: Span) -> CypherError {
        CypherError {
            kind: ErrorKind::Type,
            detail: Some(ErrorDetail::InvalidArgumentType),
            message: message.into(),
            span,
        }
    }

    /// The same error with another detail.
    pub fn with_detail(self, detail: ErrorDetail) -> CypherError {
        CypherError { detail: Some(detail), ..self }
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
