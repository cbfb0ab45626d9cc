//! Cypher expressions → [`Expr`]: variables resolved to slots, parameters to constants,
//! function names to [`Function`]s, with the checks that reject what cannot be evaluated.
//!
//! A continuous query recomputes expressions whenever their inputs change, and a retraction
//! must reproduce the row it retracts; so an expression must be a pure function of its row.
//! Functions that read the clock or randomness are refused, and `$parameters` are fixed at
//! compile time. Inside an aggregating projection an expression is lowered against the
//! aggregation's output ([`AggregateContext`]): aggregate calls become the slots of their
//! results, and whatever else it reads must be a grouping key, or the value would be
//! ambiguous per group.

use std::sync::Arc;

use super::{unsupported, Builder, Result};
use crate::cypher::ast::{self, BinaryOp, ExprKind, Literal, Span, UnaryOp};
use crate::cypher::{CypherError, ErrorDetail, ErrorKind};
use crate::plan::types::{self, Ty};
use crate::plan::{Aggregate, AggregateFunction, ArithOp, Expr, Function, Op, StringOp};
use crate::value::Value;

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

/// Where an aggregate call's value ends up while compiling an aggregating projection.
pub(super) struct AggregateContext<'a> {
    /// Grouping key items: (source text, slot after aggregation).
    pub(super) keys: &'a [(String, usize)],
    /// Aggregates found so far.
    pub(super) aggregates: Vec<Aggregate>,
    /// Slot of the first aggregate after aggregation.
    pub(super) first_slot: usize,
}

