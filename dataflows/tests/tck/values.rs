//! The TCK's result-table value syntax: `null`, `true`, `1`, `1.5e3`, `NaN`, `-Inf`, `'str'`,
//! `[1, 2]`, `{k: v}`, nodes `(:A:B {k: v})`, relationships `[:T {k: v}]` and paths
//! `<(:A)-[:T]->(:B)>`.
//!
//! Expected values are kept in their own type rather than as engine [`Value`]s because they
//! carry what the comparison needs and the engine does not: a float's written precision and
//! graph values without ids (and paths, which the engine has no value for).
//!
//! [`Value`]: ripple_dataflows::Value

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An expected cell value.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    Null,
    Bool(bool),
    Int(i64),
    /// A float and the number of significant digits its literal was written with.
    Float {
        value: f64,
        digits: usize,
    },
    Str(String),
    List(Vec<Expected>),
    Map(BTreeMap<String, Expected>),
    Node {
        labels: BTreeSet<String>,
        properties: BTreeMap<String, Expected>,
    },
    Relationship {
        rel_type: String,
        properties: BTreeMap<String, Expected>,
    },
    /// A path: its nodes, and its relationships each with whether it points forwards
    /// (`-[..]->`) along the path; `text` is the cell as written, for messages.
    Path {
        text: String,
        nodes: Vec<Expected>,
        relationships: Vec<(bool, Expected)>,
    },
}

/// Parses one table cell (already unescaped by the Gherkin reader).
pub fn parse(cell: &str) -> Result<Expected, String> {
    let chars: Vec<char> = cell.chars().collect();
    let mut p = Parser { chars: &chars, pos: 0 };
    let value = p.value()?;
    p.skip_ws();
    if p.pos != chars.len() {
        return Err(format!("unexpected `{}` in `{cell}`", p.rest()));
    }
    Ok(value)
}

