//! The Cypher front end: text → spanned syntax tree, with located errors.

pub mod ast;
pub mod error;
mod lexer;
mod parser;

pub use error::{CypherError, ErrorDetail, ErrorKind};
pub use parser::parse;

/// The property keys a query's text names: after a `.` (`n.price`) or as a key in braces
/// (`{price: 1}`); empty if the text does not lex. Sources use it to tell which queries a
/// column change concerns, so it errs on the side of including a name.
pub fn property_keys(text: &str) -> std::collections::BTreeSet<std::sync::Arc<str>> {
    use lexer::TokenKind;
    let Ok(tokens) = lexer::tokenize(text) else { return Default::default() };
    let mut keys = std::collections::BTreeSet::new();
    let mut braces = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match &token.kind {
            TokenKind::LBrace => braces += 1,
            TokenKind::RBrace => braces = braces.saturating_sub(1),
            TokenKind::Ident { name, .. } => {
                let after_dot = i > 0 && tokens[i - 1].kind == TokenKind::Dot;
                let map_key =
                    braces > 0 && tokens.get(i + 1).is_some_and(|t| t.kind == TokenKind::Colon);
                if after_dot || map_key {
                    keys.insert(name.clone());
                }
            }
            _ => {}
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    #[test]
    fn property_keys_are_the_names_after_dots_and_map_keys() {
        let keys = super::property_keys(
            "MATCH (m:metrics {name: 'cpu'}) WHERE m.`value` > 1 RETURN m.unit AS u, {k: m.id}",
        );
        let keys: Vec<&str> = keys.iter().map(|k| &**k).collect();
        assert_eq!(keys, ["id", "k", "name", "unit", "value"]);
    }
}
