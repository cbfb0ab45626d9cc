//! Syntax tree → [`QueryPlan`], with every unsupported construct rejected by name at its span.
//!
//! Clauses are compiled in order onto one operator chain; a [`Scope`] tracks which variable
//! lives in which slot. Column naming follows Drasi (drasi-compat.md §2): the alias if there is
//! one; an unaliased property access `m.name` is named by the key (`name`); an unaliased
//! function call by the function's name; anything else by its source text.
//!
//! One [`Builder`] carries the chain and the scope through every clause; what it lowers is
//! split by kind, so that a change to one kind of clause is read and tested in one place:
//! `pattern` (MATCH and OPTIONAL MATCH), `projection` (WITH, RETURN, aggregation, DISTINCT,
//! UNWIND), `expression` (expressions, resolved to slots) and `checks` (static types and the
//! TCK's error categories). This module owns only what they share: the clause loop, the scope
//! and the chain under construction.

use std::collections::BTreeMap;
use std::sync::Arc;

mod checks;
mod expression;
mod pattern;
mod projection;

use super::types::Ty;
use super::{CompileOptions, Op, QueryPlan};
use crate::cypher::ast::{self, Clause, Span};
use crate::cypher::CypherError;
use crate::value::Value;

type Result<T> = std::result::Result<T, CypherError>;

/// Compiles a parsed query. `text` is the query text the syntax tree's spans point into.
pub fn compile(text: &str, query: &ast::Query, options: &CompileOptions) -> Result<QueryPlan> {
    if let Some(union) = query.unions.first() {
        return Err(unsupported("UNION", union.span));
    }
    let clauses = &query.first.clauses;
    let mut builder =
        Builder { text, parameters: &options.parameters, op: Op::Unit, scope: Scope::default() };
    for (i, clause) in clauses.iter().enumerate() {
        let last = i + 1 == clauses.len();
        match clause {
            Clause::Unsupported { name, span } => {
                return Err(CypherError::unsupported(
                    format!(
                        "{name} is not supported in a continuous query: continuous queries are read-only"
                    ),
                    *span,
                ))
            }
            Clause::Match(m) => builder.match_clause(m)?,
            Clause::Unwind(u) => builder.unwind(u)?,
            Clause::With(w) => builder.with(w)?,
            Clause::Return(r) if last => {
                let columns = builder.projection(&r.projection, true)?;
                return Ok(QueryPlan { root: builder.op, columns, joins: options.joins.clone() });
            }
            Clause::Return(r) => {
                return Err(CypherError::syntax("RETURN must be the last clause", r.span))
            }
        }
    }
    Err(CypherError::syntax("a query must end with RETURN", Span::new(text.len(), text.len())))
}

fn unsupported(construct: &str, span: Span) -> CypherError {
    CypherError::unsupported(format!("{construct} is not supported yet"), span)
}

/// The variables in scope: slot `i` holds `slots[i]`. Anonymous pattern elements get slots
/// with no name (`None`): they count for identity and uniqueness but cannot be referenced.
#[derive(Clone, Debug, Default)]
struct Scope {
    slots: Vec<(Option<Arc<str>>, Ty)>,
    /// Comprehension variables bound while compiling an inner expression: (name, slot).
    locals: Vec<(Arc<str>, usize)>,
}

impl Scope {
    fn lookup(&self, name: &str) -> Option<(usize, Ty)> {
        if let Some((_, slot)) = self.locals.iter().rev().find(|(n, _)| &**n == name) {
            return Some((*slot, Ty::Any));
        }
        self.slots
            .iter()
            .position(|(n, _)| n.as_deref() == Some(name))
            .map(|i| (i, self.slots[i].1))
    }

    fn width(&self) -> usize {
        self.slots.len()
    }

    fn bind(&mut self, name: Option<Arc<str>>, ty: Ty) -> usize {
        self.slots.push((name, ty));
        self.slots.len() - 1
    }

    /// The next free slot for a comprehension variable.
    fn next_local(&self) -> usize {
        self.width() + self.locals.len()
    }
}

/// Builds the operator chain clause by clause.
struct Builder<'a> {
    text: &'a str,
    parameters: &'a BTreeMap<String, Value>,
    op: Op,
    scope: Scope,
}

impl Builder<'_> {
    fn take_op(&mut self) -> Box<Op> {
        Box::new(std::mem::replace(&mut self.op, Op::Unit))
    }

    fn source(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("").trim()
    }
}

/// Shorthands for the plan shapes the lowering tests expect.
#[cfg(test)]
mod shapes {
    use super::*;
    use crate::plan::Expr;

    /// Compiles `query`, failing the test with the located error if it does not.
    pub(super) fn compiled(query: &str) -> QueryPlan {
        crate::compile(query).unwrap_or_else(|e| panic!("{query}: {}", e.render(query)))
    }

    /// The span of the first occurrence of `text` in `query`.
    pub(super) fn span_of(query: &str, text: &str) -> Span {
        let start = query.find(text).unwrap_or_else(|| panic!("`{text}` is not in {query}"));
        Span::new(start, start + text.len())
    }

    pub(super) fn slot(n: usize) -> Expr {
        Expr::Slot(n)
    }

