//! Syntax tree → [`QueryPlan`], with every unsupported construct rejected by name at its span.
//!
//! Column naming follows Drasi (drasi-compat.md §2): the alias if there is one; an unaliased
//! property access `m.name` is named by the key (`name`); an unaliased function call by the
//! function's name; anything else by its source text.

use std::sync::Arc;

use super::{ArithOp, Column, Expr, Function, LabelScan, QueryPlan, StringOp};
use crate::cypher::ast::{self, BinaryOp, Clause, ExprKind, Literal, Span, UnaryOp};
use crate::cypher::CypherError;
use crate::value::Value;

type Result<T> = std::result::Result<T, CypherError>;

/// Aggregating functions: recognised so that they are reported as such, not as unknown.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "collect",
    "stdev",
    "stdevp",
    "percentilecont",
    "percentiledisc",
];

/// Functions whose result changes without any data changing. A retraction must reproduce the
/// row it retracts, so these cannot run until time-driven evaluation exists.
const NON_DETERMINISTIC: &[&str] = &[
    "rand",
    "randomuuid",
    "timestamp",
    "datetime",
    "localdatetime",
    "date",
    "time",
    "localtime",
    "datetime.realtime",
    "datetime.statement",
    "datetime.transaction",
    "localdatetime.realtime",
    "date.realtime",
];

/// Compiles a parsed query into a plan.
///
/// Today the supported shape is `MATCH (v:Label [{props}]) [WHERE ...] RETURN ...` with
/// scalar expressions; everything else is rejected with the construct's name and span.
pub fn compile(query: &ast::Query) -> Result<QueryPlan> {
    if let Some(union) = query.unions.first() {
        return Err(unsupported("UNION", union.span));
    }
    let clauses = &query.first.clauses;
    for clause in clauses {
        check_clause_supported(clause)?;
    }
    let (m, ret) = match clauses.as_slice() {
        [Clause::Match(m), Clause::Return(r)] => (m, r),
        [Clause::Return(r)] => {
            return Err(CypherError::unsupported(
                "a continuous query must start with MATCH",
                r.span,
            ))
        }
        [Clause::Match(_), Clause::Match(second), ..] => {
            return Err(unsupported("more than one MATCH clause", second.span))
        }
        _ => {
            let span = clauses.first().map_or(query.span, clause_span);
            return Err(CypherError::unsupported(
                "a continuous query must have the form MATCH ... RETURN ...",
                span,
            ));
        }
    };

    let (scan, inline_filter) = compile_match(m)?;
    let scope = Scope { variable: scan.variable.clone() };
    let mut filter = inline_filter;
    if let Some(w) = &m.where_ {
        let predicate = scope.expr(w)?;
        filter = Some(match filter {
            Some(f) => Expr::And(Box::new(f), Box::new(predicate)),
            None => predicate,
        });
    }
    let columns = compile_return(&ret.projection, &scope)?;
    Ok(QueryPlan { scan, filter, columns })
}

fn unsupported(construct: &str, span: Span) -> CypherError {
    CypherError::unsupported(format!("{construct} is not supported yet"), span)
}

fn clause_span(clause: &Clause) -> Span {
    match clause {
        Clause::Match(m) => m.span,
        Clause::Unwind(u) => u.span,
        Clause::With(w) => w.span,
        Clause::Return(r) => r.span,
        Clause::Unsupported { span, .. } => *span,
    }
}

fn check_clause_supported(clause: &Clause) -> Result<()> {
    match clause {
        Clause::Unsupported { name, span } => Err(CypherError::unsupported(
            format!(
                "{name} is not supported in a continuous query: continuous queries are read-only"
            ),
            *span,
        )),
        Clause::Match(m) if m.optional => Err(unsupported("OPTIONAL MATCH", m.span)),
        Clause::Unwind(u) => Err(unsupported("UNWIND", u.span)),
        Clause::With(w) => Err(unsupported("WITH", w.span)),
        _ => Ok(()),
    }
}

