//! PostgreSQL text output → [`Value`].
//!
//! pgoutput sends column values in the type's text output format, and the bootstrap's COPY
//! text format writes the same text (under a layer of escapes), so one parser serves both and
//! a row looks the same whichever path it came by. Text output depends on session settings; both connections must pin
//! `TimeZone=UTC, DateStyle=ISO, IntervalStyle=iso_8601, extra_float_digits=3,
//! bytea_output=hex`. The rules below assume exactly that.
//!
//! The parser is strict where it interprets the text (numbers, booleans, timestamps, bytea, JSON,
//! arrays) so that a misconfigured session shows up as an error rather than as wrong values, and
//! it passes everything else through unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use ripple_dataflows::decimal::Decimal;
use ripple_dataflows::value::Value;

/// Built-in type OIDs (`pg_type.oid`, fixed across PostgreSQL versions).
mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const JSON_ARRAY: u32 = 199;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const BOOL_ARRAY: u32 = 1000;
    pub const INT2_ARRAY: u32 = 1005;
    pub const INT4_ARRAY: u32 = 1007;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const BPCHAR_ARRAY: u32 = 1014;
    pub const VARCHAR_ARRAY: u32 = 1015;
    pub const INT8_ARRAY: u32 = 1016;
    pub const FLOAT4_ARRAY: u32 = 1021;
    pub const FLOAT8_ARRAY: u32 = 1022;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMP_ARRAY: u32 = 1115;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const TIMESTAMPTZ_ARRAY: u32 = 1185;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC_ARRAY: u32 = 1231;
    pub const TIMETZ: u32 = 1266;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const UUID_ARRAY: u32 = 2951;
    pub const JSONB: u32 = 3802;
    pub const JSONB_ARRAY: u32 = 3807;
}

/// PostgreSQL's limit on array dimensions (`MAXDIM`); also bounds the parser's recursion.
const MAX_DIMENSIONS: usize = 6;

/// How much of the offending text a [`TextError`] keeps, in characters.
const EXCERPT_CHARS: usize = 80;

/// A column's text could not be converted for its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {type_name} value {text:?}: {reason}")]
pub struct TextError {
    /// The PostgreSQL type name, e.g. `int4` or `text[]`.
    pub type_name: &'static str,
    /// The offending text, cut to its first 80 characters (values can be megabytes long).
    pub text: String,
    /// What was wrong with it.
    pub reason: String,
}

/// Converts the text output of a value of type `type_oid` into a [`Value`].
///
/// | type (OID) | result |
/// |---|---|
/// | bool (16) | `Bool` from `t`/`f` |
/// | int2, int4, int8, oid (21, 23, 20, 26) | `Int` |
/// | float4, float8 (700, 701) | `Float`, including `NaN`, `Infinity`, `-Infinity` |
/// | numeric (1700) | `Decimal`, exact; `NaN`, `Infinity`, `-Infinity` become `Float` |
/// | text, varchar, name, "char" (25, 1043, 19, 18), uuid (2950) | `Str` as given |
/// | bpchar (1042) | `Str` without its trailing padding spaces |
/// | json, jsonb (114, 3802) | the JSON as `Map`/`List`/`Str`/`Int`/`Float`/`Bool`/`Null` |
/// | timestamp (1114) | `Str`, ISO-8601 with a `T`: `2024-02-29T23:59:59.123456` |
/// | timestamptz (1184) | `Str`, ISO-8601: `…T18:29:59.123456Z`, or `…+05:30` for other offsets |
/// | date, time, timetz, interval (1082, 1083, 1266, 1186) | `Str` as given |
/// | bytea (17) | `Str`, the bytes in standard base64 with padding |
/// | arrays of the types above | `List` (nested for several dimensions) |
/// | anything else (enums, domains, user types …) | `Str` as given |
///
/// Choices worth knowing:
/// * numeric keeps every digit (an exact [`Decimal`] of any size). Its special values have no
///   decimal form and become the floats they name, which compare and print the same way.
///   Trailing fraction zeros are not kept (`1.50` is `1.5`), so equal numbers are one value.
/// * bpchar drops trailing spaces (as Drasi does): SQL compares `char(n)` ignoring them, so
///   `'ab'` and `'ab  '` should be equal values here too.
/// * Timestamps outside the ISO range stay readable rather than becoming ISO-8601 expanded years:
///   `infinity` and `-infinity` are kept as is, and a ` BC` suffix is kept after the converted
///   timestamp (`0001-01-01T00:00:00 BC`). A UTC offset with seconds (`+05:53:28`, only possible
///   when the session is not pinned to UTC) is kept with its seconds.
/// * JSON integers that fit an i64 become `Int`, other numbers `Float`; JSON `null` and SQL NULL
///   both become `Null`. Duplicate keys in `json` keep the last value, as `jsonb` does.
pub fn parse_text(type_oid: u32, text: &str) -> Result<Value, TextError> {
    convert(type_oid, text).map_err(|reason| TextError {
        type_name: type_name(type_oid),
        text: excerpt(text),
        reason,
    })
}

