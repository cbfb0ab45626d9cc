//! Builds the graph a scenario starts from by interpreting its setup statements.
//!
//! The TCK describes graphs as Cypher writes (`CREATE`, sometimes after `UNWIND` or `MATCH`).
//! The engine under test is read-only, so the harness runs these statements itself, over an
//! in-memory graph, and feeds the resulting elements to the engine. Node and relationship ids are
//! 1, 2, … in creation order; labels are sorted. A statement the interpreter cannot run
//! exactly is refused with the construct's name: running a scenario on an approximate graph
//! would produce misleading failures.

mod lexer;
mod parser;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ripple_dataflows::value::Properties;
use ripple_dataflows::{eval, Element, Node, RelId, Relationship, Value};

pub use lexer::write_clause;
use parser::{BinOp, Clause, Direction, Ex, NodePattern, PathPattern, RelPattern};

/// The graph built so far.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Arc<Node>>,
    relationships: Vec<Arc<Relationship>>,
    created_nodes: u64,
    created_relationships: u64,
}

/// Variable bindings of one row.
type Env = BTreeMap<String, Value>;

impl Graph {
    /// Every element: nodes first, then relationships.
    pub fn elements(&self) -> Vec<Element> {
        let nodes = self.nodes.iter().cloned().map(Element::Node);
        nodes.chain(self.relationships.iter().cloned().map(Element::Relationship)).collect()
    }

    /// Runs one setup statement; the error names what could not be run.
    pub fn execute(&mut self, script: &str) -> Result<(), String> {
        let tokens = lexer::tokenize(script)?;
        let mut rows = vec![Env::new()];
        for clause in parser::parse(&tokens)? {
            rows = match clause {
                Clause::Create(patterns) => rows
                    .into_iter()
                    .map(|mut env| {
                        for pattern in &patterns {
                            self.create_path(pattern, &mut env)?;
                        }
                        Ok(env)
                    })
                    .collect::<Result<_, String>>()?,
                Clause::Match { patterns, filter } => {
                    let mut matched = Vec::new();
                    for env in rows {
                        for env in self.match_patterns(&patterns, env)? {
                            if passes(filter.as_ref(), &env)? {
                                matched.push(env);
                            }
                        }
                    }
                    matched
                }
                Clause::Unwind { list, variable } => {
                    let mut unwound = Vec::new();
                    for env in rows {
                        let items = match eval(&list, &env)? {
                            Value::List(items) => items.to_vec(),
                            Value::Null => Vec::new(),
                            other => vec![other],
                        };
                        for item in items {
                            let mut env = env.clone();
                            env.insert(variable.clone(), item);
                            unwound.push(env);
                        }
                    }
                    unwound
                }
                Clause::With { items, filter } => {
                    let mut projected = Vec::new();
                    for env in rows {
                        let env = match &items {
                            None => env,
                            Some(items) => items
                                .iter()
                                .map(|(expr, name)| Ok((name.clone(), eval(expr, &env)?)))
                                .collect::<Result<_, String>>()?,
                        };
                        if passes(filter.as_ref(), &env)? {
                            projected.push(env);
                        }
                    }
                    projected
                }
                Clause::Delete(targets) => {
                    for env in &rows {
                        for target in &targets {
                            let value = eval(target, env)?;
                            self.delete(&value)?;
                        }
                    }
                    rows
                }
            };
        }
        Ok(())
    }

