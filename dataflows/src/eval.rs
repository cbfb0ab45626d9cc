//! Evaluation of resolved expressions with openCypher semantics.
//!
//! * Three-valued logic: `null` is "unknown"; `false AND null` is `false`, `true AND null` is
//!   `null`, `NOT null` is `null`. A WHERE keeps a row only when its predicate is `true`.
//! * Numbers: integers and floats compare and add across types (`1 = 1.0` is true); integer
//!   arithmetic is checked (overflow is an error, never a wrap); `/` and `%` on two integers
//!   stay integral and dividing by integer zero is an error; `^` is always a float.
//! * Decimals (PostgreSQL `numeric`) compare exactly with integers and decimals, and as floats
//!   with floats; `+`, `-`, `*` between decimals and integers are exact decimals; with a float,
//!   and for `/`, `%`, `^` and the math functions, a decimal is converted to the nearest float.
//! * Comparisons between values of different kinds (a number and a string, say) are `null`,
//!   not an error and not false; `=` between different kinds is `false`.
//!
//! Evaluation never panics: a failure is an [`EvalError`], which the runtime turns into a
//! dropped row plus a logged warning rather than a dead worker.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::cypher::ast::{CmpOp, Quantifier, Span};
use crate::decimal::Decimal;
use crate::plan::{ArithOp, Expr, Function, StringOp};
use crate::value::{Properties, Value};

/// A runtime error in an expression, located at the operator or call that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// What went wrong, e.g. `integer overflow in 9223372036854775807 + 1`.
    pub message: String,
    /// Where in the query text.
    pub span: Option<Span>,
}

impl EvalError {
    fn new(message: impl Into<String>, span: Option<Span>) -> EvalError {
        EvalError { message: message.into(), span }
    }
}

type Result<T> = std::result::Result<T, EvalError>;

