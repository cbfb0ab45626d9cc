//! Tokens of the Cypher subset that setup statements use.
//!
//! The engine's lexer is private and its parser drops the body of CREATE, so the harness
//! carries its own. It only has to cover what the TCK's setup blocks write.

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name or keyword (keywords are recognised case-insensitively by the parser).
    Ident(String),
    /// A backtick-quoted name: never a keyword.
    Quoted(String),
    /// An unsigned integer literal (a leading `-` is an operator; `u64` holds `-i64::MIN`).
    Int(u64),
    /// An unsigned float literal.
    Float(f64),
    /// A string literal, escapes resolved.
    Str(String),
    /// `$name`.
    Param(String),
    /// Punctuation and operators: `( ) [ ] { } , : ; . | + - * / % ^ = < > <= >= <> =~ ..`.
    Sym(&'static str),
}

/// Two-character symbols first, so that the longest match wins.
const SYMBOLS: [&str; 25] = [
    "<=", ">=", "<>", "=~", "..", "(", ")", "[", "]", "{", "}", ",", ":", ";", ".", "|", "+", "-",
    "*", "/", "%", "^", "=", "<", ">",
];

/// Splits `text` into tokens.
pub fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let (token, next) = number(&chars, i)?;
            tokens.push(token);
            i = next;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c == '`' {
            let (name, next) = quoted_name(&chars, i)?;
            tokens.push(Tok::Quoted(name));
            i = next;
        } else if c == '$' {
            let start = i + 1;
            i = start;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Tok::Param(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let (s, next) = string(&chars, i)?;
            tokens.push(Tok::Str(s));
            i = next;
        } else {
            let rest: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let symbol = SYMBOLS
                .iter()
                .find(|s| rest.starts_with(**s))
                .ok_or_else(|| format!("unexpected character `{c}`"))?;
            tokens.push(Tok::Sym(symbol));
            i += symbol.chars().count();
        }
    }
    Ok(tokens)
}

fn number(chars: &[char], start: usize) -> Result<(Tok, usize), String> {
    let mut i = start;
    let text = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    if chars[i] == '0' && matches!(chars.get(i + 1), Some('x') | Some('o')) {
        let radix = if chars[i + 1] == 'x' { 16 } else { 8 };
        i += 2;
        let digits = i;
        while i < chars.len() && chars[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let value = u64::from_str_radix(&text(digits, i), radix)
            .map_err(|e| format!("bad integer literal `{}`: {e}", text(start, i)))?;
        return Ok((Tok::Int(value), i));
    }
    let mut float = false;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
        float = true;
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(chars.get(i), Some('e') | Some('E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('-') | Some('+')) {
            j += 1;
        }
        if chars.get(j).is_some_and(|d| d.is_ascii_digit()) {
            float = true;
            i = j;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let literal = text(start, i);
    let token = if float {
        Tok::Float(literal.parse().map_err(|e| format!("bad float literal `{literal}`: {e}"))?)
    } else {
        Tok::Int(literal.parse().map_err(|e| format!("bad integer literal `{literal}`: {e}"))?)
    };
    Ok((token, i))
}

fn quoted_name(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            Some('`') if chars.get(i + 1) == Some(&'`') => {
                name.push('`');
                i += 2;
            }
            Some('`') => return Ok((name, i + 1)),
            Some(c) => {
                name.push(*c);
                i += 1;
            }
            None => return Err("unterminated backtick name".to_string()),
        }
    }
}

fn string(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let quote = chars[start];
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            Some('\\') => {
                let escaped = chars.get(i + 1).ok_or("unterminated string")?;
                i += 2;
                match escaped {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    'b' => s.push('\u{8}'),
                    'f' => s.push('\u{c}'),
                    'u' | 'U' => {
                        let width = if *escaped == 'u' { 4 } else { 8 };
                        let hex: String =
                            chars.get(i..i + width).ok_or("bad \\u escape")?.iter().collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .map_err(|e| format!("bad \\u escape: {e}"))?;
                        s.push(char::from_u32(code).ok_or("bad \\u escape")?);
                        i += width;
                    }
                    other => s.push(*other),
                }
            }
            Some(c) if *c == quote => return Ok((s, i + 1)),
            Some(c) => {
                s.push(*c);
                i += 1;
            }
            None => return Err("unterminated string".to_string()),
        }
    }
}

/// The first clause keyword of `query` that writes to the graph, if any: such scenarios are
/// outside what a read-only engine runs.
pub fn write_clause(query: &str) -> Option<&'static str> {
    const WRITES: [&str; 8] =
        ["CREATE", "MERGE", "SET", "DELETE", "REMOVE", "DETACH", "FOREACH", "CALL"];
    let tokens = tokenize(query).ok()?;
    tokens.iter().enumerate().find_map(|(i, token)| match token {
        // `n.set` is a property, not a clause.
        Tok::Ident(word) if i == 0 || tokens[i - 1] != Tok::Sym(".") => {
            WRITES.iter().copied().find(|w| w.eq_ignore_ascii_case(word))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_and_comparisons() {
        let syms = |text: &str| -> Vec<Tok> { tokenize(text).expect("lexes") };
        assert_eq!(syms("<--")[..2], [Tok::Sym("<"), Tok::Sym("-")],);
        assert_eq!(syms("a <> b")[1], Tok::Sym("<>"));
        assert_eq!(syms("-->")[2], Tok::Sym(">"));
        assert_eq!(syms("'a\\'b'")[0], Tok::Str("a'b".into()));
        assert_eq!(syms("1.5e3")[0], Tok::Float(1500.0));
    }

    #[test]
    fn finds_write_clauses() {
        assert_eq!(write_clause("MATCH (n) SET n.x = 1"), Some("SET"));
        assert_eq!(write_clause("MATCH (n) RETURN n.set"), None);
    }
}
