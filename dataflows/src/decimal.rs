//! Exact decimal numbers of any size, for PostgreSQL `numeric`.
//!
//! A [`Decimal`] is a finite number held as its canonical plain text (`-12.5`, `100`, `0.001`):
//! no exponent, no leading zeros, no trailing fraction zeros, no `-0`. Canonical text makes the
//! derived `Eq`/`Ord`/`Hash` (a storage order, as for every [`crate::Value`]) agree with
//! numeric equality: two decimals are equal exactly when their texts are. The text is also
//! what JSON carries, digit for digit. PostgreSQL's numeric keeps up to 131 072 integer and
//! 16 383 fraction digits, more than any fixed-width type, so the arithmetic works on digit
//! strings. It is exact for `+`, `-` and `*`; everything else in Cypher converts to float (see
//! [`crate::eval`]). NaN and ±Infinity are not decimals: sources map them to floats.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An exact, finite decimal number in canonical text form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Decimal(Arc<str>);

/// Text that is not a plain decimal number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a decimal number: {0:?}")]
pub struct DecimalError(String);

/// A decimal taken apart: `±digits × 10^-scale`, `digits` most significant first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    negative: bool,
    digits: Vec<u8>,
    scale: usize,
}

impl Decimal {
    /// Parses plain decimal text: an optional sign, digits, optionally a point and more digits
    /// (PostgreSQL's numeric output; no exponent).
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let signed = text.strip_prefix('+').unwrap_or(text);
        let unsigned = signed.strip_prefix('-').unwrap_or(signed);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
            return Err(DecimalError(text.to_string()));
        }
        Ok(Decimal::parse_parts(signed).into())
    }

    /// The nearest float (±infinity beyond f64's range).
    pub fn to_f64(&self) -> f64 {
        self.0.parse().expect("canonical decimal text is a valid float")
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Numeric order (the derived `Ord` is the storage order of the texts).
    pub fn cmp_numeric(&self, other: &Decimal) -> Ordering {
        let (a, b) = (self.parts(), other.parts());
        match (a.negative, b.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => cmp_magnitude(&a, &b),
            (true, true) => cmp_magnitude(&b, &a),
        }
    }

    /// `self + other`, exactly.
    pub fn add(&self, other: &Decimal) -> Decimal {
        add_parts(self.parts(), other.parts()).into()
    }

    /// `self - other`, exactly.
    pub fn sub(&self, other: &Decimal) -> Decimal {
        add_parts(self.parts(), other.neg().parts()).into()
    }

    /// `self * other`, exactly.
    pub fn mul(&self, other: &Decimal) -> Decimal {
        let (a, b) = (self.parts(), other.parts());
        let mut product = vec![0u32; a.digits.len() + b.digits.len()];
        for (i, x) in a.digits.iter().enumerate().rev() {
            for (j, y) in b.digits.iter().enumerate().rev() {
                product[i + j + 1] += u32::from(*x) * u32::from(*y);
            }
            // Carry after each row keeps every cell far below u32::MAX.
            carry(&mut product);
        }
        Parts {
            negative: a.negative != b.negative,
            digits: product.into_iter().map(|d| d as u8).collect(),
            scale: a.scale + b.scale,
        }
        .into()
    }

    /// `-self`.
    pub fn neg(&self) -> Decimal {
        match self.0.strip_prefix('-') {
            Some(positive) => Decimal(positive.into()),
            None if &*self.0 == "0" => self.clone(),
            None => Decimal(format!("-{}", self.0).into()),
        }
    }

    /// `|self|`.
    pub fn abs(&self) -> Decimal {
        match self.0.strip_prefix('-') {
            Some(positive) => Decimal(positive.into()),
            None => self.clone(),
        }
    }

    /// -1, 0 or 1.
    pub fn signum(&self) -> i64 {
        match (self.0.starts_with('-'), &*self.0) {
            (true, _) => -1,
            (false, "0") => 0,
            _ => 1,
        }
    }

    /// The integer part (truncated towards zero), if it fits an i64.
    pub fn trunc_to_i64(&self) -> Option<i64> {
        self.0.split('.').next().and_then(|int| int.parse().ok())
    }

    fn parts(&self) -> Parts {
        Decimal::parse_parts(&self.0)
    }

    /// Takes apart text known to be well-formed (an optional `-`, digits, an optional point).
    fn parse_parts(text: &str) -> Parts {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        Parts {
            negative,
            digits: int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect(),
            scale: frac.len(),
        }
    }
}

/// Propagates carries in base-10 cells, least significant last.
fn carry(cells: &mut [u32]) {
    let mut carry = 0;
    for cell in cells.iter_mut().rev() {
        let total = *cell + carry;
        *cell = total % 10;
        carry = total / 10;
    }
    debug_assert_eq!(carry, 0, "the product has room for every digit");
}

/// The digits of `p` scaled to `scale` fraction digits (`scale >= p.scale`).
fn rescaled(p: &Parts, scale: usize) -> Vec<u8> {
    let mut digits = p.digits.clone();
    digits.resize(p.digits.len() + scale - p.scale, 0);
    digits
}

/// Compares `|a|` and `|b|`.
fn cmp_magnitude(a: &Parts, b: &Parts) -> Ordering {
    let scale = a.scale.max(b.scale);
    let (x, y) = (rescaled(a, scale), rescaled(b, scale));
    let (x, y) = (strip_leading_zeros(&x), strip_leading_zeros(&y));
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let first = digits.iter().position(|d| *d != 0).unwrap_or(digits.len());
    &digits[first..]
}