impl Builder<'_> {
    /// Compiles an expression. Inside an aggregating projection (`agg` is set), aggregate
    /// calls become slots of the aggregation's output, and other subexpressions must be
    /// grouping keys.
    pub(super) fn expr(
        &self,
        e: &ast::Expr,
        mut agg: Option<&mut AggregateContext<'_>>,
    ) -> Result<Expr> {
        if let Some(ctx) = agg.as_deref_mut() {
            if !contains_aggregate(e) {
                let text = self.source(e.span);
                // Only a variable or a property access stands for a grouping key inside an
                // aggregating expression: `a.x + a.y + count(*)` is ambiguous even when
                // `a.x + a.y` is a key.
                let simple = matches!(e.kind, ExprKind::Variable(_) | ExprKind::Property(..));
                if let Some((_, slot)) = ctx.keys.iter().find(|(t, _)| simple && t == text) {
                    return Ok(Expr::Slot(*slot));
                }
                if matches!(e.kind, ExprKind::Literal(_)) {
                    return self.expr(e, None);
                }
                if !matches!(e.kind, ExprKind::Variable(_) | ExprKind::Property(..)) {
                    return self.expr_inner(e, agg);
                }
                return Err(CypherError::semantic(
 ErrorDetail::AmbiguousAggregationExpression,
                    format!(
                        "`{text}` is neither aggregated nor a grouping key of this projection (add it as its own item)"
                    ),
                    e.span,
                ));
            }
        }
        self.expr_inner(e, agg)
    }

    fn expr_inner(
        &self,
        e: &ast::Expr,
        mut agg: Option<&mut AggregateContext<'_>>,
    ) -> Result<Expr> {
        let mut sub = |x: &ast::Expr| self.expr(x, agg.as_deref_mut()).map(Box::new);
        Ok(match &e.kind {
            ExprKind::Literal(l) => Expr::Literal(literal(l)),
            ExprKind::Variable(name) => match self.scope.lookup(name) {
                Some((slot, _)) => Expr::Slot(slot),
                None => {
                    return Err(CypherError::semantic(
                        ErrorDetail::UndefinedVariable,
                        format!("variable `{name}` is not defined"),
                        e.span,
                    ))
                }
            },
            ExprKind::Parameter(name) => match self.parameters.get(&**name) {
                Some(value) => Expr::Literal(value.clone()),
                None => {
                    return Err(CypherError {
                        kind: ErrorKind::ParameterMissing,
                        detail: Some(ErrorDetail::MissingParameter),
                        message: format!("parameter ${name} has no value"),
                        span: e.span,
                    })
                }
            },
            ExprKind::Property(base, key) => {
                self.check_property_base(base, key)?;
                Expr::Property(sub(base)?, key.name.clone())
            }
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(*sub(item)?);
                }
                Expr::List(out)
            }
            ExprKind::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    out.push((k.name.clone(), *sub(v)?));
                }
                Expr::Map(out)
            }
            ExprKind::Unary(UnaryOp::Not, x) => {
                self.check_operand(x, &[Ty::Bool], "NOT")?;
                Expr::Not(sub(x)?)
            }
            ExprKind::Unary(UnaryOp::Neg, x) => Expr::Neg(sub(x)?),
            ExprKind::Unary(UnaryOp::Plus, x) => *sub(x)?,
            ExprKind::Binary(op, l, r) => {
                self.check_binary_operands(*op, l, r)?;
                let (l, r) = (sub(l)?, sub(r)?);
                binary(*op, l, r, e.span)?
            }
            ExprKind::Comparison(first, links) => {
                let first = sub(first)?;
                let mut out = Vec::with_capacity(links.len());
                for (op, x) in links {
                    out.push((*op, *sub(x)?));
                }
                Expr::Compare(first, out)
            }
            ExprKind::IsNull(x, negated) => Expr::IsNull(sub(x)?, *negated),
            ExprKind::Case { operand, whens, else_ } => {
                let operand = match operand {
                    Some(o) => Some(*sub(o)?),
                    None => None,
                };
                let mut arms = Vec::with_capacity(whens.len());
                for (w, t) in whens {
                    let cond = *sub(w)?;
                    let cond = match &operand {
                        Some(o) => Expr::Compare(Box::new(o.clone()), vec![(ast::CmpOp::Eq, cond)]),
                        None => cond,
                    };
                    arms.push((cond, *sub(t)?));
                }
                let otherwise = match else_ {
                    Some(x) => sub(x)?,
                    None => Box::new(Expr::Literal(Value::Null)),
                };
                Expr::Case(arms, otherwise)
            }
            ExprKind::Function { name, distinct, args } => {
                if let Some(function) = aggregate_function(&name.name) {
                    let Some(ctx) = agg else {
                        return Err(CypherError::semantic(
                            ErrorDetail::InvalidAggregation,
                            format!(
                                "aggregation ({}) is only allowed in WITH and RETURN",
                                name.name
                            ),
                            e.span,
                        ));
                    };
                    let (argument, function) = match (function, args.as_slice()) {
                        (
                            AggregateFunction::PercentileCont(_)
                            | AggregateFunction::PercentileDisc(_),
                            [argument, percentile],
                        ) => (argument, function.with_percentile(self.percentile(percentile)?)),
                        (
                            AggregateFunction::PercentileCont(_)
                            | AggregateFunction::PercentileDisc(_),
                            _,
                        ) => {
                            return Err(CypherError::semantic(
                                ErrorDetail::InvalidNumberOfArguments,
                                format!("{}() takes two arguments", name.name),
                                e.span,
                            ))
                        }
                        (_, [argument]) => (argument, function),
                        _ => {
                            return Err(CypherError::semantic(
                                ErrorDetail::InvalidNumberOfArguments,
                                format!("{}() takes exactly one argument", name.name),
                                e.span,
                            ))
                        }
                    };
                    if contains_aggregate(argument) {
                        return Err(CypherError::semantic(
                            ErrorDetail::NestedAggregation,
                            "aggregate functions cannot be nested",
                            argument.span,
                        ));
                    }
                    let argument = Some(self.expr(argument, None)?);
                    ctx.aggregates.push(Aggregate { function, argument, distinct: *distinct });
                    return Ok(Expr::Slot(ctx.first_slot + ctx.aggregates.len() - 1));
                }
                return self.function(name, *distinct, args, e.span, agg);
            }
            ExprKind::CountStar => {
                let Some(ctx) = agg else {
                    return Err(CypherError::semantic(
                        ErrorDetail::InvalidAggregation,
                        "count(*) is only allowed in WITH and RETURN",
                        e.span,
                    ));
                };
                ctx.aggregates.push(Aggregate {
                    function: AggregateFunction::Count,
                    argument: None,
                    distinct: false,
                });
                Expr::Slot(ctx.first_slot + ctx.aggregates.len() - 1)
            }
            ExprKind::Index(base, index) => {
                self.check_index(base, index)?;
                let (base, index) = (sub(base)?, sub(index)?);
                Expr::Index(base, index, e.span)
            }
            ExprKind::Slice(base, from, to) => {
                let base = sub(base)?;
                let from = match from {
                    Some(x) => Some(sub(x)?),
                    None => None,
                };
                let to = match to {
                    Some(x) => Some(sub(x)?),
                    None => None,
                };
                Expr::Slice(base, from, to)
            }
            ExprKind::HasLabels(base, labels) => {
                Expr::HasLabels(sub(base)?, labels.iter().map(|l| l.name.clone()).collect())
            }
            ExprKind::ListComprehension { variable, list, predicate, projection } => {
                let list = sub(list)?;
                let (slot, inner) = self.with_local(&variable.name);
                let predicate = predicate.as_deref().map(|p| inner.expr(p, None)).transpose()?;
                let projection = projection.as_deref().map(|p| inner.expr(p, None)).transpose()?;
                Expr::ListComprehension {
                    list,
                    slot,
                    predicate: predicate.map(Box::new),
                    projection: projection.map(Box::new),
                }
            }
            ExprKind::Quantified { quantifier, variable, list, predicate } => {
                let list = sub(list)?;
                let (slot, inner) = self.with_local(&variable.name);
                let predicate = Box::new(inner.expr(predicate, None)?);
                Expr::Quantified { quantifier: *quantifier, list, slot, predicate }
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

    /// A builder whose scope has `name` bound in a fresh comprehension slot.
    fn with_local(&self, name: &Arc<str>) -> (usize, Builder<'_>) {
        let mut scope = self.scope.clone();
        let slot = scope.next_local();
        scope.locals.push((name.clone(), slot));
        (slot, Builder { text: self.text, parameters: self.parameters, op: Op::Unit, scope })
    }

    fn function(
        &self,
        name: &ast::Ident,
        distinct: bool,
        args: &[ast::Expr],
        span: Span,
        mut agg: Option<&mut AggregateContext<'_>>,
    ) -> Result<Expr> {
        let lower = name.name.to_ascii_lowercase();
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
                ErrorDetail::UnknownFunction,
                format!("unknown function {}()", name.name),
                name.span,
            ));
        };
        if distinct {
            return Err(CypherError::semantic(
                ErrorDetail::InvalidArgumentPassingMode,
                format!(
                    "DISTINCT is only allowed in aggregating functions, not in {}()",
                    name.name
                ),
                span,
            ));
        }
        if !arity.contains(&args.len()) {
            return Err(CypherError::semantic(
                ErrorDetail::InvalidNumberOfArguments,
                format!(
                    "{}() takes {} argument(s), got {}",
                    name.name,
                    arity_text(&arity),
                    args.len()
                ),
                span,
            ));
        }
        if let (Some(pattern), "size") = (args.iter().find(|a| is_pattern(a)), lower.as_str()) {
            return Err(CypherError::syntax(
                "size() of a pattern is not Cypher: count the matches with COUNT { pattern }",
                pattern.span,
            ));
        }
        if let Some(allowed) = types::function_argument(&lower) {
            for a in args {
                self.check_operand(a, allowed, &format!("{}()", name.name))?;
            }
        }
        let mut compiled = Vec::with_capacity(args.len());
        for a in args {
            compiled.push(self.expr(a, agg.as_deref_mut())?);
        }
        Ok(Expr::Call(function, compiled, span))
    }
}

