//! Recursive-descent parser for read-only openCypher, with precedence climbing for expressions.
//!
//! Write and procedure clauses are recognised and skipped as [`Clause::Unsupported`] so that the
//! planner can reject them by name. Every error names what was expected and what was found, and
//! points at the offending token.

use super::ast::{
    BinaryOp, Clause, CmpOp, Direction, Expr, ExprKind, Ident, Literal, Match, NodePattern,
    Pattern, Projection, ProjectionItem, Quantifier, Query, RelPattern, Return, SingleQuery,
    SortItem, Span, UnaryOp, Union, Unwind, With,
};
use super::error::{CypherError, ErrorDetail};
use super::lexer::{tokenize, Keyword, Token, TokenKind, MAX_INT_MAGNITUDE};

/// How deeply expressions may nest (parentheses, lists, operator chains...). Bounds both the
/// parser's recursion and the depth of the tree, whose recursive drop would otherwise be able to
/// overflow the stack on hostile input.
const MAX_DEPTH: usize = 200;

/// Atoms the parser may parse per token before giving up. Backtracking between a pattern
/// comprehension and a list literal re-parses some tokens; this bounds the cost of adversarial
/// nesting.
const FUEL_PER_TOKEN: usize = 64;

/// Binding strength of operators, loosest first (openCypher CIP2021-08-10).
const PREC_OR: u8 = 1;
const PREC_XOR: u8 = 2;
const PREC_AND: u8 = 3;
const PREC_NOT: u8 = 4;
const PREC_COMPARISON: u8 = 5;
const PREC_PREDICATE: u8 = 6;
const PREC_ADDITIVE: u8 = 7;
const PREC_MULTIPLICATIVE: u8 = 8;
const PREC_POWER: u8 = 9;

type PResult<T> = Result<T, CypherError>;

/// Parses a whole query.
pub fn parse(text: &str) -> Result<Query, CypherError> {
    let tokens = tokenize(text)?;
    let fuel = tokens.len().saturating_mul(FUEL_PER_TOKEN).saturating_add(1000);
    Parser { text, tokens, pos: 0, depth: 0, fuel }.query()
}

/// An infix operator found at the current token.
#[derive(Clone, Copy)]
enum Infix {
    Binary(BinaryOp),
    Comparison(CmpOp),
    /// `IS [NOT] NULL`, which takes no right operand.
    IsNull,
}

impl Infix {
    fn precedence(self) -> u8 {
        match self {
            Infix::Binary(BinaryOp::Or) => PREC_OR,
            Infix::Binary(BinaryOp::Xor) => PREC_XOR,
            Infix::Binary(BinaryOp::And) => PREC_AND,
            Infix::Comparison(_) => PREC_COMPARISON,
            Infix::IsNull
            | Infix::Binary(
                BinaryOp::In
                | BinaryOp::StartsWith
                | BinaryOp::EndsWith
                | BinaryOp::Contains
                | BinaryOp::RegexMatch,
            ) => PREC_PREDICATE,
            Infix::Binary(BinaryOp::Add | BinaryOp::Sub) => PREC_ADDITIVE,
            Infix::Binary(BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod) => PREC_MULTIPLICATIVE,
            Infix::Binary(BinaryOp::Pow) => PREC_POWER,
        }
    }
}

/// Where the parser stands, to backtrack to.
#[derive(Clone, Copy)]
struct Checkpoint {
    pos: usize,
    depth: usize,
}

struct Parser<'a> {
    text: &'a str,
    /// Never empty: the last token is always `Eof`.
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    fuel: usize,
}

/// Token helpers.
impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    /// The token `n` ahead, or the final `Eof`.
    fn peek_at(&self, n: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[self.pos.saturating_add(n).min(last)]
    }

    fn kind_at(&self, n: usize) -> &TokenKind {
        &self.peek_at(n).kind
    }

    fn keyword_at(&self, n: usize) -> Option<Keyword> {
        self.peek_at(n).keyword()
    }

    fn at(&self, kind: &TokenKind) -> bool {
        self.peek().kind == *kind
    }

    fn at_keyword(&self, keyword: Keyword) -> bool {
        self.keyword_at(0) == Some(keyword)
    }

    /// Moves past the current token (never past `Eof`) and returns it.
    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, kind: &TokenKind) -> Option<Span> {
        self.at(kind).then(|| self.advance().span)
    }

    fn eat_keyword(&mut self, keyword: Keyword) -> Option<Span> {
        self.at_keyword(keyword).then(|| self.advance().span)
    }

    fn expect(&mut self, kind: &TokenKind, what: &str) -> PResult<Span> {
        self.eat(kind).ok_or_else(|| self.expected(what))
    }

    fn expect_keyword(&mut self, keyword: Keyword, what: &str) -> PResult<Span> {
        self.eat_keyword(keyword).ok_or_else(|| self.expected(what))
    }

    /// End of the last consumed token.
    fn prev_end(&self) -> usize {
        match self.pos.checked_sub(1) {
            Some(prev) => self.tokens[prev].span.end,
            None => 0,
        }
    }

    /// `expected <what>, found '<token>'`, at the current token.
    fn expected(&self, what: &str) -> CypherError {
        let token = self.peek();
        let message = if token.kind == TokenKind::Eof {
            format!("unexpected end of query, expected {what}")
        } else {
            format!("expected {what}, found {}", self.describe(token))
        };
        CypherError::syntax(message, token.span)
    }

    /// The query text under `span`.
    fn source(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }

    /// The token as written, quoted and shortened.
    fn describe(&self, token: &Token) -> String {
        let text = self.source(token.span);
        let short: String = text.chars().take(30).collect();
        if short.len() < text.len() {
            format!("'{short}...'")
        } else {
            format!("'{text}'")
        }
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint { pos: self.pos, depth: self.depth }
    }

    fn restore(&mut self, checkpoint: Checkpoint) {
        self.pos = checkpoint.pos;
        self.depth = checkpoint.depth;
    }

    /// Goes one level deeper, failing beyond [`MAX_DEPTH`]. Callers undo it with `self.depth -= n`.
    fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err(CypherError::syntax("expression nested too deeply", self.peek().span));
        }
        self.depth += 1;
        Ok(())
    }

    fn burn_fuel(&mut self) -> PResult<()> {
        self.fuel = self.fuel.checked_sub(1).ok_or_else(|| {
            CypherError::syntax("query is too complex to parse", self.peek().span)
        })?;
        Ok(())
    }

    /// Whether the token `n` ahead can name a variable: any name but a reserved word.
    fn is_variable_at(&self, n: usize) -> bool {
        matches!(self.kind_at(n), TokenKind::Ident { keyword, .. } if !keyword.is_some_and(Keyword::is_reserved))
    }

    /// A variable name (not a reserved word).
    fn variable(&mut self, what: &str) -> PResult<Ident> {
        if !self.is_variable_at(0) {
            return Err(self.expected(what));
        }
        self.name(what)
    }

    /// Any name, keywords included: labels, types, property keys, map keys.
    fn name(&mut self, what: &str) -> PResult<Ident> {
        match &self.peek().kind {
            TokenKind::Ident { name, .. } => {
                let ident = Ident { name: name.clone(), span: self.peek().span };
                self.advance();
                Ok(ident)
            }
            _ => Err(self.expected(what)),
        }
    }
}