impl Expr {
    /// Evaluates the expression over one binding row.
    pub fn eval(&self, row: &[Value]) -> Result<Value> {
        match self {
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Slot(i) => Ok(row.get(*i).cloned().unwrap_or(Value::Null)),
            Expr::Property(base, key) => property(&base.eval(row)?, key),
            Expr::List(items) => {
                Ok(Value::List(items.iter().map(|e| e.eval(row)).collect::<Result<Arc<[_]>>>()?))
            }
            Expr::Map(entries) => {
                let mut map = Properties::new();
                for (k, e) in entries {
                    map.insert(k.clone(), e.eval(row)?);
                }
                Ok(Value::Map(Arc::new(map)))
            }
            Expr::Not(e) => Ok(tri_to_value(truth(&e.eval(row)?)?.map(|b| !b))),
            Expr::Neg(e) => negate(e.eval(row)?),
            Expr::And(a, b) => {
                let a = truth(&a.eval(row)?)?;
                if a == Some(false) {
                    return Ok(Value::Bool(false));
                }
                let b = truth(&b.eval(row)?)?;
                Ok(tri_to_value(match (a, b) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                }))
            }
            Expr::Or(a, b) => {
                let a = truth(&a.eval(row)?)?;
                if a == Some(true) {
                    return Ok(Value::Bool(true));
                }
                let b = truth(&b.eval(row)?)?;
                Ok(tri_to_value(match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                }))
            }
            Expr::Xor(a, b) => {
                let (a, b) = (truth(&a.eval(row)?)?, truth(&b.eval(row)?)?);
                Ok(tri_to_value(a.zip(b).map(|(a, b)| a != b)))
            }
            Expr::Arith(op, a, b, span) => arith(*op, a.eval(row)?, b.eval(row)?, *span),
            Expr::Compare(first, links) => {
                // `a < b < c` is `a < b AND b < c`, each operand evaluated once.
                let mut left = first.eval(row)?;
                let mut result = Some(true);
                for (op, right) in links {
                    let right = right.eval(row)?;
                    let link = compare_op(*op, &left, &right);
                    result = match (result, link) {
                        (Some(false), _) | (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    };
                    left = right;
                }
                Ok(tri_to_value(result))
            }
            Expr::IsNull(e, negated) => Ok(Value::Bool(e.eval(row)?.is_null() != *negated)),
            Expr::StringOp(op, a, b) => Ok(string_op(*op, &a.eval(row)?, &b.eval(row)?)),
            Expr::In(item, list) => in_list(&item.eval(row)?, &list.eval(row)?),
            Expr::Case(whens, otherwise) => {
                for (cond, value) in whens {
                    if truth(&cond.eval(row)?)? == Some(true) {
                        return value.eval(row);
                    }
                }
                otherwise.eval(row)
            }
            Expr::Call(f, args, span) => {
                let args = args.iter().map(|a| a.eval(row)).collect::<Result<Vec<_>>>()?;
                call(*f, args, *span)
            }
            Expr::Index(base, index, span) => {
                index_value(&base.eval(row)?, &index.eval(row)?, *span)
            }
            Expr::Slice(base, from, to) => {
                let bound = |e: &Option<Box<Expr>>| e.as_ref().map(|e| e.eval(row)).transpose();
                slice(&base.eval(row)?, bound(from)?, bound(to)?)
            }
            Expr::HasLabels(base, labels) => Ok(match base.eval(row)? {
                Value::Null => Value::Null,
                Value::Node(n) => Value::Bool(labels.iter().all(|l| n.has_label(l))),
                Value::Relationship(r) => Value::Bool(labels.iter().all(|l| *l == r.rel_type)),
                other => {
                    return Err(EvalError::new(
                        format!("label predicates need a node, got {} {other}", other.type_name()),
                        None,
                    ))
                }
            }),
            Expr::ListComprehension { list, slot, predicate, projection } => {
                let Some(items) = list_items(list.eval(row)?)? else { return Ok(Value::Null) };
                let mut scope = scoped_row(row, *slot);
                let mut out = Vec::new();
                for item in items.iter() {
                    scope[*slot] = item.clone();
                    if let Some(p) = predicate {
                        if p.eval_predicate(&scope)? != Some(true) {
                            continue;
                        }
                    }
                    out.push(match projection {
                        Some(e) => e.eval(&scope)?,
                        None => item.clone(),
                    });
                }
                Ok(Value::List(out.into()))
            }
            Expr::Quantified { quantifier, list, slot, predicate } => {
                let Some(items) = list_items(list.eval(row)?)? else { return Ok(Value::Null) };
                let mut scope = scoped_row(row, *slot);
                let (mut trues, mut nulls) = (0usize, 0usize);
                for item in items.iter() {
                    scope[*slot] = item.clone();
                    match predicate.eval_predicate(&scope)? {
                        Some(true) => trues += 1,
                        None => nulls += 1,
                        Some(false) => {}
                    }
                }
                let falses = items.len() - trues - nulls;
                Ok(tri_to_value(match quantifier {
                    Quantifier::All if falses > 0 => Some(false),
                    Quantifier::All if nulls > 0 => None,
                    Quantifier::All => Some(true),
                    Quantifier::Any if trues > 0 => Some(true),
                    Quantifier::Any if nulls > 0 => None,
                    Quantifier::Any => Some(false),
                    Quantifier::None if trues > 0 => Some(false),
                    Quantifier::None if nulls > 0 => None,
                    Quantifier::None => Some(true),
                    Quantifier::Single if trues > 1 => Some(false),
                    Quantifier::Single if nulls > 0 => None,
                    Quantifier::Single => Some(trues == 1),
                }))
            }
        }
    }

    /// Evaluates a predicate: `Some(true)` keeps a row; `Some(false)` and `None` (null) drop it.
    pub fn eval_predicate(&self, row: &[Value]) -> Result<Option<bool>> {
        truth(&self.eval(row)?)
    }
}

fn tri_to_value(b: Option<bool>) -> Value {
    b.map_or(Value::Null, Value::Bool)
}

/// A value as a truth value; non-booleans are a type error, as in openCypher.
fn truth(v: &Value) -> Result<Option<bool>> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        other => Err(EvalError::new(
            format!("expected a BOOLEAN, got {} {other}", other.type_name()),
            None,
        )),
    }
}

fn property(base: &Value, key: &str) -> Result<Value> {
    match base {
        Value::Null => Ok(Value::Null),
        Value::Node(node) => Ok(node.get(key).cloned().unwrap_or(Value::Null)),
        Value::Relationship(rel) => Ok(rel.properties.get(key).cloned().unwrap_or(Value::Null)),
        Value::Map(map) => Ok(map.get(key).cloned().unwrap_or(Value::Null)),
        other => Err(EvalError::new(
            format!("cannot read property '{key}' of {} {other}", other.type_name()),
            None,
        )),
    }
}

fn negate(v: Value) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Int(i) => i
            .checked_neg()
            .map(Value::Int)
            .ok_or_else(|| EvalError::new(format!("integer overflow in -({i})"), None)),
        Value::Float(f) => Ok(Value::float(-f.0)),
        Value::Decimal(d) => Ok(Value::Decimal(d.neg())),
        other => Err(EvalError::new(format!("cannot negate {} {other}", other.type_name()), None)),
    }
}

