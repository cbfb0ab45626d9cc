//! Resolved expressions: the executable form of Cypher expressions inside a plan.

use std::sync::Arc;

use crate::cypher::ast::{CmpOp, Quantifier, Span};
use crate::value::Value;

/// An expression whose variables are resolved to binding-row slots.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant.
    Literal(Value),
    /// The value bound in slot `n` of the binding row.
    Slot(usize),
    /// `expr.key` on a node or map; `null` for a missing key.
    Property(Box<Expr>, Arc<str>),
    /// `[a, b, ...]`
    List(Vec<Expr>),
    /// `{k: v, ...}`
    Map(Vec<(Arc<str>, Expr)>),
    /// `NOT e`
    Not(Box<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// `a AND b`
    And(Box<Expr>, Box<Expr>),
    /// `a OR b`
    Or(Box<Expr>, Box<Expr>),
    /// `a XOR b`
    Xor(Box<Expr>, Box<Expr>),
    /// `a + b` and friends; the span locates evaluation errors such as overflow.
    Arith(ArithOp, Box<Expr>, Box<Expr>, Span),
    /// `a < b <= c`: true when every link holds.
    Compare(Box<Expr>, Vec<(CmpOp, Expr)>),
    /// `e IS NULL` (`false`) / `e IS NOT NULL` (`true`).
    IsNull(Box<Expr>, bool),
    /// `STARTS WITH`, `ENDS WITH`, `CONTAINS`.
    StringOp(StringOp, Box<Expr>, Box<Expr>),
    /// `e IN list`
    In(Box<Expr>, Box<Expr>),
    /// Generic `CASE WHEN c THEN v ... ELSE e END` (the simple form is lowered to this).
    Case(Vec<(Expr, Expr)>, Box<Expr>),
    /// A scalar function call.
    Call(Function, Vec<Expr>, Span),
    /// `list[index]` or `map[key]`.
    Index(Box<Expr>, Box<Expr>, Span),
    /// `list[from..to]`.
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>),
    /// `n:A:B`: whether the node carries every label (the relationship has the type).
    HasLabels(Box<Expr>, Vec<Arc<str>>),
    /// `[x IN list WHERE predicate | projection]`; `x` lives in slot `slot` while evaluating.
    ListComprehension {
        /// The list.
        list: Box<Expr>,
        /// The element's temporary slot.
        slot: usize,
        /// `WHERE`
        predicate: Option<Box<Expr>>,
        /// `| expr`
        projection: Option<Box<Expr>>,
    },
    /// `all/any/none/single(x IN list WHERE predicate)`.
    Quantified {
        /// Which quantifier.
        quantifier: Quantifier,
        /// The list.
        list: Box<Expr>,
        /// The element's temporary slot.
        slot: usize,
        /// The predicate.
        predicate: Box<Expr>,
    },
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+` (also list and string concatenation)
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^` (always a float)
    Pow,
}

/// String predicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringOp {
    /// `STARTS WITH`
    StartsWith,
    /// `ENDS WITH`
    EndsWith,
    /// `CONTAINS`
    Contains,
}

