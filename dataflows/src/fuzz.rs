//! Random expressions through the compiler and the evaluator: neither may panic.
//!
//! A small grammar generates well-formed Cypher expressions over hostile values (integer
//! extremes, NaN, nulls, nested lists and maps, wrong types for every operator and function),
//! and random mutations make ill-formed ones. Every expression is compiled as `RETURN <e> AS x`
//! and, when that succeeds, evaluated. Errors are fine; panics are bugs.

use crate::plan::Op;
use crate::testing::XorShift;

impl XorShift {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const ATOMS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "0.0",
    "-0.0",
    "1.5",
    "1e308",
    "'a'",
    "''",
    "'héllo'",
    "[]",
    "[1, null, 'x']",
    "{}",
    "{a: 1, b: [2, {c: null}]}",
    "[[1], [2, [3]]]",
    "0.0 / 0.0",
    "x",
];
const BINARY: &[&str] = &[
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "AND",
    "OR",
    "XOR",
    "IN",
    "STARTS WITH",
    "ENDS WITH",
    "CONTAINS",
];
const FUNCTIONS: &[&str] = &[
    "coalesce",
    "size",
    "toUpper",
    "toLower",
    "trim",
    "toString",
    "toInteger",
    "toFloat",
    "abs",
    "round",
    "floor",
    "ceil",
    "sqrt",
    "keys",
    "range",
    "head",
    "last",
    "tail",
    "reverse",
    "substring",
    "left",
    "right",
    "replace",
    "split",
    "toBoolean",
    "sign",
    "exp",
    "log",
    "labels",
    "type",
    "properties",
    "elementId",
];

fn expression(rng: &mut XorShift, depth: usize) -> String {
    if depth == 0 {
        return rng.pick(ATOMS).to_string();
    }
    let sub = |rng: &mut XorShift| expression(rng, depth - 1);
    match rng.below(12) {
        0..=2 => format!("({} {} {})", sub(rng), rng.pick(BINARY), sub(rng)),
        3 => format!("NOT {}", sub(rng)),
        4 => format!("-{}", sub(rng)),
        5 => {
            let args: Vec<String> = (0..rng.below(4)).map(|_| sub(rng)).collect();
            format!("{}({})", rng.pick(FUNCTIONS), args.join(", "))
        }
        6 => format!("{}[{}]", sub(rng), sub(rng)),
        7 => format!("{}[{}..{}]", sub(rng), sub(rng), sub(rng)),
        8 => format!("CASE WHEN {} THEN {} ELSE {} END", sub(rng), sub(rng), sub(rng)),
        9 => format!("[y IN {} WHERE {} | {}]", sub(rng), sub(rng), sub(rng)),
        10 => format!("any(y IN {} WHERE {})", sub(rng), sub(rng)),
        _ => format!("{} IS NULL", sub(rng)),
    }
}

/// Compiles `RETURN <e> AS x` (with `x` bound by UNWIND to hostile values) and evaluates it;
/// returns how many evaluations succeeded.
fn check(text: &str) -> usize {
    let Ok(plan) = crate::compile(text) else { return 0 };
    let Op::Project { exprs, input } = &plan.root else { return 0 };
    let Op::Unwind { list, .. } = &**input else { return 0 };
    let Ok(crate::Value::List(xs)) = list.eval(&[]) else { return 0 };
    let mut ok = 0;
    for x in xs.iter() {
        for e in exprs {
            ok += usize::from(e.eval(std::slice::from_ref(x)).is_ok());
        }
    }
    ok
}

#[test]
fn random_expressions_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let bindings = "UNWIND [null, 0, -1, 2.5, 'z', [1, 2], {k: 'v'}, true] AS x";
    let mut evaluated = 0;
    for _ in 0..4000 {
        let depth = 1 + rng.below(4);
        let e = expression(&mut rng, depth);
        evaluated += check(&format!("{bindings} RETURN {e} AS r"));
        // A mutation: drop or duplicate a random character.
        let mut chars: Vec<char> = e.chars().collect();
        if !chars.is_empty() {
            let at = rng.below(chars.len());
            if rng.below(2) == 0 {
                chars.remove(at);
            } else {
                chars.insert(at, chars[at]);
            }
        }
        let mutated: String = chars.into_iter().collect();
        check(&format!("{bindings} RETURN {mutated} AS r"));
    }
    // The generator must exercise evaluation, not just compile errors.
    assert!(evaluated > 4000, "only {evaluated} successful evaluations");
}
