//! The spanned syntax tree of a read-only openCypher query.
//!
//! The parser accepts more than the planner can compile: everything here is *syntax*. Whether
//! a construct can run as a continuous query is decided later, so that an unsupported feature is
//! reported by name at its span ("ORDER BY is not supported in a continuous query") instead of
//! as a confusing syntax error.

use std::sync::Arc;

/// A byte range `start..end` into the query text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A name as written (backticks removed), with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: Arc<str>,
    /// Where it stands in the query.
    pub span: Span,
}

/// A whole query: one or more single queries joined by `UNION [ALL]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The first single query.
    pub first: SingleQuery,
    /// `UNION [ALL]` parts that follow, in order.
    pub unions: Vec<Union>,
    /// The whole query text's span.
    pub span: Span,
}

/// `UNION [ALL] <single query>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Union {
    /// `UNION ALL` rather than `UNION`.
    pub all: bool,
    /// The query after the keyword.
    pub query: SingleQuery,
    /// Span of the `UNION [ALL]` keywords.
    pub span: Span,
}

/// A sequence of clauses ending (in a valid read query) with RETURN.
#[derive(Clone, Debug, PartialEq)]
pub struct SingleQuery {
    /// The clauses in order.
    pub clauses: Vec<Clause>,
    /// Span of all clauses.
    pub span: Span,
}

/// One clause.
#[derive(Clone, Debug, PartialEq)]
pub enum Clause {
    /// `[OPTIONAL] MATCH patterns [WHERE expr]`.
    Match(Match),
    /// `UNWIND expr AS variable`.
    Unwind(Unwind),
    /// `WITH projection [WHERE expr]`.
    With(With),
    /// `RETURN projection`.
    Return(Return),
    /// A clause that parses but writes or calls procedures (CREATE, MERGE, SET, DELETE, REMOVE,
    /// CALL, FOREACH, LOAD CSV). Kept so that the planner can reject it by name.
    Unsupported {
        /// The clause keyword(s) as written in upper case, e.g. `"DETACH DELETE"`.
        name: String,
        /// Span of the clause keyword(s).
        span: Span,
    },
}

/// `[OPTIONAL] MATCH`.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// `OPTIONAL MATCH`.
    pub optional: bool,
    /// Comma-separated patterns.
    pub patterns: Vec<Pattern>,
    /// The `WHERE` predicate.
    pub where_: Option<Expr>,
    /// Span of the whole clause.
    pub span: Span,
}

/// `UNWIND expr AS variable`.
#[derive(Clone, Debug, PartialEq)]
pub struct Unwind {
    /// The list expression.
    pub expr: Expr,
    /// The variable bound to each element.
    pub variable: Ident,
    /// Span of the whole clause.
    pub span: Span,
}

/// `WITH projection [WHERE expr]`.
#[derive(Clone, Debug, PartialEq)]
pub struct With {
    /// What is projected.
    pub projection: Projection,
    /// The predicate after the projection.
    pub where_: Option<Expr>,
    /// Span of the whole clause.
    pub span: Span,
}

/// `RETURN projection`.
#[derive(Clone, Debug, PartialEq)]
pub struct Return {
    /// What is returned.
    pub projection: Projection,
    /// Span of the whole clause.
    pub span: Span,
}

/// The body shared by WITH and RETURN.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// `DISTINCT` was written; `Some(span)` of the keyword.
    pub distinct: Option<Span>,
    /// `*` was written (all variables in scope); `Some(span)` of the star.
    pub star: Option<Span>,
    /// The listed items (after `*,` if both).
    pub items: Vec<ProjectionItem>,
    /// `ORDER BY` items, with the span of the `ORDER BY` keywords.
    pub order_by: Option<(Vec<SortItem>, Span)>,
    /// `SKIP expr`, with the span of the keyword.
    pub skip: Option<(Expr, Span)>,
    /// `LIMIT expr`, with the span of the keyword.
    pub limit: Option<(Expr, Span)>,
}

/// `expr [AS alias]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectionItem {
    /// The expression.
    pub expr: Expr,
    /// The alias, if written.
    pub alias: Option<Ident>,
    /// The expression's source text exactly as written (used to name unaliased columns).
    pub text: String,
    /// Span of the item including the alias.
    pub span: Span,
}

/// `expr [ASC|DESC]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SortItem {
    /// The sort key.
    pub expr: Expr,
    /// `DESC` / `DESCENDING`.
    pub descending: bool,
}

/// `[p =] (a)-[r]->(b)...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// Path variable (`p = ...`).
    pub variable: Option<Ident>,
    /// The first node.
    pub start: NodePattern,
    /// Relationship-node steps after the first node.
    pub steps: Vec<(RelPattern, NodePattern)>,
    /// Span of the whole pattern.
    pub span: Span,
}