fn compile_match(m: &ast::Match) -> Result<(LabelScan, Option<Expr>)> {
    let pattern = match m.patterns.as_slice() {
        [p] => p,
        [_, second, ..] => return Err(unsupported("MATCH with several patterns", second.span)),
        [] => return Err(CypherError::syntax("expected a pattern after MATCH", m.span)),
    };
    if let Some(v) = &pattern.variable {
        return Err(unsupported("a path variable", v.span));
    }
    if let Some((rel, _)) = pattern.steps.first() {
        return Err(unsupported("a relationship pattern", rel.span));
    }
    let node = &pattern.start;
    let label = match node.labels.as_slice() {
        [label] => label.name.clone(),
        [] => {
            return Err(CypherError::unsupported(
                "a node pattern without a label cannot be matched: write (v:Label)",
                node.span,
            ))
        }
        [_, second, ..] => {
            return Err(unsupported("a node pattern with several labels", second.span))
        }
    };
    let variable: Arc<str> =
        node.variable.as_ref().map_or_else(|| Arc::from(""), |v| v.name.clone());
    let scope = Scope { variable: variable.clone() };
    let filter = match &node.properties {
        None => None,
        Some(ast::Expr { kind: ExprKind::Map(entries), .. }) => entries
            .iter()
            .map(|(key, value)| -> Result<Expr> {
                Ok(Expr::Compare(
                    Box::new(Expr::Property(Box::new(Expr::Slot(0)), key.name.clone())),
                    vec![(ast::CmpOp::Eq, scope.expr(value)?)],
                ))
            })
            .try_fold(None, |acc: Option<Expr>, e| {
                let e = e?;
                Ok(Some(match acc {
                    Some(a) => Expr::And(Box::new(a), Box::new(e)),
                    None => e,
                }))
            })?,
        Some(other) => return Err(unsupported("a parameter as a property map", other.span)),
    };
    Ok((LabelScan { variable, label }, filter))
}

fn compile_return(p: &ast::Projection, scope: &Scope) -> Result<Vec<Column>> {
    if let Some(span) = p.distinct {
        return Err(unsupported("DISTINCT", span));
    }
    for (keyword, span) in [
        ("ORDER BY", p.order_by.as_ref().map(|o| o.1)),
        ("SKIP", p.skip.as_ref().map(|s| s.1)),
        ("LIMIT", p.limit.as_ref().map(|l| l.1)),
    ] {
        if let Some(span) = span {
            return Err(CypherError::unsupported(
                format!("{keyword} is not supported in a continuous query: results are an unordered, changing set"),
                span,
            ));
        }
    }
    let mut columns = Vec::new();
    if p.star.is_some() && !scope.variable.is_empty() {
        columns.push(Column { name: scope.variable.clone(), expr: Expr::Slot(0) });
    }
    for item in &p.items {
        let name: Arc<str> = match (&item.alias, &item.expr.kind) {
            (Some(alias), _) => alias.name.clone(),
            (None, ExprKind::Property(_, key)) => key.name.clone(),
            (None, ExprKind::Function { name, .. }) => name.name.clone(),
            (None, _) => Arc::from(item.text.as_str()),
        };
        if columns.iter().any(|c: &Column| c.name == name) {
            return Err(CypherError::semantic(
                format!("the column name '{name}' is used twice: rename one with AS"),
                item.span,
            ));
        }
        columns.push(Column { name, expr: scope.expr(&item.expr)? });
    }
    if columns.is_empty() {
        return Err(CypherError::semantic(
            "RETURN * has no variables to return",
            p.star.unwrap_or_default(),
        ));
    }
    Ok(columns)
}

/// The variables in scope: today a single node variable in slot 0.
struct Scope {
    variable: Arc<str>,
}