fn arith(op: ArithOp, a: Value, b: Value, span: Span) -> Result<Value> {
    use Value::{Float, Int, List, Null, Str};
    let symbol = match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Mod => "%",
        ArithOp::Pow => "^",
    };
    let overflow = || EvalError::new(format!("integer overflow in {a} {symbol} {b}"), Some(span));
    match (&a, &b) {
        (Null, _) | (_, Null) => Ok(Null),
        (Int(x), Int(y)) => {
            let r = match op {
                ArithOp::Add => x.checked_add(*y),
                ArithOp::Sub => x.checked_sub(*y),
                ArithOp::Mul => x.checked_mul(*y),
                ArithOp::Div | ArithOp::Mod if *y == 0 => {
                    return Err(EvalError::new("division by zero", Some(span)))
                }
                ArithOp::Div => x.checked_div(*y),
                ArithOp::Mod => x.checked_rem(*y),
                ArithOp::Pow => return Ok(Value::float((*x as f64).powf(*y as f64))),
            };
            r.map(Int).ok_or_else(overflow)
        }
        (Int(_) | Value::Decimal(_), Int(_) | Value::Decimal(_))
            if matches!(op, ArithOp::Add | ArithOp::Sub | ArithOp::Mul) =>
        {
            let (x, y) = (as_decimal(&a), as_decimal(&b));
            Ok(Value::Decimal(match op {
                ArithOp::Add => x.add(&y),
                ArithOp::Sub => x.sub(&y),
                _ => x.mul(&y),
            }))
        }
        (Int(_) | Float(_) | Value::Decimal(_), Int(_) | Float(_) | Value::Decimal(_)) => {
            let (x, y) = (as_f64(&a), as_f64(&b));
            Ok(Value::float(match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                ArithOp::Div => x / y,
                ArithOp::Mod => x % y,
                ArithOp::Pow => x.powf(y),
            }))
        }
        (Str(x), Str(y)) if op == ArithOp::Add => Ok(Value::Str(format!("{x}{y}").into())),
        (List(x), List(y)) if op == ArithOp::Add => {
            Ok(List(x.iter().chain(y.iter()).cloned().collect()))
        }
        (List(x), _) if op == ArithOp::Add => {
            Ok(List(x.iter().cloned().chain([b.clone()]).collect()))
        }
        (_, List(y)) if op == ArithOp::Add => {
            Ok(List([a.clone()].into_iter().chain(y.iter().cloned()).collect()))
        }
        _ => Err(EvalError::new(
            format!("cannot apply {symbol} to {} {a} and {} {b}", a.type_name(), b.type_name()),
            Some(span),
        )),
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => f.0,
        Value::Decimal(d) => d.to_f64(),
        _ => f64::NAN,
    }
}

/// An integer or decimal as a decimal (anything else is zero; callers match first).
fn as_decimal(v: &Value) -> Decimal {
    match v {
        Value::Int(i) => Decimal::from(*i),
        Value::Decimal(d) => d.clone(),
        _ => Decimal::from(0),
    }
}

/// Whether `v` is an integer, float or decimal.
fn is_number(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_) | Value::Decimal(_))
}

/// openCypher equality: `None` is null (unknown).
pub fn equals(a: &Value, b: &Value) -> Option<bool> {
    use Value::*;
    match (a, b) {
        (Null, _) | (_, Null) => None,
        (Int(x), Int(y)) => Some(x == y),
        (Int(_) | Value::Decimal(_), Int(_) | Value::Decimal(_)) => {
            Some(as_decimal(a).cmp_numeric(&as_decimal(b)) == Ordering::Equal)
        }
        _ if is_number(a) && is_number(b) => Some(as_f64(a) == as_f64(b)),
        (Bool(x), Bool(y)) => Some(x == y),
        (Str(x), Str(y)) => Some(x == y),
        (List(x), List(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            all_equal(x.iter().zip(y.iter()))
        }
        (Map(x), Map(y)) => {
            if x.len() != y.len() || x.keys().ne(y.keys()) {
                return Some(false);
            }
            all_equal(x.values().zip(y.values()))
        }
        (Node(x), Node(y)) => Some(x.id == y.id),
        (Relationship(x), Relationship(y)) => Some(x.is(y)),
        (Path(x), Path(y)) => Some(
            x.nodes.iter().map(|n| n.id).eq(y.nodes.iter().map(|n| n.id))
                && x.relationships.len() == y.relationships.len()
                && x.relationships.iter().zip(&y.relationships).all(|(a, b)| a.is(b)),
        ),
        _ => Some(false),
    }
}

/// Pairwise equality of elements: false if any pair is unequal, else null if any is unknown.
fn all_equal<'a>(pairs: impl Iterator<Item = (&'a Value, &'a Value)>) -> Option<bool> {
    let mut unknown = false;
    for (x, y) in pairs {
        match equals(x, y) {
            Some(false) => return Some(false),
            None => unknown = true,
            Some(true) => {}
        }
    }
    if unknown {
        None
    } else {
        Some(true)
    }
}