    fn create_path(&mut self, pattern: &PathPattern, env: &mut Env) -> Result<(), String> {
        let mut previous = self.create_node(&pattern.start, env)?;
        for (rel, node) in &pattern.steps {
            let next = self.create_node(node, env)?;
            let (start, end) = match rel.direction {
                Direction::Right => (previous, next),
                Direction::Left => (next, previous),
                Direction::Either => return Err("CREATE of an undirected relationship".into()),
            };
            let [rel_type] = rel.types.as_slice() else {
                return Err("CREATE of a relationship without exactly one type".into());
            };
            if rel.variable.as_ref().is_some_and(|v| env.contains_key(v)) {
                return Err("CREATE of an already bound relationship".into());
            }
            self.created_relationships += 1;
            let relationship = Arc::new(Relationship {
                id: RelId::Stored(self.created_relationships),
                rel_type: Arc::from(rel_type.as_str()),
                start,
                end,
                properties: properties(&rel.properties, env)?,
            });
            self.relationships.push(relationship.clone());
            if let Some(variable) = &rel.variable {
                env.insert(variable.clone(), Value::Relationship(relationship));
            }
            previous = next;
        }
        Ok(())
    }

    /// Binds or creates the node of a CREATE pattern; returns its id.
    fn create_node(&mut self, pattern: &NodePattern, env: &mut Env) -> Result<u64, String> {
        if let Some(bound) = pattern.variable.as_ref().and_then(|v| env.get(v)) {
            return match bound {
                Value::Node(node) if pattern.labels.is_empty() && pattern.properties.is_empty() => {
                    Ok(node.id)
                }
                Value::Node(_) => Err("CREATE adding labels or properties to a bound node".into()),
                other => Err(format!("CREATE with a bound {} as a node", other.type_name())),
            };
        }
        let mut labels: Vec<Arc<str>> =
            pattern.labels.iter().map(|l| Arc::from(l.as_str())).collect();
        labels.sort();
        labels.dedup();
        self.created_nodes += 1;
        let properties = properties(&pattern.properties, env)?;
        let node = Arc::new(Node::with_properties(self.created_nodes, &labels, properties));
        self.nodes.push(node.clone());
        if let Some(variable) = &pattern.variable {
            env.insert(variable.clone(), Value::Node(node.clone()));
        }
        Ok(node.id)
    }

    fn delete(&mut self, value: &Value) -> Result<(), String> {
        match value {
            Value::Null => Ok(()),
            Value::Relationship(rel) => {
                self.relationships.retain(|r| !r.is(rel));
                Ok(())
            }
            Value::Node(node) => {
                if self.relationships.iter().any(|r| r.start == node.id || r.end == node.id) {
                    return Err("DELETE of a node that still has relationships".into());
                }
                self.nodes.retain(|n| n.id != node.id);
                Ok(())
            }
            other => Err(format!("DELETE of a {}", other.type_name())),
        }
    }

    /// Every extension of `env` that matches all `patterns`, with relationships distinct
    /// across the whole MATCH (Cypher's relationship isomorphism).
    fn match_patterns(&self, patterns: &[PathPattern], env: Env) -> Result<Vec<Env>, String> {
        let by_id: HashMap<u64, &Arc<Node>> = self.nodes.iter().map(|n| (n.id, n)).collect();
        let mut partial: Vec<(Env, Vec<RelId>)> = vec![(env, Vec::new())];
        for pattern in patterns {
            let mut next = Vec::new();
            for (env, used) in partial {
                for node in &self.nodes {
                    let Some(env) = bind_node(&pattern.start, node, &env)? else { continue };
                    let mut paths = vec![(env, used.clone(), node.clone())];
                    for (rel, node_pattern) in &pattern.steps {
                        let mut extended = Vec::new();
                        for (env, used, current) in paths {
                            for (relationship, other) in self.expand(rel, &current, &used) {
                                let Some(other) = by_id.get(&other) else { continue };
                                let Some(env) = bind_rel(rel, &relationship, &env)? else {
                                    continue;
                                };
                                let Some(env) = bind_node(node_pattern, other, &env)? else {
                                    continue;
                                };
                                let mut used = used.clone();
                                used.push(relationship.id);
                                extended.push((env, used, (*other).clone()));
                            }
                        }
                        paths = extended;
                    }
                    next.extend(paths.into_iter().map(|(env, used, _)| (env, used)));
                }
            }
            partial = next;
        }
        Ok(partial.into_iter().map(|(env, _)| env).collect())
    }

