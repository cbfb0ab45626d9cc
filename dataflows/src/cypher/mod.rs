//! The Cypher front end: text → spanned syntax tree, with located errors.

pub mod ast;
pub mod error;
mod lexer;
mod parser;

pub use error::{CypherError, ErrorDetail, ErrorKind};
pub use parser::parse;