/// Clauses.
impl Parser<'_> {
    fn query(mut self) -> PResult<Query> {
        let first = self.single_query()?;
        let mut unions = Vec::new();
        while let Some(keyword) = self.eat_keyword(Keyword::Union) {
            let all = self.eat_keyword(Keyword::All);
            let span = keyword.to(all.unwrap_or(keyword));
            let query = self.single_query()?;
            unions.push(Union { all: all.is_some(), query, span });
        }
        self.eat(&TokenKind::Semicolon);
        if !self.at(&TokenKind::Eof) {
            return Err(self.expected("the end of the query"));
        }
        Ok(Query { first, unions, span: Span::new(0, self.text.len()) })
    }

    /// Clauses up to the end of the query or the next `UNION`.
    fn single_query(&mut self) -> PResult<SingleQuery> {
        let start = self.peek().span.start;
        let mut clauses = Vec::new();
        while let Some(clause) = self.clause()? {
            let is_return = matches!(clause, Clause::Return(_));
            clauses.push(clause);
            if is_return {
                break;
            }
        }
        let at_end = self.at(&TokenKind::Eof)
            || self.at(&TokenKind::Semicolon)
            || self.at_keyword(Keyword::Union);
        match clauses.last() {
            Some(Clause::Return(_)) if !at_end => {
                Err(self.expected("UNION or the end of the query"))
            }
            _ if !at_end => Err(self.expected("a clause such as MATCH, WITH or RETURN")),
            None => Err(self.expected("a clause such as MATCH, WITH or RETURN")),
            Some(Clause::Return(_) | Clause::Unsupported { .. }) => {
                Ok(SingleQuery { clauses, span: Span::new(start, self.prev_end()) })
            }
            Some(_) => Err(CypherError::syntax("a query must end with RETURN", self.peek().span)),
        }
    }

    /// The clause at the current token, or `None` if no clause starts here.
    fn clause(&mut self) -> PResult<Option<Clause>> {
        let clause = match self.keyword_at(0) {
            Some(Keyword::Match | Keyword::Optional) => Clause::Match(self.match_clause()?),
            Some(Keyword::Unwind) => Clause::Unwind(self.unwind_clause()?),
            Some(Keyword::With) => Clause::With(self.with_clause()?),
            Some(Keyword::Return) => Clause::Return(self.return_clause()?),
            Some(keyword) if is_write_keyword(keyword) => self.unsupported_clause()?,
            _ => return Ok(None),
        };
        Ok(Some(clause))
    }

    fn match_clause(&mut self) -> PResult<Match> {
        let start = self.peek().span.start;
        let optional = self.eat_keyword(Keyword::Optional).is_some();
        self.expect_keyword(Keyword::Match, "MATCH after OPTIONAL")?;
        let mut patterns = vec![self.pattern()?];
        while self.eat(&TokenKind::Comma).is_some() {
            patterns.push(self.pattern()?);
        }
        let where_ = self.where_()?;
        Ok(Match { optional, patterns, where_, span: Span::new(start, self.prev_end()) })
    }

    fn unwind_clause(&mut self) -> PResult<Unwind> {
        let start = self.advance().span.start;
        let expr = self.expr()?;
        self.expect_keyword(Keyword::As, "AS after the UNWIND expression")?;
        let variable = self.variable("a variable name")?;
        Ok(Unwind { expr, variable, span: Span::new(start, self.prev_end()) })
    }

    fn with_clause(&mut self) -> PResult<With> {
        let start = self.advance().span.start;
        let projection = self.projection()?;
        let where_ = self.where_()?;
        Ok(With { projection, where_, span: Span::new(start, self.prev_end()) })
    }

    fn return_clause(&mut self) -> PResult<Return> {
        let start = self.advance().span.start;
        let projection = self.projection()?;
        Ok(Return { projection, span: Span::new(start, self.prev_end()) })
    }

    fn where_(&mut self) -> PResult<Option<Expr>> {
        match self.eat_keyword(Keyword::Where) {
            Some(_) => Ok(Some(self.expr()?)),
            None => Ok(None),
        }
    }

    /// `[DISTINCT] (* | items | *, items) [ORDER BY ...] [SKIP e] [LIMIT e]`.
    fn projection(&mut self) -> PResult<Projection> {
        let distinct = self.eat_keyword(Keyword::Distinct);
        let star = self.eat(&TokenKind::Star);
        let items = if star.is_none() || self.eat(&TokenKind::Comma).is_some() {
            self.projection_items()?
        } else {
            Vec::new()
        };
        let order_by = match self.eat_keyword(Keyword::Order) {
            Some(order) => {
                let by = self.expect_keyword(Keyword::By, "BY after ORDER")?;
                Some((self.sort_items()?, order.to(by)))
            }
            None => None,
        };
        let skip = match self.eat_keyword(Keyword::Skip) {
            Some(keyword) => Some((self.expr()?, keyword)),
            None => None,
        };
        let limit = match self.eat_keyword(Keyword::Limit) {
            Some(keyword) => Some((self.expr()?, keyword)),
            None => None,
        };
        Ok(Projection { distinct, star, items, order_by, skip, limit })
    }

    fn projection_items(&mut self) -> PResult<Vec<ProjectionItem>> {
        let mut items = vec![self.projection_item()?];
        while self.eat(&TokenKind::Comma).is_some() {
            items.push(self.projection_item()?);
        }
        Ok(items)
    }

    /// `expr [AS alias]`, keeping the expression's source text to name the column.
    fn projection_item(&mut self) -> PResult<ProjectionItem> {
        let expr = self.expr()?;
        let text = self.source(expr.span).trim().to_string();
        let alias = match self.eat_keyword(Keyword::As) {
            Some(_) => Some(self.variable("an alias name")?),
            None => None,
        };
        let span = alias.as_ref().map_or(expr.span, |alias| expr.span.to(alias.span));
        Ok(ProjectionItem { expr, alias, text, span })
    }

    fn sort_items(&mut self) -> PResult<Vec<SortItem>> {
        let mut items = Vec::new();
        loop {
            let expr = self.expr()?;
            let descending = match self.keyword_at(0) {
                Some(Keyword::Asc | Keyword::Ascending) => {
                    self.advance();
                    false
                }
                Some(Keyword::Desc | Keyword::Descending) => {
                    self.advance();
                    true
                }
                _ => false,
            };
            items.push(SortItem { expr, descending });
            if self.eat(&TokenKind::Comma).is_none() {
                return Ok(items);
            }
        }
    }

    /// A write or procedure clause: its keywords are kept, its body skipped.
    fn unsupported_clause(&mut self) -> PResult<Clause> {
        let keyword = self.advance();
        let mut span = keyword.span;
        let mut name = self.source(span).to_uppercase();
        match keyword.keyword() {
            Some(Keyword::Detach) => {
                span = span.to(self.expect_keyword(Keyword::Delete, "DELETE after DETACH")?);
                name = "DETACH DELETE".to_string();
            }
            Some(Keyword::Load) => {
                span = span.to(self.expect_keyword(Keyword::Csv, "CSV after LOAD")?);
                name = "LOAD CSV".to_string();
                // `LOAD CSV WITH HEADERS`: this WITH does not start a clause.
                if self.at_keyword(Keyword::With) && self.keyword_at(1) == Some(Keyword::Headers) {
                    self.advance();
                    self.advance();
                }
            }
            _ => {}
        }
        self.skip_clause_body()?;
        Ok(Clause::Unsupported { name, span })
    }

    /// Skips tokens up to the next clause keyword outside brackets.
    fn skip_clause_body(&mut self) -> PResult<()> {
        let mut open = 0usize;
        loop {
            match self.kind_at(0) {
                TokenKind::Eof if open > 0 => return Err(self.expected("a closing bracket")),
                TokenKind::Eof => return Ok(()),
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => open += 1,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => {
                    match open.checked_sub(1) {
                        Some(fewer) => open = fewer,
                        None => return Ok(()),
                    }
                }
                TokenKind::Semicolon if open == 0 => return Ok(()),
                _ if open == 0 && self.at_merge_action() => {
                    // `ON CREATE SET` / `ON MATCH SET` belong to MERGE.
                    self.advance();
                    self.advance();
                    self.eat_keyword(Keyword::Set);
                    continue;
                }
                _ if open == 0 && self.at_clause_keyword() => return Ok(()),
                _ => {}
            }
            self.advance();
        }
    }

    /// `ON CREATE` or `ON MATCH` inside MERGE.
    fn at_merge_action(&self) -> bool {
        self.at_keyword(Keyword::On)
            && matches!(self.keyword_at(1), Some(Keyword::Create | Keyword::Match))
    }

    /// Whether the current token starts a clause (and is not a property key or label).
    fn at_clause_keyword(&self) -> bool {
        let after_dot_or_colon = self.pos > 0
            && matches!(self.tokens[self.pos - 1].kind, TokenKind::Dot | TokenKind::Colon);
        let starts_clause = match self.keyword_at(0) {
            Some(Keyword::Match | Keyword::Optional | Keyword::With | Keyword::Return)
            | Some(Keyword::Unwind | Keyword::Union) => true,
            Some(keyword) => is_write_keyword(keyword),
            None => false,
        };
        starts_clause && !after_dot_or_colon
    }
}

/// Keywords that open a clause the engine only recognises to reject.
fn is_write_keyword(keyword: Keyword) -> bool {
    matches!(
        keyword,
        Keyword::Create
            | Keyword::Merge
            | Keyword::Set
            | Keyword::Delete
            | Keyword::Detach
            | Keyword::Remove
            | Keyword::Call
            | Keyword::Foreach
            | Keyword::Load
    )
}

/// Patterns.
impl Parser<'_> {
    /// `[p =] (a)-[r]->(b)...`. A pattern counts as one nesting level: patterns nest through
    /// property maps and comprehensions, and their parse takes about twice the stack of an
    /// expression level.
    fn pattern(&mut self) -> PResult<Pattern> {
        self.enter()?;
        let pattern = self.pattern_steps()?;
        self.depth -= 1;
        Ok(pattern)
    }

    fn pattern_steps(&mut self) -> PResult<Pattern> {
        let start = self.peek().span.start;
        let variable = if self.is_variable_at(0) && *self.kind_at(1) == TokenKind::Eq {
            let variable = self.variable("a path variable")?;
            self.advance();
            Some(variable)
        } else {
            None
        };
        let first = self.node_pattern()?;
        let mut steps = Vec::new();
        while self.at_relationship() {
            let relationship = self.rel_pattern()?;
            steps.push((relationship, self.node_pattern()?));
        }
        Ok(Pattern { variable, start: first, steps, span: Span::new(start, self.prev_end()) })
    }

    /// Whether a relationship (`-` or `<-`) starts here.
    fn at_relationship(&self) -> bool {
        match self.kind_at(0) {
            TokenKind::Minus => true,
            TokenKind::Lt => *self.kind_at(1) == TokenKind::Minus,
            _ => false,
        }
    }

    /// `(variable:Label1:Label2 {props})`.
    fn node_pattern(&mut self) -> PResult<NodePattern> {
        let start = self.expect(&TokenKind::LParen, "'(' to start a node pattern")?;
        let variable =
            if self.is_variable_at(0) { Some(self.variable("a variable name")?) } else { None };
        let (mut labels, mut label_alternatives) = (Vec::new(), Vec::new());
        while self.eat(&TokenKind::Colon).is_some() {
            let mut group = vec![self.name("a label name")?];
            while self.eat(&TokenKind::Pipe).is_some() {
                self.eat(&TokenKind::Colon);
                group.push(self.name("a label name")?);
            }
            match <[Ident; 1]>::try_from(group) {
                Ok([label]) => labels.push(label),
                Err(group) => label_alternatives.push(group),
            }
        }
        let properties = self.pattern_properties()?;
        let end = self.expect(&TokenKind::RParen, "')' to close the node pattern")?;
        Ok(NodePattern { variable, labels, label_alternatives, properties, span: start.to(end) })
    }

    /// `:A:B` in an expression, possibly none.
    fn labels(&mut self) -> PResult<Vec<Ident>> {
        let mut labels = Vec::new();
        while self.eat(&TokenKind::Colon).is_some() {
            labels.push(self.name("a label name")?);
        }
        Ok(labels)
    }

    /// Inline properties of a node or relationship: a map literal or a parameter.
    fn pattern_properties(&mut self) -> PResult<Option<Expr>> {
        match self.kind_at(0) {
            TokenKind::LBrace => Ok(Some(self.map_literal()?)),
            TokenKind::Parameter(name) => {
                let kind = ExprKind::Parameter(name.clone());
                Ok(Some(Expr { kind, span: self.advance().span }))
            }
            _ => Ok(None),
        }
    }

    /// `-[...]->`, `<-[...]-`, `-[...]-`, `-->`, `<--`, `--`.
    fn rel_pattern(&mut self) -> PResult<RelPattern> {
        let start = self.peek().span.start;
        let incoming = self.eat(&TokenKind::Lt).is_some();
        self.expect(&TokenKind::Minus, "'-' to start a relationship pattern")?;
        let mut relationship = RelPattern {
            variable: None,
            types: Vec::new(),
            direction: Direction::Either,
            length: None,
            properties: None,
            span: Span::default(),
        };
        if self.eat(&TokenKind::LBracket).is_some() {
            self.rel_detail(&mut relationship)?;
            self.expect(&TokenKind::RBracket, "']' to close the relationship pattern")?;
        }
        self.expect(&TokenKind::Minus, "'-' to continue the relationship pattern")?;
        let outgoing = self.eat(&TokenKind::Gt).is_some();
        relationship.direction = match (incoming, outgoing) {
            (true, false) => Direction::Incoming,
            (false, true) => Direction::Outgoing,
            _ => Direction::Either,
        };
        relationship.span = Span::new(start, self.prev_end());
        Ok(relationship)
    }

    /// The inside of `[r:T1|T2 *1..3 {props}]`.
    fn rel_detail(&mut self, relationship: &mut RelPattern) -> PResult<()> {
        if self.is_variable_at(0) {
            relationship.variable = Some(self.variable("a variable name")?);
        }
        if self.eat(&TokenKind::Colon).is_some() {
            relationship.types.push(self.name("a relationship type")?);
            while self.eat(&TokenKind::Pipe).is_some() {
                self.eat(&TokenKind::Colon);
                relationship.types.push(self.name("a relationship type")?);
            }
        }
        let invalid = |message: &str, span: Span| {
            CypherError::syntax(message, span).with_detail(ErrorDetail::InvalidRelationshipPattern)
        };
        if self.at(&TokenKind::DotDot) || matches!(self.kind_at(0), TokenKind::Int(_)) {
            return Err(invalid(
                "expected '*' before the length of a relationship",
                self.peek().span,
            ));
        }
        if self.eat(&TokenKind::Star).is_some() {
            if self.at(&TokenKind::Minus) {
                return Err(invalid("a relationship length cannot be negative", self.peek().span));
            }
            relationship.length = Some(self.length_range());
        }
        relationship.properties = self.pattern_properties()?;
        Ok(())
    }

    /// The bounds after `*`: `2` means exactly two, `1..3`, `..3`, `2..` and nothing are ranges.
    fn length_range(&mut self) -> (Option<u64>, Option<u64>) {
        let min = self.length_bound();
        if self.eat(&TokenKind::DotDot).is_some() {
            (min, self.length_bound())
        } else {
            (min, min)
        }
    }

    fn length_bound(&mut self) -> Option<u64> {
        match *self.kind_at(0) {
            TokenKind::Int(value) => {
                self.advance();
                Some(value)
            }
            _ => None,
        }
    }
}