/// The conversion proper; errors are just the reason, [`parse_text`] adds the context.
fn convert(type_oid: u32, text: &str) -> Result<Value, String> {
    match type_oid {
        oid::BOOL => parse_bool(text),
        oid::INT2 | oid::INT4 | oid::INT8 | oid::OID => parse_int(text),
        oid::FLOAT4 | oid::FLOAT8 => parse_float(text),
        oid::NUMERIC => parse_numeric(text),
        oid::BPCHAR => Ok(Value::str(text.trim_end_matches(' '))),
        // Kept verbatim: their ISO / iso_8601 text is already the portable form.
        oid::TEXT
        | oid::VARCHAR
        | oid::NAME
        | oid::CHAR
        | oid::UUID
        | oid::DATE
        | oid::TIME
        | oid::TIMETZ
        | oid::INTERVAL => Ok(Value::str(text)),
        oid::JSON | oid::JSONB => parse_json(text),
        oid::TIMESTAMP => parse_timestamp(text, false),
        oid::TIMESTAMPTZ => parse_timestamp(text, true),
        oid::BYTEA => parse_bytea(text),
        _ => match element_type(type_oid) {
            Some(element) => parse_array(element, text),
            None => Ok(Value::str(text)),
        },
    }
}

/// The element type of the array types this module understands.
fn element_type(array_oid: u32) -> Option<u32> {
    Some(match array_oid {
        oid::BOOL_ARRAY => oid::BOOL,
        oid::INT2_ARRAY => oid::INT2,
        oid::INT4_ARRAY => oid::INT4,
        oid::INT8_ARRAY => oid::INT8,
        oid::FLOAT4_ARRAY => oid::FLOAT4,
        oid::FLOAT8_ARRAY => oid::FLOAT8,
        oid::NUMERIC_ARRAY => oid::NUMERIC,
        oid::TEXT_ARRAY => oid::TEXT,
        oid::VARCHAR_ARRAY => oid::VARCHAR,
        oid::BPCHAR_ARRAY => oid::BPCHAR,
        oid::UUID_ARRAY => oid::UUID,
        oid::TIMESTAMP_ARRAY => oid::TIMESTAMP,
        oid::TIMESTAMPTZ_ARRAY => oid::TIMESTAMPTZ,
        oid::JSON_ARRAY => oid::JSON,
        oid::JSONB_ARRAY => oid::JSONB,
        _ => return None,
    })
}

/// The type's SQL name, for errors. Only types that can fail to parse need one.
fn type_name(type_oid: u32) -> &'static str {
    match type_oid {
        oid::BOOL => "bool",
        oid::BYTEA => "bytea",
        oid::INT2 => "int2",
        oid::INT4 => "int4",
        oid::INT8 => "int8",
        oid::OID => "oid",
        oid::FLOAT4 => "float4",
        oid::FLOAT8 => "float8",
        oid::NUMERIC => "numeric",
        oid::JSON => "json",
        oid::JSONB => "jsonb",
        oid::TIMESTAMP => "timestamp",
        oid::TIMESTAMPTZ => "timestamptz",
        oid::BOOL_ARRAY => "bool[]",
        oid::INT2_ARRAY => "int2[]",
        oid::INT4_ARRAY => "int4[]",
        oid::INT8_ARRAY => "int8[]",
        oid::FLOAT4_ARRAY => "float4[]",
        oid::FLOAT8_ARRAY => "float8[]",
        oid::NUMERIC_ARRAY => "numeric[]",
        oid::TEXT_ARRAY => "text[]",
        oid::VARCHAR_ARRAY => "varchar[]",
        oid::BPCHAR_ARRAY => "bpchar[]",
        oid::UUID_ARRAY => "uuid[]",
        oid::TIMESTAMP_ARRAY => "timestamp[]",
        oid::TIMESTAMPTZ_ARRAY => "timestamptz[]",
        oid::JSON_ARRAY => "json[]",
        oid::JSONB_ARRAY => "jsonb[]",
        _ => "unknown type",
    }
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// boolout writes only `t` and `f`.
fn parse_bool(text: &str) -> Result<Value, String> {
    match text {
        "t" => Ok(Value::Bool(true)),
        "f" => Ok(Value::Bool(false)),
        _ => Err("expected 't' or 'f'".to_string()),
    }
}

fn parse_int(text: &str) -> Result<Value, String> {
    use std::num::IntErrorKind::{NegOverflow, PosOverflow};
    text.parse().map(Value::Int).map_err(|e| match e.kind() {
        PosOverflow | NegOverflow => "out of range for a 64-bit integer".to_string(),
        _ => "not an integer".to_string(),
    })
}

/// Accepts PostgreSQL's spellings of the special values and otherwise only finite numbers, so
/// that Rust's extra spellings (`inf`, `nan`) and overflow to infinity are caught as errors.
fn parse_float(text: &str) -> Result<Value, String> {
    match text {
        "NaN" => return Ok(Value::float(f64::NAN)),
        "Infinity" => return Ok(Value::float(f64::INFINITY)),
        "-Infinity" => return Ok(Value::float(f64::NEG_INFINITY)),
        _ => {}
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Value::float(x)),
        Ok(_) => Err("out of range for a 64-bit float".to_string()),
        Err(_) => Err("not a number".to_string()),
    }
}

/// PostgreSQL's numeric output: plain digits (never an exponent) or a special value.
fn parse_numeric(text: &str) -> Result<Value, String> {
    match text {
        "NaN" | "Infinity" | "-Infinity" => parse_float(text),
        _ => Decimal::parse(text).map(Value::Decimal).map_err(|_| "not a number".to_string()),
    }
}