/// openCypher ordering comparison for `<`, `<=`, `>`, `>=`: `None` when the values are not
/// comparable (different kinds, null, NaN).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Int(_) | Value::Decimal(_), Int(_) | Value::Decimal(_)) => {
            Some(as_decimal(a).cmp_numeric(&as_decimal(b)))
        }
        _ if is_number(a) && is_number(b) => as_f64(a).partial_cmp(&as_f64(b)),
        (Str(x), Str(y)) => Some(x.cmp(y)),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (List(x), List(y)) => {
            for (x, y) in x.iter().zip(y.iter()) {
                match compare(x, y)? {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => None,
    }
}

/// openCypher's orderability: a total order across all values, used where values of
/// different kinds must be ranked (`min`/`max`, ORDER BY): maps, nodes, relationships, lists,
/// paths, strings, booleans, numbers, then null; within a kind, the natural order.
pub fn orderability(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Map(_) => 0,
            Value::Node(_) => 1,
            Value::Relationship(_) => 2,
            Value::List(_) => 3,
            Value::Path(_) => 4,
            Value::Str(_) => 5,
            Value::Bool(_) => 6,
            Value::Int(_) | Value::Float(_) | Value::Decimal(_) => 7,
            Value::Null => 8,
        }
    }
    match (a, b) {
        (Value::List(x), Value::List(y)) => {
            for (x, y) in x.iter().zip(y.iter()) {
                match orderability(x, y) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Float(x), Value::Float(y)) if x.0.is_nan() || y.0.is_nan() => x.cmp(y),
        (Value::Float(x), Value::Int(_) | Value::Decimal(_)) if x.0.is_nan() => Ordering::Greater,
        (Value::Int(_) | Value::Decimal(_), Value::Float(y)) if y.0.is_nan() => Ordering::Less,
        _ => compare(a, b).unwrap_or_else(|| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))),
    }
}

fn compare_op(op: CmpOp, a: &Value, b: &Value) -> Option<bool> {
    // An ordering comparison involving NaN is false, not unknown.
    let is_nan = |v: &Value| matches!(v, Value::Float(f) if f.0.is_nan());
    if !matches!(op, CmpOp::Eq | CmpOp::Ne)
        && is_number(a)
        && is_number(b)
        && (is_nan(a) || is_nan(b))
    {
        return Some(false);
    }
    match op {
        CmpOp::Eq => equals(a, b),
        CmpOp::Ne => equals(a, b).map(|e| !e),
        CmpOp::Lt => compare(a, b).map(|o| o == Ordering::Less),
        CmpOp::Le => compare(a, b).map(|o| o != Ordering::Greater),
        CmpOp::Gt => compare(a, b).map(|o| o == Ordering::Greater),
        CmpOp::Ge => compare(a, b).map(|o| o != Ordering::Less),
    }
}

fn string_op(op: StringOp, a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Str(s), Value::Str(p)) => Value::Bool(match op {
            StringOp::StartsWith => s.starts_with(&**p),
            StringOp::EndsWith => s.ends_with(&**p),
            StringOp::Contains => s.contains(&**p),
        }),
        _ => Value::Null,
    }
}