fn aggregate_function(name: &str) -> Option<AggregateFunction> {
    Some(match name.to_ascii_lowercase().as_str() {
        "count" => AggregateFunction::Count,
        "sum" => AggregateFunction::Sum,
        "avg" => AggregateFunction::Avg,
        "min" => AggregateFunction::Min,
        "max" => AggregateFunction::Max,
        "collect" => AggregateFunction::Collect,
        "percentilecont" => AggregateFunction::PercentileCont(0.0.into()),
        "percentiledisc" => AggregateFunction::PercentileDisc(0.0.into()),
        _ => return None,
    })
}

/// Whether the expression calls an aggregating function (outside nested comprehensions'
/// own scopes, which cannot aggregate anyway).
pub(super) fn contains_aggregate(e: &ast::Expr) -> bool {
    let any = |xs: &[ast::Expr]| xs.iter().any(contains_aggregate);
    match &e.kind {
        ExprKind::CountStar => true,
        ExprKind::Function { name, args, .. } => {
            aggregate_function(&name.name).is_some() || any(args)
        }
        ExprKind::Literal(_)
        | ExprKind::Parameter(_)
        | ExprKind::Variable(_)
        | ExprKind::PatternComprehension { .. }
        | ExprKind::PatternPredicate(_)
        | ExprKind::Subquery { .. } => false,
        ExprKind::Property(b, _) | ExprKind::HasLabels(b, _) | ExprKind::IsNull(b, _) => {
            contains_aggregate(b)
        }
        ExprKind::Unary(_, b) => contains_aggregate(b),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            contains_aggregate(a) || contains_aggregate(b)
        }
        ExprKind::Slice(a, b, c) => {
            contains_aggregate(a)
                || b.as_deref().is_some_and(contains_aggregate)
                || c.as_deref().is_some_and(contains_aggregate)
        }
        ExprKind::List(items) => any(items),
        ExprKind::Map(entries) => entries.iter().any(|(_, v)| contains_aggregate(v)),
        ExprKind::Comparison(first, links) => {
            contains_aggregate(first) || links.iter().any(|(_, x)| contains_aggregate(x))
        }
        ExprKind::Case { operand, whens, else_ } => {
            operand.as_deref().is_some_and(contains_aggregate)
                || whens.iter().any(|(w, t)| contains_aggregate(w) || contains_aggregate(t))
                || else_.as_deref().is_some_and(contains_aggregate)
        }
        ExprKind::ListComprehension { list, .. } | ExprKind::Quantified { list, .. } => {
            contains_aggregate(list)
        }
    }
}