/// `(variable:Label1:Label2 {props})`.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePattern {
    /// The node variable.
    pub variable: Option<Ident>,
    /// Labels; the node must have all of them (`:A:B`).
    pub labels: Vec<Ident>,
    /// Label alternatives (`:A|B`): the node must have at least one label of each group.
    pub label_alternatives: Vec<Vec<Ident>>,
    /// Inline properties: a map literal or a parameter.
    pub properties: Option<Expr>,
    /// Span from `(` to `)`.
    pub span: Span,
}

/// Direction of a relationship pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `-[]->`
    Outgoing,
    /// `<-[]-`
    Incoming,
    /// `-[]-` (or `<-[]->`)
    Either,
}

/// `-[variable:TYPE1|TYPE2 *min..max {props}]->`.
#[derive(Clone, Debug, PartialEq)]
pub struct RelPattern {
    /// The relationship variable.
    pub variable: Option<Ident>,
    /// Type alternatives (`:A|B`, also `:A|:B`).
    pub types: Vec<Ident>,
    /// Arrow direction.
    pub direction: Direction,
    /// Variable length `*`, `*2`, `*1..3`, `*..3`, `*2..`: `Some((min, max))`.
    pub length: Option<(Option<u64>, Option<u64>)>,
    /// Inline properties: a map literal or a parameter.
    pub properties: Option<Expr>,
    /// Span from the first dash/arrow to the last.
    pub span: Span,
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
}

/// Literal values.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// Decimal, hex (`0x`) or octal (`0o`) integer, already range-checked.
    Int(i64),
    /// Float, including exponent forms.
    Float(f64),
    /// String with escapes resolved.
    Str(Arc<str>),
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `NOT`
    Not,
    /// `-`
    Neg,
    /// `+`
    Plus,
}

/// Binary operators (comparisons are in [`CmpOp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `OR`
    Or,
    /// `XOR`
    Xor,
    /// `AND`
    And,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `IN`
    In,
    /// `STARTS WITH`
    StartsWith,
    /// `ENDS WITH`
    EndsWith,
    /// `CONTAINS`
    Contains,
    /// `=~`
    RegexMatch,
}

/// Comparison operators; chains like `a < b <= c` keep every link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// `all`, `any`, `none`, `single`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantifier {
    /// `all(x IN list WHERE p)`
    All,
    /// `any(...)`
    Any,
    /// `none(...)`
    None,
    /// `single(...)`
    Single,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Literal(Literal),
    /// `$name` or `$0`.
    Parameter(Arc<str>),
    /// A variable reference.
    Variable(Arc<str>),
    /// `expr.key`
    Property(Box<Expr>, Ident),
    /// `expr[index]`
    Index(Box<Expr>, Box<Expr>),
    /// `expr[from..to]` (either bound may be absent).
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>),
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// `{k: v, ...}`
    Map(Vec<(Ident, Expr)>),
    /// `NOT e`, `-e`, `+e`
    Unary(UnaryOp, Box<Expr>),
    /// `a op b`
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `a < b <= c ...`: the first operand and each (operator, operand) link.
    Comparison(Box<Expr>, Vec<(CmpOp, Expr)>),
    /// `e IS NULL` (`false`) / `e IS NOT NULL` (`true`).
    IsNull(Box<Expr>, bool),
    /// `n:Label1:Label2` in an expression.
    HasLabels(Box<Expr>, Vec<Ident>),
    /// `name(args)` / `ns.name(DISTINCT args)`. The name is dotted for namespaces.
    Function {
        /// Function name as written, namespaces joined with `.`.
        name: Ident,
        /// `DISTINCT` inside the parentheses.
        distinct: bool,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `count(*)`
    CountStar,
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`
    Case {
        /// The simple-form operand.
        operand: Option<Box<Expr>>,
        /// `WHEN` / `THEN` pairs.
        whens: Vec<(Expr, Expr)>,
        /// `ELSE`
        else_: Option<Box<Expr>>,
    },
    /// `[x IN list WHERE pred | proj]`
    ListComprehension {
        /// The element variable.
        variable: Ident,
        /// The list.
        list: Box<Expr>,
        /// `WHERE`
        predicate: Option<Box<Expr>>,
        /// `| expr`
        projection: Option<Box<Expr>>,
    },
    /// `all/any/none/single(x IN list WHERE pred)`
    Quantified {
        /// Which quantifier.
        quantifier: Quantifier,
        /// The element variable.
        variable: Ident,
        /// The list.
        list: Box<Expr>,
        /// The predicate.
        predicate: Box<Expr>,
    },
    /// `[p = (a)-->(b) WHERE pred | proj]`
    PatternComprehension {
        /// The pattern.
        pattern: Box<Pattern>,
        /// `WHERE`
        predicate: Option<Box<Expr>>,
        /// `| expr`
        projection: Box<Expr>,
    },
    /// A pattern used as a predicate: `WHERE (a)-->(b)`.
    PatternPredicate(Box<Pattern>),
    /// `EXISTS { ... }` or `COUNT { ... }` subquery: kept only to be rejected by name.
    Subquery {
        /// `"EXISTS"` or `"COUNT"`.
        name: String,
    },
}