fn in_list(item: &Value, list: &Value) -> Result<Value> {
    match list {
        Value::Null => Ok(Value::Null),
        Value::List(items) => {
            let mut unknown = false;
            for x in items.iter() {
                match equals(item, x) {
                    Some(true) => return Ok(Value::Bool(true)),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            Ok(if unknown { Value::Null } else { Value::Bool(false) })
        }
        other => Err(EvalError::new(
            format!("IN expects a LIST, got {} {other}", other.type_name()),
            None,
        )),
    }
}

fn call(f: Function, args: Vec<Value>, span: Span) -> Result<Value> {
    let type_error = |what: &str, v: &Value| {
        EvalError::new(format!("{what}() cannot take {} {v}", v.type_name()), Some(span))
    };
    match f {
        Function::Coalesce => {
            return Ok(args.into_iter().find(|v| !v.is_null()).unwrap_or(Value::Null))
        }
        Function::Pi => return Ok(Value::float(std::f64::consts::PI)),
        Function::E => return Ok(Value::float(std::f64::consts::E)),
        _ => {}
    }
    // Every other function returns null when any argument is null.
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let mut args = args.into_iter();
    let arg = args.next().unwrap_or(Value::Null);
    let int_arg = |v: Option<Value>, what: &str| match v {
        Some(Value::Int(i)) => Ok(i),
        Some(other) => Err(type_error(what, &other)),
        None => Err(EvalError::new(format!("{what}() is missing an argument"), Some(span))),
    };
    let float_fn = |name: &str, op: fn(f64) -> f64| match &arg {
        Value::Int(i) => Ok(Value::float(op(*i as f64))),
        Value::Float(x) => Ok(Value::float(op(x.0))),
        Value::Decimal(d) => Ok(Value::float(op(d.to_f64()))),
        other => Err(type_error(name, other)),
    };
    let string = |name: &str| match &arg {
        Value::Str(s) => Ok(s.clone()),
        other => Err(type_error(name, other)),
    };
    match f {
        Function::Coalesce | Function::Pi | Function::E => unreachable!("handled above"),
        Function::Size => match &arg {
            Value::List(items) => Ok(Value::Int(items.len() as i64)),
            Value::Str(s) => Ok(Value::Int(s.chars().count() as i64)),
            other => Err(type_error("size", other)),
        },
        Function::ToUpper => Ok(Value::Str(string("toUpper")?.to_uppercase().into())),
        Function::ToLower => Ok(Value::Str(string("toLower")?.to_lowercase().into())),
        Function::Trim => Ok(Value::Str(string("trim")?.trim().into())),
        Function::LTrim => Ok(Value::Str(string("lTrim")?.trim_start().into())),
        Function::RTrim => Ok(Value::Str(string("rTrim")?.trim_end().into())),
        Function::ToString => match &arg {
            Value::Str(_) => Ok(arg),
            Value::Float(x) => Ok(Value::Str(format_float(x.0).into())),
            Value::Int(_) | Value::Bool(_) | Value::Decimal(_) => {
                Ok(Value::Str(arg.to_string().into()))
            }
            other => Err(type_error("toString", other)),
        },
        Function::ToInteger => Ok(match &arg {
            Value::Int(_) => arg,
            Value::Float(x) => float_to_int(x.0),
            Value::Decimal(d) => d.trunc_to_i64().map_or(Value::Null, Value::Int),
            Value::Str(s) => match s.trim().parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => s.trim().parse::<f64>().map_or(Value::Null, float_to_int),
            },
            Value::Bool(b) => Value::Int(*b as i64),
            other => return Err(type_error("toInteger", other)),
        }),
        Function::ToFloat => Ok(match &arg {
            Value::Float(_) => arg,
            Value::Int(i) => Value::float(*i as f64),
            Value::Decimal(d) => Value::float(d.to_f64()),
            Value::Str(s) => s.trim().parse::<f64>().map(Value::float).unwrap_or(Value::Null),
            other => return Err(type_error("toFloat", other)),
        }),
        Function::ToBoolean => Ok(match &arg {
            Value::Bool(_) => arg,
            Value::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::Null,
            },
            Value::Int(i) => Value::Bool(*i != 0),
            other => return Err(type_error("toBoolean", other)),
        }),
        Function::Abs => match &arg {
            Value::Int(i) => i
                .checked_abs()
                .map(Value::Int)
                .ok_or_else(|| EvalError::new(format!("integer overflow in abs({i})"), Some(span))),
            Value::Decimal(d) => Ok(Value::Decimal(d.abs())),
            _ => float_fn("abs", f64::abs),
        },
        Function::Sign => match &arg {
            Value::Int(i) => Ok(Value::Int(i.signum())),
            Value::Decimal(d) => Ok(Value::Int(d.signum())),
            Value::Float(x) if x.0 == 0.0 => Ok(Value::Int(0)),
            Value::Float(x) => Ok(Value::Int(x.0.signum() as i64)),
            other => Err(type_error("sign", other)),
        },
        // openCypher rounds half up (towards positive infinity).
        Function::Round => float_fn("round", |x| (x + 0.5).floor()),
        Function::Floor => float_fn("floor", f64::floor),
        Function::Ceil => float_fn("ceil", f64::ceil),
        Function::Sqrt => float_fn("sqrt", f64::sqrt),
        Function::Exp => float_fn("exp", f64::exp),
        Function::Log => float_fn("log", f64::ln),
        Function::Log10 => float_fn("log10", f64::log10),
        Function::Sin => float_fn("sin", f64::sin),
        Function::Cos => float_fn("cos", f64::cos),
        Function::Tan => float_fn("tan", f64::tan),
        Function::ElementId => match &arg {
            Value::Node(n) => Ok(Value::str(&n.element_id())),
            Value::Relationship(r) => Ok(Value::str(&r.element_id())),
            other => Err(type_error("elementId", other)),
        },
        Function::Labels => match &arg {
            Value::Node(n) => {
                Ok(Value::List(n.labels().iter().map(|l| Value::Str(l.clone())).collect()))
            }
            other => Err(type_error("labels", other)),
        },
        Function::Nodes => match &arg {
            Value::Path(p) => Ok(Value::List(p.nodes.iter().cloned().map(Value::Node).collect())),
            other => Err(type_error("nodes", other)),
        },
        Function::Relationships => match &arg {
            Value::Path(p) => {
                Ok(Value::List(p.relationships.iter().cloned().map(Value::Relationship).collect()))
            }
            other => Err(type_error("relationships", other)),
        },
        Function::Length => match &arg {
            Value::Path(p) => Ok(Value::Int(p.relationships.len() as i64)),
            other => Err(type_error("length", other)),
        },
        Function::Type => match &arg {
            Value::Relationship(r) => Ok(Value::Str(r.rel_type.clone())),
            other => Err(type_error("type", other)),
        },
        Function::Keys => match &arg {
            Value::Node(n) => Ok(keys(n.properties())),
            Value::Relationship(r) => Ok(keys(r.properties.iter())),
            Value::Map(m) => Ok(keys(m.iter())),
            other => Err(type_error("keys", other)),
        },
        Function::Properties => match &arg {
            Value::Node(n) => Ok(Value::Map(Arc::new(without_nulls(n.properties())))),
            Value::Relationship(r) => Ok(Value::Map(Arc::new(without_nulls(r.properties.iter())))),
            Value::Map(_) => Ok(arg),
            other => Err(type_error("properties", other)),
        },
        Function::Range => {
            let start = int_arg(Some(arg), "range")?;
            let end = int_arg(args.next(), "range")?;
            let step = match args.next() {
                None => 1,
                step => int_arg(step, "range")?,
            };
            if step == 0 {
                return Err(EvalError::new("range() step must not be zero", Some(span)));
            }
            let count = if (step > 0 && start > end) || (step < 0 && start < end) {
                0
            } else {
                (end as i128 - start as i128) / step as i128 + 1
            };
            if count > 10_000_000 {
                return Err(EvalError::new(
                    "range() would create more than 10 million elements",
                    Some(span),
                ));
            }
            Ok(Value::List(
                (0..count).map(|i| Value::Int((start as i128 + i * step as i128) as i64)).collect(),
            ))
        }
        Function::Head | Function::Last | Function::Tail => match &arg {
            Value::List(items) => Ok(match f {
                Function::Head => items.first().cloned().unwrap_or(Value::Null),
                Function::Last => items.last().cloned().unwrap_or(Value::Null),
                _ => Value::List(items.iter().skip(1).cloned().collect()),
            }),
            other => Err(type_error("list function", other)),
        },
        Function::Reverse => match &arg {
            Value::List(items) => Ok(Value::List(items.iter().rev().cloned().collect())),
            Value::Str(s) => Ok(Value::Str(s.chars().rev().collect::<String>().into())),
            other => Err(type_error("reverse", other)),
        },
        Function::Substring => {
            let s = string("substring")?;
            let start = int_arg(args.next(), "substring")?;
            let length = args.next().map(|v| int_arg(Some(v), "substring")).transpose()?;
            if start < 0 || length.is_some_and(|l| l < 0) {
                return Err(EvalError::new("substring() takes non-negative positions", Some(span)));
            }
            let chars = s.chars().skip(start as usize);
            Ok(Value::Str(
                match length {
                    Some(l) => chars.take(l as usize).collect::<String>(),
                    None => chars.collect::<String>(),
                }
                .into(),
            ))
        }
        Function::Left | Function::Right => {
            let s = string("left/right")?;
            let n = int_arg(args.next(), "left/right")?;
            if n < 0 {
                return Err(EvalError::new(
                    "left()/right() take a non-negative length",
                    Some(span),
                ));
            }
            let count = s.chars().count();
            let taken: String = if f == Function::Left {
                s.chars().take(n as usize).collect()
            } else {
                s.chars().skip(count.saturating_sub(n as usize)).collect()
            };
            Ok(Value::Str(taken.into()))
        }
        Function::Replace => {
            let s = string("replace")?;
            match (args.next(), args.next()) {
                (Some(Value::Str(from)), Some(Value::Str(to))) => {
                    Ok(Value::Str(s.replace(&*from, &to).into()))
                }
                _ => Err(EvalError::new("replace() takes three strings", Some(span))),
            }
        }
        Function::Split => {
            let s = string("split")?;
            match args.next() {
                Some(Value::Str(delimiter)) => {
                    Ok(Value::List(s.split(&*delimiter).map(Value::str).collect()))
                }
                _ => Err(EvalError::new("split() takes two strings", Some(span))),
            }
        }
    }
}

