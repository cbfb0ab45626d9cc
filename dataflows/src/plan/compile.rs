//! Syntax tree → [`QueryPlan`], with every unsupported construct rejected by name at its span.
//!
//! Clauses are compiled in order onto one operator chain; a [`Scope`] tracks which variable
//! lives in which slot. Column naming follows Drasi (drasi-compat.md §2): the alias if there is
//! one; an unaliased property access `m.name` is named by the key (`name`); an unaliased
//! function call by the function's name; anything else by its source text.

use std::collections::BTreeMap;
use std::sync::Arc;

mod checks;

use super::types::{self, Ty};
use super::{
    Aggregate, AggregateFunction, ArithOp, CompileOptions, Expr, Function, Op, PathPart, QueryPlan,
    Step, StringOp,
};
use crate::cypher::ast::{self, BinaryOp, Clause, Direction, ExprKind, Literal, Span, UnaryOp};
use crate::cypher::{CypherError, ErrorDetail, ErrorKind};
use crate::value::Value;

type Result<T> = std::result::Result<T, CypherError>;

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

/// How a node pattern is reached: over relationship slot `rel` from node slot `from`.
struct Reach {
    from: usize,
    rel: usize,
    types: Vec<Arc<str>>,
    direction: Direction,
    length: Option<(u64, Option<u64>)>,
    nodes: Option<usize>,
}

impl Reach {
    /// The step reaching node slot `to` (already bound, or bound by this step).
    fn step(self, to: usize, to_bound: bool, to_labels: Vec<Arc<str>>) -> Step {
        Step::Expand {
            from: self.from,
            rel: self.rel,
            to,
            to_bound,
            types: self.types,
            direction: self.direction,
            to_labels,
            length: self.length,
            nodes: self.nodes,
        }
    }
}

/// What compiling one MATCH collects.
struct MatchParts {
    /// The first slot this MATCH binds: variables in lower slots come from earlier clauses.
    first_slot: usize,
    steps: Vec<Step>,
    /// Relationship slots bound by this MATCH (for relationship uniqueness).
    rel_slots: Vec<usize>,
    /// Inline property maps and WHERE, to be AND-ed.
    conjuncts: Vec<Expr>,
}

/// Builds the operator chain clause by clause.
struct Builder<'a> {
    text: &'a str,
    parameters: &'a BTreeMap<String, Value>,
    op: Op,
    scope: Scope,
}

/// Where an aggregate call's value ends up while compiling an aggregating projection.
struct AggregateContext<'a> {
    /// Grouping key items: (source text, slot after aggregation).
    keys: &'a [(String, usize)],
    /// Aggregates found so far.
    aggregates: Vec<Aggregate>,
    /// Slot of the first aggregate after aggregation.
    first_slot: usize,
}