    pub(super) fn int(i: i64) -> Expr {
        Expr::Literal(Value::Int(i))
    }

    pub(super) fn string(s: &str) -> Expr {
        Expr::Literal(Value::Str(Arc::from(s)))
    }

    /// `slot.key`
    pub(super) fn prop(slot: usize, key: &str) -> Expr {
        Expr::Property(Box::new(Expr::Slot(slot)), Arc::from(key))
    }

    /// `left op right`
    pub(super) fn cmp(left: Expr, op: ast::CmpOp, right: Expr) -> Expr {
        Expr::Compare(Box::new(left), vec![(op, right)])
    }

    pub(super) fn and(left: Expr, right: Expr) -> Expr {
        Expr::And(Box::new(left), Box::new(right))
    }

    pub(super) fn labels(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|&n| Arc::from(n)).collect()
    }

    pub(super) fn project(input: Op, exprs: Vec<Expr>) -> Op {
        Op::Project { input: Box::new(input), exprs }
    }
}

#[cfg(test)]
mod tests {
    use crate::cypher::ErrorDetail::{self, *};

    /// The TCK category and detail of the error compiling `query` raises.
    fn error(query: &str) -> (Option<&'static str>, Option<ErrorDetail>) {
        match crate::compile(query) {
            Ok(_) => panic!("{query} compiled"),
            Err(e) => (e.kind.tck_category(), e.detail),
        }
    }

    #[test]
    fn errors_carry_the_tck_category_and_detail() {
        let syntax = Some("SyntaxError");
        let cases = [
            ("MATCH (a) RETURN b", syntax, UndefinedVariable),
            ("MATCH (a) WITH * WHERE b.x = 1 RETURN a", syntax, UndefinedVariable),
            ("MATCH (a) WITH a.x AS x WHERE b.x = 1 RETURN x", syntax, UndefinedVariable),
            ("MATCH (r)-[r]->() RETURN r", syntax, VariableTypeConflict),
            ("MATCH p = (p)-->() RETURN p", syntax, VariableAlreadyBound),
            ("MATCH (a)-[r]->()-[r]->(a) RETURN r", syntax, RelationshipUniquenessViolation),
            ("WITH 1 AS r MATCH ()-[r]-() RETURN r", syntax, VariableTypeConflict),
            ("MATCH (a) WHERE count(a) > 1 RETURN a", syntax, InvalidAggregation),
            ("RETURN count(count(1))", syntax, NestedAggregation),
            (
                "MATCH (a) RETURN a.x + a.y, a.x + a.y + count(*)",
                syntax,
                AmbiguousAggregationExpression,
            ),
            ("MATCH (a) WITH a.x RETURN 1", syntax, NoExpressionAlias),
            ("RETURN 1 AS a, 2 AS a", syntax, ColumnNameConflict),
            ("RETURN NOT 1", syntax, InvalidArgumentType),
            ("RETURN 123 AND true", syntax, InvalidArgumentType),
            ("RETURN 1 IN 'a'", syntax, InvalidArgumentType),
            ("MATCH (n) RETURN type(n)", syntax, InvalidArgumentType),
            ("MATCH p = (n)-->() RETURN p.name", syntax, InvalidArgumentType),
            ("WITH 123 AS x RETURN x.num", Some("TypeError"), InvalidArgumentType),
            ("WITH {a: 1} AS m RETURN m[0]", Some("TypeError"), MapElementAccessByNonString),
            ("MATCH (n $p) RETURN n", syntax, InvalidParameterUse),
            ("RETURN nope(1)", syntax, UnknownFunction),
            ("RETURN 9223372036854775808", syntax, IntegerOverflow),
            ("RETURN 0x", syntax, InvalidNumberLiteral),
            ("RETURN 42 — 41", syntax, InvalidUnicodeCharacter),
            ("MATCH (a)-[:T..]->(b) RETURN b", syntax, InvalidRelationshipPattern),
            ("MATCH (a) RETURN percentileCont(a.x, a.y)", syntax, NonConstantExpression),
            ("MATCH (a) RETURN percentileDisc(a.x, 1.5)", Some("ArgumentError"), NumberOutOfRange),
            ("RETURN $missing", Some("ParameterMissing"), MissingParameter),
        ];
        for (query, category, detail) in cases {
            assert_eq!(error(query), (category, Some(detail)), "{query}");
        }
        assert_eq!(error("MATCH (a) CREATE (b) RETURN a"), (None, None), "writes are unsupported");
    }

    #[test]
    fn what_is_only_known_at_run_time_compiles() {
        for query in [
            "UNWIND [1, 2] AS x RETURN NOT x",
            "MATCH (a) WITH coalesce(a, a) AS x MATCH (x)-->(y) RETURN y",
            "MATCH ()-[r]->() WITH r MATCH (a)-[r]->(b) RETURN a, b",
            "MATCH (a) WITH a.x AS x WHERE a.y = 1 RETURN x",
            "MATCH (n:A|B) RETURN n",
            "WITH [1, 2] AS l, 0 AS i RETURN l[i]",
        ] {
            if let Err(e) = crate::compile(query) {
                panic!("{query}: {}", e.render(query));
            }
        }
    }
}