fn parse_json(text: &str) -> Result<Value, String> {
    let json = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    json_to_value(json)
}

fn json_to_value(json: serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    Ok(match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(x)) => Value::float(x),
            (None, None) => return Err(format!("JSON number {n} is out of range")),
        },
        J::String(s) => Value::str(&s),
        J::Array(items) => {
            Value::List(items.into_iter().map(json_to_value).collect::<Result<Arc<[Value]>, _>>()?)
        }
        J::Object(fields) => Value::Map(Arc::new(
            fields
                .into_iter()
                .map(|(k, v)| Ok((Arc::from(k), json_to_value(v)?)))
                .collect::<Result<BTreeMap<_, _>, String>>()?,
        )),
    })
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]][ BC]` → the same with a `T` separator and the
/// offset as `Z` or `±HH:MM`. The shape is checked so that a session with another DateStyle is
/// reported instead of producing odd strings.
fn parse_timestamp(text: &str, with_zone: bool) -> Result<Value, String> {
    if text == "infinity" || text == "-infinity" {
        return Ok(Value::str(text));
    }
    let (body, era) = match text.strip_suffix(" BC") {
        Some(body) => (body, " BC"),
        None => (text, ""),
    };
    let (date, time) =
        body.split_once(' ').ok_or("expected 'YYYY-MM-DD HH:MM:SS' (DateStyle must be ISO)")?;
    check_date(date)?;
    let (time, zone) = if with_zone {
        let at = time.find(['+', '-']).ok_or("missing UTC offset (DateStyle must be ISO)")?;
        (&time[..at], iso_offset(&time[at..])?)
    } else {
        (time, String::new())
    };
    check_time(time)?;
    Ok(Value::str(&format!("{date}T{time}{zone}{era}")))
}

fn all_digits(s: &str, min_len: usize, max_len: usize) -> bool {
    (min_len..=max_len).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD`; years after 9999 have more digits.
fn check_date(date: &str) -> Result<(), String> {
    let mut parts = date.split('-');
    let shape_ok = matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(y), Some(m), Some(d), None)
            if all_digits(y, 4, 9) && all_digits(m, 2, 2) && all_digits(d, 2, 2)
    );
    if shape_ok {
        Ok(())
    } else {
        Err(format!("date part {date:?} is not YYYY-MM-DD"))
    }
}

/// `HH:MM:SS` with up to six fractional digits.
fn check_time(time: &str) -> Result<(), String> {
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (time, None),
    };
    let mut parts = hms.split(':');
    let hms_ok = matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(h), Some(m), Some(s), None)
            if all_digits(h, 2, 2) && all_digits(m, 2, 2) && all_digits(s, 2, 2)
    );
    if hms_ok && fraction.is_none_or(|f| all_digits(f, 1, 6)) {
        Ok(())
    } else {
        Err(format!("time part {time:?} is not HH:MM:SS[.ffffff]"))
    }
}

/// `+00` → `Z`; `+05` → `+05:00`; `+05:30` and `+05:53:28` stay as they are.
fn iso_offset(offset: &str) -> Result<String, String> {
    let fields: Vec<&str> = offset[1..].split(':').collect();
    if fields.len() > 3 || !fields.iter().all(|f| all_digits(f, 2, 2)) {
        return Err(format!("UTC offset {offset:?} is not ±HH[:MM[:SS]]"));
    }
    Ok(if fields.iter().all(|f| *f == "00") {
        "Z".to_string()
    } else if fields.len() == 1 {
        format!("{offset}:00")
    } else {
        offset.to_string()
    })
}

/// `\x` followed by hex pairs (bytea_output=hex) → base64.
fn parse_bytea(text: &str) -> Result<Value, String> {
    let hex = text
        .strip_prefix("\\x")
        .ok_or("expected the hex format '\\x…' (bytea_output must be hex)")?;
    Ok(Value::str(&base64(&decode_hex(hex)?)))
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_string());
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    hex.as_bytes()
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match (digit(pair[0]), digit(pair[1])) {
            // Two hex digits make at most 0xff, so the cast is exact.
            (Some(high), Some(low)) => Ok((high << 4 | low) as u8),
            _ => Err(format!("invalid hex digit at position {}", 2 + 2 * i)),
        })
        .collect()
}

