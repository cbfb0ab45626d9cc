//! Aggregating functions over a group, with openCypher semantics.
//!
//! A group arrives as differential's reduce hands it over: distinct argument vectors with
//! their multiplicities. Nulls are ignored by every function except `count(*)`; `sum` of no
//! values is 0, `avg`/`min`/`max` of no values are null, `collect` of no values is `[]`.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::decimal::Decimal;
use crate::eval::orderability;
use crate::plan::{Aggregate, AggregateFunction};
use crate::value::Value;

/// The value of each aggregate for one group. `rows` holds, per distinct input row, the
/// evaluated arguments (one per aggregate; `count(*)` ignores its slot) and the row's
/// multiplicity. `None` rows are placeholders that keep a key-less group alive; they
/// contribute nothing.
pub fn aggregate(aggregates: &[Aggregate], rows: &[(&Option<Vec<Value>>, i64)]) -> Vec<Value> {
    aggregates
        .iter()
        .enumerate()
        .map(|(i, agg)| {
            let values = rows.iter().filter_map(|(args, n)| {
                let args = args.as_ref()?;
                Some((args.get(i).cloned().unwrap_or(Value::Null), *n))
            });
            if agg.argument.is_none() {
                return Value::Int(values.map(|(_, n)| n).sum());
            }
            let values: Vec<(Value, i64)> = if agg.distinct {
                let distinct: BTreeSet<Value> =
                    values.filter(|(v, n)| !v.is_null() && *n > 0).map(|(v, _)| v).collect();
                distinct.into_iter().map(|v| (v, 1)).collect()
            } else {
                values.filter(|(v, _)| !v.is_null()).collect()
            };
            one(agg.function, &values)
        })
        .collect()
}

/// What a group keeps of one row's argument to `agg`. A group holds each distinct argument
/// vector once, with its multiplicity, so the less an argument carries, the more rows share
/// one entry: `count(x)` without DISTINCT reads only whether `x` is null, so any other value
/// is kept as `true`, and `count(n)` over a million nodes keeps one entry, not a million.
pub fn kept_argument(agg: &Aggregate, value: Value) -> Value {
    match agg.function {
        AggregateFunction::Count if !agg.distinct && !value.is_null() => Value::Bool(true),
        _ => value,
    }
}

fn one(function: AggregateFunction, values: &[(Value, i64)]) -> Value {
    match function {
        AggregateFunction::Count => Value::Int(values.iter().map(|(_, n)| n).sum()),
        AggregateFunction::Sum => sum(values).unwrap_or(Value::Null),
        AggregateFunction::Avg => {
            let count: i64 = values.iter().map(|(_, n)| n).sum();
            if count == 0 {
                return Value::Null;
            }
            match sum(values) {
                Some(Value::Int(total)) => Value::float(total as f64 / count as f64),
                Some(Value::Float(total)) => Value::float(total.0 / count as f64),
                Some(Value::Decimal(total)) => Value::float(total.to_f64() / count as f64),
                _ => Value::Null,
            }
        }
        AggregateFunction::Min => extreme(values, Ordering::Less),
        AggregateFunction::Max => extreme(values, Ordering::Greater),
        AggregateFunction::PercentileCont(p) => percentile(values, p.0, true),
        AggregateFunction::PercentileDisc(p) => percentile(values, p.0, false),
        AggregateFunction::Collect => Value::List(
            values
                .iter()
                .flat_map(|(v, n)| std::iter::repeat_n(v.clone(), (*n).max(0) as usize))
                .collect(),
        ),
    }
}

/// Integer sum while every value is an integer (falling back to float on overflow), float
/// once any is; an exact decimal if any value is a decimal and none a float (`avg` of
/// decimals is then a float); `None` if a value is not a number.
fn sum(values: &[(Value, i64)]) -> Option<Value> {
    let any = |kind: fn(&Value) -> bool| values.iter().any(|(v, _)| kind(v));
    if !any(|v| matches!(v, Value::Float(_))) && any(|v| matches!(v, Value::Decimal(_))) {
        let mut total = Decimal::from(0);
        for (v, n) in values {
            let term = match v {
                Value::Int(i) => Decimal::from(*i),
                Value::Decimal(d) => d.clone(),
                _ => return None,
            };
            total = total.add(&term.mul(&Decimal::from(*n)));
        }
        return Some(Value::Decimal(total));
    }
    let mut int: Option<i64> = Some(0);
    let mut float = 0.0f64;
    let mut any_float = false;
    for (v, n) in values {
        match v {
            Value::Int(i) => {
                int = int.and_then(|acc| i.checked_mul(*n).and_then(|x| acc.checked_add(x)));
                float += *i as f64 * *n as f64;
            }
            Value::Float(f) => {
                any_float = true;
                float += f.0 * *n as f64;
            }
            Value::Decimal(d) => float += d.to_f64() * *n as f64,
            _ => return None,
        }
    }
    Some(match (any_float, int) {
        (false, Some(i)) => Value::Int(i),
        _ => Value::float(float),
    })
}

