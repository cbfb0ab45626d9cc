//! Expected tables against engine rows.
//!
//! Comparison is structural and strict about types (`1` does not match `1.0`), as the TCK
//! intends. Graph values have no ids in the TCK, so nodes compare by labels and properties and
//! relationships by type and properties. Floats match exactly, or, where the expected literal
//! was written with fewer digits than a float carries, after rounding the actual value to the
//! same number of significant digits.

use ripple_dataflows::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::values::Expected;

/// A float literal with at least this many significant digits is taken to be a rounded
/// rendering of a computed value; shorter ones (`1.5`, `0.1`) must match exactly.
const ROUNDED_LITERAL_DIGITS: usize = 8;

/// Whether `actual` is the value `expected` describes.
pub fn matches(expected: &Expected, actual: &Value, lists_as_bags: bool) -> bool {
    match (expected, actual) {
        (Expected::Null, Value::Null) => true,
        (Expected::Bool(e), Value::Bool(a)) => e == a,
        (Expected::Int(e), Value::Int(a)) => e == a,
        (Expected::Float { value, digits }, Value::Float(a)) => float_matches(*value, *digits, a.0),
        (Expected::Str(e), Value::Str(a)) => e.as_str() == &**a,
        (Expected::List(e), Value::List(a)) => {
            if lists_as_bags {
                bag_matches(e, a, |e, a| matches(e, a, lists_as_bags))
            } else {
                e.len() == a.len() && e.iter().zip(a.iter()).all(|(e, a)| matches(e, a, false))
            }
        }
        (Expected::Map(e), Value::Map(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, e)| a.get(k.as_str()).is_some_and(|a| matches(e, a, lists_as_bags)))
        }
        (Expected::Node { labels, properties }, Value::Node(n)) => {
            labels.len() == n.labels().len()
                && labels.iter().all(|l| n.has_label(l))
                && properties_match(properties, n.properties(), lists_as_bags)
        }
        (Expected::Relationship { rel_type, properties }, Value::Relationship(r)) => {
            rel_type.as_str() == &*r.rel_type
                && properties_match(properties, r.properties.iter(), lists_as_bags)
        }
        (Expected::Path { nodes, relationships, .. }, Value::Path(p)) => {
            nodes.len() == p.nodes.len()
                && relationships.len() == p.relationships.len()
                && nodes
                    .iter()
                    .zip(&p.nodes)
                    .all(|(e, n)| matches(e, &Value::Node(n.clone()), lists_as_bags))
                && relationships.iter().zip(&p.relationships).enumerate().all(
                    |(i, ((forwards, e), r))| {
                        *forwards == (r.start == p.nodes[i].id)
                            && matches(e, &Value::Relationship(r.clone()), lists_as_bags)
                    },
                )
        }
        _ => false,
    }
}

/// Property maps match ignoring null-valued engine properties, which read as absent.
fn properties_match<'a>(
    expected: &BTreeMap<String, Expected>,
    actual: impl Iterator<Item = (&'a Arc<str>, &'a Value)>,
    bags: bool,
) -> bool {
    let actual: BTreeMap<&str, &Value> =
        actual.filter(|(_, v)| !v.is_null()).map(|(k, v)| (&**k, v)).collect();
    actual.len() == expected.len()
        && expected.iter().all(|(k, e)| actual.get(k.as_str()).is_some_and(|a| matches(e, a, bags)))
}

fn float_matches(expected: f64, digits: usize, actual: f64) -> bool {
    if expected.is_nan() || actual.is_nan() {
        return expected.is_nan() && actual.is_nan();
    }
    if expected == actual {
        return true;
    }
    if !(ROUNDED_LITERAL_DIGITS..=17).contains(&digits) || !actual.is_finite() {
        return false;
    }
    let rounded: Option<f64> = format!("{:.*e}", digits - 1, actual).parse().ok();
    rounded == Some(expected)
}

/// Whether the two sequences are equal as multisets under `eq` (greedy matching, which is
/// exact when `eq` is an equivalence).
fn bag_matches<E, A>(expected: &[E], actual: &[A], eq: impl Fn(&E, &A) -> bool) -> bool {
    expected.len() == actual.len() && unmatched(expected, actual, eq).0.is_empty()
}

/// The expected items with no partner in `actual`, and the actual items left over.
fn unmatched<'e, 'a, E, A>(
    expected: &'e [E],
    actual: &'a [A],
    eq: impl Fn(&E, &A) -> bool,
) -> (Vec<&'e E>, Vec<&'a A>) {
    let mut free: Vec<bool> = vec![true; actual.len()];
    let mut missing = Vec::new();
    for e in expected {
        match (0..actual.len()).find(|&i| free[i] && eq(e, &actual[i])) {
            Some(i) => free[i] = false,
            None => missing.push(e),
        }
    }
    let extra = actual.iter().zip(free).filter(|(_, f)| *f).map(|(a, _)| a).collect();
    (missing, extra)
}