fn is_pattern(e: &ast::Expr) -> bool {
    matches!(e.kind, ExprKind::PatternPredicate(_))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::shapes::*;
    use crate::cypher::ast::CmpOp;
    use crate::cypher::ErrorKind;
    use crate::plan::{ArithOp, CompileOptions, Expr, Function, Op};
    use crate::value::Value;

    /// The one expression a `RETURN <expr> AS e` query projects.
    fn returned(query: &str) -> Expr {
        match compiled(query).root {
            Op::Project { mut exprs, .. } if exprs.len() == 1 => exprs.remove(0),
            other => panic!("{query}: expected one projected expression, got {other:?}"),
        }
    }

    #[test]
    fn parameters_compile_to_their_values() {
        let query = "MATCH (a) WHERE a.x = $p RETURN a";
        let parameters = BTreeMap::from([("p".to_string(), Value::Int(5))]);
        let options = CompileOptions { parameters, ..Default::default() };
        let plan = crate::compile_with(query, &options).unwrap();
        let Op::Project { input, .. } = plan.root else { panic!("no projection") };
        let Op::Match { predicate, .. } = *input else { panic!("no match") };
        assert_eq!(predicate, Some(cmp(prop(0, "x"), CmpOp::Eq, int(5))));
    }

    #[test]
    fn a_simple_case_becomes_comparisons_and_a_missing_else_null() {
        let expected = Expr::Case(
            vec![
                (cmp(int(1), CmpOp::Eq, int(1)), string("one")),
                (cmp(int(1), CmpOp::Eq, int(2)), string("two")),
            ],
            Box::new(Expr::Literal(Value::Null)),
        );
        assert_eq!(
            returned("RETURN CASE 1 WHEN 1 THEN 'one' WHEN 2 THEN 'two' END AS e"),
            expected
        );
    }

    #[test]
    fn comprehension_variables_take_the_slots_after_the_row() {
        let query = "MATCH (a) RETURN [x IN a.xs WHERE x > 1 | [y IN x | y * 2]] AS e";
        let doubled =
            Expr::Arith(ArithOp::Mul, Box::new(slot(2)), Box::new(int(2)), span_of(query, "y * 2"));
        let inner = Expr::ListComprehension {
            list: Box::new(slot(1)),
            slot: 2,
            predicate: None,
            projection: Some(Box::new(doubled)),
        };
        let expected = Expr::ListComprehension {
            list: Box::new(prop(0, "xs")),
            slot: 1,
            predicate: Some(Box::new(cmp(slot(1), CmpOp::Gt, int(1)))),
            projection: Some(Box::new(inner)),
        };
        assert_eq!(returned(query), expected);
    }

    #[test]
    fn operators_lower_to_their_plan_forms() {
        let query = "MATCH (a) RETURN NOT (+a.x IS NULL) AND a.s STARTS WITH 'p' AS e";
        let not_null = Expr::Not(Box::new(Expr::IsNull(Box::new(prop(0, "x")), false)));
        let starts = Expr::StringOp(
            crate::plan::StringOp::StartsWith,
            Box::new(prop(0, "s")),
            Box::new(string("p")),
        );
        assert_eq!(returned(query), and(not_null, starts));
        let query = "MATCH (a) RETURN coalesce(a.x, 0) AS e";
        let call = Expr::Call(
            Function::Coalesce,
            vec![prop(0, "x"), int(0)],
            span_of(query, "coalesce(a.x, 0)"),
        );
        assert_eq!(returned(query), call);
    }

    #[test]
    fn functions_of_the_clock_or_chance_are_refused() {
        for query in ["RETURN rand() AS e", "RETURN datetime() AS e", "RETURN timestamp() AS e"] {
            let error = crate::compile(query).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Unsupported, "{query}");
            assert!(
                error.message.contains("its value changes without the data changing"),
                "{query}"
            );
        }
    }
}
