//! PostgreSQL's COPY text format, decoded as it arrives.
//!
//! `COPY … TO STDOUT` (text format, the default) writes each value with its type's output
//! function, the same text pgoutput sends, so [`super::text::parse_text`] reads both alike.
//! COPY only adds a layer of escaping, which this module removes: a row is one line, its
//! fields are separated by tabs, and `\N` alone is NULL. Inside a value, COPY writes a
//! backslash, tab, newline or carriage return as `\\`, `\t`, `\n`, `\r` (and may use `\b`,
//! `\f`, `\v`), so a raw tab or newline always separates. The decoder accepts everything
//! PostgreSQL's own COPY reader does: octal `\ooo` and hex `\xHH` bytes, and a backslash before
//! any other byte (a tab or newline included) standing for that byte.
//!
//! The data comes in chunks whose boundaries fall anywhere, inside a row, a field or an
//! escape, so the decoder keeps the unfinished row between chunks and nothing else: memory
//! follows the longest row, not the table.

use std::mem;

/// Why COPY data could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum CopyTextError {
    /// A value's bytes (after `\ooo`/`\xHH` escapes) are not UTF-8, the connection's encoding.
    #[error("COPY data: a value is not valid UTF-8")]
    NotUtf8,
    /// The data ended inside a row.
    #[error("COPY data ended inside a row")]
    Truncated,
}

/// Where the decoder is inside a backslash escape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After a backslash.
    Started,
    /// After `\` and `digits` octal digits (at most 3) making `value`.
    Octal { value: u32, digits: u8 },
    /// After `\x`, before its first hex digit: if none follows, the escape is a plain `x`.
    HexStarted,
    /// After `\x` and one hex digit.
    Hex { value: u8 },
}

/// Decodes a stream of COPY text chunks into rows.
#[derive(Default)]
pub(super) struct CopyText {
    /// The finished fields of the unfinished row.
    values: Vec<Option<String>>,
    /// The unfinished field's bytes, unescaped.
    field: Vec<u8>,
    /// Whether the unfinished field so far is exactly the NULL marker `\N`. The marker is
    /// matched before unescaping, so `\\N` (the text `\N`) and `\NX` are values.
    null: bool,
    /// Whether the unfinished field has any raw bytes yet.
    started: bool,
    escape: Escape,
}

impl CopyText {
    /// Decodes `chunk`, calling `row` with the values of every row it completes, in order;
    /// an unfinished row waits for the next chunk.
    pub(super) fn feed<E: From<CopyTextError>>(
        &mut self,
        chunk: &[u8],
        row: &mut impl FnMut(Vec<Option<String>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rest = chunk;
        while let Some((&byte, tail)) = rest.split_first() {
            match self.escape {
                Escape::None => {
                    // Most bytes are plain: copy them in runs.
                    let run = rest
                        .iter()
                        .position(|b| matches!(b, b'\t' | b'\n' | b'\\'))
                        .unwrap_or(rest.len());
                    if run > 0 {
                        self.plain(&rest[..run]);
                        rest = &rest[run..];
                        continue;
                    }
                    rest = tail;
                    match byte {
                        b'\t' => self.end_field()?,
                        b'\n' => {
                            self.end_field()?;
                            row(mem::take(&mut self.values))?;
                        }
                        _ => {
                            self.null = !self.started;
                            self.started = true;
                            self.escape = Escape::Started;
                        }
                    }
                }
                Escape::Started => {
                    rest = tail;
                    self.escape = Escape::None;
                    let decoded = match byte {
                        b'0'..=b'7' => {
                            self.null = false;
                            self.escape =
                                Escape::Octal { value: u32::from(byte - b'0'), digits: 1 };
                            continue;
                        }
                        b'x' => {
                            self.null = false;
                            self.escape = Escape::HexStarted;
                            continue;
                        }
                        b'N' if self.null => {
                            self.field.push(b'N');
                            continue;
                        }
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 0x0b,
                        other => other,
                    };
                    self.null = false;
                    self.field.push(decoded);
                }
                Escape::Octal { value, digits } => match byte {
                    b'0'..=b'7' if digits < 3 => {
                        rest = tail;
                        let value = value * 8 + u32::from(byte - b'0');
                        self.escape = Escape::Octal { value, digits: digits + 1 };
                    }
                    // The byte after the escape is read again, as an ordinary byte.
                    _ => self.end_escape((value & 0xff) as u8),
                },
                Escape::HexStarted => match hex(byte) {
                    Some(value) => {
                        rest = tail;
                        self.escape = Escape::Hex { value };
                    }
                    None => self.end_escape(b'x'),
                },
                Escape::Hex { value } => match hex(byte) {
                    Some(low) => {
                        rest = tail;
                        self.end_escape(value << 4 | low);
                    }
                    None => self.end_escape(value),
                },
            }
        }
        Ok(())
    }

    /// Checks that the data ended at the end of a row.
    pub(super) fn finish(&mut self) -> Result<(), CopyTextError> {
        if self.started || !self.values.is_empty() || self.escape != Escape::None {
            return Err(CopyTextError::Truncated);
        }
        Ok(())
    }

    fn plain(&mut self, bytes: &[u8]) {
        self.field.extend_from_slice(bytes);
        self.null = false;
        self.started = true;
    }

    /// Ends an octal or hex escape with the byte it stands for.
    fn end_escape(&mut self, byte: u8) {
        self.field.push(byte);
        self.escape = Escape::None;
    }

    fn end_field(&mut self) -> Result<(), CopyTextError> {
        let value = if self.null {
            self.field.clear();
            None
        } else {
            let bytes = mem::take(&mut self.field);
            Some(String::from_utf8(bytes).map_err(|_| CopyTextError::NotUtf8)?)
        };
        self.values.push(value);
        self.null = false;
        self.started = false;
        Ok(())
    }
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rows = Vec<Vec<Option<String>>>;

    /// Decodes `data` cut into the given chunk sizes (cycled).
    fn decode_in(data: &[u8], sizes: &[usize]) -> Result<Rows, CopyTextError> {
        let mut decoder = CopyText::default();
        let mut rows = Vec::new();
        let mut rest = data;
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
            decoder.feed(chunk, &mut |row| {
                rows.push(row);
                Ok::<_, CopyTextError>(())
            })?;
            rest = tail;
        }
        decoder.finish()?;
        Ok(rows)
    }