/// Standard base64 (RFC 4648 §4) with `=` padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group =
            chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(group >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Parses array_out's syntax: an optional `[lo:hi]…=` bounds prefix (dropped: lists start at
/// 0), then `{…}` with `,`-separated elements or nested `{…}` sub-arrays. Elements are quoted
/// (`"…"` with `\` escapes) or bare; a bare `NULL` (any case) is NULL, a quoted `"NULL"` is the
/// string. Each element is converted with `element_oid`'s rule.
fn parse_array(element_oid: u32, text: &str) -> Result<Value, String> {
    let mut parser = ArrayParser { rest: skip_bounds(text)?, element_oid };
    let value = parser.array(1)?;
    parser.skip_whitespace();
    match parser.peek() {
        None => Ok(value),
        Some(c) => Err(format!("unexpected {c:?} after the closing '}}'")),
    }
}

/// Strips a `[1:3]=` or `[0:1][1:2]=` bounds prefix (array_out writes one when a lower bound is
/// not 1). `[3]` (upper bound only) is accepted too, as array_in does.
fn skip_bounds(text: &str) -> Result<&str, String> {
    let mut rest = text;
    if !rest.starts_with('[') {
        return Ok(rest);
    }
    while let Some(after) = rest.strip_prefix('[') {
        let (bounds, tail) = after.split_once(']').ok_or("unterminated '[' bounds")?;
        let bound_ok = |b: &str| {
            let digits = b.strip_prefix('-').unwrap_or(b);
            all_digits(digits, 1, 10)
        };
        let valid = match bounds.split_once(':') {
            Some((lo, hi)) => bound_ok(lo) && bound_ok(hi),
            None => bound_ok(bounds),
        };
        if !valid {
            return Err(format!("invalid array bounds [{bounds}]"));
        }
        rest = tail;
    }
    rest.strip_prefix('=').ok_or_else(|| "expected '=' after the array bounds".to_string())
}

struct ArrayParser<'a> {
    rest: &'a str,
    element_oid: u32,
}

impl ArrayParser<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    /// array_in's notion of whitespace (`array_isspace`).
    fn skip_whitespace(&mut self) {
        self.rest = self.rest.trim_start_matches(is_array_space);
    }

    /// `{…}` at nesting level `depth` (1 = outermost).
    fn array(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DIMENSIONS {
            return Err(format!("more than {MAX_DIMENSIONS} dimensions"));
        }
        if self.bump() != Some('{') {
            return Err("expected '{'".to_string());
        }
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(Value::List(items.into()));
        }
        // A level holds either only sub-arrays or only elements.
        let mut holds_arrays = None;
        loop {
            self.skip_whitespace();
            let is_array = self.peek() == Some('{');
            if *holds_arrays.get_or_insert(is_array) != is_array {
                return Err("sub-arrays and elements mixed at one level".to_string());
            }
            items.push(if is_array { self.array(depth + 1)? } else { self.element()? });
            self.skip_whitespace();
            match self.bump() {
                Some(',') => {}
                Some('}') => return Ok(Value::List(items.into())),
                Some(c) => return Err(format!("unexpected {c:?}, expected ',' or '}}'")),
                None => return Err("unterminated array".to_string()),
            }
        }
    }

    fn element(&mut self) -> Result<Value, String> {
        let text = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            match self.bare()? {
                None => return Ok(Value::Null),
                Some(text) => text,
            }
        };
        convert(self.element_oid, &text).map_err(|reason| format!("element {text:?}: {reason}"))
    }

    /// `"…"`, where `\` makes the next character literal.
    fn quoted(&mut self) -> Result<String, String> {
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(text),
                Some('\\') => text.push(self.bump().ok_or("unterminated quoted element")?),
                Some(c) => text.push(c),
                None => return Err("unterminated quoted element".to_string()),
            }
        }
    }

    /// An unquoted element, up to `,` or `}`; `None` for NULL. Trailing whitespace is dropped
    /// unless escaped, as array_in does.
    fn bare(&mut self) -> Result<Option<String>, String> {
        let mut text = String::new();
        let mut kept_len = 0;
        let mut escaped = false;
        loop {
            match self.peek() {
                None | Some(',' | '}') => break,
                Some(c @ ('{' | '"')) => return Err(format!("unexpected {c:?} in an element")),
                Some('\\') => {
                    self.bump();
                    text.push(self.bump().ok_or("unterminated escape")?);
                    kept_len = text.len();
                    escaped = true;
                }
                Some(c) => {
                    self.bump();
                    text.push(c);
                    if !is_array_space(c) {
                        kept_len = text.len();
                    }
                }
            }
        }
        text.truncate(kept_len);
        if text.is_empty() {
            Err("empty element".to_string())
        } else if !escaped && text.eq_ignore_ascii_case("NULL") {
            Ok(None)
        } else {
            Ok(Some(text))
        }
    }
}