fn float_to_int(x: f64) -> Value {
    if x.is_finite() && x.abs() < 9.2e18 {
        Value::Int(x.trunc() as i64)
    } else {
        Value::Null
    }
}

fn without_nulls<'a>(properties: impl Iterator<Item = (&'a Arc<str>, &'a Value)>) -> Properties {
    properties.filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The row extended so that `slot` exists, for a comprehension's element variable.
fn scoped_row(row: &[Value], slot: usize) -> Vec<Value> {
    let mut scope = row.to_vec();
    if scope.len() <= slot {
        scope.resize(slot + 1, Value::Null);
    }
    scope
}

/// The items of a list operand; `None` for null; an error for anything else.
fn list_items(v: Value) -> Result<Option<Arc<[Value]>>> {
    match v {
        Value::List(items) => Ok(Some(items)),
        Value::Null => Ok(None),
        other => {
            Err(EvalError::new(format!("expected a LIST, got {} {other}", other.type_name()), None))
        }
    }
}

fn index_value(base: &Value, index: &Value, span: Span) -> Result<Value> {
    match (base, index) {
        (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
        (Value::List(items), Value::Int(i)) => {
            let len = items.len() as i64;
            let at = if *i < 0 { len + i } else { *i };
            Ok(if (0..len).contains(&at) { items[at as usize].clone() } else { Value::Null })
        }
        (Value::Map(_) | Value::Node(_) | Value::Relationship(_), Value::Str(key)) => {
            property(base, key)
        }
        _ => Err(EvalError::new(
            format!("cannot index {} {base} with {} {index}", base.type_name(), index.type_name()),
            Some(span),
        )),
    }
}

fn slice(base: &Value, from: Option<Value>, to: Option<Value>) -> Result<Value> {
    let Value::List(items) = base else {
        return match base {
            Value::Null => Ok(Value::Null),
            other => {
                Err(EvalError::new(format!("cannot slice {} {other}", other.type_name()), None))
            }
        };
    };
    let len = items.len() as i64;
    let bound = |v: Option<Value>, default: i64| match v {
        None => Ok(Some(default)),
        Some(Value::Null) => Ok(None),
        Some(Value::Int(i)) => Ok(Some(if i < 0 { (len + i).max(0) } else { i.min(len) })),
        Some(other) => {
            Err(EvalError::new(format!("slice bounds must be integers, got {other}"), None))
        }
    };
    match (bound(from, 0)?, bound(to, len)?) {
        (Some(a), Some(b)) if a < b => Ok(Value::List(items[a as usize..b as usize].into())),
        (Some(_), Some(_)) => Ok(Value::List(Arc::from([]))),
        _ => Ok(Value::Null),
    }
}

fn keys<'a>(properties: impl Iterator<Item = (&'a Arc<str>, &'a Value)>) -> Value {
    Value::List(properties.map(|(k, _)| Value::Str(k.clone())).collect())
}