    fn decode(data: &[u8]) -> Rows {
        decode_in(data, &[data.len().max(1)]).expect("decodes")
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn fields_are_tab_separated_and_rows_end_with_a_newline() {
        assert_eq!(
            decode(b"1\tabc\t\n2\t\txyz\n"),
            vec![
                row(&[Some("1"), Some("abc"), Some("")]),
                row(&[Some("2"), Some(""), Some("xyz")])
            ]
        );
        assert_eq!(decode(b""), Rows::new());
        assert_eq!(decode(b"\n"), vec![row(&[Some("")])], "one empty text column");
    }

    #[test]
    fn null_is_the_whole_field_backslash_n_and_differs_from_empty() {
        assert_eq!(decode(b"\\N\t\t\\N\n"), vec![row(&[None, Some(""), None])]);
        assert_eq!(decode(b"\\\\N\n"), vec![row(&[Some("\\N")])], "the text \\N");
        assert_eq!(decode(b"\\NX\tX\\N\n"), vec![row(&[Some("NX"), Some("XN")])]);
    }

    #[test]
    fn every_escape_decodes_as_postgresql_reads_it() {
        assert_eq!(
            decode(b"a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh\n"),
            vec![row(&[Some("a\tb\nc\rd\\e\u{8}f\u{c}g\u{b}h")])]
        );
        // Octal: one to three digits, the value taken modulo 256.
        assert_eq!(decode(b"\\101\\0619\\7\\501\n"), vec![row(&[Some("A19\u{7}A")])]);
        // Hex: one or two digits; `\x` without a digit is an `x`.
        assert_eq!(decode(b"\\x41\\x4g\\xz\\x\n"), vec![row(&[Some("A\u{4}gxzx")])]);
        // A backslash before any other byte is that byte, a tab or newline included.
        assert_eq!(decode(b"\\q\\\"\\\ta\\\nb\n"), vec![row(&[Some("q\"\ta\nb")])]);
    }

    #[test]
    fn escaped_bytes_form_utf8_or_fail() {
        assert_eq!(decode(b"\\303\\251t\\xc3\\xa9\n"), vec![row(&[Some("été")])]);
        assert_eq!(decode("ünï\tcödé ✓\n".as_bytes()), vec![row(&[Some("ünï"), Some("cödé ✓")])]);
        assert_eq!(decode_in(b"\\377\n", &[8]), Err(CopyTextError::NotUtf8));
    }

    #[test]
    fn data_that_ends_inside_a_row_is_refused() {
        for data in [&b"1\t2"[..], b"1\t", b"\\", b"\\N", b"\\x4"] {
            assert_eq!(decode_in(data, &[8]), Err(CopyTextError::Truncated), "{data:?}");
        }
    }

    /// Every cut of the data into two or three chunks decodes the same rows: boundaries may
    /// fall inside a field, an escape, between a field and its tab, or between rows.
    #[test]
    fn chunk_boundaries_anywhere_give_the_same_rows() {
        let data: &[u8] =
            b"1\t\\N\t\\\\x\\x41z\\101\\1\n22\t\ta\\tb\\\\\\n\\N\n\\x4\\7\t\xc3\xa9\\303\\251\n";
        let whole = decode(data);
        assert_eq!(whole.len(), 3);
        for first in 1..data.len() {
            for second in 1..data.len() {
                let rows = decode_in(data, &[first, second]).expect("decodes");
                assert_eq!(rows, whole, "chunks of {first} and {second} bytes");
            }
        }
    }
}