/// The scalar functions the evaluator implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `coalesce(a, b, ...)`: the first non-null argument.
    Coalesce,
    /// `size(list | string)`
    Size,
    /// `toUpper(s)`
    ToUpper,
    /// `toLower(s)`
    ToLower,
    /// `trim(s)`
    Trim,
    /// `toString(x)`
    ToString,
    /// `toInteger(x)`
    ToInteger,
    /// `toFloat(x)`
    ToFloat,
    /// `abs(n)`
    Abs,
    /// `round(n)`
    Round,
    /// `floor(n)`
    Floor,
    /// `ceil(n)`
    Ceil,
    /// `sqrt(n)`
    Sqrt,
    /// `elementId(node)`
    ElementId,
    /// `labels(node)`
    Labels,
    /// `keys(node | map)`
    Keys,
    /// `properties(node | map)`
    Properties,
    /// `type(relationship)`
    Type,
    /// `nodes(path)`
    Nodes,
    /// `relationships(path)`
    Relationships,
    /// `length(path)`
    Length,
    /// `range(start, end[, step])`
    Range,
    /// `head(list)`
    Head,
    /// `last(list)`
    Last,
    /// `tail(list)`
    Tail,
    /// `reverse(list | string)`
    Reverse,
    /// `substring(s, start[, length])`
    Substring,
    /// `left(s, n)`
    Left,
    /// `right(s, n)`
    Right,
    /// `replace(s, search, replacement)`
    Replace,
    /// `split(s, delimiter)`
    Split,
    /// `lTrim(s)`
    LTrim,
    /// `rTrim(s)`
    RTrim,
    /// `toBoolean(x)`
    ToBoolean,
    /// `sign(n)`
    Sign,
    /// `exp(n)`
    Exp,
    /// `log(n)`
    Log,
    /// `log10(n)`
    Log10,
    /// `sin(n)`
    Sin,
    /// `cos(n)`
    Cos,
    /// `tan(n)`
    Tan,
    /// `pi()`
    Pi,
    /// `e()`
    E,
}

impl Function {
    /// Looks a function up by its case-insensitive name; `None` if it is not a known scalar
    /// function.
    pub fn by_name(name: &str) -> Option<(Function, std::ops::RangeInclusive<usize>)> {
        let f = match name.to_ascii_lowercase().as_str() {
            "coalesce" => (Function::Coalesce, 1..=usize::MAX),
            "size" => (Function::Size, 1..=1),
            "toupper" => (Function::ToUpper, 1..=1),
            "tolower" => (Function::ToLower, 1..=1),
            "trim" => (Function::Trim, 1..=1),
            "tostring" => (Function::ToString, 1..=1),
            "tointeger" => (Function::ToInteger, 1..=1),
            "tofloat" => (Function::ToFloat, 1..=1),
            "abs" => (Function::Abs, 1..=1),
            "round" => (Function::Round, 1..=1),
            "floor" => (Function::Floor, 1..=1),
            "ceil" => (Function::Ceil, 1..=1),
            "sqrt" => (Function::Sqrt, 1..=1),
            "elementid" | "id" => (Function::ElementId, 1..=1),
            "labels" => (Function::Labels, 1..=1),
            "keys" => (Function::Keys, 1..=1),
            "properties" => (Function::Properties, 1..=1),
            "type" => (Function::Type, 1..=1),
            "nodes" => (Function::Nodes, 1..=1),
            "relationships" => (Function::Relationships, 1..=1),
            "length" => (Function::Length, 1..=1),
            "range" => (Function::Range, 2..=3),
            "head" => (Function::Head, 1..=1),
            "last" => (Function::Last, 1..=1),
            "tail" => (Function::Tail, 1..=1),
            "reverse" => (Function::Reverse, 1..=1),
            "substring" => (Function::Substring, 2..=3),
            "left" => (Function::Left, 2..=2),
            "right" => (Function::Right, 2..=2),
            "replace" => (Function::Replace, 3..=3),
            "split" => (Function::Split, 2..=2),
            "ltrim" => (Function::LTrim, 1..=1),
            "rtrim" => (Function::RTrim, 1..=1),
            "toboolean" => (Function::ToBoolean, 1..=1),
            "sign" => (Function::Sign, 1..=1),
            "exp" => (Function::Exp, 1..=1),
            "log" => (Function::Log, 1..=1),
            "log10" => (Function::Log10, 1..=1),
            "sin" => (Function::Sin, 1..=1),
            "cos" => (Function::Cos, 1..=1),
            "tan" => (Function::Tan, 1..=1),
            "pi" => (Function::Pi, 0..=0),
            "e" => (Function::E, 0..=0),
            _ => return None,
        };
        Some(f)
    }
}
