//! MATCH and OPTIONAL MATCH → one [`Op::Match`]: the steps that bind a clause's pattern
//! elements, the relationship slots that must stay distinct, and one predicate.
//!
//! Every pattern element gets a slot, named or not, because row identity (see `plan`) is the
//! ids of everything matched, and relationship uniqueness holds over anonymous
//! relationships too. A pattern is matched from an element an earlier clause bound, when it
//! has one, so that it extends the incoming rows instead of forming a cartesian product;
//! the path a path variable binds is still recorded in written order. Inline property maps,
//! label alternatives and WHERE all become conjuncts of one predicate over the extended row,
//! part of the match itself: so OPTIONAL MATCH keeps an incoming row none of whose matches
//! satisfies it, with nulls, instead of dropping it.

use std::sync::Arc;

use super::{unsupported, Builder, Result};
use crate::cypher::ast::{self, Direction, ExprKind};
use crate::cypher::{CypherError, ErrorDetail};
use crate::plan::types::Ty;
use crate::plan::{Expr, Op, PathPart, Step};

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

impl Builder<'_> {
    pub(super) fn match_clause(&mut self, m: &ast::Match) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::super::shapes::*;
    use crate::cypher::ast::{CmpOp, Direction};
    use crate::plan::{Expr, Op, PathPart, Step};

    /// The `Op::Match` under a query's RETURN.
    fn match_of(query: &str) -> Op {
        match compiled(query).root {
            Op::Project { input, .. } => *input,
            other => panic!("{query}: expected a projection at the root, got {other:?}"),
        }
    }

    fn expand(from: usize, rel: usize, to: usize, types: &[&str], direction: Direction) -> Step {
        Step::Expand {
            from,
            rel,
            to,
            to_bound: false,
            types: labels(types),
            direction,
            to_labels: Vec::new(),
            length: None,
            nodes: None,
        }
    }

    #[test]
    fn a_node_pattern_scans_its_labels_into_a_new_slot() {
        let plan = compiled("MATCH (a:Person) RETURN a");
        let scan = Op::Match {
            input: Box::new(Op::Unit),
            steps: vec![Step::ScanNodes { slot: 0, labels: labels(&["Person"]) }],
            distinct_rels: Vec::new(),
            predicate: None,
            optional: false,
            width: 1,
        };
        assert_eq!(plan.root, project(scan, vec![slot(0)]));
        assert_eq!(plan.columns, labels(&["a"]));
    }

    #[test]
    fn a_relationship_expands_from_the_node_before_it() {
        let Op::Match { steps, distinct_rels, width, .. } =
            match_of("MATCH (a)-[r:KNOWS]->(b:Person) RETURN b")
        else {
            panic!("not a match");
        };
        let mut to_b = expand(0, 1, 2, &["KNOWS"], Direction::Outgoing);
        if let Step::Expand { to_labels, .. } = &mut to_b {
            *to_labels = labels(&["Person"]);
        }
        assert_eq!(steps, [Step::ScanNodes { slot: 0, labels: Vec::new() }, to_b]);
        assert_eq!((distinct_rels, width), (vec![1], 3));
    }

    #[test]
    fn a_pattern_extends_rows_from_the_node_an_earlier_clause_bound() {
        // `a` is bound: the second MATCH walks from it, against the arrow, instead of
        // scanning `b` and joining.
        let Op::Match { input, steps, width, .. } =
            match_of("MATCH (a:A) MATCH (b)-[:T]->(a) RETURN b")
        else {
            panic!("not a match");
        };
        assert!(matches!(*input, Op::Match { width: 1, .. }), "{input:?}");
        assert_eq!(steps, [expand(0, 1, 2, &["T"], Direction::Incoming)]);
        assert_eq!(width, 3);
    }

    #[test]
    fn a_second_reach_of_a_bound_node_checks_it_instead_of_binding() {
        let Op::Match { steps, distinct_rels, width, .. } =
            match_of("MATCH (a)-[:T]->(b)-[:T]->(a) RETURN a")
        else {
            panic!("not a match");
        };
        let mut back_to_a = expand(2, 3, 0, &["T"], Direction::Outgoing);
        if let Step::Expand { to_bound, .. } = &mut back_to_a {
            *to_bound = true;
        }
        assert_eq!(
            steps,
            [
                Step::ScanNodes { slot: 0, labels: Vec::new() },
                expand(0, 1, 2, &["T"], Direction::Outgoing),
                back_to_a,
            ]
        );
        assert_eq!((distinct_rels, width), (vec![1, 3], 4));
    }

    #[test]
    fn property_maps_and_where_are_one_predicate_inside_the_match() {
        let query = "MATCH (a:P {name: 'x'})-[r {w: 2}]->(b) WHERE a.age > 3 RETURN a";
        let Op::Match { input, predicate, .. } = match_of(query) else { panic!("not a match") };
        assert_eq!(*input, Op::Unit, "no Filter: WHERE stays in the MATCH");
        let expected = and(
            and(cmp(prop(0, "name"), CmpOp::Eq, string("x")), cmp(prop(1, "w"), CmpOp::Eq, int(2))),
            cmp(prop(0, "age"), CmpOp::Gt, int(3)),
        );
        assert_eq!(predicate, Some(expected));
    }

    #[test]
    fn label_alternatives_become_a_disjunction() {
        let Op::Match { steps, predicate, .. } = match_of("MATCH (n:A|B) RETURN n") else {
            panic!("not a match");
        };
        assert_eq!(steps, [Step::ScanNodes { slot: 0, labels: Vec::new() }]);
        let has = |l: &str| Expr::HasLabels(Box::new(slot(0)), labels(&[l]));
        assert_eq!(predicate, Some(Expr::Or(Box::new(has("A")), Box::new(has("B")))));
    }

    #[test]
    fn optional_match_keeps_its_where_and_extends_the_earlier_rows() {
        let query = "MATCH (a) OPTIONAL MATCH (a)-[r]->(b) WHERE b.x = 1 RETURN a, b";
        let Op::Match { input, steps, distinct_rels, predicate, optional, width } = match_of(query)
        else {
            panic!("not a match");
        };
        assert!(optional);
        assert!(matches!(*input, Op::Match { optional: false, width: 1, .. }), "{input:?}");
        assert_eq!(steps, [expand(0, 1, 2, &[], Direction::Outgoing)]);
        assert_eq!(predicate, Some(cmp(prop(2, "x"), CmpOp::Eq, int(1))));
        assert_eq!((distinct_rels, width), (vec![1], 3));
    }

    #[test]
    fn a_path_variable_binds_the_parts_in_written_order() {
        // Matched from the bound `b`, right to left; the path still reads a → r → b.
        let Op::Match { steps, .. } = match_of("MATCH (b) MATCH p = (a)-[r]->(b) RETURN p") else {
            panic!("not a match");
        };
        assert_eq!(
            steps,
            [
                expand(0, 1, 2, &[], Direction::Incoming),
                Step::BindPath {
                    slot: 3,
                    parts: vec![
                        PathPart::Node(2),
                        PathPart::Rel { slot: 1, nodes: None, reversed: true },
                        PathPart::Node(0),
                    ],
                },
            ]
        );
    }

    #[test]
    fn a_variable_length_relationship_under_a_path_keeps_its_nodes() {
        let Op::Match { steps, width, .. } = match_of("MATCH p = (a)-[:T*2..]->(b) RETURN p")
        else {
            panic!("not a match");
        };
        let Step::Expand { rel, to, length, nodes, .. } = &steps[1] else {
            panic!("{steps:?}");
        };
        assert_eq!((*rel, *nodes, *to, *length), (1, Some(2), 3, Some((2, None))));
        assert_eq!(width, 5, "a, the relationships, the walked nodes, b, p");
    }
}
