//! Turns query text into spanned tokens.
//!
//! The lexer is deliberately dumb about grammar: keywords are recognised case-insensitively but
//! still delivered as identifiers (most Cypher keywords are also valid property keys, labels and
//! function names), and arrows such as `->` or `<--` are left as separate `<`, `-` and `>` tokens.
//! The openCypher grammar allows whitespace inside an arrow, and `a<-1` must stay the comparison
//! `a < -1`, so only the parser knows whether `<` `-` is an arrow head.

use std::sync::Arc;

use super::ast::Span;
use super::error::{CypherError, ErrorDetail};

/// The largest integer magnitude a literal may have: `i64::MAX + 1`, which is only valid when a
/// unary minus turns it into `i64::MIN`. The parser checks that case.
pub(crate) const MAX_INT_MAGNITUDE: u64 = 1 << 63;

/// Words with a meaning to the parser. Matching is case-insensitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    All,
    And,
    Any,
    As,
    Asc,
    Ascending,
    By,
    Call,
    Case,
    Contains,
    Count,
    Create,
    Csv,
    Delete,
    Desc,
    Descending,
    Detach,
    Distinct,
    Else,
    End,
    Ends,
    Exists,
    False,
    Foreach,
    Headers,
    In,
    Is,
    Limit,
    Load,
    Match,
    Merge,
    None,
    Not,
    Null,
    On,
    Optional,
    Or,
    Order,
    Remove,
    Return,
    Set,
    Single,
    Skip,
    Starts,
    Then,
    True,
    Union,
    Unwind,
    When,
    Where,
    With,
    Xor,
}

/// Every keyword with its spelling, for case-insensitive lookup.
const KEYWORDS: &[(&str, Keyword)] = &[
    ("ALL", Keyword::All),
    ("AND", Keyword::And),
    ("ANY", Keyword::Any),
    ("AS", Keyword::As),
    ("ASC", Keyword::Asc),
    ("ASCENDING", Keyword::Ascending),
    ("BY", Keyword::By),
    ("CALL", Keyword::Call),
    ("CASE", Keyword::Case),
    ("CONTAINS", Keyword::Contains),
    ("COUNT", Keyword::Count),
    ("CREATE", Keyword::Create),
    ("CSV", Keyword::Csv),
    ("DELETE", Keyword::Delete),
    ("DESC", Keyword::Desc),
    ("DESCENDING", Keyword::Descending),
    ("DETACH", Keyword::Detach),
    ("DISTINCT", Keyword::Distinct),
    ("ELSE", Keyword::Else),
    ("END", Keyword::End),
    ("ENDS", Keyword::Ends),
    ("EXISTS", Keyword::Exists),
    ("FALSE", Keyword::False),
    ("FOREACH", Keyword::Foreach),
    ("HEADERS", Keyword::Headers),
    ("IN", Keyword::In),
    ("IS", Keyword::Is),
    ("LIMIT", Keyword::Limit),
    ("LOAD", Keyword::Load),
    ("MATCH", Keyword::Match),
    ("MERGE", Keyword::Merge),
    ("NONE", Keyword::None),
    ("NOT", Keyword::Not),
    ("NULL", Keyword::Null),
    ("ON", Keyword::On),
    ("OPTIONAL", Keyword::Optional),
    ("OR", Keyword::Or),
    ("ORDER", Keyword::Order),
    ("REMOVE", Keyword::Remove),
    ("RETURN", Keyword::Return),
    ("SET", Keyword::Set),
    ("SINGLE", Keyword::Single),
    ("SKIP", Keyword::Skip),
    ("STARTS", Keyword::Starts),
    ("THEN", Keyword::Then),
    ("TRUE", Keyword::True),
    ("UNION", Keyword::Union),
    ("UNWIND", Keyword::Unwind),
    ("WHEN", Keyword::When),
    ("WHERE", Keyword::Where),
    ("WITH", Keyword::With),
    ("XOR", Keyword::Xor),
];