fn add_parts(a: Parts, b: Parts) -> Parts {
    let scale = a.scale.max(b.scale);
    let (x, y) = (rescaled(&a, scale), rescaled(&b, scale));
    let width = x.len().max(y.len()) + 1;
    let padded = |d: &[u8]| {
        let mut cells = vec![0i32; width - d.len()];
        cells.extend(d.iter().map(|&v| i32::from(v)));
        cells
    };
    let (x, y) = (padded(&x), padded(&y));
    if a.negative == b.negative {
        let mut sum: Vec<u32> = x.iter().zip(&y).map(|(p, q)| (p + q) as u32).collect();
        carry(&mut sum);
        return Parts {
            negative: a.negative,
            digits: sum.into_iter().map(|d| d as u8).collect(),
            scale,
        };
    }
    // Opposite signs: subtract the smaller magnitude from the larger, keep the larger's sign.
    let (big, small, negative) = if cmp_magnitude(&a, &b) == Ordering::Less {
        (y, x, b.negative)
    } else {
        (x, y, a.negative)
    };
    let mut digits = vec![0u8; width];
    let mut borrow = 0;
    for i in (0..width).rev() {
        let mut d = big[i] - small[i] - borrow;
        borrow = i32::from(d < 0);
        if d < 0 {
            d += 10;
        }
        digits[i] = d as u8;
    }
    Parts { negative, digits, scale }
}

impl From<Parts> for Decimal {
    /// The canonical text of `parts`.
    fn from(parts: Parts) -> Decimal {
        let Parts { negative, mut digits, mut scale } = parts;
        while scale > 0 && digits.last() == Some(&0) {
            digits.pop();
            scale -= 1;
        }
        let int_len = digits.len() - scale;
        let int = strip_leading_zeros(&digits[..int_len]);
        let frac = &digits[int_len..];
        let zero = int.is_empty() && frac.is_empty();
        let mut text = String::with_capacity(digits.len() + 3);
        if negative && !zero {
            text.push('-');
        }
        if int.is_empty() {
            text.push('0');
        }
        text.extend(int.iter().map(|d| char::from(b'0' + d)));
        if !frac.is_empty() {
            text.push('.');
            text.extend(frac.iter().map(|d| char::from(b'0' + d)));
        }
        Decimal(text.into())
    }
}

impl From<i64> for Decimal {
    fn from(i: i64) -> Decimal {
        Decimal(i.to_string().into())
    }
}

impl TryFrom<String> for Decimal {
    type Error = DecimalError;

    /// Accepts only canonical text, so that a decoded value obeys the same invariant.
    fn try_from(text: String) -> Result<Decimal, DecimalError> {
        let decimal = Decimal::parse(&text)?;
        if *decimal.0 != *text {
            return Err(DecimalError(text));
        }
        Ok(decimal)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn canonical_text() {
        for (input, canonical) in [
            ("1.50", "1.5"),
            ("-0.000", "0"),
            ("007", "7"),
            ("100", "100"),
            ("100.0", "100"),
            (".5", "0.5"),
            ("-.5", "-0.5"),
            ("+3.", "3"),
            ("0.0001000", "0.0001"),
        ] {
            assert_eq!(d(input).as_str(), canonical, "{input}");
        }
        for bad in ["", "-", ".", "1e5", "1.2.3", " 1", "NaN", "Infinity", "1_000"] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn equality_is_numeric_because_text_is_canonical() {
        assert_eq!(d("1.50"), d("1.5000"));
        assert_ne!(d("1.5"), d("-1.5"));
        assert_eq!(d("-0"), d("0"));
    }

    #[test]
    fn exact_arithmetic_beyond_f64_and_i128() {
        let big = d("123456789012345678901234567890.123456789");
        assert_eq!(big.add(&d("0.876543211")).as_str(), "123456789012345678901234567891");
        assert_eq!(d("0.1").add(&d("0.2")).as_str(), "0.3");
        assert_eq!(d("1").sub(&d("1.001")).as_str(), "-0.001");
        assert_eq!(d("-5").sub(&d("-5")).as_str(), "0");
        assert_eq!(d("-2.5").add(&d("1")).as_str(), "-1.5");
        assert_eq!(d("99.99").mul(&d("-0.01")).as_str(), "-0.9999");
        assert_eq!(
            big.mul(&big).as_str(),
            "15241578753238836750495351562566681945005334557625361987875.019051998750190521"
        );
        assert_eq!(
            d("12345678901234567890").mul(&d("98765432109876543210")).as_str(),
            "1219326311370217952237463801111263526900"
        );
        assert_eq!(d("0").mul(&d("-3.3")).as_str(), "0");
    }

    #[test]
    fn numeric_order() {
        let sorted = ["-100", "-1.5", "-1.25", "0", "0.001", "0.01", "1", "9.99", "10", "100.5"];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(d(a).cmp_numeric(&d(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(d("1.5").to_f64(), 1.5);
        assert_eq!(d(&format!("1{}", "0".repeat(400))).to_f64(), f64::INFINITY);
        assert_eq!(d("-12.9").trunc_to_i64(), Some(-12));
        assert_eq!(d("99999999999999999999").trunc_to_i64(), None);
        assert_eq!(Decimal::from(i64::MIN).as_str(), "-9223372036854775808");
        assert_eq!((d("-3").signum(), d("0").signum(), d("0.1").signum()), (-1, 0, 1));
        assert_eq!((d("-3").abs(), d("3").neg(), d("0").neg()), (d("3"), d("-3"), d("0")));
    }

    #[test]
    fn decoding_rejects_non_canonical_text() {
        let json = serde_json::to_string(&d("2.50")).unwrap();
        assert_eq!(json, "\"2.5\"");
        assert_eq!(serde_json::from_str::<Decimal>(&json).unwrap(), d("2.5"));
        assert!(serde_json::from_str::<Decimal>("\"2.50\"").is_err());
    }
}
