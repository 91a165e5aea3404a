//! Validity periods written in manifests, e.g. `spec.validity: "90d"` on a MispLicense.

use jiff::SignedDuration;

const SECOND: u64 = 1;
const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;
const YEAR: u64 = 365 * DAY;

/// The longest validity accepted: 100 years of 365 days.
pub const MAX_VALIDITY_SECS: u64 = 100 * YEAR;

const HINT: &str = "write a whole number followed by a unit (y = 365 days, w, d, h, m or s), e.g. \"90d\", \"2160h\", \"1y\" or \"1h30m\"";

/// A validity that cannot be used. Messages quote the input and say what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The value is empty.
    #[error("validity is empty; {HINT}")]
    Empty,
    /// The value is negative.
    #[error("validity {input:?} is negative; {HINT}")]
    Negative {
        /// The value as written.
        input: String,
    },
    /// The value is zero.
    #[error("validity {input:?} is zero; a key must be valid for some time; {HINT}")]
    Zero {
        /// The value as written.
        input: String,
    },
    /// The value is longer than 100 years.
    #[error("validity {input:?} is longer than 100 years; use at most \"100y\"")]
    TooLong {
        /// The value as written.
        input: String,
    },
    /// The value is not a duration.
    #[error("validity {input:?} is not a duration ({detail}); {HINT}")]
    Invalid {
        /// The value as written.
        input: String,
        /// What was wrong.
        detail: String,
    },
}

/// Parses a validity period: one or more `<whole number><unit>` terms, Go style, with units
/// `y` (365 days), `w`, `d`, `h`, `m` and `s`, e.g. `90d`, `2160h`, `30m`, `45s`, `1y`, `12w` or
/// `1h30m`. Surrounding whitespace is ignored.
///
/// Rejected: empty, negative, zero, fractions, unknown units (including `M` and `ms`), and
/// anything longer than 100 years.
pub fn parse_validity(s: &str) -> Result<SignedDuration, DurationError> {
    let input = s.trim();
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = |detail: String| DurationError::Invalid { input: input.to_string(), detail };
    if input.starts_with('-') {
        return Err(DurationError::Negative { input: input.to_string() });
    }

    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut total: u64 = 0;
    let mut too_long = false;
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == digits_start {
            let rest = &input[pos..];
            return Err(invalid(format!("expected a number at {rest:?}")));
        }
        let digits = &input[digits_start..pos];
        if pos < bytes.len() && (bytes[pos] == b'.' || bytes[pos] == b',') {
            return Err(invalid(
                "fractions are not supported; use a smaller unit, e.g. \"90m\" instead of \"1.5h\"".to_string(),
            ));
        }

        let unit_start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let unit = &input[unit_start..pos];
        let unit_secs = match unit {
            "y" => YEAR,
            "w" => WEEK,
            "d" => DAY,
            "h" => HOUR,
            "m" => MINUTE,
            "s" => SECOND,
            "" => return Err(invalid(format!("the number {digits} has no unit"))),
            other => return Err(invalid(format!("unknown unit {other:?}"))),
        };

        // Any number too large for u64 is far beyond 100 years; keep parsing to report syntax
        // errors first.
        match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit_secs)).and_then(|v| total.checked_add(v)) {
            Some(v) => total = v,
            None => too_long = true,
        }
    }

    if too_long || total > MAX_VALIDITY_SECS {
        return Err(DurationError::TooLong { input: input.to_string() });
    }
    if total == 0 {
        return Err(DurationError::Zero { input: input.to_string() });
    }
    // total ≤ MAX_VALIDITY_SECS, which fits in i64.
    let secs = i64::try_from(total).map_err(|_| DurationError::TooLong { input: input.to_string() })?;
    Ok(SignedDuration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> i64 {
        parse_validity(s).unwrap().as_secs()
    }

    #[test]
    fn single_units() {
        assert_eq!(secs("90d"), 90 * 86_400);
        assert_eq!(secs("2160h"), 90 * 86_400);
        assert_eq!(secs("30m"), 1_800);
        assert_eq!(secs("45s"), 45);
        assert_eq!(secs("1y"), 365 * 86_400);
        assert_eq!(secs("12w"), 84 * 86_400);
        assert_eq!(secs("007d"), 7 * 86_400);
    }

    #[test]
    fn compound() {
        assert_eq!(secs("1h30m"), 5_400);
        assert_eq!(secs("1y2w3d4h5m6s"), 365 * 86_400 + 14 * 86_400 + 3 * 86_400 + 4 * 3600 + 5 * 60 + 6);
        assert_eq!(secs("1h1h"), 7_200);
        assert_eq!(secs("  90d \n"), 90 * 86_400);
        assert_eq!(secs("0d1s"), 1);
    }

    #[test]
    fn bounds() {
        assert_eq!(secs("100y"), 100 * 365 * 86_400);
        assert_eq!(secs("36500d"), 100 * 365 * 86_400);
        assert_eq!(secs("1s"), 1);
        for too_long in ["100y1s", "36501d", "101y", "99999999999999999999999d", "18446744073709551615s"] {
            assert!(
                matches!(parse_validity(too_long), Err(DurationError::TooLong { .. })),
                "{too_long}: {:?}",
                parse_validity(too_long)
            );
        }
    }

    #[test]
    fn rejects_empty_zero_negative() {
        assert_eq!(parse_validity(""), Err(DurationError::Empty));
        assert_eq!(parse_validity("   "), Err(DurationError::Empty));
        assert!(matches!(parse_validity("0d"), Err(DurationError::Zero { .. })));
        assert!(matches!(parse_validity("0h0m"), Err(DurationError::Zero { .. })));
        assert!(matches!(parse_validity("-90d"), Err(DurationError::Negative { .. })));
    }

    #[test]
    fn rejects_garbage() {
        for bad in
            ["90", "d", "90 d", "90D", "1M", "10ms", "1.5h", "1,5h", "+90d", "90days", "1h30", "abc", "1h-30m", "٣d"]
        {
            assert!(
                matches!(parse_validity(bad), Err(DurationError::Invalid { .. })),
                "{bad}: {:?}",
                parse_validity(bad)
            );
        }
    }

    #[test]
    fn messages_are_actionable() {
        let msg = parse_validity("90days").unwrap_err().to_string();
        assert!(msg.contains("\"90days\""), "{msg}");
        assert!(msg.contains("unknown unit \"days\""), "{msg}");
        assert!(msg.contains("e.g. \"90d\""), "{msg}");
        let msg = parse_validity("1.5h").unwrap_err().to_string();
        assert!(msg.contains("\"90m\" instead of \"1.5h\""), "{msg}");
        let msg = parse_validity("90").unwrap_err().to_string();
        assert!(msg.contains("has no unit"), "{msg}");
        let msg = parse_validity("200y").unwrap_err().to_string();
        assert!(msg.contains("at most \"100y\""), "{msg}");
    }
}