/// An expected result table, cells parsed.
pub struct Table {
    /// Column names; empty for `the result should be empty`.
    pub header: Vec<String>,
    /// Rows of expected values.
    pub rows: Vec<Vec<Expected>>,
}

/// The name ripple gives an unaliased column whose text is `header` (the TCK names columns by
/// their expression text). ripple follows Drasi, the tutorial's contract: a property access
/// `m.name` is named `name`, a function call `f(x)` is named `f`; the two names are accepted
/// position by position.
fn drasi_name(header: &str) -> &str {
    let is_ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    if let Some((base, key)) = header.rsplit_once('.') {
        let number = base.chars().all(|c| c.is_ascii_digit());
        if !base.is_empty() && !number && is_ident(key) {
            return key;
        }
    }
    match header.split_once('(') {
        Some((name, _)) if header.ends_with(')') && name.split('.').all(is_ident) => name,
        _ => header,
    }
}

/// How many rows a mismatch message shows on each side.
const SHOWN_ROWS: usize = 6;

/// Compares engine rows (in the engine's column order) with the expected table; the error is
/// a readable description of the first difference.
pub fn compare_table(
    expected: &Table,
    columns: &[std::sync::Arc<str>],
    actual: &[Vec<Value>],
    ordered: bool,
    lists_as_bags: bool,
) -> Result<(), String> {
    // `the result should be empty` names no columns; any column set is fine then.
    let order: Vec<usize> = if expected.header.is_empty() {
        Vec::new()
    } else {
        let mut names: Vec<&str> = columns.iter().map(|c| &**c).collect();
        let mut wanted: Vec<&str> = expected.header.iter().map(String::as_str).collect();
        names.sort_unstable();
        wanted.sort_unstable();
        if names == wanted {
            expected
                .header
                .iter()
                .map(|h| columns.iter().position(|c| **c == **h).unwrap_or_default())
                .collect()
        } else if columns.len() == expected.header.len()
            && columns.iter().zip(&expected.header).all(|(c, h)| **c == *h || **c == *drasi_name(h))
        {
            (0..columns.len()).collect()
        } else {
            return Err(format!(
                "column names differ: expected {:?}, engine returned {:?}",
                expected.header, columns
            ));
        }
    };
    let actual: Vec<Vec<&Value>> =
        actual.iter().map(|row| order.iter().filter_map(|&i| row.get(i)).collect()).collect();
    let row_eq = |e: &Vec<Expected>, a: &Vec<&Value>| {
        e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a, lists_as_bags))
    };
    let show_expected = |rows: &[&Vec<Expected>]| {
        let shown: Vec<String> = rows
            .iter()
            .take(SHOWN_ROWS)
            .map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" | "))
            .collect();
        format!("[{}]{}", shown.join("; "), more(rows.len()))
    };
    let show_actual = |rows: &[&Vec<&Value>]| {
        let shown: Vec<String> = rows
            .iter()
            .take(SHOWN_ROWS)
            .map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" | "))
            .collect();
        format!("[{}]{}", shown.join("; "), more(rows.len()))
    };
    if ordered {
        if expected.rows.len() == actual.len()
            && expected.rows.iter().zip(&actual).all(|(e, a)| row_eq(e, a))
        {
            return Ok(());
        }
        return Err(format!(
            "wrong rows (in order): expected {}, got {}",
            show_expected(&expected.rows.iter().collect::<Vec<_>>()),
            show_actual(&actual.iter().collect::<Vec<_>>())
        ));
    }
    let (missing, extra) = unmatched(&expected.rows, &actual, row_eq);
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    Err(format!(
        "wrong rows: {} expected, {} returned; missing {}, unexpected {}",
        expected.rows.len(),
        actual.len(),
        show_expected(&missing),
        show_actual(&extra)
    ))
}

fn more(count: usize) -> String {
    if count > SHOWN_ROWS {
        format!(" (+{} more)", count - SHOWN_ROWS)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::parse;

    #[test]
    fn types_are_strict_and_floats_round_only_when_long() {
        let e = |cell: &str| parse(cell).expect("parses");
        assert!(!matches(&e("1"), &Value::float(1.0), false));
        assert!(matches(&e("0.1"), &Value::float(0.1), false));
        assert!(!matches(&e("1.5"), &Value::float(1.46), false));
        assert!(matches(&e("0.3333333333"), &Value::float(1.0 / 3.0), false));
        assert!(matches(&e("NaN"), &Value::float(f64::NAN), false));
    }

    #[test]
    fn lists_as_bags_ignore_order() {
        let list = Value::List(vec![Value::Int(2), Value::Int(1)].into());
        assert!(!matches(&parse("[1, 2]").expect("parses"), &list, false));
        assert!(matches(&parse("[1, 2]").expect("parses"), &list, true));
    }
}