    /// Relationships leaving `from` the way `pattern` points, with the id of their other end.
    /// A self-loop matches an undirected pattern once.
    fn expand(
        &self,
        pattern: &RelPattern,
        from: &Node,
        used: &[RelId],
    ) -> Vec<(Arc<Relationship>, u64)> {
        self.relationships
            .iter()
            .filter(|r| !used.contains(&r.id))
            .filter(|r| {
                pattern.types.is_empty() || pattern.types.iter().any(|t| **t == *r.rel_type)
            })
            .filter_map(|r| {
                let out = r.start == from.id;
                let inc = r.end == from.id;
                let other = match pattern.direction {
                    Direction::Right if out => r.end,
                    Direction::Left if inc => r.start,
                    Direction::Either if out => r.end,
                    Direction::Either if inc => r.start,
                    _ => return None,
                };
                Some((r.clone(), other))
            })
            .collect()
    }
}

/// `env` extended with `node` bound to `pattern`, if the node fits it.
fn bind_node(pattern: &NodePattern, node: &Arc<Node>, env: &Env) -> Result<Option<Env>, String> {
    if let Some(bound) = pattern.variable.as_ref().and_then(|v| env.get(v)) {
        if !matches!(bound, Value::Node(b) if b.id == node.id) {
            return Ok(None);
        }
    }
    if !pattern.labels.iter().all(|l| node.has_label(l))
        || !fits(&pattern.properties, |k| node.get(k), env)?
    {
        return Ok(None);
    }
    let mut env = env.clone();
    if let Some(variable) = &pattern.variable {
        env.insert(variable.clone(), Value::Node(node.clone()));
    }
    Ok(Some(env))
}

fn bind_rel(
    pattern: &RelPattern,
    rel: &Arc<Relationship>,
    env: &Env,
) -> Result<Option<Env>, String> {
    if let Some(bound) = pattern.variable.as_ref().and_then(|v| env.get(v)) {
        if !matches!(bound, Value::Relationship(b) if b.is(rel)) {
            return Ok(None);
        }
    }
    if !fits(&pattern.properties, |k| rel.properties.get(k), env)? {
        return Ok(None);
    }
    let mut env = env.clone();
    if let Some(variable) = &pattern.variable {
        env.insert(variable.clone(), Value::Relationship(rel.clone()));
    }
    Ok(Some(env))
}