/// The `p`-th percentile (0 ≤ p ≤ 1) of the numbers, as openCypher (Neo4j) defines it:
/// `continuous` interpolates linearly between the two nearest values and gives a float;
/// otherwise it is the value at rank ⌈p·n⌉ (the first for p = 0), unchanged.
fn percentile(values: &[(Value, i64)], p: f64, continuous: bool) -> Value {
    let mut sorted: Vec<&Value> = values
        .iter()
        .filter(|(v, n)| *n > 0 && matches!(v, Value::Int(_) | Value::Float(_)))
        .flat_map(|(v, n)| std::iter::repeat_n(v, *n as usize))
        .collect();
    sorted.sort_by(|a, b| orderability(a, b));
    let as_float = |v: &Value| match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => f.0,
        _ => f64::NAN,
    };
    let Some(last) = sorted.last() else { return Value::Null };
    if continuous {
        let at = p * (sorted.len() - 1) as f64;
        let (low, high) = (at.floor() as usize, at.ceil() as usize);
        let (a, b) = (as_float(sorted[low]), as_float(sorted[high.min(sorted.len() - 1)]));
        return Value::float(if low == high { a } else { a + (b - a) * (at - low as f64) });
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    (*sorted.get(rank.saturating_sub(1)).unwrap_or(last)).clone()
}

/// The least (`Less`) or greatest (`Greater`) value by openCypher's orderability, which ranks
/// values of different kinds too.
fn extreme(values: &[(Value, i64)], want: Ordering) -> Value {
    values
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(v, _)| v)
        .fold(None::<&Value>, |best, v| match best {
            None => Some(v),
            Some(b) => {
                let order = orderability(v, b);
                Some(if order == want { v } else { b })
            }
        })
        .cloned()
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Expr;
    use ordered_float::OrderedFloat;

    fn agg(function: AggregateFunction, distinct: bool) -> Aggregate {
        Aggregate { function, argument: Some(Expr::Slot(0)), distinct }
    }

    fn run(a: Aggregate, values: &[(Value, i64)]) -> Value {
        let rows: Vec<Option<Vec<Value>>> =
            values.iter().map(|(v, _)| Some(vec![v.clone()])).collect();
        let input: Vec<(&Option<Vec<Value>>, i64)> =
            rows.iter().zip(values).map(|(r, (_, n))| (r, *n)).collect();
        aggregate(&[a], &input).remove(0)
    }

    #[test]
    fn nulls_are_ignored_and_multiplicities_count() {
        let values = [(Value::Null, 3), (Value::Int(2), 2), (Value::Int(5), 1)];
        assert_eq!(run(agg(AggregateFunction::Count, false), &values), Value::Int(3));
        assert_eq!(run(agg(AggregateFunction::Sum, false), &values), Value::Int(9));
        assert_eq!(run(agg(AggregateFunction::Avg, false), &values), Value::float(3.0));
        assert_eq!(run(agg(AggregateFunction::Min, false), &values), Value::Int(2));
        assert_eq!(run(agg(AggregateFunction::Max, false), &values), Value::Int(5));
        assert_eq!(run(agg(AggregateFunction::Count, true), &values), Value::Int(2));
        assert_eq!(
            run(agg(AggregateFunction::Collect, false), &values),
            Value::List(vec![Value::Int(2), Value::Int(2), Value::Int(5)].into())
        );
    }

    #[test]
    fn empty_groups_have_identity_values() {
        assert_eq!(run(agg(AggregateFunction::Sum, false), &[]), Value::Int(0));
        assert_eq!(run(agg(AggregateFunction::Avg, false), &[]), Value::Null);
        assert_eq!(run(agg(AggregateFunction::Max, false), &[]), Value::Null);
        assert_eq!(run(agg(AggregateFunction::Collect, false), &[]), Value::List(vec![].into()));
    }

    #[test]
    fn percentiles() {
        let values =
            [(Value::Int(30), 1), (Value::Int(10), 2), (Value::Null, 1), (Value::Int(20), 1)];
        let pct = |f: fn(OrderedFloat<f64>) -> AggregateFunction, p: f64| {
            run(agg(f(p.into()), false), &values)
        };
        // Sorted: 10, 10, 20, 30.
        assert_eq!(pct(AggregateFunction::PercentileDisc, 0.0), Value::Int(10));
        assert_eq!(pct(AggregateFunction::PercentileDisc, 0.5), Value::Int(10));
        assert_eq!(pct(AggregateFunction::PercentileDisc, 0.6), Value::Int(20));
        assert_eq!(pct(AggregateFunction::PercentileDisc, 1.0), Value::Int(30));
        assert_eq!(pct(AggregateFunction::PercentileCont, 0.5), Value::float(15.0));
        assert_eq!(pct(AggregateFunction::PercentileCont, 1.0), Value::float(30.0));
        assert_eq!(
            run(agg(AggregateFunction::PercentileCont(0.5.into()), false), &[]),
            Value::Null
        );
    }

    #[test]
    fn mixed_numbers_compare_numerically() {
        let values = [(Value::Int(2), 1), (Value::float(1.5), 1)];
        assert_eq!(run(agg(AggregateFunction::Min, false), &values), Value::float(1.5));
        assert_eq!(run(agg(AggregateFunction::Sum, false), &values), Value::float(3.5));
    }

    #[test]
    fn decimal_sums_are_exact() {
        let dec = |t: &str| Value::Decimal(Decimal::parse(t).unwrap());
        let values = [(dec("0.1"), 3), (Value::Int(i64::MAX), 2), (dec("-0.3"), 1)];
        let sum = run(agg(AggregateFunction::Sum, false), &values);
        assert_eq!(sum, dec("18446744073709551614"));
        let with_float = [(dec("0.5"), 1), (Value::float(0.25), 1)];
        assert_eq!(run(agg(AggregateFunction::Sum, false), &with_float), Value::float(0.75));
        assert_eq!(run(agg(AggregateFunction::Max, false), &values), Value::Int(i64::MAX));
    }
}
