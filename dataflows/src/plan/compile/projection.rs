//! WITH, RETURN and UNWIND → the operators that reshape rows, and the scope after them.
//!
//! A projection replaces the scope: after it only its items are visible, in their order, so
//! that slots always equal columns and a RETURN's rows are the result rows. Aggregation is
//! decided per projection (any item that aggregates makes every other item a grouping key),
//! and lowers to an `Aggregate` (keys, then aggregates) under a `Project` that puts the items
//! back in written order. What a continuous query cannot maintain (ORDER BY, SKIP, LIMIT) is
//! refused here, by name. openCypher lets a non-aggregating `WITH … WHERE` read variables
//! the projection drops; that is the one place the old scope outlives a projection, and only
//! until its filter has run.

use std::sync::Arc;

use super::expression::{contains_aggregate, AggregateContext};
use super::{Builder, Result, Scope};
use crate::cypher::ast::{self, ExprKind, Span};
use crate::cypher::{CypherError, ErrorDetail};
use crate::plan::types::Ty;
use crate::plan::{Expr, Op};

impl Builder<'_> {
    pub(super) fn unwind(&mut self, u: &ast::Unwind) -> Result<()> {
        let list = self.expr(&u.expr, None)?;
        let input = self.take_op();
        self.op = Op::Unwind { input, list };
        self.scope.bind(Some(u.variable.name.clone()), Ty::Any);
        Ok(())
    }

    pub(super) fn with(&mut self, w: &ast::With) -> Result<()> {
        let Some(where_) = &w.where_ else {
            self.projection(&w.projection, false)?;
            return Ok(());
        };
        let (op, scope) = (self.op.clone(), self.scope.clone());
        self.projection(&w.projection, false)?;
        match self.expr(where_, None) {
            Ok(predicate) => {
                self.filter(predicate);
                Ok(())
            }
            Err(e)
                if e.detail == Some(ErrorDetail::UndefinedVariable)
                    && w.projection.star.is_none()
                    && !w.projection.items.iter().any(|i| contains_aggregate(&i.expr)) =>
            {
                (self.op, self.scope) = (op, scope);
                self.with_where_seeing_earlier(&w.projection, where_)
            }
            Err(e) => Err(e),
        }
    }

    fn filter(&mut self, predicate: Expr) {
        let input = self.take_op();
        self.op = Op::Filter { input, predicate };
    }

    /// `WITH items WHERE p` where `p` reads variables the projection drops: openCypher lets
    /// WHERE see the variables in scope before a non-aggregating WITH. The projection keeps
    /// them as extra columns until the filter has run, and DISTINCT applies after it.
    fn with_where_seeing_earlier(&mut self, p: &ast::Projection, where_: &ast::Expr) -> Result<()> {
        let shadowed = |name: &str| {
            p.items.iter().any(|i| match (&i.alias, &i.expr.kind) {
                (Some(alias), _) => &*alias.name == name,
                (None, ExprKind::Variable(v)) => &**v == name,
                _ => false,
            })
        };
        let earlier: Vec<Arc<str>> = self
            .scope
            .slots
            .iter()
            .filter_map(|(name, _)| name.clone())
            .filter(|name| !shadowed(name))
            .collect();
        let mut extended = p.clone();
        extended.distinct = None;
        extended.items.extend(earlier.iter().map(|name| ast::ProjectionItem {
            expr: ast::Expr { kind: ExprKind::Variable(name.clone()), span: where_.span },
            alias: None,
            text: name.to_string(),
            span: where_.span,
        }));
        let names = self.projection(&extended, false)?;
        let predicate = self.expr(where_, None)?;
        self.filter(predicate);
        let kept = names.len() - earlier.len();
        let input = self.take_op();
        self.op = Op::Project { input, exprs: (0..kept).map(Expr::Slot).collect() };
        if p.distinct.is_some() {
            let input = self.take_op();
            self.op = Op::Distinct { input };
        }
        self.scope.slots.truncate(kept);
        Ok(())
    }

    /// Compiles WITH/RETURN items onto the chain; returns the new column names.
    pub(super) fn projection(
        &mut self,
        p: &ast::Projection,
        is_return: bool,
    ) -> Result<Vec<Arc<str>>> {
        for (keyword, span) in [
            ("ORDER BY", p.order_by.as_ref().map(|o| o.1)),
            ("SKIP", p.skip.as_ref().map(|s| s.1)),
            ("LIMIT", p.limit.as_ref().map(|l| l.1)),
        ] {
            if let Some(span) = span {
                return Err(CypherError::unsupported(
                    format!(
                        "{keyword} is not supported in a continuous query: results are an unordered, changing set"
                    ),
                    span,
                ));
            }
        }
        // (name, expression, source text, span)
        let mut items: Vec<(Arc<str>, &ast::Expr, String, Span)> = Vec::new();
        let star_items: Vec<(Arc<str>, ast::Expr)>;
        if let Some(span) = p.star {
            star_items = self
                .scope
                .slots
                .iter()
                .filter_map(|(name, _)| name.clone())
                .map(|name| {
                    let expr = ast::Expr { kind: ExprKind::Variable(name.clone()), span };
                    (name, expr)
                })
                .collect();
            if star_items.is_empty() && p.items.is_empty() {
                return Err(CypherError::semantic(
                    ErrorDetail::NoVariablesInScope,
                    "RETURN * / WITH * needs at least one variable in scope",
                    span,
                ));
            }
            for (name, expr) in &star_items {
                items.push((name.clone(), expr, name.to_string(), span));
            }
        }
        let first_item = items.len();
        for item in &p.items {
            let name: Arc<str> = match (&item.alias, &item.expr.kind) {
                (Some(alias), _) => alias.name.clone(),
                (None, ExprKind::Variable(v)) => v.clone(),
                (None, _) if !is_return => {
                    return Err(CypherError::semantic(
                        ErrorDetail::NoExpressionAlias,
                        "an expression in WITH must be aliased (use AS)",
                        item.span,
                    ))
                }
                (None, ExprKind::Property(_, key)) => key.name.clone(),
                (None, ExprKind::Function { name, .. }) => name.name.clone(),
                (None, _) => Arc::from(item.text.as_str()),
            };
            items.push((name, &item.expr, item.text.clone(), item.span));
        }
        // Drasi's short names (`m.name` → `name`) apply only where they are unambiguous; two
        // unaliased `a.name, b.name` keep their full texts.
        let names_now: Vec<Arc<str>> = items.iter().map(|(n, ..)| n.clone()).collect();
        for (i, item) in p.items.iter().enumerate() {
            let at = first_item + i;
            let shortened = item.alias.is_none()
                && matches!(item.expr.kind, ExprKind::Property(..) | ExprKind::Function { .. });
            if shortened && names_now.iter().filter(|n| **n == names_now[at]).count() > 1 {
                items[at].0 = Arc::from(item.text.as_str());
            }
        }
        for (i, (name, _, _, span)) in items.iter().enumerate() {
            if items[..i].iter().any(|(n, ..)| n == name) {
                return Err(CypherError::semantic(
                    ErrorDetail::ColumnNameConflict,
                    format!("the column name '{name}' is used twice: rename one with AS"),
                    *span,
                ));
            }
        }

        let aggregating = items.iter().any(|(_, e, ..)| contains_aggregate(e));
        let names: Vec<Arc<str>> = items.iter().map(|(n, ..)| n.clone()).collect();
        let types: Vec<Ty> = items.iter().map(|(_, e, ..)| self.static_type(e)).collect();
        if aggregating {
            let mut key_exprs = Vec::new();
            let mut key_texts = Vec::new();
            for (_, e, text, _) in items.iter().filter(|(_, e, ..)| !contains_aggregate(e)) {
                key_texts.push((text.clone(), key_exprs.len()));
                key_exprs.push(self.expr(e, None)?);
            }
            let mut ctx = AggregateContext {
                keys: &key_texts,
                aggregates: Vec::new(),
                first_slot: key_exprs.len(),
            };
            let mut outputs = Vec::new();
            let mut next_key = 0;
            for (_, e, ..) in &items {
                if contains_aggregate(e) {
                    outputs.push(self.expr(e, Some(&mut ctx))?);
                } else {
                    outputs.push(Expr::Slot(next_key));
                    next_key += 1;
                }
            }
            let input = self.take_op();
            let aggregated = Op::Aggregate { input, keys: key_exprs, aggregates: ctx.aggregates };
            self.op = Op::Project { input: Box::new(aggregated), exprs: outputs };
        } else {
            let exprs = items.iter().map(|(_, e, ..)| self.expr(e, None)).collect::<Result<_>>()?;
            let input = self.take_op();
            self.op = Op::Project { input, exprs };
        }
        if p.distinct.is_some() {
            let input = self.take_op();
            self.op = Op::Distinct { input };
        }
        self.scope = Scope {
            slots: names.iter().cloned().map(Some).zip(types).collect(),
            locals: Vec::new(),
        };
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::super::shapes::*;
    use crate::cypher::ast::CmpOp;
    use crate::plan::{Aggregate, AggregateFunction, ArithOp, Expr, Op, Step};

    /// `MATCH (a) …`'s operator: one unlabelled scan into slot 0.
    fn scan_a() -> Op {
        Op::Match {
            input: Box::new(Op::Unit),
            steps: vec![Step::ScanNodes { slot: 0, labels: Vec::new() }],
            distinct_rels: Vec::new(),
            predicate: None,
            optional: false,
            width: 1,
        }
    }

    fn aggregate(function: AggregateFunction, argument: Option<Expr>) -> Aggregate {
        Aggregate { function, argument, distinct: false }
    }

    #[test]
    fn a_grouped_aggregate_groups_by_the_other_items_and_keeps_their_order() {
        let plan = compiled("MATCH (a) RETURN count(*) AS n, a.city AS city, sum(a.x) AS total");
        let grouped = Op::Aggregate {
            input: Box::new(scan_a()),
            keys: vec![prop(0, "city")],
            aggregates: vec![
                aggregate(AggregateFunction::Count, None),
                aggregate(AggregateFunction::Sum, Some(prop(0, "x"))),
            ],
        };
        // Keys come first in the aggregate's rows; the projection restores written order.
        assert_eq!(plan.root, project(grouped, vec![slot(1), slot(0), slot(2)]));
        assert_eq!(plan.columns, labels(&["n", "city", "total"]));
    }

    #[test]
    fn an_expression_over_aggregates_reads_their_slots_and_the_keys() {
        let query = "MATCH (a) RETURN a.k AS k, count(DISTINCT a.x) + a.k AS m";
        let Op::Project { input, exprs } = compiled(query).root else { panic!("no projection") };
        let Op::Aggregate { keys, aggregates, .. } = *input else { panic!("no aggregate") };
        assert_eq!(keys, [prop(0, "k")]);
        let count = Aggregate { distinct: true, ..aggregate(AggregateFunction::Count, None) };
        assert_eq!(aggregates, [Aggregate { argument: Some(prop(0, "x")), ..count }]);
        let sum = Expr::Arith(
            ArithOp::Add,
            Box::new(slot(1)),
            Box::new(slot(0)),
            span_of(query, "count(DISTINCT a.x) + a.k"),
        );
        assert_eq!(exprs, [slot(0), sum]);
    }

    #[test]
    fn with_replaces_the_scope_by_its_items() {
        let plan = compiled("MATCH (a)-->(b) WITH b AS x, a.v AS v RETURN v, x");
        let matched = Op::Match {
            input: Box::new(Op::Unit),
            steps: vec![
                Step::ScanNodes { slot: 0, labels: Vec::new() },
                Step::Expand {
                    from: 0,
                    rel: 1,
                    to: 2,
                    to_bound: false,
                    types: Vec::new(),
                    direction: crate::cypher::ast::Direction::Outgoing,
                    to_labels: Vec::new(),
                    length: None,
                    nodes: None,
                },
            ],
            distinct_rels: vec![1],
            predicate: None,
            optional: false,
            width: 3,
        };
        let with = project(matched, vec![slot(2), prop(0, "v")]);
        assert_eq!(plan.root, project(with, vec![slot(1), slot(0)]));
        let hidden = crate::compile("MATCH (a)-->(b) WITH b AS x RETURN a").unwrap_err();
        assert_eq!(hidden.message, "variable `a` is not defined");
    }

    #[test]
    fn with_where_filters_after_the_projection() {
        let plan = compiled("MATCH (a) WITH a.x AS x WHERE x > 1 RETURN x");
        let filtered = Op::Filter {
            input: Box::new(project(scan_a(), vec![prop(0, "x")])),
            predicate: cmp(slot(0), CmpOp::Gt, int(1)),
        };
        assert_eq!(plan.root, project(filtered, vec![slot(0)]));
    }

    #[test]
    fn with_where_reading_a_dropped_variable_keeps_it_until_the_filter() {
        let plan = compiled("MATCH (a) WITH DISTINCT a.x AS x WHERE a.y = 1 RETURN x");
        let widened = project(scan_a(), vec![prop(0, "x"), slot(0)]);
        let filtered = Op::Filter {
            input: Box::new(widened),
            predicate: cmp(prop(1, "y"), CmpOp::Eq, int(1)),
        };
        let narrowed = Op::Distinct { input: Box::new(project(filtered, vec![slot(0)])) };
        assert_eq!(plan.root, project(narrowed, vec![slot(0)]));
    }

    #[test]
    fn unwind_appends_one_slot_to_the_rows() {
        let plan = compiled("MATCH (a) UNWIND a.xs AS x RETURN a, x");
        let unwound = Op::Unwind { input: Box::new(scan_a()), list: prop(0, "xs") };
        assert_eq!(plan.root, project(unwound, vec![slot(0), slot(1)]));
        let plan = compiled("UNWIND [1, 2] AS x RETURN x");
        let unwound =
            Op::Unwind { input: Box::new(Op::Unit), list: Expr::List(vec![int(1), int(2)]) };
        assert_eq!(plan.root, project(unwound, vec![slot(0)]));
    }

    #[test]
    fn distinct_applies_to_the_projected_rows() {
        let plan = compiled("MATCH (a) RETURN DISTINCT a.x AS x");
        let projected = project(scan_a(), vec![prop(0, "x")]);
        assert_eq!(plan.root, Op::Distinct { input: Box::new(projected) });
    }

    #[test]
    fn columns_are_named_as_drasi_names_them() {
        let columns = |query| compiled(query).columns;
        assert_eq!(
            columns("MATCH (m) RETURN m.name, count(m), m.x + 1"),
            labels(&["name", "count", "m.x + 1"])
        );
        assert_eq!(columns("MATCH (a), (b) RETURN a.name, b.name"), labels(&["a.name", "b.name"]));
        assert_eq!(columns("MATCH (a)-->(b) RETURN *"), labels(&["a", "b"]));
    }

    #[test]
    fn what_needs_an_order_is_refused_by_name() {
        for (query, keyword) in [
            ("MATCH (a) RETURN a ORDER BY a.x", "ORDER BY"),
            ("MATCH (a) RETURN a SKIP 1", "SKIP"),
            ("MATCH (a) WITH a LIMIT 1 RETURN a", "LIMIT"),
        ] {
            let error = crate::compile(query).unwrap_err();
            assert!(error.message.starts_with(&format!("{keyword} is not supported")), "{query}");
        }
    }
}