impl Keyword {
    /// The keyword spelled by `word`, ignoring case.
    fn lookup(word: &str) -> Option<Keyword> {
        KEYWORDS
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(word))
            .map(|&(_, keyword)| keyword)
    }

    /// Whether the word can never name a variable. Words such as `count`, `any` or `exists`
    /// name functions and are left usable as variables, as in openCypher.
    pub(crate) fn is_reserved(self) -> bool {
        !matches!(
            self,
            Keyword::Any
                | Keyword::Count
                | Keyword::Csv
                | Keyword::Headers
                | Keyword::None
                | Keyword::Single
                | Keyword::Exists
                | Keyword::Load
                | Keyword::Call
                | Keyword::Foreach
        )
    }
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TokenKind {
    /// A name; `keyword` is set when an unquoted name spells a keyword.
    Ident {
        name: Arc<str>,
        keyword: Option<Keyword>,
    },
    /// `$name` or `$0`.
    Parameter(Arc<str>),
    /// A string literal with escapes resolved.
    Str(Arc<str>),
    /// An integer's magnitude, at most [`MAX_INT_MAGNITUDE`].
    Int(u64),
    /// A finite float.
    Float(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    DotDot,
    Colon,
    Semicolon,
    Pipe,
    Plus,
    PlusEq,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    RegexMatch,
    /// End of the text; always the last token.
    Eof,
}

/// A token and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

impl Token {
    /// The keyword this token spells, if it is an unquoted keyword.
    pub(crate) fn keyword(&self) -> Option<Keyword> {
        match self.kind {
            TokenKind::Ident { keyword, .. } => keyword,
            _ => None,
        }
    }
}

/// Splits `text` into tokens, ending with [`TokenKind::Eof`].
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, CypherError> {
    let mut lexer = Lexer { text, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_trivia()?;
        let start = lexer.pos;
        let Some(c) = lexer.peek() else {
            tokens.push(Token { kind: TokenKind::Eof, span: Span::new(start, start) });
            return Ok(tokens);
        };
        let kind = lexer.token(c)?;
        tokens.push(Token { kind, span: Span::new(start, lexer.pos) });
    }
}

/// Whether `c` may start an unquoted identifier.
fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Whether `c` may continue an unquoted identifier.
fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character; always on a char boundary.
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Consumes `c` if it is next.
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn error(&self, message: impl Into<String>, start: usize) -> CypherError {
        CypherError::syntax(message, Span::new(start, self.pos))
    }

    /// An error with its TCK detail.
    fn detailed_error(
        &self,
        detail: ErrorDetail,
        message: impl Into<String>,
        start: usize,
    ) -> CypherError {
        self.error(message, start).with_detail(detail)
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), CypherError> {
        loop {
            let rest = &self.text[self.pos..];
            if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                let Some(end) = body.find("*/") else {
                    let start = self.pos;
                    self.pos += 2;
                    return Err(self.error("unterminated comment, expected '*/'", start));
                };
                self.pos += end + 4;
            } else if let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
                self.pos += c.len_utf8();
            } else {
                return Ok(());
            }
        }
    }

    /// Lexes the token starting with `c`.
    fn token(&mut self, c: char) -> Result<TokenKind, CypherError> {
        if c.is_ascii_digit()
            || (c == '.' && self.peek_second().is_some_and(|d| d.is_ascii_digit()))
        {
            return self.number();
        }
        if is_ident_start(c) {
            let start = self.pos;
            while self.peek().is_some_and(is_ident_continue) {
                self.bump();
            }
            let word = &self.text[start..self.pos];
            return Ok(TokenKind::Ident { name: word.into(), keyword: Keyword::lookup(word) });
        }
        match c {
            '`' => Ok(TokenKind::Ident { name: self.quoted_name()?, keyword: None }),
            '\'' | '"' => self.string(c),
            '$' => self.parameter(),
            _ => self.punctuation(c),
        }
    }

    /// Lexes an operator or punctuation character (possibly two characters).
    fn punctuation(&mut self, c: char) -> Result<TokenKind, CypherError> {
        let start = self.pos;
        self.bump();
        let kind = match c {
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '[' => TokenKind::LBracket,
            ']' => TokenKind::RBracket,
            '{' => TokenKind::LBrace,
            '}' => TokenKind::RBrace,
            ',' => TokenKind::Comma,
            ':' => TokenKind::Colon,
            ';' => TokenKind::Semicolon,
            '|' => TokenKind::Pipe,
            '-' => TokenKind::Minus,
            '*' => TokenKind::Star,
            '/' => TokenKind::Slash,
            '%' => TokenKind::Percent,
            '^' => TokenKind::Caret,
            '.' if self.eat('.') => TokenKind::DotDot,
            '.' => TokenKind::Dot,
            '+' if self.eat('=') => TokenKind::PlusEq,
            '+' => TokenKind::Plus,
            '=' if self.eat('~') => TokenKind::RegexMatch,
            '=' => TokenKind::Eq,
            '<' if self.eat('>') => TokenKind::Ne,
            '<' if self.eat('=') => TokenKind::Le,
            '<' => TokenKind::Lt,
            '>' if self.eat('=') => TokenKind::Ge,
            '>' => TokenKind::Gt,
            _ if !c.is_ascii() => {
                return Err(self.detailed_error(
                    ErrorDetail::InvalidUnicodeCharacter,
                    format!("unexpected character '{c}'"),
                    start,
                ))
            }
            _ => return Err(self.error(format!("unexpected character '{c}'"), start)),
        };
        Ok(kind)
    }

    /// Lexes `` `name` ``, where a doubled backtick stands for one backtick.
    fn quoted_name(&mut self) -> Result<Arc<str>, CypherError> {
        let start = self.pos;
        self.bump();
        let mut name = String::new();
        loop {
            match self.bump() {
                Some('`') if self.eat('`') => name.push('`'),
                Some('`') => return Ok(name.into()),
                Some(c) => name.push(c),
                None => return Err(self.error("unterminated quoted name, expected '`'", start)),
            }
        }
    }

    /// Lexes `$name`, `` $`name` `` or `$0`.
    fn parameter(&mut self) -> Result<TokenKind, CypherError> {
        let start = self.pos;
        self.bump();
        if self.peek() == Some('`') {
            return Ok(TokenKind::Parameter(self.quoted_name()?));
        }
        let name_start = self.pos;
        while self.peek().is_some_and(is_ident_continue) {
            self.bump();
        }
        if name_start == self.pos {
            return Err(self.error("expected a parameter name after '$'", start));
        }
        Ok(TokenKind::Parameter(self.text[name_start..self.pos].into()))
    }

    /// Lexes a string literal opened by `quote`, resolving escapes.
    fn string(&mut self, quote: char) -> Result<TokenKind, CypherError> {
        let start = self.pos;
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                Some(c) if c == quote => return Ok(TokenKind::Str(value.into())),
                Some('\\') => value.push(self.escape()?),
                Some(c) => value.push(c),
                None => {
                    return Err(
                        self.error(format!("unterminated string literal, expected {quote}"), start)
                    )
                }
            }
        }
    }

    /// Resolves the escape sequence after a backslash (already consumed).
    fn escape(&mut self) -> Result<char, CypherError> {
        let start = self.pos - 1;
        let resolved = match self.bump() {
            Some('\\') => '\\',
            Some('\'') => '\'',
            Some('"') => '"',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => self.unicode_escape(4, start)?,
            Some('U') => self.unicode_escape(8, start)?,
            Some(c) => {
                return Err(self.error(format!("invalid escape sequence '\\{c}' in string"), start))
            }
            None => return Err(self.error("unterminated string literal", start)),
        };
        Ok(resolved)
    }

    /// Reads `digits` hex digits of a `\u` / `\U` escape starting at `start`.
    fn unicode_escape(&mut self, digits: usize, start: usize) -> Result<char, CypherError> {
        let mut code = 0u32;
        for _ in 0..digits {
            match self.peek().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    self.bump();
                    code = code * 16 + d;
                }
                None => {
                    return Err(self.detailed_error(
                        ErrorDetail::InvalidUnicodeLiteral,
                        format!("invalid unicode escape, expected {digits} hexadecimal digits"),
                        start,
                    ))
                }
            }
        }
        char::from_u32(code).ok_or_else(|| {
            self.detailed_error(
                ErrorDetail::InvalidUnicodeLiteral,
                format!("invalid unicode escape: U+{code:X} is not a character"),
                start,
            )
        })
    }

    /// Lexes an integer or float literal.
    fn number(&mut self) -> Result<TokenKind, CypherError> {
        let start = self.pos;
        let rest = &self.text[self.pos..];
        let kind = if rest.starts_with("0x") || rest.starts_with("0X") {
            self.pos += 2;
            self.radix_digits(16, start)?
        } else if rest.starts_with("0o") || rest.starts_with("0O") {
            self.pos += 2;
            self.radix_digits(8, start)?
        } else {
            self.decimal(start)?
        };
        // `9223372h54775808` and `0x1A2b3j4` are one malformed number, not a number and a name.
        if self.peek().is_some_and(is_ident_continue) {
            while self.peek().is_some_and(is_ident_continue) {
                self.bump();
            }
            return Err(self.detailed_error(
                ErrorDetail::InvalidNumberLiteral,
                "invalid number literal",
                start,
            ));
        }
        Ok(kind)
    }

    /// Reads the digits of a hex or octal integer whose prefix started at `start`.
    fn radix_digits(&mut self, radix: u32, start: usize) -> Result<TokenKind, CypherError> {
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_digit(radix)) {
            self.bump();
        }
        if digits_start == self.pos {
            while self.peek().is_some_and(is_ident_continue) {
                self.bump();
            }
            return Err(self.detailed_error(
                ErrorDetail::InvalidNumberLiteral,
                "invalid number literal",
                start,
            ));
        }
        self.integer(digits_start, radix, start)
    }

    /// Reads a decimal integer, a legacy octal integer (`017`) or a float.
    fn decimal(&mut self, start: usize) -> Result<TokenKind, CypherError> {
        self.skip_digits();
        let is_fraction =
            self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit());
        if is_fraction {
            self.bump();
            self.skip_digits();
        }
        let has_exponent = self.exponent()?;
        if is_fraction || has_exponent {
            let text = &self.text[start..self.pos];
            return match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(TokenKind::Float(value)),
                Ok(_) => Err(self.detailed_error(
                    ErrorDetail::FloatingPointOverflow,
                    "float literal is too large",
                    start,
                )),
                Err(_) => Err(self.detailed_error(
                    ErrorDetail::InvalidNumberLiteral,
                    "invalid number literal",
                    start,
                )),
            };
        }
        let digits = &self.text[start..self.pos];
        if digits.len() > 1 && digits.starts_with('0') {
            if digits.bytes().any(|b| b > b'7') {
                return Err(self.detailed_error(
                    ErrorDetail::InvalidNumberLiteral,
                    "invalid number literal: a leading 0 makes an octal integer",
                    start,
                ));
            }
            return self.integer(start + 1, 8, start);
        }
        self.integer(start, 10, start)
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    /// Consumes an exponent `e[+-]digits` if one follows; `1e` alone is left for the
    /// malformed-number check.
    fn exponent(&mut self) -> Result<bool, CypherError> {
        if !matches!(self.peek(), Some('e' | 'E')) {
            return Ok(false);
        }
        let rest = &self.text[self.pos + 1..];
        let sign = usize::from(rest.starts_with('+') || rest.starts_with('-'));
        if !rest[sign..].starts_with(|c: char| c.is_ascii_digit()) {
            return Ok(false);
        }
        self.pos += 1 + sign;
        self.skip_digits();
        Ok(true)
    }

    /// The integer written in `radix` between `digits_start` and the current position.
    fn integer(
        &self,
        digits_start: usize,
        radix: u32,
        start: usize,
    ) -> Result<TokenKind, CypherError> {
        let mut value: u64 = 0;
        for c in self.text[digits_start..self.pos].chars() {
            let digit = u64::from(c.to_digit(radix).unwrap_or(0));
            value = value
                .checked_mul(u64::from(radix))
                .and_then(|v| v.checked_add(digit))
                .filter(|&v| v <= MAX_INT_MAGNITUDE)
                .ok_or_else(|| {
                    self.detailed_error(
                        ErrorDetail::IntegerOverflow,
                        "integer literal is too large",
                        start,
                    )
                })?;
        }
        Ok(TokenKind::Int(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let tokens = tokenize(text).unwrap_or_else(|e| panic!("{}", e.render(text)));
        tokens.into_iter().map(|t| t.kind).filter(|k| *k != TokenKind::Eof).collect()
    }

    fn single(text: &str) -> TokenKind {
        let kinds = kinds(text);
        assert_eq!(kinds.len(), 1, "{text}: {kinds:?}");
        kinds.into_iter().next().unwrap_or(TokenKind::Eof)
    }

    fn error(text: &str) -> String {
        match tokenize(text) {
            Ok(tokens) => panic!("{text} lexed: {tokens:?}"),
            Err(error) => error.render(text),
        }
    }

    fn ident(name: &str, keyword: Option<Keyword>) -> TokenKind {
        TokenKind::Ident { name: name.into(), keyword }
    }

    fn string(value: &str) -> TokenKind {
        TokenKind::Str(value.into())
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(single("match"), ident("match", Some(Keyword::Match)));
        assert_eq!(single("MaTcH"), ident("MaTcH", Some(Keyword::Match)));
        assert_eq!(single("is"), ident("is", Some(Keyword::Is)));
        assert_eq!(single("matches"), ident("matches", None));
    }

    #[test]
    fn identifiers() {
        assert_eq!(single("_x1"), ident("_x1", None));
        assert_eq!(single("émile"), ident("émile", None));
        assert_eq!(single("数据"), ident("数据", None));
        assert_eq!(kinds("a1 b"), vec![ident("a1", None), ident("b", None)]);
    }

    #[test]
    fn backtick_identifiers() {
        assert_eq!(single("`a``b`"), ident("a`b", None));
        assert_eq!(single("`MATCH`"), ident("MATCH", None));
        assert_eq!(single("`two words`"), ident("two words", None));
        assert_eq!(
            error("`open"),
            "1:1: unterminated quoted name, expected '`'\n  |\n1 | `open\n  | ^^^^^"
        );
    }

    #[test]
    fn parameters() {
        assert_eq!(single("$name"), TokenKind::Parameter("name".into()));
        assert_eq!(single("$0"), TokenKind::Parameter("0".into()));
        assert_eq!(single("$`odd name`"), TokenKind::Parameter("odd name".into()));
        assert_eq!(error("$ x"), "1:1: expected a parameter name after '$'\n  |\n1 | $ x\n  | ^");
    }

    #[test]
    fn strings_with_every_escape() {
        assert_eq!(single(r#"'it\'s'"#), string("it's"));
        assert_eq!(single(r#""say \"hi\"""#), string("say \"hi\""));
        assert_eq!(kinds(r#"'"' "'""#), vec![string("\""), string("'")]);
        assert_eq!(single(r"'\\ \b\f\n\r\t'"), string("\\ \u{8}\u{c}\n\r\t"));
        assert_eq!(single(r"'\u00e9\U0001F600'"), string("é😀"));
        assert_eq!(single("'multi\nline'"), string("multi\nline"));
        assert_eq!(single("''"), string(""));
    }

    #[test]
    fn bad_strings_are_located() {
        assert_eq!(
            error(r"RETURN 'ab\qc'"),
            "1:11: invalid escape sequence '\\q' in string\n  |\n1 | RETURN 'ab\\qc'\n  |           ^^"
        );
        assert_eq!(
            error(r"RETURN '\uH'"),
            "1:9: invalid unicode escape, expected 4 hexadecimal digits\n  |\n1 | RETURN '\\uH'\n  |         ^^"
        );
        assert!(error(r"'\uD800'").contains("U+D800 is not a character"));
        assert!(error(r"'\UFFFFFFFF'").contains("is not a character"));
        assert_eq!(
            error("x = 'abc"),
            "1:5: unterminated string literal, expected '\n  |\n1 | x = 'abc\n  |     ^^^^"
        );
        assert!(error("'abc\\").starts_with("1:5: unterminated string literal"));
    }

    #[test]
    fn integers() {
        assert_eq!(single("0"), TokenKind::Int(0));
        assert_eq!(single("42"), TokenKind::Int(42));
        assert_eq!(single("0x1F"), TokenKind::Int(31));
        assert_eq!(single("0xffFF"), TokenKind::Int(65535));
        assert_eq!(single("0o17"), TokenKind::Int(15));
        assert_eq!(single("017"), TokenKind::Int(15));
        assert_eq!(single("9223372036854775807"), TokenKind::Int(i64::MAX as u64));
        assert_eq!(single("9223372036854775808"), TokenKind::Int(MAX_INT_MAGNITUDE));
        assert_eq!(single("0x8000000000000000"), TokenKind::Int(MAX_INT_MAGNITUDE));
        assert_eq!(single("0o1000000000000000000000"), TokenKind::Int(MAX_INT_MAGNITUDE));
    }

    #[test]
    fn integer_overflow_and_malformed_numbers() {
        assert_eq!(
            error("RETURN 9223372036854775809"),
            "1:8: integer literal is too large\n  |\n1 | RETURN 9223372036854775809\n  |        ^^^^^^^^^^^^^^^^^^^"
        );
        assert!(error("0x10000000000000000").contains("integer literal is too large"));
        assert!(error("99999999999999999999999").contains("integer literal is too large"));
        assert_eq!(
            error("RETURN 9223372h54775808"),
            "1:8: invalid number literal\n  |\n1 | RETURN 9223372h54775808\n  |        ^^^^^^^^^^^^^^^^"
        );
        assert!(error("0x").contains("invalid number literal"));
        assert!(error("0x1A2b3j4D5E6f7").contains("invalid number literal"));
        assert!(error("0o8").contains("invalid number literal"));
        assert!(error("09").contains("a leading 0 makes an octal integer"));
        assert!(error("1e").contains("invalid number literal"));
    }

    #[test]
    fn floats() {
        assert_eq!(single("3.0"), TokenKind::Float(3.0));
        assert_eq!(single("1e3"), TokenKind::Float(1000.0));
        assert_eq!(single(".5"), TokenKind::Float(0.5));
        assert_eq!(single("1.5E-3"), TokenKind::Float(0.0015));
        assert_eq!(single("2e+2"), TokenKind::Float(200.0));
        assert_eq!(single("00.5"), TokenKind::Float(0.5));
        assert!(error("RETURN 1.34E999").contains("1:8: float literal is too large"));
    }

    #[test]
    fn ranges_are_not_floats() {
        use TokenKind::*;
        assert_eq!(kinds("*1..3"), vec![Star, Int(1), DotDot, Int(3)]);
        assert_eq!(kinds("[..5]"), vec![LBracket, DotDot, Int(5), RBracket]);
        assert_eq!(kinds("n.x"), vec![ident("n", None), Dot, ident("x", None)]);
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(kinds("a // rest of line\nb"), vec![ident("a", None), ident("b", None)]);
        assert_eq!(kinds("a /* multi\nline */ b"), vec![ident("a", None), ident("b", None)]);
        assert_eq!(kinds("a /**/b// end"), vec![ident("a", None), ident("b", None)]);
        assert_eq!(kinds("'// not a comment'"), vec![string("// not a comment")]);
        assert!(error("a /* open").starts_with("1:3: unterminated comment"));
    }

    #[test]
    fn operators() {
        use TokenKind::*;
        assert_eq!(
            kinds("=~ <> <= >= = < > + += - * / % ^ . .. : ; | , ( ) [ ] { }"),
            vec![
                RegexMatch, Ne, Le, Ge, Eq, Lt, Gt, Plus, PlusEq, Minus, Star, Slash, Percent,
                Caret, Dot, DotDot, Colon, Semicolon, Pipe, Comma, LParen, RParen, LBracket,
                RBracket, LBrace, RBrace,
            ]
        );
        // Arrows stay separate tokens: `a<-1` is a comparison with a negative number.
        assert_eq!(kinds("-->"), vec![Minus, Minus, Gt]);
        assert_eq!(kinds("<-"), vec![Lt, Minus]);
    }

    #[test]
    fn spans_are_byte_offsets() {
        let tokens = tokenize("é = 'ü'").unwrap_or_default();
        let spans: Vec<Span> = tokens.iter().map(|t| t.span).collect();
        assert_eq!(spans, vec![Span::new(0, 2), Span::new(3, 4), Span::new(5, 9), Span::new(9, 9)]);
    }

    #[test]
    fn unexpected_characters() {
        assert_eq!(
            error("RETURN 42 — 41"),
            "1:11: unexpected character '—'\n  |\n1 | RETURN 42 — 41\n  |           ^"
        );
        assert!(error("a # b").contains("unexpected character '#'"));
    }
}
