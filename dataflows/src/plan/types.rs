//! What the compiler knows about a value's type before running.
//!
//! Enough to reject, with the TCK's error categories, what can never work: `NOT 1`,
//! `123 AND true`, `1 IN 'a'`, `x.key` on a number bound by WITH, `type(n)` on a node, a node
//! variable re-used as a relationship. Anything not known statically is [`Ty::Any`] and is
//! checked when evaluated.

use crate::cypher::ast::Literal;
use crate::value::Value;

/// A static type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    /// Not known before running.
    Any,
    /// `null`
    Null,
    /// `true` / `false`
    Bool,
    /// An integer.
    Int,
    /// A float.
    Float,
    /// An exact decimal (PostgreSQL `numeric`; no literal has this type).
    Decimal,
    /// A string.
    Str,
    /// A list.
    List,
    /// A map.
    Map,
    /// A node bound by a pattern.
    Node,
    /// A relationship bound by a pattern.
    Relationship,
    /// A path bound by a pattern.
    Path,
}

impl Ty {
    /// The type of a literal.
    pub(super) fn of_literal(literal: &Literal) -> Ty {
        match literal {
            Literal::Null => Ty::Null,
            Literal::Bool(_) => Ty::Bool,
            Literal::Int(_) => Ty::Int,
            Literal::Float(_) => Ty::Float,
            Literal::Str(_) => Ty::Str,
        }
    }

    /// The type of a value (a parameter's, say).
    pub(super) fn of_value(value: &Value) -> Ty {
        match value {
            Value::Null => Ty::Null,
            Value::Bool(_) => Ty::Bool,
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Decimal(_) => Ty::Decimal,
            Value::Str(_) => Ty::Str,
            Value::List(_) => Ty::List,
            Value::Map(_) => Ty::Map,
            Value::Node(_) => Ty::Node,
            Value::Relationship(_) => Ty::Relationship,
            Value::Path(_) => Ty::Path,
        }
    }

    /// Whether a value of this type may be one of `allowed`: unknown values and null always
    /// may (null propagates).
    pub(super) fn may_be(self, allowed: &[Ty]) -> bool {
        matches!(self, Ty::Any | Ty::Null) || allowed.contains(&self)
    }

    /// The type's name as openCypher spells it, for messages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Ty::Any => "ANY",
            Ty::Null => "NULL",
            Ty::Bool => "BOOLEAN",
            Ty::Int => "INTEGER",
            Ty::Float => "FLOAT",
            Ty::Decimal => "DECIMAL",
            Ty::Str => "STRING",
            Ty::List => "LIST",
            Ty::Map => "MAP",
            Ty::Node => "NODE",
            Ty::Relationship => "RELATIONSHIP",
            Ty::Path => "PATH",
        }
    }
}

/// The argument types a scalar function accepts, for the functions whose misuse the TCK
/// expects to be rejected before running; `None` for the others.
pub(super) fn function_argument(name: &str) -> Option<&'static [Ty]> {
    Some(match name {
        "labels" => &[Ty::Node],
        "type" => &[Ty::Relationship],
        "properties" | "keys" => &[Ty::Node, Ty::Relationship, Ty::Map],
        "size" => &[Ty::List, Ty::Str],
        "length" | "nodes" | "relationships" => &[Ty::Path],
        _ => return None,
    })
}
