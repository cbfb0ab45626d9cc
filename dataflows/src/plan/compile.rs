//! Syntax tree → [`QueryPlan`], with every unsupported construct rejected by name at its span.
//!
//! Clauses are compiled in order onto one operator chain; a [`Scope`] tracks which variable
//! lives in which slot. Column naming follows Drasi (drasi-compat.md §2): the alias if there is
//! one; an unaliased property access `m.name` is named by the key (`name`); an unaliased
//! function call by the function's name; anything else by its source text.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    Aggregate, AggregateFunction, ArithOp, CompileOptions, Expr, Function, Op, PathPart, QueryPlan,
    Step, StringOp,
};
use crate::cypher::ast::{self, BinaryOp, Clause, Direction, ExprKind, Literal, Span, UnaryOp};
use crate::cypher::CypherError;
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

/// What a slot holds, for the checks patterns need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Node,
    Relationship,
    Value,
}

/// The variables in scope: slot `i` holds `slots[i]`. Anonymous pattern elements get slots
/// with no name (`None`): they count for identity and uniqueness but cannot be referenced.
#[derive(Clone, Debug, Default)]
struct Scope {
    slots: Vec<(Option<Arc<str>>, Kind)>,
    /// Comprehension variables bound while compiling an inner expression: (name, slot).
    locals: Vec<(Arc<str>, usize)>,
}

impl Scope {
    fn lookup(&self, name: &str) -> Option<(usize, Kind)> {
        if let Some((_, slot)) = self.locals.iter().rev().find(|(n, _)| &**n == name) {
            return Some((*slot, Kind::Value));
        }
        self.slots
            .iter()
            .position(|(n, _)| n.as_deref() == Some(name))
            .map(|i| (i, self.slots[i].1))
    }

    fn width(&self) -> usize {
        self.slots.len()
    }

    fn bind(&mut self, name: Option<Arc<str>>, kind: Kind) -> usize {
        self.slots.push((name, kind));
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
#[derive(Default)]
struct MatchParts {
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
        let mut parts = MatchParts::default();
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
        if let Some(v) = &pattern.variable {
            if self.scope.lookup(&v.name).is_some() {
                return Err(CypherError::semantic(
                    format!("variable `{}` is already bound", v.name),
                    v.span,
                ));
            }
        }
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
        if let Some(v) = &pattern.variable {
            let slot = self.scope.bind(Some(v.name.clone()), Kind::Value);
            parts.steps.push(Step::BindPath { slot, parts: path });
        }
        Ok(())
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
            Some(v) => match self.scope.lookup(&v.name) {
                Some((slot, Kind::Node)) => Some(slot),
                Some(_) => {
                    return Err(CypherError::semantic(
                        format!("variable `{}` is not a node", v.name),
                        v.span,
                    ))
                }
                None => None,
            },
            None => None,
        };
        let name = node.variable.as_ref().map(|v| v.name.clone());
        let slot = match (existing, reached_by) {
            (Some(slot), None) => {
                if !labels.is_empty() {
                    parts.steps.push(Step::CheckLabels { slot, labels });
                }
                slot
            }
            (Some(slot), Some(reach)) => {
                parts.steps.push(reach.step(slot, true, labels));
                slot
            }
            (None, None) => {
                let slot = self.scope.bind(name, Kind::Node);
                parts.steps.push(Step::ScanNodes { slot, labels });
                slot
            }
            (None, Some(reach)) => {
                let slot = self.scope.bind(name, Kind::Node);
                parts.steps.push(reach.step(slot, false, labels));
                slot
            }
        };
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
        if let Some(v) = &rel.variable {
            if self.scope.lookup(&v.name).is_some() {
                return Err(unsupported(
                    "re-using a bound relationship variable in a pattern",
                    v.span,
                ));
            }
        }
        let rel_slot = self.scope.bind(
            rel.variable.as_ref().map(|v| v.name.clone()),
            if length.is_some() { Kind::Value } else { Kind::Relationship },
        );
        parts.rel_slots.push(rel_slot);
        let nodes_slot = (track && length.is_some()).then(|| self.scope.bind(None, Kind::Value));
        let types = rel.types.iter().map(|t| t.name.clone()).collect();
        let reach = Reach { from, rel: rel_slot, types, direction, length, nodes: nodes_slot };
        let to = self.node(node, Some(reach), parts)?;
        if let Some(properties) = &rel.properties {
            parts.conjuncts.extend(self.property_filters(rel_slot, properties)?);
        }
        Ok((PathPart::Rel { slot: rel_slot, nodes: nodes_slot, reversed }, to))
    }