impl Scope {
    fn expr(&self, e: &ast::Expr) -> Result<Expr> {
        let b = |e: &ast::Expr| self.expr(e).map(Box::new);
        Ok(match &e.kind {
            ExprKind::Literal(l) => Expr::Literal(literal(l)),
            ExprKind::Variable(name) if !self.variable.is_empty() && **name == *self.variable => {
                Expr::Slot(0)
            }
            ExprKind::Variable(name) => {
                return Err(CypherError::semantic(
                    format!("variable `{name}` is not defined"),
                    e.span,
                ))
            }
            ExprKind::Parameter(_) => return Err(unsupported("a query parameter", e.span)),
            ExprKind::Property(base, key) => Expr::Property(b(base)?, key.name.clone()),
            ExprKind::List(items) => {
                Expr::List(items.iter().map(|i| self.expr(i)).collect::<Result<_>>()?)
            }
            ExprKind::Map(entries) => Expr::Map(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.name.clone(), self.expr(v)?)))
                    .collect::<Result<_>>()?,
            ),
            ExprKind::Unary(UnaryOp::Not, x) => Expr::Not(b(x)?),
            ExprKind::Unary(UnaryOp::Neg, x) => match &x.kind {
                // `-9223372036854775808` is representable only when the sign is folded in.
                ExprKind::Literal(Literal::Int(i)) => Expr::Literal(Value::Int(-i)),
                _ => Expr::Neg(b(x)?),
            },
            ExprKind::Unary(UnaryOp::Plus, x) => self.expr(x)?,
            ExprKind::Binary(op, l, r) => binary(*op, b(l)?, b(r)?, e.span)?,
            ExprKind::Comparison(first, links) => Expr::Compare(
                b(first)?,
                links.iter().map(|(op, x)| Ok((*op, self.expr(x)?))).collect::<Result<_>>()?,
            ),
            ExprKind::IsNull(x, negated) => Expr::IsNull(b(x)?, *negated),
            ExprKind::Case { operand, whens, else_ } => {
                let operand = operand.as_deref().map(|o| self.expr(o)).transpose()?;
                let whens = whens
                    .iter()
                    .map(|(w, t)| {
                        let cond = self.expr(w)?;
                        let cond = match &operand {
                            Some(o) => {
                                Expr::Compare(Box::new(o.clone()), vec![(ast::CmpOp::Eq, cond)])
                            }
                            None => cond,
                        };
                        Ok((cond, self.expr(t)?))
                    })
                    .collect::<Result<_>>()?;
                let otherwise = match else_ {
                    Some(x) => b(x)?,
                    None => Box::new(Expr::Literal(Value::Null)),
                };
                Expr::Case(whens, otherwise)
            }
            ExprKind::Function { name, distinct, args } => {
                self.function(name, *distinct, args, e.span)?
            }
            ExprKind::CountStar => return Err(unsupported("aggregation (count(*))", e.span)),
            ExprKind::Index(..) => return Err(unsupported("indexing with [ ]", e.span)),
            ExprKind::Slice(..) => return Err(unsupported("list slicing", e.span)),
            ExprKind::HasLabels(..) => return Err(unsupported("a label predicate", e.span)),
            ExprKind::ListComprehension { .. } => {
                return Err(unsupported("a list comprehension", e.span))
            }
            ExprKind::Quantified { quantifier, .. } => {
                return Err(unsupported(
                    &format!("the {quantifier:?} quantifier").to_lowercase(),
                    e.span,
                ))
            }
            ExprKind::PatternComprehension { .. } => {
                return Err(unsupported("a pattern comprehension", e.span))
            }
            ExprKind::PatternPredicate(_) => {
                return Err(unsupported("a pattern predicate", e.span))
            }
            ExprKind::Subquery { name } => {
                return Err(unsupported(&format!("{name} {{ }} subqueries"), e.span))
            }
        })
    }

    fn function(
        &self,
        name: &ast::Ident,
        distinct: bool,
        args: &[ast::Expr],
        span: Span,
    ) -> Result<Expr> {
        let lower = name.name.to_ascii_lowercase();
        if AGGREGATES.contains(&lower.as_str()) {
            return Err(unsupported(&format!("aggregation ({})", name.name), span));
        }
        if NON_DETERMINISTIC.contains(&lower.as_str()) {
            return Err(CypherError::unsupported(
                format!(
                    "{}() is not supported in a continuous query: its value changes without the data changing, so results could not be maintained incrementally",
                    name.name
                ),
                span,
            ));
        }
        let Some((function, arity)) = Function::by_name(&lower) else {
            return Err(CypherError::semantic(
                format!("unknown function {}()", name.name),
                name.span,
            ));
        };
        if distinct {
            return Err(CypherError::semantic(
                format!(
                    "DISTINCT is only allowed in aggregating functions, not in {}()",
                    name.name
                ),
                span,
            ));
        }
        if !arity.contains(&args.len()) {
            return Err(CypherError::semantic(
                format!(
                    "{}() takes {} argument(s), got {}",
                    name.name,
                    arity_text(&arity),
                    args.len()
                ),
                span,
            ));
        }
        let args = args.iter().map(|a| self.expr(a)).collect::<Result<_>>()?;
        Ok(Expr::Call(function, args, span))
    }
}

fn arity_text(arity: &std::ops::RangeInclusive<usize>) -> String {
    match (arity.start(), arity.end()) {
        (a, b) if a == b => a.to_string(),
        (a, &usize::MAX) => format!("at least {a}"),
        (a, b) => format!("{a} to {b}"),
    }
}

fn literal(l: &Literal) -> Value {
    match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Float(f) => Value::float(*f),
        Literal::Str(s) => Value::Str(s.clone()),
    }
}

fn binary(op: BinaryOp, l: Box<Expr>, r: Box<Expr>, span: Span) -> Result<Expr> {
    let arith = |op| Ok(Expr::Arith(op, l.clone(), r.clone(), span));
    match op {
        BinaryOp::Or => Ok(Expr::Or(l, r)),
        BinaryOp::Xor => Ok(Expr::Xor(l, r)),
        BinaryOp::And => Ok(Expr::And(l, r)),
        BinaryOp::Add => arith(ArithOp::Add),
        BinaryOp::Sub => arith(ArithOp::Sub),
        BinaryOp::Mul => arith(ArithOp::Mul),
        BinaryOp::Div => arith(ArithOp::Div),
        BinaryOp::Mod => arith(ArithOp::Mod),
        BinaryOp::Pow => arith(ArithOp::Pow),
        BinaryOp::In => Ok(Expr::In(l, r)),
        BinaryOp::StartsWith => Ok(Expr::StringOp(StringOp::StartsWith, l, r)),
        BinaryOp::EndsWith => Ok(Expr::StringOp(StringOp::EndsWith, l, r)),
        BinaryOp::Contains => Ok(Expr::StringOp(StringOp::Contains, l, r)),
        BinaryOp::RegexMatch => Err(unsupported("the regular-expression operator =~", span)),
    }
}