/// Whether every `{key: expr}` of a pattern equals the element's property.
fn fits<'a>(
    wanted: &[(String, Ex)],
    actual: impl Fn(&str) -> Option<&'a Value>,
    env: &Env,
) -> Result<bool, String> {
    for (key, expr) in wanted {
        let value = actual(key.as_str()).cloned().unwrap_or(Value::Null);
        if eval::equals(&value, &eval(expr, env)?) != Some(true) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn passes(filter: Option<&Ex>, env: &Env) -> Result<bool, String> {
    match filter {
        None => Ok(true),
        Some(expr) => Ok(eval(expr, env)? == Value::Bool(true)),
    }
}

/// Evaluates a property map; null values mean "no property", as in Cypher's CREATE.
fn properties(entries: &[(String, Ex)], env: &Env) -> Result<Properties, String> {
    let mut properties = Properties::new();
    for (key, expr) in entries {
        let value = eval(expr, env)?;
        if !value.is_null() {
            properties.insert(Arc::from(key.as_str()), value);
        }
    }
    Ok(properties)
}

fn eval(expr: &Ex, env: &Env) -> Result<Value, String> {
    Ok(match expr {
        Ex::Literal(value) => value.clone(),
        Ex::Variable(name) => {
            env.get(name).cloned().ok_or_else(|| format!("undefined variable {name}"))?
        }
        Ex::List(items) => {
            Value::List(items.iter().map(|i| eval(i, env)).collect::<Result<Vec<_>, _>>()?.into())
        }
        Ex::Map(entries) => {
            let mut map = Properties::new();
            for (key, expr) in entries {
                map.insert(Arc::from(key.as_str()), eval(expr, env)?);
            }
            Value::Map(Arc::new(map))
        }
        Ex::Property(base, key) => match eval(base, env)? {
            Value::Null => Value::Null,
            Value::Node(n) => n.get(key.as_str()).cloned().unwrap_or(Value::Null),
            Value::Relationship(r) => {
                r.properties.get(key.as_str()).cloned().unwrap_or(Value::Null)
            }
            Value::Map(m) => m.get(key.as_str()).cloned().unwrap_or(Value::Null),
            other => return Err(format!("property access on a {}", other.type_name())),
        },
        Ex::Index(base, index) => match (eval(base, env)?, eval(index, env)?) {
            (Value::List(items), Value::Int(i)) => {
                let at = if i < 0 { items.len() as i64 + i } else { i };
                usize::try_from(at)
                    .ok()
                    .and_then(|at| items.get(at))
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            _ => return Err("indexing other than list[integer]".into()),
        },
        Ex::Call(name, args) => {
            let args = args.iter().map(|a| eval(a, env)).collect::<Result<Vec<_>, _>>()?;
            call(name, &args)?
        }
        Ex::Neg(inner) => match eval(inner, env)? {
            Value::Int(i) => Value::Int(i.checked_neg().ok_or("integer overflow")?),
            Value::Float(f) => Value::float(-f.0),
            Value::Null => Value::Null,
            other => return Err(format!("negation of a {}", other.type_name())),
        },
        Ex::Not(inner) => match eval(inner, env)? {
            Value::Bool(b) => Value::Bool(!b),
            Value::Null => Value::Null,
            other => return Err(format!("NOT of a {}", other.type_name())),
        },
        Ex::HasLabels(base, labels) => match eval(base, env)? {
            Value::Node(n) => Value::Bool(labels.iter().all(|l| n.has_label(l))),
            Value::Null => Value::Null,
            other => return Err(format!("label predicate on a {}", other.type_name())),
        },
        Ex::IsNull(inner, negated) => Value::Bool(eval(inner, env)?.is_null() != *negated),
        Ex::Binary(op, left, right) => binary(*op, eval(left, env)?, eval(right, env)?)?,
    })
}

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    match (name.to_ascii_lowercase().as_str(), args) {
        ("range", [Value::Int(start), Value::Int(end)]) => range(*start, *end, 1),
        ("range", [Value::Int(start), Value::Int(end), Value::Int(step)]) => {
            range(*start, *end, *step)
        }
        ("size", [Value::List(items)]) => Ok(Value::Int(items.len() as i64)),
        ("size", [Value::Str(s)]) => Ok(Value::Int(s.chars().count() as i64)),
        ("size", [Value::Null]) => Ok(Value::Null),
        _ => Err(format!("function {name}()")),
    }
}

fn range(start: i64, end: i64, step: i64) -> Result<Value, String> {
    if step == 0 {
        return Err("range() with step 0".into());
    }
    let mut items = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        items.push(Value::Int(i));
        i = match i.checked_add(step) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(Value::List(items.into()))
}

fn binary(op: BinOp, left: Value, right: Value) -> Result<Value, String> {
    use Value::{Bool, Float, Int, List, Null, Str};
    let truth = |v: &Value| match v {
        Bool(b) => Ok(Some(*b)),
        Null => Ok(None),
        other => Err(format!("boolean operator on a {}", other.type_name())),
    };
    let opt = |b: Option<bool>| b.map_or(Null, Bool);
    let cmp = |wanted: &dyn Fn(Ordering) -> bool| opt(eval::compare(&left, &right).map(wanted));
    Ok(match op {
        BinOp::And => opt(match (truth(&left)?, truth(&right)?) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }),
        BinOp::Or => opt(match (truth(&left)?, truth(&right)?) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        }),
        BinOp::Xor => opt(match (truth(&left)?, truth(&right)?) {
            (Some(a), Some(b)) => Some(a != b),
            _ => None,
        }),
        BinOp::Eq => opt(eval::equals(&left, &right)),
        BinOp::Ne => opt(eval::equals(&left, &right).map(|e| !e)),
        BinOp::Lt => cmp(&|o| o.is_lt()),
        BinOp::Le => cmp(&|o| o.is_le()),
        BinOp::Gt => cmp(&|o| o.is_gt()),
        BinOp::Ge => cmp(&|o| o.is_ge()),
        _ => match (op, &left, &right) {
            (_, Null, _) | (_, _, Null) => Null,
            (BinOp::Add, Str(a), Str(b)) => Value::str(&format!("{a}{b}")),
            (BinOp::Add, List(a), List(b)) => List(a.iter().chain(b.iter()).cloned().collect()),
            (BinOp::Add, List(a), b) => List(a.iter().cloned().chain([b.clone()]).collect()),
            (BinOp::Add, a, List(b)) => {
                List([a.clone()].into_iter().chain(b.iter().cloned()).collect())
            }
            (_, Int(a), Int(b)) => {
                let result = match op {
                    BinOp::Add => a.checked_add(*b),
                    BinOp::Sub => a.checked_sub(*b),
                    BinOp::Mul => a.checked_mul(*b),
                    BinOp::Div => a.checked_div(*b),
                    _ => a.checked_rem(*b),
                };
                Int(result.ok_or("integer overflow or division by zero")?)
            }
            (_, Int(_) | Float(_), Int(_) | Float(_)) => {
                let as_f64 = |v: &Value| match v {
                    Int(i) => *i as f64,
                    Float(f) => f.0,
                    _ => f64::NAN,
                };
                let (a, b) = (as_f64(&left), as_f64(&right));
                Value::float(match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    _ => a % b,
                })
            }
            _ => return Err(format!("{op:?} of {} and {}", left.type_name(), right.type_name())),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(scripts: &[&str]) -> Result<Vec<Element>, String> {
        let mut graph = Graph::default();
        for script in scripts {
            graph.execute(script)?;
        }
        Ok(graph.elements())
    }

    #[test]
    fn chains_reuse_variables() {
        let elements = build(&[
            "CREATE (a:B:A {x: -1, s: 'it\\'s'})-[:T {w: [1, 2.5]}]->(b)<-[:U]-(c), (c)-[:V]->(a)",
        ])
        .expect("runs");
        assert_eq!(elements.len(), 6);
        let Element::Node(a) = &elements[0] else { panic!() };
        assert_eq!(a.labels(), [Arc::from("A"), Arc::from("B")]);
        assert_eq!(a.get("x"), Some(&Value::Int(-1)));
        assert_eq!(a.get("s"), Some(&Value::str("it's")));
        let Element::Relationship(v) = &elements[5] else { panic!() };
        assert_eq!((v.start, v.end), (3, 1));
    }

    #[test]
    fn unwind_and_match_then_create() {
        let elements = build(&[
            "UNWIND range(1, 3) AS i CREATE (:A {v: i})",
            "CREATE (:B {v: 2})",
            "MATCH (a:A), (b:B) WHERE a.v = b.v CREATE (a)-[:T]->(b)",
        ])
        .expect("runs");
        assert_eq!(elements.len(), 5);
        let Element::Relationship(t) = &elements[4] else { panic!() };
        assert_eq!((t.start, t.end), (2, 4));
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        assert_eq!(build(&["CREATE ({d: date('2020-01-01')})"]), Err("function date()".into()));
        assert_eq!(build(&["MERGE (a)"]), Err("MERGE".into()));
    }
}