/// Expressions.
impl Parser<'_> {
    fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let expr = self.climb(PREC_OR)?;
        self.depth -= 1;
        Ok(expr)
    }

    /// Parses operators binding at least as tightly as `min` (precedence climbing).
    ///
    /// This function and the others on the recursive path (`unary`, `atom`, ...) keep few
    /// locals: unoptimised builds give every temporary its own stack slot, and nesting depth
    /// times frame size must fit a thread's stack.
    fn climb(&mut self, min: u8) -> PResult<Expr> {
        let mut left = if self.at_keyword(Keyword::Not) { self.not(min)? } else { self.unary()? };
        let mut links = 0;
        while let Some(infix) = self.infix().filter(|infix| infix.precedence() >= min) {
            self.enter()?;
            links += 1;
            left = self.infix_operation(infix, left)?;
        }
        self.depth -= links;
        Ok(left)
    }

    /// `NOT operand`, where the operand binds at least as tightly as `min`.
    fn not(&mut self, min: u8) -> PResult<Expr> {
        let not = self.advance().span;
        self.enter()?;
        let operand = self.climb(PREC_NOT.max(min))?;
        self.depth -= 1;
        let span = not.to(operand.span);
        Ok(Expr { kind: ExprKind::Unary(UnaryOp::Not, Box::new(operand)), span })
    }

    /// Applies `infix` (at the current token) to `left` and its right operand.
    fn infix_operation(&mut self, infix: Infix, left: Expr) -> PResult<Expr> {
        match infix {
            Infix::Comparison(_) => self.comparison_chain(left),
            Infix::IsNull => self.is_null(left),
            Infix::Binary(op) => {
                self.binary_operator()?;
                let right = self.climb(infix.precedence() + 1)?;
                let span = left.span.to(right.span);
                Ok(Expr { kind: ExprKind::Binary(op, Box::new(left), Box::new(right)), span })
            }
        }
    }

    /// The infix operator at the current token, if any.
    fn infix(&self) -> Option<Infix> {
        let binary = |op| Some(Infix::Binary(op));
        let comparison = |op| Some(Infix::Comparison(op));
        match self.kind_at(0) {
            TokenKind::Plus => binary(BinaryOp::Add),
            TokenKind::Minus => binary(BinaryOp::Sub),
            TokenKind::Star => binary(BinaryOp::Mul),
            TokenKind::Slash => binary(BinaryOp::Div),
            TokenKind::Percent => binary(BinaryOp::Mod),
            TokenKind::Caret => binary(BinaryOp::Pow),
            TokenKind::RegexMatch => binary(BinaryOp::RegexMatch),
            TokenKind::Eq => comparison(CmpOp::Eq),
            TokenKind::Ne => comparison(CmpOp::Ne),
            TokenKind::Lt => comparison(CmpOp::Lt),
            TokenKind::Le => comparison(CmpOp::Le),
            TokenKind::Gt => comparison(CmpOp::Gt),
            TokenKind::Ge => comparison(CmpOp::Ge),
            TokenKind::Ident { keyword: Some(keyword), .. } => match keyword {
                Keyword::Or => binary(BinaryOp::Or),
                Keyword::Xor => binary(BinaryOp::Xor),
                Keyword::And => binary(BinaryOp::And),
                Keyword::In => binary(BinaryOp::In),
                Keyword::Starts => binary(BinaryOp::StartsWith),
                Keyword::Ends => binary(BinaryOp::EndsWith),
                Keyword::Contains => binary(BinaryOp::Contains),
                Keyword::Is => Some(Infix::IsNull),
                _ => None,
            },
            _ => None,
        }
    }

    /// Consumes a binary operator's token(s): `STARTS WITH` and `ENDS WITH` take two.
    fn binary_operator(&mut self) -> PResult<()> {
        let first = self.advance();
        if matches!(first.keyword(), Some(Keyword::Starts | Keyword::Ends)) {
            let what = format!("WITH after {}", self.source(first.span).to_uppercase());
            self.expect_keyword(Keyword::With, &what)?;
        }
        Ok(())
    }

    /// `a < b <= c ...` as one [`ExprKind::Comparison`] keeping every link.
    fn comparison_chain(&mut self, first: Expr) -> PResult<Expr> {
        let mut links = Vec::new();
        while let Some(Infix::Comparison(op)) = self.infix() {
            self.advance();
            links.push((op, self.climb(PREC_COMPARISON + 1)?));
        }
        let end = links.last().map_or(first.span, |(_, last)| last.span);
        let span = first.span.to(end);
        Ok(Expr { kind: ExprKind::Comparison(Box::new(first), links), span })
    }

    /// `IS NULL` / `IS NOT NULL` after `operand`.
    fn is_null(&mut self, operand: Expr) -> PResult<Expr> {
        self.advance();
        let negated = self.eat_keyword(Keyword::Not).is_some();
        let end = self.expect_keyword(Keyword::Null, "NULL or NOT NULL after IS")?;
        let span = operand.span.to(end);
        Ok(Expr { kind: ExprKind::IsNull(Box::new(operand), negated), span })
    }

    /// Prefix `-` / `+`, then a postfix expression. A minus directly before a number literal is
    /// folded into it, so that `-9223372036854775808` is in range.
    fn unary(&mut self) -> PResult<Expr> {
        if matches!(self.kind_at(0), TokenKind::Minus | TokenKind::Plus) {
            self.prefixed()
        } else {
            self.postfix_expr()
        }
    }

    /// An atom and the postfix operators after it.
    fn postfix_expr(&mut self) -> PResult<Expr> {
        let atom = self.atom()?;
        self.postfix(atom)
    }

    /// One or more prefix `-` / `+` and their operand.
    fn prefixed(&mut self) -> PResult<Expr> {
        let mut prefixes = Vec::new();
        loop {
            let op = match self.kind_at(0) {
                TokenKind::Minus => UnaryOp::Neg,
                TokenKind::Plus => UnaryOp::Plus,
                _ => break,
            };
            self.enter()?;
            prefixes.push((op, self.advance().span));
        }
        let folded_minus = match prefixes.last() {
            Some(&(UnaryOp::Neg, minus)) if self.at_plain_number() => Some(minus),
            _ => None,
        };
        let mut expr = match folded_minus {
            Some(minus) => {
                prefixes.pop();
                self.depth -= 1;
                self.number(Some(minus))?
            }
            None => self.postfix_expr()?,
        };
        self.depth -= prefixes.len();
        while let Some((op, span)) = prefixes.pop() {
            let span = span.to(expr.span);
            expr = Expr { kind: ExprKind::Unary(op, Box::new(expr)), span };
        }
        Ok(expr)
    }

    /// Whether a number literal that no postfix operator applies to comes next.
    fn at_plain_number(&self) -> bool {
        matches!(self.kind_at(0), TokenKind::Int(_) | TokenKind::Float(_))
            && !matches!(self.kind_at(1), TokenKind::Dot | TokenKind::LBracket | TokenKind::Colon)
    }

    /// `.key`, `[index]`, `[from..to]` after `expr`, then optional `:Label`s.
    fn postfix(&mut self, mut expr: Expr) -> PResult<Expr> {
        let mut links = 0;
        loop {
            let start = expr.span.start;
            let is_labels = *self.kind_at(0) == TokenKind::Colon;
            let kind = match self.kind_at(0) {
                TokenKind::Dot => {
                    self.advance();
                    ExprKind::Property(Box::new(expr), self.name("a property name")?)
                }
                TokenKind::LBracket => {
                    self.advance();
                    self.subscript(expr)?
                }
                TokenKind::Colon => ExprKind::HasLabels(Box::new(expr), self.labels()?),
                _ => break,
            };
            self.enter()?;
            links += 1;
            expr = Expr { kind, span: Span::new(start, self.prev_end()) };
            if is_labels {
                break;
            }
        }
        self.depth -= links;
        Ok(expr)
    }

    /// `[index]` or `[from..to]` after the `[`.
    fn subscript(&mut self, base: Expr) -> PResult<ExprKind> {
        let from = if self.at(&TokenKind::DotDot) { None } else { Some(Box::new(self.expr()?)) };
        let kind = if self.eat(&TokenKind::DotDot).is_some() {
            let to =
                if self.at(&TokenKind::RBracket) { None } else { Some(Box::new(self.expr()?)) };
            ExprKind::Slice(Box::new(base), from, to)
        } else {
            match from {
                Some(index) => ExprKind::Index(Box::new(base), index),
                None => return Err(self.expected("an index expression")),
            }
        };
        self.expect(&TokenKind::RBracket, "']' to close the subscript")?;
        Ok(kind)
    }

    fn atom(&mut self) -> PResult<Expr> {
        self.burn_fuel()?;
        match self.kind_at(0) {
            TokenKind::LBracket => self.bracket(),
            TokenKind::LBrace => self.map_literal(),
            TokenKind::LParen => self.parenthesised_or_pattern(),
            TokenKind::Ident { keyword: Some(Keyword::Case), .. } => self.case(),
            TokenKind::Ident {
                keyword: Some(Keyword::True | Keyword::False | Keyword::Null),
                ..
            } => self.literal(),
            TokenKind::Ident { .. } => self.name_expr(),
            _ => self.literal(),
        }
    }

    /// A literal or a parameter.
    fn literal(&mut self) -> PResult<Expr> {
        let literal = match &self.peek().kind {
            TokenKind::Int(_) | TokenKind::Float(_) => return self.number(None),
            TokenKind::Str(value) => Literal::Str(value.clone()),
            TokenKind::Parameter(name) => {
                let kind = ExprKind::Parameter(name.clone());
                return Ok(Expr { kind, span: self.advance().span });
            }
            TokenKind::Ident { keyword: Some(Keyword::True), .. } => Literal::Bool(true),
            TokenKind::Ident { keyword: Some(Keyword::False), .. } => Literal::Bool(false),
            TokenKind::Ident { keyword: Some(Keyword::Null), .. } => Literal::Null,
            _ => return Err(self.expected("an expression")),
        };
        Ok(Expr { kind: ExprKind::Literal(literal), span: self.advance().span })
    }

    /// A number literal, negated if `minus` (the span of the folded `-`) is given.
    fn number(&mut self, minus: Option<Span>) -> PResult<Expr> {
        let token = self.advance();
        let span = minus.map_or(token.span, |minus| minus.to(token.span));
        let literal = match token.kind {
            TokenKind::Int(magnitude) if minus.is_some() => {
                Literal::Int(0i64.checked_sub_unsigned(magnitude).unwrap_or(i64::MIN))
            }
            TokenKind::Int(magnitude) if magnitude < MAX_INT_MAGNITUDE => {
                Literal::Int(i64::try_from(magnitude).unwrap_or(i64::MAX))
            }
            TokenKind::Int(_) => {
                return Err(CypherError::syntax("integer literal is too large", token.span)
                    .with_detail(ErrorDetail::IntegerOverflow))
            }
            TokenKind::Float(value) if minus.is_some() => Literal::Float(-value),
            TokenKind::Float(value) => Literal::Float(value),
            _ => return Err(CypherError::syntax("expected a number", token.span)),
        };
        Ok(Expr { kind: ExprKind::Literal(literal), span })
    }

    /// An expression starting with a name: a variable, a function call, `count(*)`, a
    /// quantifier or an `EXISTS {}` / `COUNT {}` subquery.
    fn name_expr(&mut self) -> PResult<Expr> {
        let keyword = self.keyword_at(0);
        let next = self.kind_at(1).clone();
        match keyword {
            Some(Keyword::Exists | Keyword::Count) if next == TokenKind::LBrace => {
                return self.subquery()
            }
            Some(Keyword::Count)
                if next == TokenKind::LParen
                    && *self.kind_at(2) == TokenKind::Star
                    && *self.kind_at(3) == TokenKind::RParen =>
            {
                let start = self.advance().span.start;
                for _ in 0..3 {
                    self.advance();
                }
                return Ok(Expr {
                    kind: ExprKind::CountStar,
                    span: Span::new(start, self.prev_end()),
                });
            }
            Some(Keyword::All | Keyword::Any | Keyword::None | Keyword::Single)
                if next == TokenKind::LParen
                    && self.is_variable_at(2)
                    && self.keyword_at(3) == Some(Keyword::In) =>
            {
                return self.quantified()
            }
            _ => {}
        }
        if !self.is_variable_at(0) {
            return Err(self.expected("an expression"));
        }
        if let Some(name_tokens) = self.function_name_length() {
            return self.function_call(name_tokens);
        }
        let variable = self.variable("a variable name")?;
        Ok(Expr { kind: ExprKind::Variable(variable.name), span: variable.span })
    }

    /// If a function call `a.b.c(` starts here, how many tokens its name takes.
    fn function_name_length(&self) -> Option<usize> {
        let mut n = 1;
        while *self.kind_at(n) == TokenKind::Dot
            && matches!(self.kind_at(n + 1), TokenKind::Ident { .. })
        {
            n += 2;
        }
        (*self.kind_at(n) == TokenKind::LParen).then_some(n)
    }

    /// `name(args)` / `ns.name(DISTINCT args)`, whose name takes `name_tokens` tokens.
    fn function_call(&mut self, name_tokens: usize) -> PResult<Expr> {
        let mut name = String::new();
        let start = self.peek().span;
        for _ in 0..name_tokens {
            match self.advance().kind {
                TokenKind::Ident { name: part, .. } => name.push_str(&part),
                _ => name.push('.'),
            }
        }
        let name = Ident { name: name.into(), span: Span::new(start.start, self.prev_end()) };
        self.advance();
        let distinct = self.eat_keyword(Keyword::Distinct).is_some();
        let args = self.comma_separated(&TokenKind::RParen, "')' to close the function call")?;
        let span = Span::new(start.start, self.prev_end());
        Ok(Expr { kind: ExprKind::Function { name, distinct, args }, span })
    }

    /// Expressions separated by commas, up to and including `close`.
    fn comma_separated(&mut self, close: &TokenKind, what: &str) -> PResult<Vec<Expr>> {
        let mut items = Vec::new();
        if self.eat(close).is_some() {
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            if self.eat(&TokenKind::Comma).is_none() {
                self.expect(close, what)?;
                return Ok(items);
            }
        }
    }

    /// `all/any/none/single(x IN list WHERE predicate)`.
    fn quantified(&mut self) -> PResult<Expr> {
        let start = self.peek().span.start;
        let quantifier = match self.advance().keyword() {
            Some(Keyword::All) => Quantifier::All,
            Some(Keyword::Any) => Quantifier::Any,
            Some(Keyword::None) => Quantifier::None,
            _ => Quantifier::Single,
        };
        self.advance();
        let variable = self.variable("a variable name")?;
        self.advance();
        let list = Box::new(self.expr()?);
        self.expect_keyword(Keyword::Where, "WHERE and a predicate")?;
        let predicate = Box::new(self.expr()?);
        self.expect(&TokenKind::RParen, "')' to close the quantifier")?;
        let kind = ExprKind::Quantified { quantifier, variable, list, predicate };
        Ok(Expr { kind, span: Span::new(start, self.prev_end()) })
    }

    /// `EXISTS { ... }` / `COUNT { ... }`: only its name is kept, the body is skipped.
    fn subquery(&mut self) -> PResult<Expr> {
        let keyword = self.advance();
        let name = self.source(keyword.span).to_uppercase();
        self.advance();
        let mut open = 1usize;
        while open > 0 {
            match self.kind_at(0) {
                TokenKind::Eof => {
                    return Err(self.expected(&format!("'}}' to close the {name} subquery")))
                }
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => open += 1,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => open -= 1,
                _ => {}
            }
            self.advance();
        }
        Ok(Expr {
            kind: ExprKind::Subquery { name },
            span: Span::new(keyword.span.start, self.prev_end()),
        })
    }

    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`.
    fn case(&mut self) -> PResult<Expr> {
        let start = self.advance().span.start;
        let operand =
            if self.at_keyword(Keyword::When) { None } else { Some(Box::new(self.expr()?)) };
        let mut whens = Vec::new();
        self.expect_keyword(Keyword::When, "WHEN")?;
        loop {
            let condition = self.expr()?;
            self.expect_keyword(Keyword::Then, "THEN")?;
            whens.push((condition, self.expr()?));
            if self.eat_keyword(Keyword::When).is_none() {
                break;
            }
        }
        let else_ = match self.eat_keyword(Keyword::Else) {
            Some(_) => Some(Box::new(self.expr()?)),
            None => None,
        };
        self.expect_keyword(Keyword::End, "END to close the CASE expression")?;
        let kind = ExprKind::Case { operand, whens, else_ };
        Ok(Expr { kind, span: Span::new(start, self.prev_end()) })
    }

    /// `{k: v, ...}`.
    fn map_literal(&mut self) -> PResult<Expr> {
        let start = self.expect(&TokenKind::LBrace, "'{'")?.start;
        let mut entries = Vec::new();
        if self.eat(&TokenKind::RBrace).is_none() {
            loop {
                let key = self.name("a property name")?;
                self.expect(&TokenKind::Colon, "':' after the property name")?;
                entries.push((key, self.expr()?));
                if self.eat(&TokenKind::Comma).is_none() {
                    self.expect(&TokenKind::RBrace, "'}' to close the map")?;
                    break;
                }
            }
        }
        Ok(Expr { kind: ExprKind::Map(entries), span: Span::new(start, self.prev_end()) })
    }

    /// A list literal, list comprehension or pattern comprehension, all starting with `[`.
    fn bracket(&mut self) -> PResult<Expr> {
        if self.is_variable_at(1) && self.keyword_at(2) == Some(Keyword::In) {
            return self.list_comprehension();
        }
        let may_be_pattern = *self.kind_at(1) == TokenKind::LParen
            || (self.is_variable_at(1) && *self.kind_at(2) == TokenKind::Eq);
        if !may_be_pattern {
            return self.list_literal();
        }
        let checkpoint = self.checkpoint();
        match self.pattern_comprehension() {
            Ok(expr) => Ok(expr),
            Err(pattern_error) => {
                self.restore(checkpoint);
                self.list_literal().map_err(|list_error| furthest(pattern_error, list_error))
            }
        }
    }

    fn list_literal(&mut self) -> PResult<Expr> {
        let start = self.advance().span.start;
        let items = self.comma_separated(&TokenKind::RBracket, "']' to close the list")?;
        Ok(Expr { kind: ExprKind::List(items), span: Span::new(start, self.prev_end()) })
    }

    /// `[x IN list WHERE predicate | projection]`.
    fn list_comprehension(&mut self) -> PResult<Expr> {
        let start = self.advance().span.start;
        let variable = self.variable("a variable name")?;
        self.advance();
        let list = Box::new(self.expr()?);
        let predicate = match self.eat_keyword(Keyword::Where) {
            Some(_) => Some(Box::new(self.expr()?)),
            None => None,
        };
        let projection = match self.eat(&TokenKind::Pipe) {
            Some(_) => Some(Box::new(self.expr()?)),
            None => None,
        };
        self.expect(&TokenKind::RBracket, "']' to close the list comprehension")?;
        let kind = ExprKind::ListComprehension { variable, list, predicate, projection };
        Ok(Expr { kind, span: Span::new(start, self.prev_end()) })
    }

    /// `[p = (a)-->(b) WHERE predicate | projection]`.
    fn pattern_comprehension(&mut self) -> PResult<Expr> {
        let start = self.advance().span.start;
        let pattern = self.relationships_pattern()?;
        let predicate = match self.eat_keyword(Keyword::Where) {
            Some(_) => Some(Box::new(self.expr()?)),
            None => None,
        };
        self.expect(&TokenKind::Pipe, "'|' and the projection of the pattern comprehension")?;
        let projection = Box::new(self.expr()?);
        self.expect(&TokenKind::RBracket, "']' to close the pattern comprehension")?;
        let kind =
            ExprKind::PatternComprehension { pattern: Box::new(pattern), predicate, projection };
        Ok(Expr { kind, span: Span::new(start, self.prev_end()) })
    }

    /// A pattern with at least one relationship, as patterns in expressions must have.
    fn relationships_pattern(&mut self) -> PResult<Pattern> {
        let pattern = self.pattern()?;
        if pattern.steps.is_empty() {
            return Err(self.expected("a relationship pattern such as -->"));
        }
        Ok(pattern)
    }

    /// `(expr)` or a pattern predicate `(a)-->(b)`. When a node pattern followed by an arrow is
    /// ahead, the pattern reading wins, as in openCypher: `(a)--(b)` is a pattern, not
    /// `(a) - (-(b))`, and an error inside it is reported as a pattern error.
    fn parenthesised_or_pattern(&mut self) -> PResult<Expr> {
        if self.looks_like_pattern() {
            self.pattern_predicate()
        } else {
            self.parenthesised()
        }
    }

    /// A pattern used as a predicate, `(a)-->(b)`.
    fn pattern_predicate(&mut self) -> PResult<Expr> {
        let pattern = self.relationships_pattern()?;
        let span = pattern.span;
        Ok(Expr { kind: ExprKind::PatternPredicate(Box::new(pattern)), span })
    }

    /// Whether the `(` here opens a node pattern followed by a relationship arrow.
    fn looks_like_pattern(&self) -> bool {
        let opens_node = matches!(
            self.kind_at(1),
            TokenKind::Ident { .. } | TokenKind::Colon | TokenKind::RParen | TokenKind::LBrace
        );
        if !opens_node {
            return false;
        }
        let Some(close) = self.matching_paren() else {
            return false;
        };
        let arrow_body =
            |n: usize| matches!(self.kind_at(n), TokenKind::Minus | TokenKind::LBracket);
        match self.kind_at(close + 1) {
            TokenKind::Minus => arrow_body(close + 2),
            TokenKind::Lt => *self.kind_at(close + 2) == TokenKind::Minus && arrow_body(close + 3),
            _ => false,
        }
    }

    /// The offset (from the current `(`) of the bracket closing it.
    fn matching_paren(&self) -> Option<usize> {
        let mut open = 0usize;
        for (n, token) in self.tokens[self.pos..].iter().enumerate() {
            match token.kind {
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => open += 1,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => {
                    open = open.checked_sub(1)?;
                    if open == 0 {
                        return Some(n);
                    }
                }
                TokenKind::Eof => return None,
                _ => {}
            }
        }
        None
    }

    /// `( expr )`; the span includes the parentheses.
    fn parenthesised(&mut self) -> PResult<Expr> {
        let start = self.advance().span.start;
        let inner = self.expr()?;
        self.expect(&TokenKind::RParen, "')' to close the parenthesised expression")?;
        Ok(Expr { kind: inner.kind, span: Span::new(start, self.prev_end()) })
    }
}

/// Of two failed alternatives, the error that got further into the text.
fn furthest(first: CypherError, second: CypherError) -> CypherError {
    if second.span.start > first.span.start {
        second
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// One `When executing query:` block of a TCK scenario, outlines expanded.
    struct TckQuery {
        scenario: String,
        query: String,
        /// The compile-time error the scenario expects (`IntegerOverflow`, ...), if any.
        expected_error: Option<String>,
    }

    const TCK_FEATURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/tck/features");

    /// Every `.feature` file under `dir`, sorted.
    fn feature_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<_> =
            entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                feature_files(&path, files);
            } else if path.extension().is_some_and(|ext| ext == "feature") {
                files.push(path);
            }
        }
    }

    /// The cells of a Gherkin table row, with `\|` unescaped.
    fn table_cells(line: &str) -> Vec<String> {
        let inner = line.trim().trim_start_matches('|');
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    cell.push('|');
                    chars.next();
                }
                '|' => cells.push(std::mem::take(&mut cell).trim().to_string()),
                _ => cell.push(c),
            }
        }
        cells
    }

    /// The queries of one scenario, expanded over its Examples rows when it is an outline.
    fn scenario_queries(name: &str, lines: &[&str], out: &mut Vec<TckQuery>) {
        let mut queries = Vec::new();
        let mut examples: Vec<Vec<String>> = Vec::new();
        let mut in_examples = false;
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i].trim();
            if line.starts_with("When executing query:")
                && lines.get(i + 1).is_some_and(|l| l.trim() == "\"\"\"")
            {
                let end = (i + 2..lines.len())
                    .find(|&j| lines[j].trim() == "\"\"\"")
                    .unwrap_or(lines.len());
                queries.push(lines[i + 2..end].join("\n"));
                i = end;
            } else if line.starts_with("Examples:") {
                in_examples = true;
            } else if in_examples && line.starts_with('|') {
                examples.push(table_cells(line));
            }
            i += 1;
        }
        let expected_error = lines
            .iter()
            .find_map(|l| l.split_once("should be raised at compile time: "))
            .map(|(_, name)| name.trim().to_string());
        let rows: Vec<Vec<(String, String)>> = match examples.split_first() {
            Some((header, rows)) => rows
                .iter()
                .map(|row| {
                    header.iter().map(|h| format!("<{h}>")).zip(row.iter().cloned()).collect()
                })
                .collect(),
            None => vec![Vec::new()],
        };
        for query in queries {
            for row in &rows {
                let query = row.iter().fold(query.clone(), |q, (from, to)| q.replace(from, to));
                out.push(TckQuery {
                    scenario: name.to_string(),
                    query,
                    expected_error: expected_error.clone(),
                });
            }
        }
    }

    /// All TCK queries, or `None` when the TCK is not checked out next to the repository.
    fn tck_queries() -> Option<Vec<TckQuery>> {
        let mut files = Vec::new();
        feature_files(Path::new(TCK_FEATURES), &mut files);
        if files.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let stem =
                file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let starts: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].trim_start().starts_with("Scenario"))
                .collect();
            for (n, &start) in starts.iter().enumerate() {
                let end = starts.get(n + 1).copied().unwrap_or(lines.len());
                let title = lines[start].trim().split_once(':').map_or("", |(_, t)| t.trim());
                scenario_queries(&format!("{stem} {title}"), &lines[start..end], &mut out);
            }
        }
        Some(out)
    }

    /// Whether a query only reads (the TCK's write and procedure queries are only parsed, not
    /// counted).
    fn is_read_only(query: &str) -> bool {
        let upper = query.to_uppercase();
        let words: Vec<&str> = upper.split(|c: char| !c.is_alphanumeric() && c != '_').collect();
        !["CREATE", "MERGE", "SET", "DELETE", "REMOVE", "CALL"].iter().any(|w| words.contains(w))
    }

    #[test]
    fn parses_the_tck() {
        let Some(queries) = tck_queries() else {
            println!("note: {TCK_FEATURES} not found, TCK parse test skipped");
            return;
        };
        let (mut total, mut parsed, mut with_errors, mut parsed_with_errors) = (0, 0, 0, 0);
        for tck in &queries {
            let result = std::panic::catch_unwind(|| parse(&tck.query));
            let Ok(result) = result else {
                panic!("parser panicked on {}:\n{}", tck.scenario, tck.query)
            };
            if !is_read_only(&tck.query) {
                continue;
            }
            if tck.expected_error.is_some() {
                with_errors += 1;
                parsed_with_errors += usize::from(result.is_ok());
                continue;
            }
            total += 1;
            match result {
                Ok(_) => parsed += 1,
                Err(error) => println!(
                    "FAILED {}:\n{}\n{}\n",
                    tck.scenario,
                    tck.query,
                    error.render(&tck.query)
                ),
            }
        }
        println!("TCK: parsed {parsed} of {total} read-only queries that expect no compile error");
        println!("TCK: parsed {parsed_with_errors} of {with_errors} read-only queries that expect a compile error");
        assert!(parsed * 100 >= total * 95, "only {parsed} of {total} read-only TCK queries parse");
    }

    /// Scenarios whose expected error a parser must find: malformed literals.
    #[test]
    fn rejects_the_tck_malformed_literals() {
        let Some(queries) = tck_queries() else {
            println!("note: {TCK_FEATURES} not found, TCK literal test skipped");
            return;
        };
        let lexical = [
            "InvalidNumberLiteral",
            "IntegerOverflow",
            "InvalidUnicodeLiteral",
            "InvalidUnicodeCharacter",
        ];
        let mut checked = 0;
        for tck in &queries {
            let Some(expected) = &tck.expected_error else {
                continue;
            };
            let malformed_literal = lexical.contains(&expected.as_str())
                || expected == "FloatingPointOverflow"
                || (expected == "UnexpectedSyntax" && tck.scenario.starts_with("Literals"));
            if malformed_literal {
                checked += 1;
                assert!(parse(&tck.query).is_err(), "{} should fail:\n{}", tck.scenario, tck.query);
            }
        }
        assert!(checked >= 20, "only {checked} malformed-literal scenarios found");
    }

    fn ok(text: &str) -> Query {
        parse(text).unwrap_or_else(|error| panic!("{}", error.render(text)))
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(query) => panic!("{text} parsed: {query:?}"),
            Err(error) => error.render(text),
        }
    }

    fn return_items(query: &Query) -> &[ProjectionItem] {
        match query.first.clauses.last() {
            Some(Clause::Return(ret)) => &ret.projection.items,
            other => panic!("no RETURN: {other:?}"),
        }
    }

    /// The first returned expression of `RETURN <text>`, as an s-expression.
    fn expr(text: &str) -> String {
        let query = ok(&format!("RETURN {text}"));
        sexp(&return_items(&query)[0].expr)
    }

    fn opt(expr: &Option<Box<Expr>>) -> String {
        expr.as_deref().map_or("_".to_string(), sexp)
    }

    fn join(exprs: &[Expr]) -> String {
        exprs.iter().map(sexp).collect::<Vec<_>>().join(" ")
    }

    fn names(idents: &[Ident]) -> String {
        idents.iter().map(|i| i.name.to_string()).collect::<Vec<_>>().join("|")
    }

    /// A compact, fully parenthesised rendering of an expression for golden tests.
    fn sexp(expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Literal(Literal::Null) => "null".to_string(),
            ExprKind::Literal(Literal::Bool(b)) => b.to_string(),
            ExprKind::Literal(Literal::Int(i)) => i.to_string(),
            ExprKind::Literal(Literal::Float(f)) => format!("{f:?}"),
            ExprKind::Literal(Literal::Str(s)) => format!("{s:?}"),
            ExprKind::Parameter(name) => format!("${name}"),
            ExprKind::Variable(name) => name.to_string(),
            ExprKind::Property(base, key) => format!("(. {} {})", sexp(base), key.name),
            ExprKind::Index(base, index) => format!("([] {} {})", sexp(base), sexp(index)),
            ExprKind::Slice(base, from, to) => {
                format!("([..] {} {} {})", sexp(base), opt(from), opt(to))
            }
            ExprKind::List(items) => format!("[{}]", join(items)),
            ExprKind::Map(entries) => {
                let entries: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{}: {}", k.name, sexp(v))).collect();
                format!("{{{}}}", entries.join(", "))
            }
            ExprKind::Unary(op, operand) => {
                let op = match op {
                    UnaryOp::Not => "not",
                    UnaryOp::Neg => "-",
                    UnaryOp::Plus => "+",
                };
                format!("({op} {})", sexp(operand))
            }
            ExprKind::Binary(op, left, right) => {
                let op = match op {
                    BinaryOp::Or => "or",
                    BinaryOp::Xor => "xor",
                    BinaryOp::And => "and",
                    BinaryOp::Add => "+",
                    BinaryOp::Sub => "-",
                    BinaryOp::Mul => "*",
                    BinaryOp::Div => "/",
                    BinaryOp::Mod => "%",
                    BinaryOp::Pow => "^",
                    BinaryOp::In => "in",
                    BinaryOp::StartsWith => "starts-with",
                    BinaryOp::EndsWith => "ends-with",
                    BinaryOp::Contains => "contains",
                    BinaryOp::RegexMatch => "=~",
                };
                format!("({op} {} {})", sexp(left), sexp(right))
            }
            ExprKind::Comparison(first, links) => {
                let mut out = format!("(cmp {}", sexp(first));
                for (op, operand) in links {
                    let op = match op {
                        CmpOp::Eq => "=",
                        CmpOp::Ne => "<>",
                        CmpOp::Lt => "<",
                        CmpOp::Le => "<=",
                        CmpOp::Gt => ">",
                        CmpOp::Ge => ">=",
                    };
                    out += &format!(" {op} {}", sexp(operand));
                }
                out + ")"
            }
            ExprKind::IsNull(operand, true) => format!("(is-not-null {})", sexp(operand)),
            ExprKind::IsNull(operand, false) => format!("(is-null {})", sexp(operand)),
            ExprKind::HasLabels(operand, labels) => {
                format!("(labels {} {})", sexp(operand), names(labels))
            }
            ExprKind::Function { name, distinct, args } => {
                let distinct = if *distinct { " distinct" } else { "" };
                format!("(call {}{distinct} {})", name.name, join(args))
            }
            ExprKind::CountStar => "count(*)".to_string(),
            ExprKind::Case { operand, whens, else_ } => {
                let whens: Vec<String> =
                    whens.iter().map(|(w, t)| format!("{} {}", sexp(w), sexp(t))).collect();
                format!("(case {} {} else {})", opt(operand), whens.join(" "), opt(else_))
            }
            ExprKind::ListComprehension { variable, list, predicate, projection } => {
                format!(
                    "(list-comp {} {} {} {})",
                    variable.name,
                    sexp(list),
                    opt(predicate),
                    opt(projection)
                )
            }
            ExprKind::Quantified { quantifier, variable, list, predicate } => {
                format!("({quantifier:?} {} {} {})", variable.name, sexp(list), sexp(predicate))
            }
            ExprKind::PatternComprehension { pattern, predicate, projection } => {
                format!(
                    "(pattern-comp {} {} {})",
                    pattern_text(pattern),
                    opt(predicate),
                    sexp(projection)
                )
            }
            ExprKind::PatternPredicate(pattern) => format!("(pattern {})", pattern_text(pattern)),
            ExprKind::Subquery { name } => format!("(subquery {name})"),
        }
    }

    fn node_text(node: &NodePattern) -> String {
        let variable = node.variable.as_ref().map_or("", |v| &*v.name);
        let mut labels: String = node.labels.iter().map(|l| format!(":{}", l.name)).collect();
        for group in &node.label_alternatives {
            labels.push(':');
            labels.push_str(&names(group));
        }
        let properties =
            node.properties.as_ref().map_or(String::new(), |p| format!(" {}", sexp(p)));
        format!("({variable}{labels}{properties})")
    }

    /// A pattern written back in a canonical Cypher form.
    fn pattern_text(pattern: &Pattern) -> String {
        let mut out = pattern.variable.as_ref().map_or(String::new(), |v| format!("{} = ", v.name));
        out += &node_text(&pattern.start);
        for (rel, node) in &pattern.steps {
            let variable = rel.variable.as_ref().map_or("", |v| &*v.name);
            let types = if rel.types.is_empty() {
                String::new()
            } else {
                format!(":{}", names(&rel.types))
            };
            let bound = |b: Option<u64>| b.map_or("_".to_string(), |b| b.to_string());
            let length = rel
                .length
                .map_or(String::new(), |(min, max)| format!("*{}..{}", bound(min), bound(max)));
            let properties =
                rel.properties.as_ref().map_or(String::new(), |p| format!(" {}", sexp(p)));
            let detail = format!("[{variable}{types}{length}{properties}]");
            out += &match rel.direction {
                Direction::Outgoing => format!("-{detail}->"),
                Direction::Incoming => format!("<-{detail}-"),
                Direction::Either => format!("-{detail}-"),
            };
            out += &node_text(node);
        }
        out
    }

    fn match_patterns(text: &str) -> Vec<String> {
        match &ok(text).first.clauses[0] {
            Clause::Match(m) => m.patterns.iter().map(pattern_text).collect(),
            other => panic!("not a MATCH: {other:?}"),
        }
    }

    #[test]
    fn boolean_precedence() {
        assert_eq!(expr("NOT a = b OR c AND d XOR e"), "(or (not (cmp a = b)) (xor (and c d) e))");
        assert_eq!(expr("a OR b XOR c AND NOT NOT d"), "(or a (xor b (and c (not (not d)))))");
        assert_eq!(expr("a AND b AND c"), "(and (and a b) c)");
        assert_eq!(expr("not a and b"), "(and (not a) b)");
    }

    #[test]
    fn arithmetic_precedence() {
        assert_eq!(expr("1 + 2 * 3 - 4 / 5 % 6"), "(- (+ 1 (* 2 3)) (% (/ 4 5) 6))");
        assert_eq!(expr("2 ^ 3 ^ 2"), "(^ (^ 2 3) 2)");
        assert_eq!(expr("2 * 3 ^ 2"), "(* 2 (^ 3 2))");
        assert_eq!(expr("-3 ^ 2"), "(^ -3 2)");
        assert_eq!(expr("-x ^ 2"), "(^ (- x) 2)");
        assert_eq!(expr("- - 1"), "(- -1)");
        assert_eq!(expr("+x - -y"), "(- (+ x) (- y))");
        assert_eq!(expr("(1 + 2) * 3"), "(* (+ 1 2) 3)");
        assert_eq!(expr("a-1"), "(- a 1)");
    }

    #[test]
    fn predicates_bind_tighter_than_comparisons() {
        assert_eq!(expr("a + 1 IN list = x IS NULL"), "(cmp (in (+ a 1) list) = (is-null x))");
        assert_eq!(expr("x IS NOT NULL AND y is null"), "(and (is-not-null x) (is-null y))");
        assert_eq!(
            expr("n.name STARTS WITH 'a' OR n.name ENDS WITH \"b\" OR n.name CONTAINS 'c' OR n.name =~ 'r.*'"),
            "(or (or (or (starts-with (. n name) \"a\") (ends-with (. n name) \"b\")) \
             (contains (. n name) \"c\")) (=~ (. n name) \"r.*\"))"
        );
        assert_eq!(expr("1 IN [1] IN [true]"), "(in (in 1 [1]) [true])");
        assert_eq!(expr("n:A:B AND NOT m:C"), "(and (labels n A|B) (not (labels m C)))");
        assert_eq!(expr("a < -1"), "(cmp a < -1)");
        assert_eq!(expr("a<-1"), "(cmp a < -1)");
    }

    #[test]
    fn comparisons_chain() {
        assert_eq!(expr("a < b <= c = d <> e > f >= g"), "(cmp a < b <= c = d <> e > f >= g)");
        assert_eq!(expr("1 < 2 AND 2 = 2"), "(and (cmp 1 < 2) (cmp 2 = 2))");
    }

    #[test]
    fn literals() {
        assert_eq!(expr("null"), "null");
        assert_eq!(expr("TRUE"), "true");
        assert_eq!(expr("false"), "false");
        assert_eq!(expr("42"), "42");
        assert_eq!(expr("0x1F"), "31");
        assert_eq!(expr("0o17"), "15");
        assert_eq!(expr("017"), "15");
        assert_eq!(expr("-0x8000000000000000"), "-9223372036854775808");
        assert_eq!(expr("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(expr("-0o1000000000000000000000"), "-9223372036854775808");
        assert_eq!(expr("1e3"), "1000.0");
        assert_eq!(expr(".5"), "0.5");
        assert_eq!(expr("-1.5E-3"), "-0.0015");
        assert_eq!(expr(r"'a\tb'"), "\"a\\tb\"");
        assert_eq!(expr("$param"), "$param");
        assert_eq!(expr("$0"), "$0");
        assert_eq!(expr("[1, 'two', [3]]"), "[1 \"two\" [3]]");
        assert_eq!(expr("[]"), "[]");
        assert_eq!(expr("{a: 1, `b c`: {}, match: 2}"), "{a: 1, b c: {}, match: 2}");
    }

    #[test]
    fn integer_overflow() {
        for text in ["RETURN 9223372036854775808", "RETURN 0x8000000000000000"] {
            assert!(error(text).starts_with("1:8: integer literal is too large"), "{text}");
        }
        assert!(
            error("RETURN -9223372036854775809").starts_with("1:9: integer literal is too large")
        );
    }

    #[test]
    fn postfix_operators() {
        assert_eq!(
            expr("a.b[0][1..][..2][1..2].c"),
            "(. ([..] ([..] ([..] ([] (. a b) 0) 1 _) _ 2) 1 2) c)"
        );
        assert_eq!(expr("(list[1]).missing"), "(. ([] list 1) missing)");
        assert_eq!(expr("n.`odd key`.end"), "(. (. n odd key) end)");
        assert_eq!(expr("{a: 1}.a"), "(. {a: 1} a)");
    }

    #[test]
    fn function_calls() {
        assert_eq!(expr("count(*)"), "count(*)");
        assert_eq!(expr("COUNT ( * )"), "count(*)");
        assert_eq!(expr("count(DISTINCT n.x)"), "(call count distinct (. n x))");
        assert_eq!(expr("a.b.c(1, 2)"), "(call a.b.c 1 2)");
        assert_eq!(expr("rand()"), "(call rand )");
        assert_eq!(expr("exists(n.prop)"), "(call exists (. n prop))");
        assert_eq!(expr("count"), "count");
    }

    #[test]
    fn case_expressions() {
        assert_eq!(
            expr("CASE x WHEN 1 THEN 'a' WHEN 2 THEN 'b' ELSE 'c' END"),
            "(case x 1 \"a\" 2 \"b\" else \"c\")"
        );
        assert_eq!(expr("case when a > 1 then true end"), "(case _ (cmp a > 1) true else _)");
    }

    #[test]
    fn comprehensions_and_quantifiers() {
        assert_eq!(
            expr("[x IN range(1, 10) WHERE x % 2 = 0 | x * x]"),
            "(list-comp x (call range 1 10) (cmp (% x 2) = 0) (* x x))"
        );
        assert_eq!(expr("[x IN l]"), "(list-comp x l _ _)");
        assert_eq!(expr("[x IN l | x.name]"), "(list-comp x l _ (. x name))");
        assert_eq!(
            expr("[(a)-->(b:B) WHERE b.x > 1 | b.x]"),
            "(pattern-comp (a)-[]->(b:B) (cmp (. b x) > 1) (. b x))"
        );
        assert_eq!(expr("[p = (a)-[:R]-() | p]"), "(pattern-comp p = (a)-[:R]-() _ p)");
        assert_eq!(expr("[a = 1]"), "[(cmp a = 1)]");
        assert_eq!(expr("[(1), (a)]"), "[1 a]");
        assert_eq!(expr("all(x IN l WHERE x > 0)"), "(All x l (cmp x > 0))");
        assert_eq!(expr("any(x IN l WHERE x)"), "(Any x l x)");
        assert_eq!(expr("NONE(x IN l WHERE x)"), "(None x l x)");
        assert_eq!(expr("single(x IN l WHERE x)"), "(Single x l x)");
    }

    #[test]
    fn pattern_predicates_and_parentheses() {
        assert_eq!(
            expr("(a)-[:R]->(b) AND (a)<--(:C)"),
            "(and (pattern (a)-[:R]->(b)) (pattern (a)<-[]-(:C)))"
        );
        assert_eq!(expr("NOT (a)--()"), "(not (pattern (a)-[]-()))");
        assert_eq!(expr("(a) - (1)"), "(- a 1)");
        assert!(error("RETURN (a) - [1]")
            .contains("1:15: expected '*' before the length of a relationship"));
        assert_eq!(expr("(a)<-(b)"), "(cmp a < (- b))");
        assert_eq!(expr("(a:L)"), "(labels a L)");
        assert_eq!(expr("exists((a)-->())"), "(call exists (pattern (a)-[]->()))");
    }

    #[test]
    fn subqueries_are_kept_by_name() {
        assert_eq!(expr("EXISTS { MATCH (n)-->(m) WHERE m.x = {a: 1}.a }"), "(subquery EXISTS)");
        assert_eq!(expr("count { (n)--() } > 1"), "(cmp (subquery COUNT) > 1)");
        assert!(error("RETURN EXISTS { MATCH (n)")
            .contains("unexpected end of query, expected '}' to close the EXISTS subquery"));
    }

    #[test]
    fn patterns_of_every_shape() {
        assert_eq!(
            match_patterns(
                "MATCH (), (n), (:A), (n:A:B {k: 1, j: $p}), (m $props), p = (a)-->(b)<--(c)--(d), \
                 (a)-[r]->(b), (a)<-[:T1|T2|:T3]-(b), (a)-[r:T *1..3 {w: 2}]-(b), (a)<-[*]->(b) RETURN 1"
            ),
            vec![
                "()",
                "(n)",
                "(:A)",
                "(n:A:B {k: 1, j: $p})",
                "(m $props)",
                "p = (a)-[]->(b)<-[]-(c)-[]-(d)",
                "(a)-[r]->(b)",
                "(a)<-[:T1|T2|T3]-(b)",
                "(a)-[r:T*1..3 {w: 2}]-(b)",
                "(a)-[*_.._]-(b)",
            ]
        );
        assert_eq!(
            match_patterns("MATCH (n:A|B), (:A|:B:C), (a:X)-->(b:Y|Z) RETURN 1"),
            vec!["(n:A|B)", "(:C:A|B)", "(a:X)-[]->(b:Y|Z)"]
        );
        assert_eq!(
            match_patterns("MATCH (a)-[*2]->(b), (a)-[*..3]->(b), (a)-[*2..]->(b), (a) - [ r * 1 .. 2 ] - > (b) RETURN 1"),
            vec!["(a)-[*2..2]->(b)", "(a)-[*_..3]->(b)", "(a)-[*2.._]->(b)", "(a)-[r*1..2]->(b)"]
        );
    }

    #[test]
    fn pattern_spans() {
        let text = "MATCH p = (a)-[r]->(b) RETURN p";
        let query = ok(text);
        let Clause::Match(m) = &query.first.clauses[0] else { panic!("not a MATCH") };
        let pattern = &m.patterns[0];
        assert_eq!(&text[pattern.span.start..pattern.span.end], "p = (a)-[r]->(b)");
        assert_eq!(&text[pattern.start.span.start..pattern.start.span.end], "(a)");
        let (rel, node) = &pattern.steps[0];
        assert_eq!(&text[rel.span.start..rel.span.end], "-[r]->");
        assert_eq!(&text[node.span.start..node.span.end], "(b)");
        assert_eq!(&text[m.span.start..m.span.end], "MATCH p = (a)-[r]->(b)");
    }

    #[test]
    fn clauses() {
        let text = "OPTIONAL MATCH (n) WHERE n.x > 1 UNWIND [1, 2] AS i \
                    WITH DISTINCT *, i + 1 AS j ORDER BY j DESC, i ASCENDING SKIP 1 LIMIT $l WHERE j > 2 \
                    MATCH (m) RETURN count(*)";
        let query = ok(text);
        let clauses = &query.first.clauses;
        assert_eq!(clauses.len(), 5);
        let Clause::Match(m) = &clauses[0] else { panic!("{:?}", clauses[0]) };
        assert!(m.optional);
        assert_eq!(m.where_.as_ref().map(sexp).as_deref(), Some("(cmp (. n x) > 1)"));
        let Clause::Unwind(unwind) = &clauses[1] else { panic!("{:?}", clauses[1]) };
        assert_eq!((sexp(&unwind.expr).as_str(), &*unwind.variable.name), ("[1 2]", "i"));
        let Clause::With(with) = &clauses[2] else { panic!("{:?}", clauses[2]) };
        let projection = &with.projection;
        assert!(projection.distinct.is_some() && projection.star.is_some());
        assert_eq!(projection.items[0].alias.as_ref().map(|a| &*a.name), Some("j"));
        let (order, order_span) = projection.order_by.as_ref().expect("ORDER BY");
        assert_eq!(&text[order_span.start..order_span.end], "ORDER BY");
        assert_eq!(order.iter().map(|s| s.descending).collect::<Vec<_>>(), vec![true, false]);
        assert_eq!(projection.skip.as_ref().map(|(e, _)| sexp(e)).as_deref(), Some("1"));
        assert_eq!(projection.limit.as_ref().map(|(e, _)| sexp(e)).as_deref(), Some("$l"));
        assert_eq!(with.where_.as_ref().map(sexp).as_deref(), Some("(cmp j > 2)"));
        assert_eq!(
            &text[with.span.start..with.span.end],
            &text[text.find("WITH").unwrap_or(0)..text.find(" MATCH (m)").unwrap_or(0)]
        );
        assert!(matches!(&clauses[4], Clause::Return(_)));
        assert_eq!(query.span, Span::new(0, text.len()));
    }

    #[test]
    fn unions() {
        let query = ok("RETURN 1 AS x UNION RETURN 2 AS x UNION ALL RETURN 3 AS x;");
        assert_eq!(query.unions.iter().map(|u| u.all).collect::<Vec<_>>(), vec![false, true]);
        assert_eq!(query.unions[1].span, Span::new(34, 43));
    }

    #[test]
    fn projection_items_keep_their_text() {
        let text = "RETURN count( * ) , (list[1]).missing AS m, n.x+1";
        let query = ok(text);
        let items = return_items(&query);
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(texts, vec!["count( * )", "(list[1]).missing", "n.x+1"]);
        assert_eq!(&text[items[1].span.start..items[1].span.end], "(list[1]).missing AS m");
    }

    #[test]
    fn write_clauses_are_unsupported() {
        let text = "MATCH (n) CREATE (a)-[:R {w: 1}]->(b) SET n.x = 1, n += {y: 2} \
                    MERGE (m:M) ON CREATE SET m.y = 2 ON MATCH SET m.z = 3 DELETE a detach delete b REMOVE n:L, n.set \
                    CALL db.labels() YIELD label CALL { MATCH (x) RETURN x } FOREACH (x IN [1] | CREATE ()) \
                    LOAD CSV WITH HEADERS FROM 'file:///f.csv' AS line WITH 1 AS x RETURN x";
        let query = ok(text);
        let unsupported: Vec<(&str, &str)> = query
            .first
            .clauses
            .iter()
            .filter_map(|c| match c {
                Clause::Unsupported { name, span } => {
                    Some((name.as_str(), &text[span.start..span.end]))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            unsupported,
            vec![
                ("CREATE", "CREATE"),
                ("SET", "SET"),
                ("MERGE", "MERGE"),
                ("DELETE", "DELETE"),
                ("DETACH DELETE", "detach delete"),
                ("REMOVE", "REMOVE"),
                ("CALL", "CALL"),
                ("CALL", "CALL"),
                ("FOREACH", "FOREACH"),
                ("LOAD CSV", "LOAD CSV"),
            ]
        );
        assert!(matches!(query.first.clauses.last(), Some(Clause::Return(_))));
        assert!(parse("CREATE (n)").is_ok());
    }

    #[test]
    fn syntax_errors_name_expected_and_found() {
        assert_eq!(
            error("MATCH (m)\nWHERE )\nRETURN m"),
            "2:7: expected an expression, found ')'\n  |\n2 | WHERE )\n  |       ^"
        );
        assert_eq!(
            error("MATCH (n WHERE n.x = 1) RETURN n"),
            "1:10: expected ')' to close the node pattern, found 'WHERE'\n  |\n1 | MATCH (n WHERE n.x = 1) RETURN n\n  |          ^^^^^"
        );
        assert_eq!(
            error("MATCH (n) RETURN n +"),
            "1:21: unexpected end of query, expected an expression\n  |\n1 | MATCH (n) RETURN n +\n  |                     ^"
        );
        assert_eq!(
            error("MATCH (n)"),
            "1:10: a query must end with RETURN\n  |\n1 | MATCH (n)\n  |          ^"
        );
        assert!(error("MATCH (n) WITH n").starts_with("1:17: a query must end with RETURN"));
        assert!(error("MATCH (n) WITH n UNION RETURN 1")
            .starts_with("1:18: a query must end with RETURN"));
        assert!(error("").starts_with(
            "1:1: unexpected end of query, expected a clause such as MATCH, WITH or RETURN"
        ));
        assert!(
            error("RETURN 1 UNION").starts_with("1:15: unexpected end of query, expected a clause")
        );
        assert!(error("RETURN 1 MATCH (n)")
            .starts_with("1:10: expected UNION or the end of the query, found 'MATCH'"));
        assert!(error("MATCH (n) foo RETURN n")
            .starts_with("1:11: expected a clause such as MATCH, WITH or RETURN, found 'foo'"));
        assert!(error("RETURN [1, 2")
            .starts_with("1:13: unexpected end of query, expected ']' to close the list"));
        assert!(error("RETURN {k: {k: {}} AS x")
            .starts_with("1:20: expected '}' to close the map, found 'AS'"));
        assert!(error("RETURN {1: 2}").starts_with("1:9: expected a property name, found '1'"));
        assert!(error("RETURN f(1 2)")
            .starts_with("1:12: expected ')' to close the function call, found '2'"));
        assert!(error("RETURN CASE WHEN a THEN b")
            .contains("expected END to close the CASE expression"));
        assert!(
            error("RETURN a STARTS b").starts_with("1:17: expected WITH after STARTS, found 'b'")
        );
        assert!(error("RETURN a IS 1")
            .starts_with("1:13: expected NULL or NOT NULL after IS, found '1'"));
        assert!(error("MATCH (a)-[r->(b) RETURN a")
            .starts_with("1:13: expected ']' to close the relationship pattern, found '-'"));
        assert!(error("MATCH (a)-[r]>(b) RETURN a")
            .starts_with("1:14: expected '-' to continue the relationship pattern, found '>'"));
        assert!(error("UNWIND [1] x RETURN x")
            .starts_with("1:12: expected AS after the UNWIND expression, found 'x'"));
        assert!(
            error("RETURN x AS WHERE").starts_with("1:13: expected an alias name, found 'WHERE'")
        );
        assert!(error("RETURN any(x IN l)").contains("expected WHERE and a predicate, found ')'"));
        assert!(error("MATCH (n) ORDER BY n RETURN n").contains("found 'ORDER'"));
    }

    #[test]
    fn pattern_errors_win_when_they_get_further() {
        assert!(error("MATCH (a) WHERE (a)-[:R]->(b c) RETURN a")
            .starts_with("1:30: expected ')' to close the node pattern, found 'c'"));
    }

    #[test]
    fn nesting_is_bounded() {
        for (open, close) in [
            ("(", ")"),
            ("[", "]"),
            ("{a: ", "}"),
            ("NOT ", ""),
            ("-", ""),
            ("f(", ")"),
            ("CASE WHEN ", " THEN 1 END"),
            ("[x IN ", "]"),
            ("(n {a: ", "})-->()"),
        ] {
            let deep = format!("RETURN {}1{}", open.repeat(1000), close.repeat(1000));
            assert!(error(&deep).contains("expression nested too deeply"), "{open}");
            let shallow = format!("RETURN {}x{}", open.repeat(40), close.repeat(40));
            assert!(parse(&shallow).is_ok() || !open.starts_with('('), "{shallow}");
        }
        assert!(error(&format!("RETURN 1{}", " + 1".repeat(1000)))
            .contains("expression nested too deeply"));
        assert!(error(&format!("RETURN a{}", ".b".repeat(1000)))
            .contains("expression nested too deeply"));
        ok(&format!("RETURN 1{}", " + 1".repeat(150)));
    }

    /// The deepest accepted nesting must fit in a thread with a 2 MiB stack even in debug builds.
    #[test]
    fn deepest_nesting_fits_the_stack() {
        let queries: Vec<String> = [
            ("(", ")"),
            ("[", "]"),
            ("{a: ", "}"),
            ("f(", ")"),
            ("(n {a: ", "})-->()"),
            ("[(n {a: ", "})-->() | 1]"),
        ]
        .iter()
        .map(|(open, close)| {
            format!("RETURN {}1{}", open.repeat(MAX_DEPTH - 2), close.repeat(MAX_DEPTH - 2))
        })
        .collect();
        let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(move || {
            queries.iter().map(|q| parse(q).map(|_| ()).map_err(|e| e.message)).collect::<Vec<_>>()
        });
        let results = worker.expect("spawn").join().expect("no stack overflow");
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().map_or_else(|m| m.contains("nested too deeply"), |_| true)),
            "{results:?}"
        );
        assert!(results[0].is_ok(), "{results:?}");
    }

    use crate::testing::XorShift;

    const FRAGMENTS: &[&str] = &[
        "MATCH",
        "OPTIONAL",
        "WHERE",
        "WITH",
        "RETURN",
        "UNWIND",
        "UNION",
        "ALL",
        "AS",
        "ORDER",
        "BY",
        "SKIP",
        "LIMIT",
        "DISTINCT",
        "CREATE",
        "SET",
        "DETACH",
        "DELETE",
        "CALL",
        "FOREACH",
        "LOAD",
        "CSV",
        "ON",
        "NOT",
        "AND",
        "OR",
        "XOR",
        "IN",
        "STARTS",
        "ENDS",
        "CONTAINS",
        "IS",
        "NULL",
        "TRUE",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "EXISTS",
        "COUNT",
        "any",
        "n",
        "x",
        "`q`",
        "$p",
        "1",
        "0x1F",
        "9223372036854775808",
        "1.5",
        "'s'",
        "\"\\n\"",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ".",
        "..",
        ":",
        "|",
        "-",
        "->",
        "<-",
        "--",
        ">",
        "<",
        "=",
        "<>",
        "=~",
        "+",
        "*",
        "/",
        "%",
        "^",
        "*1..3",
        ";",
        "é",
        "/* c */",
        "// c\n",
        "'",
        "\\",
        "`",
    ];

    #[test]
    fn fuzz_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut inputs = Vec::new();
        for _ in 0..3000 {
            let len = rng.below(30);
            let soup: Vec<&str> = (0..len).map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())]).collect();
            inputs.push(soup.join(if rng.below(2) == 0 { " " } else { "" }));
        }
        let seeds: Vec<String> =
            tck_queries().unwrap_or_default().into_iter().map(|q| q.query).collect();
        for _ in 0..3000 {
            let Some(seed) = seeds.get(rng.below(seeds.len())) else {
                break;
            };
            let mut chars: Vec<char> = seed.chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(chars.len() + 1);
                match rng.below(3) {
                    0 if at < chars.len() => {
                        let end = (at + 1 + rng.below(8)).min(chars.len());
                        chars.drain(at..end);
                    }
                    1 => {
                        let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
                        chars.splice(at..at, fragment.chars());
                    }
                    _ if at < chars.len() => {
                        chars[at] = char::from(b" ()[]{}-<>:'\"`$.,|0"[rng.below(19)])
                    }
                    _ => {}
                }
            }
            inputs.push(chars.into_iter().collect());
        }
        for input in &inputs {
            if std::panic::catch_unwind(|| parse(input)).is_err() {
                panic!("parser panicked on {input:?}");
            }
        }
    }
}