fn is_array_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(type_oid: u32, text: &str) -> Value {
        parse_text(type_oid, text)
            .unwrap_or_else(|e| panic!("{type_oid} {text:?} should parse: {e}"))
    }

    fn err(type_oid: u32, text: &str) -> TextError {
        match parse_text(type_oid, text) {
            Ok(v) => panic!("{type_oid} {text:?} should fail, got {v}"),
            Err(e) => e,
        }
    }

    fn s(text: &str) -> Value {
        Value::str(text)
    }

    fn list(items: impl IntoIterator<Item = Value>) -> Value {
        Value::List(items.into_iter().collect())
    }

    fn map<const N: usize>(fields: [(&str, Value); N]) -> Value {
        Value::Map(Arc::new(fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()))
    }

    #[test]
    fn bool() {
        assert_eq!(ok(oid::BOOL, "t"), Value::Bool(true));
        assert_eq!(ok(oid::BOOL, "f"), Value::Bool(false));
        for bad in ["true", "T", "", "1"] {
            err(oid::BOOL, bad);
        }
    }

    #[test]
    fn integers() {
        assert_eq!(ok(oid::INT2, "-32768"), Value::Int(-32768));
        assert_eq!(ok(oid::INT4, "0"), Value::Int(0));
        assert_eq!(ok(oid::INT8, "9223372036854775807"), Value::Int(i64::MAX));
        assert_eq!(ok(oid::INT8, "-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(ok(oid::OID, "4294967295"), Value::Int(4_294_967_295));
        for too_big in ["9223372036854775808", "-9223372036854775809", "1".repeat(40).as_str()] {
            assert_eq!(err(oid::INT8, too_big).reason, "out of range for a 64-bit integer");
        }
        for bad in ["", "12a", " 1", "1.0", "--1", "0x10"] {
            assert_eq!(err(oid::INT4, bad).reason, "not an integer");
        }
    }

    #[test]
    fn floats_including_special_values() {
        assert_eq!(ok(oid::FLOAT4, "2.71"), Value::float(2.71));
        assert_eq!(ok(oid::FLOAT8, "0.1"), Value::float(0.1));
        assert_eq!(ok(oid::FLOAT8, "1e+300"), Value::float(1e300));
        assert_eq!(ok(oid::FLOAT8, "1.5e-07"), Value::float(1.5e-7));
        let Value::Float(negative_zero) = ok(oid::FLOAT8, "-0") else {
            panic!("not a float");
        };
        assert!(negative_zero.0 == 0.0 && negative_zero.0.is_sign_negative());
        let Value::Float(nan) = ok(oid::FLOAT4, "NaN") else {
            panic!("not a float");
        };
        assert!(nan.0.is_nan());
        assert_eq!(ok(oid::FLOAT8, "Infinity"), Value::float(f64::INFINITY));
        assert_eq!(ok(oid::FLOAT8, "-Infinity"), Value::float(f64::NEG_INFINITY));
        // Rust's own spellings are not PostgreSQL output.
        for bad in ["inf", "nan", "infinity", "", "abc", "1,5"] {
            err(oid::FLOAT8, bad);
        }
        assert_eq!(err(oid::FLOAT8, "1e400").reason, "out of range for a 64-bit float");
    }

    fn dec(text: &str) -> Value {
        Value::Decimal(Decimal::parse(text).unwrap())
    }

    #[test]
    fn numeric_exact() {
        assert_eq!(ok(oid::NUMERIC, "12345.678"), dec("12345.678"));
        assert_eq!(ok(oid::NUMERIC, "1.50"), dec("1.5"));
        assert_eq!(ok(oid::NUMERIC, "0.000001"), dec("0.000001"));
        let huge = format!("1{}.000000000000000000000000000001", "0".repeat(400));
        assert_eq!(ok(oid::NUMERIC, &huge).to_string(), huge);
        assert_eq!(ok(oid::NUMERIC, "-Infinity"), Value::float(f64::NEG_INFINITY));
        assert!(matches!(ok(oid::NUMERIC, "NaN"), Value::Float(x) if x.0.is_nan()));
        let e = err(oid::NUMERIC, "1e5");
        assert_eq!((e.type_name, e.reason.as_str()), ("numeric", "not a number"));
    }

    #[test]
    fn strings_verbatim() {
        let tricky = "line1\nline2 \"q\" \\ back 'x' é ";
        for type_oid in [oid::TEXT, oid::VARCHAR, oid::NAME, oid::CHAR] {
            assert_eq!(ok(type_oid, tricky), s(tricky));
            assert_eq!(ok(type_oid, ""), s(""));
        }
        let uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        assert_eq!(ok(oid::UUID, uuid), s(uuid));
    }

    #[test]
    fn bpchar_drops_only_trailing_spaces() {
        assert_eq!(ok(oid::BPCHAR, "ab  "), s("ab"));
        assert_eq!(ok(oid::BPCHAR, "    "), s(""));
        assert_eq!(ok(oid::BPCHAR, " a b"), s(" a b"));
        assert_eq!(ok(oid::BPCHAR, "a\t "), s("a\t"));
    }

    #[test]
    fn dates_times_and_intervals_verbatim() {
        for (type_oid, text) in [
            (oid::DATE, "2024-02-29"),
            (oid::DATE, "0001-01-01 BC"),
            (oid::DATE, "-infinity"),
            (oid::TIME, "12:34:56.789"),
            (oid::TIMETZ, "12:34:56+05:30"),
            (oid::INTERVAL, "P1Y2M-3DT4H5M6.5S"),
        ] {
            assert_eq!(ok(type_oid, text), s(text));
        }
    }

    #[test]
    fn other_types_verbatim() {
        // An enum (user OID), an unlisted array type (time[]), a composite, OID 0.
        for (type_oid, text) in
            [(16385, "happy"), (1183, "{12:00:00,NULL}"), (16400, "(1,\"a b\")"), (0, "{not json")]
        {
            assert_eq!(ok(type_oid, text), s(text));
        }
    }

    #[test]
    fn json_and_jsonb() {
        let text = r#"{"f": 1500, "n": null, "t": true, "big": 12345678901234567890,
            "neg": -9223372036854775808, "x": 1.5, "s": "a\"b\u00e9",
            "nested": {"l": [[1], []]}}"#;
        let expected = map([
            ("f", Value::Int(1500)),
            ("n", Value::Null),
            ("t", Value::Bool(true)),
            ("big", Value::float(12345678901234567890.0)),
            ("neg", Value::Int(i64::MIN)),
            ("x", Value::float(1.5)),
            ("s", s("a\"bé")),
            ("nested", map([("l", list([list([Value::Int(1)]), list([])]))])),
        ]);
        assert_eq!(ok(oid::JSONB, text), expected);
        assert_eq!(ok(oid::JSON, text), expected);
        // json keeps its input verbatim, duplicates included; the last one wins, as in jsonb.
        assert_eq!(
            ok(oid::JSON, r#"{"b": 1,  "a":[1,2], "b": 2}"#),
            map([("a", list([Value::Int(1), Value::Int(2)])), ("b", Value::Int(2))])
        );
        assert_eq!(ok(oid::JSONB, "\"s\""), s("s"));
        assert_eq!(ok(oid::JSONB, "null"), Value::Null);
        assert_eq!(ok(oid::JSONB, "[]"), list([]));
        assert_eq!(ok(oid::JSONB, "-1.5e3"), Value::float(-1500.0));
        for bad in ["", "{", "{'a': 1}", "[1,]", "nul"] {
            assert!(err(oid::JSON, bad).reason.starts_with("invalid JSON"));
        }
        err(oid::JSON, "1e400");
        // Deep nesting is an error (serde_json's recursion limit), not a stack overflow.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        err(oid::JSONB, &deep);
    }

    #[test]
    fn timestamp_to_iso8601() {
        for (text, iso) in [
            ("2024-02-29 23:59:59.123456", "2024-02-29T23:59:59.123456"),
            ("2024-02-29 23:59:59", "2024-02-29T23:59:59"),
            ("2024-02-29 00:00:00.5", "2024-02-29T00:00:00.5"),
            ("0044-03-15 12:00:00 BC", "0044-03-15T12:00:00 BC"),
            ("10000-01-01 00:00:00", "10000-01-01T00:00:00"),
            ("infinity", "infinity"),
            ("-infinity", "-infinity"),
        ] {
            assert_eq!(ok(oid::TIMESTAMP, text), s(iso), "{text}");
        }
        for bad in [
            "",
            "2024-02-29T23:59:59",
            "2024-02-29",
            "29/02/2024 23:59:59",
            "Thu Feb 29 23:59:59 2024",
            "2024-02-29 23:59:59.1234567",
            "2024-02-29 23:59:59.",
            "2024-02-29 23:59",
            "2024-2-29 23:59:59",
            "2024-02-29 23:59:59+00",
            "2024-02-29 23:59:59 AD",
        ] {
            err(oid::TIMESTAMP, bad);
        }
    }

    #[test]
    fn timestamptz_to_iso8601() {
        for (text, iso) in [
            ("2024-02-29 18:29:59.123456+00", "2024-02-29T18:29:59.123456Z"),
            ("2024-03-01 05:29:59.5+05:30", "2024-03-01T05:29:59.5+05:30"),
            ("2024-02-29 18:59:59-05", "2024-02-29T18:59:59-05:00"),
            ("1900-01-01 00:19:32+00:19:32", "1900-01-01T00:19:32+00:19:32"),
            ("2024-02-29 18:29:59+00:00", "2024-02-29T18:29:59Z"),
            ("0044-03-15 12:00:00+00 BC", "0044-03-15T12:00:00Z BC"),
            ("infinity", "infinity"),
            ("-infinity", "-infinity"),
        ] {
            assert_eq!(ok(oid::TIMESTAMPTZ, text), s(iso), "{text}");
        }
        for bad in [
            "2024-02-29 18:29:59",
            "2024-02-29 18:29:59+5",
            "2024-02-29 18:29:59+05:3",
            "2024-02-29 18:29:59+05:30:00:00",
            "2024-02-29 18:29:59+",
            "2024-02-29 18:29:59 UTC",
            "2024-02-29 -18:29:59",
        ] {
            err(oid::TIMESTAMPTZ, bad);
        }
    }

    #[test]
    fn bytea_to_base64() {
        for (text, b64) in [
            ("\\x", ""),
            ("\\xdeadbeef", "3q2+7w=="),
            ("\\xDEADBEEF", "3q2+7w=="),
            ("\\x00ff10", "AP8Q"),
            // RFC 4648 §10 test vectors ("f", "fo", "foo", …).
            ("\\x66", "Zg=="),
            ("\\x666f", "Zm8="),
            ("\\x666f6f", "Zm9v"),
            ("\\x666f6f62", "Zm9vYg=="),
            ("\\x666f6f6261", "Zm9vYmE="),
            ("\\x666f6f626172", "Zm9vYmFy"),
            ("\\xfbff", "+/8="),
        ] {
            assert_eq!(ok(oid::BYTEA, text), s(b64), "{text}");
        }
        assert!(err(oid::BYTEA, "\\336\\255").reason.contains("bytea_output must be hex"));
        assert_eq!(err(oid::BYTEA, "\\xabc").reason, "odd number of hex digits");
        assert_eq!(err(oid::BYTEA, "\\xabzz").reason, "invalid hex digit at position 4");
        err(oid::BYTEA, "\\xé1");
    }

    #[test]
    fn arrays_of_numbers_and_nulls() {
        assert_eq!(
            ok(oid::INT4_ARRAY, "{1,NULL,3}"),
            list([Value::Int(1), Value::Null, Value::Int(3)])
        );
        assert_eq!(ok(oid::INT8_ARRAY, "{}"), list([]));
        assert_eq!(
            ok(oid::INT2_ARRAY, "{ 1 , null ,\t2 }"),
            list([Value::Int(1), Value::Null, Value::Int(2)])
        );
        assert_eq!(
            ok(oid::BOOL_ARRAY, "{t,f,NULL}"),
            list([Value::Bool(true), Value::Bool(false), Value::Null])
        );
        assert_eq!(ok(oid::NUMERIC_ARRAY, "{NaN,Infinity,1.5}").to_string(), "[NaN, inf, 1.5]");
        assert_eq!(
            ok(oid::FLOAT8_ARRAY, "{1.5,-Infinity}"),
            list([Value::float(1.5), Value::float(f64::NEG_INFINITY)])
        );
        assert_eq!(ok(oid::FLOAT4_ARRAY, "{\"1.25\"}"), list([Value::float(1.25)]));
    }

    #[test]
    fn arrays_of_strings_with_quotes_and_escapes() {
        let text = r#"{"a b","c,d",NULL,"NULL","","q\"x","back\\slash"," lead","trail ","{br}","null",é,null}"#;
        let expected = list([
            s("a b"),
            s("c,d"),
            Value::Null,
            s("NULL"),
            s(""),
            s("q\"x"),
            s("back\\slash"),
            s(" lead"),
            s("trail "),
            s("{br}"),
            s("null"),
            s("é"),
            Value::Null,
        ]);
        assert_eq!(ok(oid::TEXT_ARRAY, text), expected);
        assert_eq!(ok(oid::VARCHAR_ARRAY, text), expected);
        // Escapes in bare elements, as array_in accepts them.
        assert_eq!(ok(oid::TEXT_ARRAY, r"{a\,b,\NULL,x\ }"), list([s("a,b"), s("NULL"), s("x ")]));
        assert_eq!(ok(oid::BPCHAR_ARRAY, r#"{"ab  ",NULL}"#), list([s("ab"), Value::Null]));
        assert_eq!(
            ok(oid::UUID_ARRAY, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"),
            list([s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")])
        );
    }

    #[test]
    fn arrays_of_timestamps_and_json() {
        assert_eq!(
            ok(oid::TIMESTAMPTZ_ARRAY, r#"{"2024-01-01 00:00:00+00",infinity}"#),
            list([s("2024-01-01T00:00:00Z"), s("infinity")])
        );
        assert_eq!(
            ok(oid::TIMESTAMP_ARRAY, r#"{"2024-01-01 10:00:00",NULL}"#),
            list([s("2024-01-01T10:00:00"), Value::Null])
        );
        assert_eq!(
            ok(oid::JSONB_ARRAY, r#"{"{\"a\": [1, \"x,y\"]}","null","\"s\"",NULL}"#),
            list(
                [map([("a", list([Value::Int(1), s("x,y")]))]), Value::Null, s("s"), Value::Null,]
            )
        );
        assert_eq!(
            ok(oid::JSON_ARRAY, r#"{"{\"k\":\"v\"}",3}"#),
            list([map([("k", s("v"))]), Value::Int(3)])
        );
    }

    #[test]
    fn nested_arrays_and_bounds() {
        let square =
            list([list([Value::Int(1), Value::Int(2)]), list([Value::Int(3), Value::Int(4)])]);
        assert_eq!(ok(oid::INT4_ARRAY, "{{1,2},{3,4}}"), square);
        assert_eq!(ok(oid::INT4_ARRAY, "[1:2][3:4]={{1,2},{3,4}}"), square);
        assert_eq!(ok(oid::INT4_ARRAY, "[0:1]={1,2}"), list([Value::Int(1), Value::Int(2)]));
        assert_eq!(ok(oid::INT4_ARRAY, "[-2:-2]={7}"), list([Value::Int(7)]));
        assert_eq!(
            ok(oid::TEXT_ARRAY, r#"{{"a,b",NULL},{"}",c}}"#),
            list([list([s("a,b"), Value::Null]), list([s("}"), s("c")])])
        );
        let six = format!("{}1{}", "{".repeat(6), "}".repeat(6));
        assert!(parse_text(oid::INT4_ARRAY, &six).is_ok());
        let seven = format!("{}1{}", "{".repeat(7), "}".repeat(7));
        assert_eq!(err(oid::INT4_ARRAY, &seven).reason, "more than 6 dimensions");
        // Far too deep: rejected at depth 7, no stack overflow.
        err(oid::INT4_ARRAY, &"{".repeat(100_000));
    }

    #[test]
    fn malformed_arrays() {
        for bad in [
            "",
            "1,2",
            "{",
            "{1,2",
            "{1,,2}",
            "{,}",
            "{1,}",
            "{1}x",
            "{1}}",
            "{{1},2}",
            "{1,{2}}",
            r#"{"abc}"#,
            r#"{"abc"d}"#,
            r#"{a"b"}"#,
            "{abc\\",
            "{a{b}",
            "[1:2={1}",
            "[1:2]{1,2}",
            "[a:b]={1}",
            "[]={1}",
            "[1:2]",
        ] {
            err(oid::TEXT_ARRAY, bad);
        }
        let e = err(oid::INT4_ARRAY, "{1,x}");
        assert_eq!(e.type_name, "int4[]");
        assert_eq!(e.reason, "element \"x\": not an integer");
        assert_eq!(e.to_string(), "invalid int4[] value \"{1,x}\": element \"x\": not an integer");
    }

    #[test]
    fn errors_name_the_type_and_cut_long_text() {
        let e = err(oid::INT4, "12a");
        assert_eq!(e.to_string(), "invalid int4 value \"12a\": not an integer");
        let long = "é".repeat(1000);
        let e = err(oid::BOOL, &long);
        assert_eq!(e.text, format!("{}…", "é".repeat(80)));
    }

    /// The text values of the real pgoutput UPDATE fixture in `pgoutput.rs` (PostgreSQL 15,
    /// session pinned as the module docs require), column by column.
    #[test]
    #[expect(
        clippy::approx_constant,
        reason = "3.14159 is the float4 value the fixture holds, not an approximation of PI"
    )]
    fn real_pg15_output() {
        let cases = [
            (oid::INT4, "1", Value::Int(1)),
            (oid::INT2, "-32768", Value::Int(-32768)),
            (oid::INT8, "9223372036854775807", Value::Int(i64::MAX)),
            (oid::NUMERIC, "12345.678", dec("12345.678")),
            (oid::FLOAT4, "3.14159", Value::float(3.14159)),
            (oid::FLOAT8, "0.1", Value::float(0.1)),
            (oid::BOOL, "t", Value::Bool(true)),
            (oid::TEXT, "changed", s("changed")),
            (oid::VARCHAR, "vc", s("vc")),
            (oid::BPCHAR, "ab  ", s("ab")),
            (oid::TIMESTAMP, "2024-02-29 23:59:59.123456", s("2024-02-29T23:59:59.123456")),
            (oid::TIMESTAMPTZ, "2024-02-29 18:29:59.123456+00", s("2024-02-29T18:29:59.123456Z")),
            (oid::DATE, "0001-01-01 BC", s("0001-01-01 BC")),
            (oid::INTERVAL, "P1Y2M3DT4H5M6.5S", s("P1Y2M3DT4H5M6.5S")),
            (
                oid::JSON,
                r#"{"b": 1,  "a":[1,2]}"#,
                map([("a", list([Value::Int(1), Value::Int(2)])), ("b", Value::Int(1))]),
            ),
            (
                oid::JSONB,
                r#"{"a": [1, 2], "b": 1}"#,
                map([("a", list([Value::Int(1), Value::Int(2)])), ("b", Value::Int(1))]),
            ),
            (
                oid::UUID,
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            ),
            (oid::INT4_ARRAY, "{1,NULL,3}", list([Value::Int(1), Value::Null, Value::Int(3)])),
            (
                oid::TEXT_ARRAY,
                r#"{"a b","c,d",NULL,"NULL",""}"#,
                list([s("a b"), s("c,d"), Value::Null, s("NULL"), s("")]),
            ),
            (oid::BYTEA, r"\xdeadbeef", s("3q2+7w==")),
            (16385, "happy", s("happy")),
        ];
        for (type_oid, text, expected) in cases {
            assert_eq!(ok(type_oid, text), expected, "{type_oid} {text:?}");
        }
    }

    use super::super::testing::Rng;

    /// Random strings over the characters the parsers care about, for every OID with a rule:
    /// each must give `Ok` or `Err`, never a panic.
    #[test]
    fn fuzz_never_panics() {
        const ALPHABET: &[char] = &[
            '{', '}', '"', ',', '\\', ' ', '\t', '[', ']', ':', '=', '-', '+', '.', '0', '1', '9',
            'e', 'E', 'x', 'a', 'f', 't', 'N', 'U', 'L', 'n', 'I', 'T', 'Z', 'B', 'C', 'é', '€',
        ];
        const SEEDS: &[&str] = &[
            "{\"a\",NULL}",
            "[1:2]={1,2}",
            "2024-02-29 18:29:59.123456+05:30",
            "0001-01-01 00:00:00 BC",
            "\\xdeadbeef",
            "{\"k\": [1, 2.5, null]}",
            "Infinity",
        ];
        let oids = [
            oid::BOOL,
            oid::INT4,
            oid::INT8,
            oid::FLOAT8,
            oid::NUMERIC,
            oid::BPCHAR,
            oid::JSON,
            oid::JSONB,
            oid::TIMESTAMP,
            oid::TIMESTAMPTZ,
            oid::BYTEA,
            oid::INT4_ARRAY,
            oid::TEXT_ARRAY,
            oid::JSONB_ARRAY,
            oid::TIMESTAMPTZ_ARRAY,
            oid::FLOAT8_ARRAY,
        ];
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for round in 0..30_000 {
            let mut text: String = if round % 2 == 0 {
                SEEDS[rng.below(SEEDS.len())].to_string()
            } else {
                String::new()
            };
            for _ in 0..rng.below(24) {
                let c = ALPHABET[rng.below(ALPHABET.len())];
                let at = rng.below(text.chars().count() + 1);
                let byte_at = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
                text.insert(byte_at, c);
            }
            for &type_oid in &oids {
                let _ = parse_text(type_oid, &text);
            }
        }
    }
}