/// Floats print with at least one decimal, as Cypher's `toString(1.0)` is `'1.0'`.
fn format_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: Value) -> Box<Expr> {
        Box::new(Expr::Literal(v))
    }

    fn eval(e: Expr) -> Value {
        e.eval(&[]).expect("evaluates")
    }

    #[test]
    fn three_valued_logic() {
        let null = || lit(Value::Null);
        let t = || lit(Value::Bool(true));
        let f = || lit(Value::Bool(false));
        assert_eq!(eval(Expr::And(f(), null())), Value::Bool(false));
        assert_eq!(eval(Expr::And(null(), f())), Value::Bool(false));
        assert_eq!(eval(Expr::And(t(), null())), Value::Null);
        assert_eq!(eval(Expr::Or(null(), t())), Value::Bool(true));
        assert_eq!(eval(Expr::Or(f(), null())), Value::Null);
        assert_eq!(eval(Expr::Xor(t(), null())), Value::Null);
        assert_eq!(eval(Expr::Not(null())), Value::Null);
    }

    #[test]
    fn numbers_compare_across_int_and_float() {
        assert_eq!(equals(&Value::Int(1), &Value::float(1.0)), Some(true));
        assert_eq!(compare(&Value::Int(2), &Value::float(1.5)), Some(Ordering::Greater));
        assert_eq!(compare(&Value::Int(2), &Value::str("a")), None);
        assert_eq!(equals(&Value::Int(2), &Value::str("2")), Some(false));
        assert_eq!(equals(&Value::Null, &Value::Null), None);
        assert_eq!(equals(&Value::float(f64::NAN), &Value::float(f64::NAN)), Some(false));
    }

    #[test]
    fn chained_comparison_is_a_conjunction() {
        let chain = Expr::Compare(
            lit(Value::Int(1)),
            vec![
                (CmpOp::Lt, Expr::Literal(Value::Int(2))),
                (CmpOp::Lt, Expr::Literal(Value::Int(2))),
            ],
        );
        assert_eq!(eval(chain), Value::Bool(false));
    }

    #[test]
    fn decimals_are_exact_with_integers_and_float_with_floats() {
        let dec = |t: &str| Value::Decimal(Decimal::parse(t).unwrap());
        let arith = |op, a: Value, b: Value| eval(Expr::Arith(op, lit(a), lit(b), Span::new(0, 1)));
        assert_eq!(arith(ArithOp::Add, dec("0.1"), dec("0.2")), dec("0.3"));
        assert_eq!(arith(ArithOp::Sub, Value::Int(1), dec("0.01")), dec("0.99"));
        assert_eq!(
            arith(ArithOp::Mul, dec("1.5"), Value::Int(i64::MAX)),
            dec("13835058055282163710.5")
        );
        assert_eq!(arith(ArithOp::Add, dec("0.5"), Value::float(0.25)), Value::float(0.75));
        assert_eq!(arith(ArithOp::Div, dec("1"), Value::Int(4)), Value::float(0.25));
        assert_eq!(equals(&dec("2.0"), &Value::Int(2)), Some(true));
        assert_eq!(equals(&dec("0.1"), &Value::float(0.1)), Some(true));
        assert_eq!(equals(&dec("9007199254740993"), &Value::Int(9007199254740992)), Some(false));
        assert_eq!(compare(&dec("-1.5"), &Value::Int(-1)), Some(Ordering::Less));
        assert_eq!(compare(&dec("2.5"), &Value::float(2.25)), Some(Ordering::Greater));
        assert_eq!(compare(&dec("1"), &Value::str("1")), None);
        assert_eq!(orderability(&dec("3"), &Value::float(f64::NAN)), Ordering::Less);
        assert_eq!(eval(Expr::Neg(lit(dec("1.5")))), dec("-1.5"));
    }

    #[test]
    fn integer_arithmetic_is_checked() {
        let span = Span::new(0, 1);
        let overflow =
            Expr::Arith(ArithOp::Add, lit(Value::Int(i64::MAX)), lit(Value::Int(1)), span);
        assert!(overflow.eval(&[]).is_err());
        let div = Expr::Arith(ArithOp::Div, lit(Value::Int(7)), lit(Value::Int(2)), span);
        assert_eq!(eval(div), Value::Int(3));
        let pow = Expr::Arith(ArithOp::Pow, lit(Value::Int(2)), lit(Value::Int(3)), span);
        assert_eq!(eval(pow), Value::float(8.0));
        let by_zero = Expr::Arith(ArithOp::Mod, lit(Value::Int(1)), lit(Value::Int(0)), span);
        assert!(by_zero.eval(&[]).is_err());
    }

    #[test]
    fn in_list_is_three_valued() {
        let list = |items: Vec<Value>| lit(Value::List(items.into()));
        assert_eq!(
            eval(Expr::In(lit(Value::Int(1)), list(vec![Value::Null, Value::Int(1)]))),
            Value::Bool(true)
        );
        assert_eq!(
            eval(Expr::In(lit(Value::Int(3)), list(vec![Value::Null, Value::Int(1)]))),
            Value::Null
        );
    }
}
