//! Setup statements → a small syntax tree.
//!
//! Covers CREATE, MATCH [WHERE], UNWIND, WITH [WHERE] and DELETE with the expressions setup
//! blocks use. Anything else is reported by name so that the scenario is skipped with a
//! reason rather than run against a wrong graph.

use ripple_dataflows::Value;

use super::lexer::Tok;

/// One clause.
#[derive(Debug)]
pub enum Clause {
    Create(Vec<PathPattern>),
    Match {
        patterns: Vec<PathPattern>,
        filter: Option<Ex>,
    },
    Unwind {
        list: Ex,
        variable: String,
    },
    /// `items` is `None` for `WITH *`.
    With {
        items: Option<Vec<(Ex, String)>>,
        filter: Option<Ex>,
    },
    Delete(Vec<Ex>),
}

/// `(a)-[:T]->(b)<-[:U]-(c)`.
#[derive(Debug)]
pub struct PathPattern {
    pub start: NodePattern,
    pub steps: Vec<(RelPattern, NodePattern)>,
}

/// `(v:L1:L2 {k: e})`.
#[derive(Debug)]
pub struct NodePattern {
    pub variable: Option<String>,
    pub labels: Vec<String>,
    pub properties: Vec<(String, Ex)>,
}

/// Which way a relationship pattern points, read left to right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Right,
    Left,
    Either,
}