    /// `{k: v, ...}` on a pattern element: `element.k = v AND ...`.
    fn property_filters(&self, slot: usize, properties: &ast::Expr) -> Result<Vec<Expr>> {
        let ExprKind::Map(entries) = &properties.kind else {
            return Err(unsupported("a parameter as a property map", properties.span));
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
        self.scope.bind(Some(u.variable.name.clone()), Kind::Value);
        Ok(())
    }

    fn with(&mut self, w: &ast::With) -> Result<()> {
        self.projection(&w.projection, false)?;
        if let Some(predicate) = &w.where_ {
            let predicate = self.expr(predicate, None)?;
            let input = self.take_op();
            self.op = Op::Filter { input, predicate };
        }
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
                    format!("the column name '{name}' is used twice: rename one with AS"),
                    *span,
                ));
            }
        }

        let aggregating = items.iter().any(|(_, e, ..)| contains_aggregate(e));
        let names: Vec<Arc<str>> = items.iter().map(|(n, ..)| n.clone()).collect();
        let kinds: Vec<Kind> = items.iter().map(|(_, e, ..)| self.kind_of(e)).collect();
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
            slots: names.iter().cloned().map(Some).zip(kinds).collect(),
            locals: Vec::new(),
        };
        Ok(names)
    }

    /// What a projected expression holds, so later patterns can reuse node variables.
    fn kind_of(&self, e: &ast::Expr) -> Kind {
        match &e.kind {
            ExprKind::Variable(name) => self.scope.lookup(name).map_or(Kind::Value, |(_, k)| k),
            _ => Kind::Value,
        }
    }

    /// Compiles an expression. Inside an aggregating projection (`agg` is set), aggregate
    /// calls become slots of the aggregation's output, and other subexpressions must be
    /// grouping keys.
    fn expr(&self, e: &ast::Expr, mut agg: Option<&mut AggregateContext<'_>>) -> Result<Expr> {
        if let Some(ctx) = agg.as_deref_mut() {
            if !contains_aggregate(e) {
                let text = self.source(e.span);
                if let Some((_, slot)) = ctx.keys.iter().find(|(t, _)| t == text) {
                    return Ok(Expr::Slot(*slot));
                }
                if matches!(e.kind, ExprKind::Literal(_)) {
                    return self.expr(e, None);
                }
                if !matches!(e.kind, ExprKind::Variable(_) | ExprKind::Property(..)) {
                    return self.expr_inner(e, agg);
                }
                return Err(CypherError::semantic(
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
                        format!("variable `{name}` is not defined"),
                        e.span,
                    ))
                }
            },
            ExprKind::Parameter(name) => match self.parameters.get(&**name) {
                Some(value) => Expr::Literal(value.clone()),
                None => {
                    return Err(CypherError::semantic(
                        format!("parameter ${name} has no value"),
                        e.span,
                    ))
                }
            },
            ExprKind::Property(base, key) => Expr::Property(sub(base)?, key.name.clone()),
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
            ExprKind::Unary(UnaryOp::Not, x) => Expr::Not(sub(x)?),
            ExprKind::Unary(UnaryOp::Neg, x) => Expr::Neg(sub(x)?),
            ExprKind::Unary(UnaryOp::Plus, x) => *sub(x)?,
            ExprKind::Binary(op, l, r) => {
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
                            format!(
                                "aggregation ({}) is only allowed in WITH and RETURN",
                                name.name
                            ),
                            e.span,
                        ));
                    };
                    let [argument] = args.as_slice() else {
                        return Err(CypherError::semantic(
                            format!("{}() takes exactly one argument", name.name),
                            e.span,
                        ));
                    };
                    if contains_aggregate(argument) {
                        return Err(CypherError::semantic(
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