struct Parser<'c> {
    chars: &'c [char],
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> String {
        self.chars[self.pos..].iter().collect()
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}` at `{}`", self.rest()))
        }
    }

    fn starts_with(&mut self, word: &str) -> bool {
        self.skip_ws();
        let found = self.rest().starts_with(word)
            && !self
                .chars
                .get(self.pos + word.chars().count())
                .is_some_and(|c| c.is_alphanumeric() || *c == '_');
        if found {
            self.pos += word.chars().count();
        }
        found
    }

    fn value(&mut self) -> Result<Expected, String> {
        let c = self.peek().ok_or("expected a value, found the end")?;
        if self.starts_with("null") {
            return Ok(Expected::Null);
        }
        if self.starts_with("true") {
            return Ok(Expected::Bool(true));
        }
        if self.starts_with("false") {
            return Ok(Expected::Bool(false));
        }
        if self.starts_with("NaN") {
            return Ok(Expected::Float { value: f64::NAN, digits: usize::MAX });
        }
        if self.starts_with("Inf") {
            return Ok(Expected::Float { value: f64::INFINITY, digits: usize::MAX });
        }
        if self.starts_with("-Inf") {
            return Ok(Expected::Float { value: f64::NEG_INFINITY, digits: usize::MAX });
        }
        match c {
            '\'' => self.string().map(Expected::Str),
            '[' => {
                let save = self.pos;
                self.pos += 1;
                if self.peek() == Some(':') {
                    self.pos = save;
                    return self.relationship();
                }
                let mut items = Vec::new();
                if !self.eat(']') {
                    loop {
                        items.push(self.value()?);
                        if self.eat(']') {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                Ok(Expected::List(items))
            }
            '{' => self.map().map(Expected::Map),
            '(' => self.node(),
            '<' => self.path(),
            c if c == '-' || c == '+' || c == '.' || c.is_ascii_digit() => self.number(),
            other => Err(format!("unexpected `{other}` at `{}`", self.rest())),
        }
    }

    fn number(&mut self) -> Result<Expected, String> {
        let start = self.pos;
        let text_from = |p: &Self| p.chars[start..p.pos].iter().collect::<String>();
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            // A sign is part of the number only at its start or right after an exponent marker.
            let c = self.chars[self.pos];
            if matches!(c, '-' | '+')
                && self.pos != start
                && !matches!(self.chars[self.pos - 1], 'e' | 'E')
            {
                break;
            }
            self.pos += 1;
        }
        let text = text_from(self);
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Expected::Int(i));
        }
        let value: f64 = text.parse().map_err(|_| format!("not a number: `{text}`"))?;
        let mantissa = text.split(['e', 'E']).next().unwrap_or("");
        let digits =
            mantissa.chars().filter(char::is_ascii_digit).skip_while(|d| *d == '0').count();
        Ok(Expected::Float { value, digits: digits.max(1) })
    }

    /// A single-quoted string; `\\` and `\'` are escapes, any other backslash is literal.
    fn string(&mut self) -> Result<String, String> {
        self.expect('\'')?;
        let mut s = String::new();
        loop {
            let c = *self.chars.get(self.pos).ok_or("unterminated string")?;
            self.pos += 1;
            match c {
                '\'' => return Ok(s),
                '\\' => match self.chars.get(self.pos) {
                    Some(escaped @ ('\\' | '\'')) => {
                        s.push(*escaped);
                        self.pos += 1;
                    }
                    _ => s.push('\\'),
                },
                c => s.push(c),
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        self.skip_ws();
        if self.eat('`') {
            let start = self.pos;
            while self.chars.get(self.pos).is_some_and(|c| *c != '`') {
                self.pos += 1;
            }
            let name = self.chars[start..self.pos].iter().collect();
            self.expect('`')?;
            return Ok(name);
        }
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(format!("expected a name at `{}`", self.rest()));
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn map(&mut self) -> Result<BTreeMap<String, Expected>, String> {
        self.expect('{')?;
        let mut map = BTreeMap::new();
        if !self.eat('}') {
            loop {
                let key = self.name()?;
                self.expect(':')?;
                map.insert(key, self.value()?);
                if self.eat('}') {
                    break;
                }
                self.expect(',')?;
            }
        }
        Ok(map)
    }

    fn properties(&mut self) -> Result<BTreeMap<String, Expected>, String> {
        if self.peek() == Some('{') {
            self.map()
        } else {
            Ok(BTreeMap::new())
        }
    }

    fn node(&mut self) -> Result<Expected, String> {
        self.expect('(')?;
        let mut labels = BTreeSet::new();
        while self.eat(':') {
            labels.insert(self.name()?);
        }
        let properties = self.properties()?;
        self.expect(')')?;
        Ok(Expected::Node { labels, properties })
    }

    fn relationship(&mut self) -> Result<Expected, String> {
        self.expect('[')?;
        self.expect(':')?;
        let rel_type = self.name()?;
        let properties = self.properties()?;
        self.expect(']')?;
        Ok(Expected::Relationship { rel_type, properties })
    }

    /// `<(n)(-[r]->(n) | <-[r]-(n))*>`.
    fn path(&mut self) -> Result<Expected, String> {
        self.expect('<')?;
        let start = self.pos;
        let mut nodes = vec![self.node()?];
        let mut relationships = Vec::new();
        loop {
            if self.eat('>') {
                let text: String = self.chars[start..self.pos - 1].iter().collect();
                let text = format!("<{}>", text.trim());
                return Ok(Expected::Path { text, nodes, relationships });
            }
            let backwards = self.eat('<');
            self.expect('-')?;
            let rel = self.relationship()?;
            self.expect('-')?;
            // `->` ends with the arrow head; the closing `>` of the path comes after a node.
            let forwards = self.eat('>');
            if forwards == backwards {
                return Err(format!(
                    "a path relationship needs exactly one arrow at `{}`",
                    self.rest()
                ));
            }
            relationships.push((forwards, rel));
            nodes.push(self.node()?);
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = |f: &mut fmt::Formatter<'_>, m: &BTreeMap<String, Expected>| {
            let entries: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            write!(f, "{{{}}}", entries.join(", "))
        };
        match self {
            Expected::Null => write!(f, "null"),
            Expected::Bool(b) => write!(f, "{b}"),
            Expected::Int(i) => write!(f, "{i}"),
            Expected::Float { value, .. } => write!(f, "{value:?}"),
            Expected::Str(s) => write!(f, "'{s}'"),
            Expected::List(items) => {
                let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Expected::Map(m) => map(f, m),
            Expected::Node { labels, properties } => {
                write!(f, "(")?;
                for label in labels {
                    write!(f, ":{label}")?;
                }
                if !properties.is_empty() {
                    if !labels.is_empty() {
                        write!(f, " ")?;
                    }
                    map(f, properties)?;
                }
                write!(f, ")")
            }
            Expected::Relationship { rel_type, properties } => {
                write!(f, "[:{rel_type}")?;
                if !properties.is_empty() {
                    write!(f, " ")?;
                    map(f, properties)?;
                }
                write!(f, "]")
            }
            Expected::Path { text, .. } => write!(f, "{text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_value() {
        let v = parse("[1, -2.50, 'a\\'b\\\\c', null, {k: [true]}, (:B:A {p: 1e3}), [:T], -Inf]")
            .expect("parses");
        let Expected::List(items) = v else { panic!("{v:?}") };
        assert_eq!(items[0], Expected::Int(1));
        assert_eq!(items[1], Expected::Float { value: -2.5, digits: 3 });
        assert_eq!(items[2], Expected::Str("a'b\\c".into()));
        assert!(matches!(&items[5], Expected::Node { labels, .. } if labels.len() == 2));
        assert!(matches!(&items[6], Expected::Relationship { rel_type, .. } if rel_type == "T"));
        assert_eq!(items[7], Expected::Float { value: f64::NEG_INFINITY, digits: usize::MAX });
    }

    #[test]
    fn reads_paths() {
        let v = parse("[<(:A)-[:T]->(:B)<-[:U {x: 1}]-()>]").expect("parses");
        assert_eq!(v.to_string(), "[<(:A)-[:T]->(:B)<-[:U {x: 1}]-()>]");
    }
}