impl Builder<'_> {
    fn take_op(&mut self) -> Box<Op> {
        Box::new(std::mem::replace(&mut self.op, Op::Unit))
    }

    fn source(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("").trim()
    }

    fn match_clause(&mut self, m: &ast::Match) -> Result<()> {
        let input_width = self.scope.width();
        let mut parts = MatchParts {
            first_slot: input_width,
            steps: Vec::new(),
            rel_slots: Vec::new(),
            conjuncts: Vec::new(),
        };
        for pattern in &m.patterns {
            self.pattern(pattern, &mut parts)?;
        }
        if let Some(w) = &m.where_ {
            parts.conjuncts.push(self.expr(w, None)?);
        }
        let predicate =
            parts.conjuncts.into_iter().reduce(|a, b| Expr::And(Box::new(a), Box::new(b)));
        if m.optional && input_width == self.scope.width() {
            return Err(unsupported("OPTIONAL MATCH that binds no new variable", m.span));
        }
        let input = self.take_op();
        self.op = Op::Match {
            input,
            steps: parts.steps,
            distinct_rels: parts.rel_slots,
            predicate,
            optional: m.optional,
            width: self.scope.width(),
        };
        Ok(())
    }

    fn pattern(&mut self, pattern: &ast::Pattern, parts: &mut MatchParts) -> Result<()> {
        self.check_unbound(pattern.variable.as_ref())?;
        let mut nodes: Vec<&ast::NodePattern> = vec![&pattern.start];
        let mut rels: Vec<(&ast::RelPattern, Direction)> = Vec::new();
        for (rel, node) in &pattern.steps {
            rels.push((rel, rel.direction));
            nodes.push(node);
        }
        let bound = |n: &ast::NodePattern| {
            n.variable.as_ref().is_some_and(|v| self.scope.lookup(&v.name).is_some())
        };
        // Start from a node that is already bound, if any, so the pattern extends existing rows
        // instead of forming a cartesian product.
        let anchor = nodes.iter().position(|n| bound(n)).unwrap_or(0);
        let track = pattern.variable.is_some();
        let path = self.chain_from(&nodes, &rels, anchor, parts, track)?;
        // The pattern itself may not bind the path's name either: `p = (p)-->()`.
        self.check_unbound(pattern.variable.as_ref())?;
        if let Some(v) = &pattern.variable {
            let slot = self.scope.bind(Some(v.name.clone()), Ty::Path);
            parts.steps.push(Step::BindPath { slot, parts: path });
        }
        Ok(())
    }

    /// A path variable must be new.
    fn check_unbound(&self, variable: Option<&ast::Ident>) -> Result<()> {
        match variable {
            Some(v) if self.scope.lookup(&v.name).is_some() => Err(CypherError::semantic(
                ErrorDetail::VariableAlreadyBound,
                format!("variable `{}` is already bound", v.name),
                v.span,
            )),
            _ => Ok(()),
        }
    }

    /// Matches a chain starting at node `at`: to the right, then (reversed) to the left.
    /// Returns the chain's parts in written order, for a path variable.
    fn chain_from(
        &mut self,
        nodes: &[&ast::NodePattern],
        rels: &[(&ast::RelPattern, Direction)],
        at: usize,
        parts: &mut MatchParts,
        track: bool,
    ) -> Result<Vec<PathPart>> {
        let mut node_slots = vec![0; nodes.len()];
        let mut rel_parts: Vec<Option<PathPart>> = vec![None; rels.len()];
        let anchor = self.node(nodes[at], None, parts)?;
        node_slots[at] = anchor;
        let mut previous = anchor;
        for (i, ((rel, direction), node)) in rels[at..].iter().zip(&nodes[at + 1..]).enumerate() {
            let (part, to) = self.expand(previous, rel, *direction, node, parts, track, false)?;
            rel_parts[at + i] = Some(part);
            node_slots[at + i + 1] = to;
            previous = to;
        }
        let (left_nodes, left_rels) = reverse_chain(&nodes[..=at], &rels[..at]);
        let mut previous = anchor;
        for (i, ((rel, direction), node)) in left_rels.iter().zip(&left_nodes[1..]).enumerate() {
            let (part, to) = self.expand(previous, rel, *direction, node, parts, track, true)?;
            rel_parts[at - 1 - i] = Some(part);
            node_slots[at - 1 - i] = to;
            previous = to;
        }
        let mut path = vec![PathPart::Node(node_slots[0])];
        for (part, node) in rel_parts.into_iter().zip(&node_slots[1..]) {
            path.extend(part);
            path.push(PathPart::Node(*node));
        }
        Ok(path)
    }

    /// Binds (or checks) a node pattern; returns its slot.
    fn node(
        &mut self,
        node: &ast::NodePattern,
        reached_by: Option<Reach>,
        parts: &mut MatchParts,
    ) -> Result<usize> {
        let labels: Vec<Arc<str>> = node.labels.iter().map(|l| l.name.clone()).collect();
        let existing = match &node.variable {
            // A value of unknown type (`coalesce(a, b) AS x`, an UNWIND variable) matches
            // when it is a node at run time.
            Some(v) => match self.scope.lookup(&v.name) {
                Some((slot, ty)) if ty.may_be(&[Ty::Node]) => Some((slot, ty)),
                Some((_, ty)) => {
                    return Err(CypherError::semantic(
                        ErrorDetail::VariableTypeConflict,
                        format!("variable `{}` is a {}, not a node", v.name, ty.name()),
                        v.span,
                    ))
                }
                None => None,
            },
            None => None,
        };
        let name = node.variable.as_ref().map(|v| v.name.clone());
        let slot = match (existing, reached_by) {
            (Some((slot, ty)), None) => {
                if !labels.is_empty() || ty != Ty::Node {
                    parts.steps.push(Step::CheckLabels { slot, labels });
                }
                slot
            }
            (Some((slot, _)), Some(reach)) => {
                parts.steps.push(reach.step(slot, true, labels));
                slot
            }
            (None, None) => {
                let slot = self.scope.bind(name, Ty::Node);
                parts.steps.push(Step::ScanNodes { slot, labels });
                slot
            }
            (None, Some(reach)) => {
                let slot = self.scope.bind(name, Ty::Node);
                parts.steps.push(reach.step(slot, false, labels));
                slot
            }
        };
        for group in &node.label_alternatives {
            let has = |label: &ast::Ident| {
                Expr::HasLabels(Box::new(Expr::Slot(slot)), vec![label.name.clone()])
            };
            let any = group.iter().map(has).reduce(|a, b| Expr::Or(Box::new(a), Box::new(b)));
            parts.conjuncts.extend(any);
        }
        if let Some(properties) = &node.properties {
            parts.conjuncts.extend(self.property_filters(slot, properties)?);
        }
        Ok(slot)
    }

    /// Follows a relationship pattern from node slot `from` to `node`. With `track` (a path
    /// variable needs it), a variable-length relationship also keeps the nodes it walks
    /// through. `reversed`: the pattern is being matched right to left.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        from: usize,
        rel: &ast::RelPattern,
        direction: Direction,
        node: &ast::NodePattern,
        parts: &mut MatchParts,
        track: bool,
        reversed: bool,
    ) -> Result<(PathPart, usize)> {
        let length = rel.length.map(|(min, max)| (min.unwrap_or(1), max));
        if length.is_some() && rel.properties.is_some() {
            return Err(unsupported(
                "a property map on a variable-length relationship pattern",
                rel.span,
            ));
        }
        let reused = match &rel.variable {
            Some(v) => self.check_rel_variable(v, length.is_some(), parts)?,
            None => None,
        };
        // A relationship bound by an earlier clause is matched afresh in a new slot that
        // must hold the same relationship.
        let name = rel.variable.as_ref().filter(|_| reused.is_none()).map(|v| v.name.clone());
        let rel_slot =
            self.scope.bind(name, if length.is_some() { Ty::List } else { Ty::Relationship });
        if let Some(earlier) = reused {
            parts.conjuncts.push(Expr::Compare(
                Box::new(Expr::Slot(rel_slot)),
                vec![(ast::CmpOp::Eq, Expr::Slot(earlier))],
            ));
        }
        parts.rel_slots.push(rel_slot);
        let nodes_slot = (track && length.is_some()).then(|| self.scope.bind(None, Ty::List));
        let types = rel.types.iter().map(|t| t.name.clone()).collect();
        let reach = Reach { from, rel: rel_slot, types, direction, length, nodes: nodes_slot };
        let to = self.node(node, Some(reach), parts)?;
        if let Some(properties) = &rel.properties {
            parts.conjuncts.extend(self.property_filters(rel_slot, properties)?);
        }
        Ok((PathPart::Rel { slot: rel_slot, nodes: nodes_slot, reversed }, to))
    }

    /// A relationship variable that is already bound: the same relationship twice in one
    /// MATCH can never match; a variable of another kind is a conflict. Returns the slot of
    /// a relationship (or unknown value) bound by an earlier clause, which the pattern
    /// re-uses.
    fn check_rel_variable(
        &self,
        v: &ast::Ident,
        variable_length: bool,
        parts: &MatchParts,
    ) -> Result<Option<usize>> {
        let Some((slot, ty)) = self.scope.lookup(&v.name) else { return Ok(None) };
        match (ty, variable_length) {
            (Ty::Relationship, false) if slot >= parts.first_slot => Err(CypherError::semantic(
                ErrorDetail::RelationshipUniquenessViolation,
                format!(
                    "relationship `{}` appears twice in one MATCH, which can never match",
                    v.name
                ),
                v.span,
            )),
            (Ty::Relationship | Ty::Any, false) => Ok(Some(slot)),
            (Ty::List | Ty::Any, true) => Err(unsupported(
                "re-using a bound list of relationships in a variable-length pattern",
                v.span,
            )),
            _ => Err(CypherError::semantic(
                ErrorDetail::VariableTypeConflict,
                format!("variable `{}` is a {}, not a relationship", v.name, ty.name()),
                v.span,
            )),
        }
    }

    /// `{k: v, ...}` on a pattern element: `element.k = v AND ...`.
    fn property_filters(&self, slot: usize, properties: &ast::Expr) -> Result<Vec<Expr>> {
        let ExprKind::Map(entries) = &properties.kind else {
            return Err(CypherError::semantic(
                ErrorDetail::InvalidParameterUse,
                "a parameter cannot stand for a pattern's properties in MATCH: write the map, e.g. {name: $name}",
                properties.span,
            ));
        };
        entries
            .iter()
            .map(|(key, value)| {
                Ok(Expr::Compare(
                    Box::new(Expr::Property(Box::new(Expr::Slot(slot)), key.name.clone())),
                    vec![(ast::CmpOp::Eq, self.expr(value, None)?)],
                ))
            })
            .collect()
    }

    fn unwind(&mut self, u: &ast::Unwind) -> Result<()> {
        let list = self.expr(&u.expr, None)?;
        let input = self.take_op();
        self.op = Op::Unwind { input, list };
        self.scope.bind(Some(u.variable.name.clone()), Ty::Any);
        Ok(())
    }

    fn with(&mut self, w: &ast::With) -> Result<()> {
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
    fn projection(&mut self, p: &ast::Projection, is_return: bool) -> Result<Vec<Arc<str>>> {
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

    /// Compiles an expression. Inside an aggregating projection (`agg` is set), aggregate
    /// calls become slots of the aggregation's output, and other subexpressions must be
    /// grouping keys.
    fn expr(&self, e: &ast::Expr, mut agg: Option<&mut AggregateContext<'_>>) -> Result<Expr> {
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

/// Reverses a chain of nodes and the relationships between them (flipping directions).
#[allow(clippy::type_complexity)]
fn reverse_chain<'p>(
    nodes: &[&'p ast::NodePattern],
    rels: &[(&'p ast::RelPattern, Direction)],
) -> (Vec<&'p ast::NodePattern>, Vec<(&'p ast::RelPattern, Direction)>) {
    let nodes = nodes.iter().rev().copied().collect();
    let rels = rels
        .iter()
        .rev()
        .map(|(r, d)| {
            let flipped = match d {
                Direction::Outgoing => Direction::Incoming,
                Direction::Incoming => Direction::Outgoing,
                Direction::Either => Direction::Either,
            };
            (*r, flipped)
        })
        .collect();
    (nodes, rels)
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
fn contains_aggregate(e: &ast::Expr) -> bool {
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