/// `-[v:T1|T2 {k: e}]->`.
#[derive(Debug)]
pub struct RelPattern {
    pub variable: Option<String>,
    pub types: Vec<String>,
    pub properties: Vec<(String, Ex)>,
    pub direction: Direction,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    Xor,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// An expression.
#[derive(Debug)]
pub enum Ex {
    Literal(Value),
    Variable(String),
    List(Vec<Ex>),
    Map(Vec<(String, Ex)>),
    Property(Box<Ex>, String),
    Index(Box<Ex>, Box<Ex>),
    Call(String, Vec<Ex>),
    Neg(Box<Ex>),
    Not(Box<Ex>),
    Binary(BinOp, Box<Ex>, Box<Ex>),
    HasLabels(Box<Ex>, Vec<String>),
    IsNull(Box<Ex>, bool),
}

/// Parses a whole setup script (one statement, optionally ending in `;`).
pub fn parse(tokens: &[Tok]) -> Result<Vec<Clause>, String> {
    let mut p = Parser { tokens, pos: 0 };
    let mut clauses = Vec::new();
    while p.pos < tokens.len() {
        if p.eat(";") {
            continue;
        }
        clauses.push(p.clause()?);
    }
    Ok(clauses)
}

struct Parser<'t> {
    tokens: &'t [Tok],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead)
    }

    fn is(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(s)) if *s == symbol)
    }

    fn eat(&mut self, symbol: &str) -> bool {
        let found = self.is(symbol);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, symbol: &str) -> Result<(), String> {
        if self.eat(symbol) {
            Ok(())
        } else {
            Err(format!("expected `{symbol}`, found {}", self.describe()))
        }
    }

    fn describe(&self) -> String {
        match self.peek() {
            Some(t) => format!("{t:?}"),
            None => "the end".to_string(),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(keyword);
        if found {
            self.pos += 1;
        }
        found
    }

    fn name(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Ident(n)) | Some(Tok::Quoted(n)) => {
                let n = n.clone();
                self.pos += 1;
                Ok(n)
            }
            _ => Err(format!("expected a name, found {}", self.describe())),
        }
    }

    fn clause(&mut self) -> Result<Clause, String> {
        if self.eat_keyword("CREATE") {
            return Ok(Clause::Create(self.patterns()?));
        }
        if self.eat_keyword("MATCH") {
            let patterns = self.patterns()?;
            return Ok(Clause::Match { patterns, filter: self.filter()? });
        }
        if self.eat_keyword("UNWIND") {
            let list = self.expr()?;
            if !self.eat_keyword("AS") {
                return Err("expected AS after UNWIND".to_string());
            }
            return Ok(Clause::Unwind { list, variable: self.name()? });
        }
        if self.eat_keyword("WITH") {
            if self.is_keyword("DISTINCT") {
                return Err("WITH DISTINCT".to_string());
            }
            let items = if self.eat("*") {
                None
            } else {
                let mut items = Vec::new();
                loop {
                    items.push(self.projection_item()?);
                    if !self.eat(",") {
                        break;
                    }
                }
                Some(items)
            };
            return Ok(Clause::With { items, filter: self.filter()? });
        }
        if self.eat_keyword("DELETE") {
            let mut targets = vec![self.expr()?];
            while self.eat(",") {
                targets.push(self.expr()?);
            }
            return Ok(Clause::Delete(targets));
        }
        match self.peek() {
            Some(Tok::Ident(word)) => Err(word.to_uppercase()),
            _ => Err(format!("expected a clause, found {}", self.describe())),
        }
    }

    /// How many `.name` segments follow before a `(`, if they do: `date.realtime(` has one;
    /// `n.name` (a property) has none.
    fn dotted_call_segments(&self) -> usize {
        let mut segments = 0;
        loop {
            match (self.peek_at(2 * segments), self.peek_at(2 * segments + 1)) {
                (Some(Tok::Sym(".")), Some(Tok::Ident(_))) => segments += 1,
                (Some(Tok::Sym("(")), _) => return segments,
                _ => return 0,
            }
        }
    }

    fn projection_item(&mut self) -> Result<(Ex, String), String> {
        let expr = self.expr()?;
        if self.eat_keyword("AS") {
            return Ok((expr, self.name()?));
        }
        match expr {
            Ex::Variable(name) => Ok((Ex::Variable(name.clone()), name)),
            _ => Err("WITH item without AS".to_string()),
        }
    }

    fn filter(&mut self) -> Result<Option<Ex>, String> {
        if self.eat_keyword("WHERE") {
            Ok(Some(self.expr()?))
        } else {
            Ok(None)
        }
    }

    fn patterns(&mut self) -> Result<Vec<PathPattern>, String> {
        let mut patterns = vec![self.path()?];
        while self.eat(",") {
            patterns.push(self.path()?);
        }
        Ok(patterns)
    }

    fn path(&mut self) -> Result<PathPattern, String> {
        if matches!(self.peek_at(1), Some(Tok::Sym("="))) {
            return Err("a named path".to_string());
        }
        let start = self.node()?;
        let mut steps = Vec::new();
        while self.is("-") || (self.is("<") && matches!(self.peek_at(1), Some(Tok::Sym("-")))) {
            let rel = self.relationship()?;
            steps.push((rel, self.node()?));
        }
        Ok(PathPattern { start, steps })
    }

    fn node(&mut self) -> Result<NodePattern, String> {
        self.expect("(")?;
        let variable = match self.peek() {
            Some(Tok::Ident(_)) | Some(Tok::Quoted(_)) => Some(self.name()?),
            _ => None,
        };
        let labels = self.labels()?;
        let properties = self.properties()?;
        self.expect(")")?;
        Ok(NodePattern { variable, labels, properties })
    }

    fn labels(&mut self) -> Result<Vec<String>, String> {
        let mut labels = Vec::new();
        while self.eat(":") {
            labels.push(self.name()?);
        }
        Ok(labels)
    }

    fn properties(&mut self) -> Result<Vec<(String, Ex)>, String> {
        match self.peek() {
            Some(Tok::Sym("{")) => self.map_entries(),
            Some(Tok::Param(_)) => Err("a parameter as a property map".to_string()),
            _ => Ok(Vec::new()),
        }
    }

    fn relationship(&mut self) -> Result<RelPattern, String> {
        let left = self.eat("<");
        self.expect("-")?;
        let (mut variable, mut types, mut properties) = (None, Vec::new(), Vec::new());
        if self.eat("[") {
            if let Some(Tok::Ident(_)) | Some(Tok::Quoted(_)) = self.peek() {
                variable = Some(self.name()?);
            }
            if self.eat(":") {
                types.push(self.name()?);
                while self.eat("|") {
                    self.eat(":");
                    types.push(self.name()?);
                }
            }
            if self.is("*") {
                return Err("a variable-length relationship".to_string());
            }
            properties = self.properties()?;
            self.expect("]")?;
        }
        self.expect("-")?;
        let right = self.eat(">");
        let direction = match (left, right) {
            (false, true) => Direction::Right,
            (true, false) => Direction::Left,
            _ => Direction::Either,
        };
        Ok(RelPattern { variable, types, properties, direction })
    }

    fn map_entries(&mut self) -> Result<Vec<(String, Ex)>, String> {
        self.expect("{")?;
        let mut entries = Vec::new();
        if !self.eat("}") {
            loop {
                let key = self.name()?;
                self.expect(":")?;
                entries.push((key, self.expr()?));
                if self.eat("}") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(entries)
    }

    fn expr(&mut self) -> Result<Ex, String> {
        self.binary(0)
    }

    /// Precedence climbing over OR < XOR < AND < NOT < comparison < additive < multiplicative.
    fn binary(&mut self, level: usize) -> Result<Ex, String> {
        const LEVELS: [&[(&str, BinOp)]; 6] = [
            &[("OR", BinOp::Or)],
            &[("XOR", BinOp::Xor)],
            &[("AND", BinOp::And)],
            &[
                ("=", BinOp::Eq),
                ("<>", BinOp::Ne),
                ("<", BinOp::Lt),
                ("<=", BinOp::Le),
                (">", BinOp::Gt),
                (">=", BinOp::Ge),
            ],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)],
        ];
        if level == 3 && self.eat_keyword("NOT") {
            return Ok(Ex::Not(Box::new(self.binary(3)?)));
        }
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        loop {
            let op = LEVELS[level].iter().find(|(token, _)| match token.chars().next() {
                Some(c) if c.is_alphabetic() => self.is_keyword(token),
                _ => self.is(token),
            });
            let Some((_, op)) = op else { return Ok(left) };
            self.pos += 1;
            let right = self.binary(level + 1)?;
            left = Ex::Binary(*op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Ex, String> {
        if self.eat("-") {
            // `-9223372036854775808` is only representable as a negated literal.
            if let Some(Tok::Int(n)) = self.peek() {
                let n = *n;
                self.pos += 1;
                let value = i64::try_from(-(n as i128))
                    .map_err(|_| format!("integer literal -{n} is too large"))?;
                return self.postfix(Ex::Literal(Value::Int(value)));
            }
            return Ok(Ex::Neg(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return self.unary();
        }
        let atom = self.atom()?;
        self.postfix(atom)
    }

    fn postfix(&mut self, mut expr: Ex) -> Result<Ex, String> {
        loop {
            if self.eat(".") {
                expr = Ex::Property(Box::new(expr), self.name()?);
            } else if self.eat("[") {
                let index = self.expr()?;
                if self.is("..") {
                    return Err("list slicing".to_string());
                }
                self.expect("]")?;
                expr = Ex::Index(Box::new(expr), Box::new(index));
            } else if self.is(":") {
                expr = Ex::HasLabels(Box::new(expr), self.labels()?);
            } else if self.is_keyword("IS") {
                self.pos += 1;
                let negated = self.eat_keyword("NOT");
                if !self.eat_keyword("NULL") {
                    return Err("expected NULL after IS".to_string());
                }
                expr = Ex::IsNull(Box::new(expr), negated);
            } else if self.is_keyword("IN")
                || self.is_keyword("STARTS")
                || self.is_keyword("ENDS")
                || self.is_keyword("CONTAINS")
            {
                return Err(format!("the {} operator", self.describe()));
            } else {
                return Ok(expr);
            }
        }
    }

    fn atom(&mut self) -> Result<Ex, String> {
        let token = self.peek().cloned().ok_or("expected an expression, found the end")?;
        match token {
            Tok::Int(n) => {
                self.pos += 1;
                let value =
                    i64::try_from(n).map_err(|_| format!("integer literal {n} is too large"))?;
                Ok(Ex::Literal(Value::Int(value)))
            }
            Tok::Float(f) => {
                self.pos += 1;
                Ok(Ex::Literal(Value::float(f)))
            }
            Tok::Str(s) => {
                self.pos += 1;
                Ok(Ex::Literal(Value::str(&s)))
            }
            Tok::Param(_) => Err("a query parameter".to_string()),
            Tok::Sym("(") => {
                self.pos += 1;
                let inner = self.expr()?;
                self.expect(")")?;
                Ok(inner)
            }
            Tok::Sym("[") => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.expr()?);
                        if self.eat("]") {
                            break;
                        }
                        if !self.is(",") {
                            return Err("a list comprehension".to_string());
                        }
                        self.pos += 1;
                    }
                }
                Ok(Ex::List(items))
            }
            Tok::Sym("{") => Ok(Ex::Map(self.map_entries()?)),
            Tok::Quoted(name) => {
                self.pos += 1;
                Ok(Ex::Variable(name))
            }
            Tok::Ident(word) => {
                self.pos += 1;
                match word.to_ascii_lowercase().as_str() {
                    "null" => return Ok(Ex::Literal(Value::Null)),
                    "true" => return Ok(Ex::Literal(Value::Bool(true))),
                    "false" => return Ok(Ex::Literal(Value::Bool(false))),
                    "case" => return Err("CASE".to_string()),
                    _ => {}
                }
                // A function name may be dotted, as in `datetime.fromepoch(...)`.
                let mut name = word;
                for _ in 0..self.dotted_call_segments() {
                    self.pos += 1;
                    name = format!("{name}.{}", self.name()?);
                }
                if !self.eat("(") {
                    return Ok(Ex::Variable(name));
                }
                let mut args = Vec::new();
                if self.is_keyword("DISTINCT") {
                    return Err(format!("{name}(DISTINCT ...)"));
                }
                if !self.eat(")") {
                    loop {
                        args.push(self.expr()?);
                        if self.eat(")") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Ok(Ex::Call(name, args))
            }
            Tok::Sym(s) => Err(format!("expected an expression, found `{s}`")),
        }
    }
}
