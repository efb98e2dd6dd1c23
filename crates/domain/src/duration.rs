//! Rotation intervals ([`RotationInterval`]): parsing `<digits><unit>` text and its ranges.
//!
//! Input is a whole number followed by one lower-case unit: `d` (days), `h` (hours), `m`
//! (minutes) or `s` (seconds), e.g. `30d`, `12h`, `604800s` (spec §4.3). Signs, spaces, decimals,
//! upper-case units and a missing unit are refused. Secrets accept 6h to 8760h inclusive, keys
//! 7d to 365d inclusive. Output is always normalised to seconds with an `s` suffix. Arithmetic is
//! checked: a number too large to count in seconds is reported as out of range, never wrapped.

use std::fmt;

use crate::error::ValidationError;

const PARAM: &str = "RotationInterval";
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// Shortest automatic rotation interval of a secret (6 hours), in seconds.
pub const SECRET_MIN_SECONDS: u64 = 6 * HOUR;
/// Longest automatic rotation interval of a secret (8760 hours), in seconds.
pub const SECRET_MAX_SECONDS: u64 = 8_760 * HOUR;
/// Shortest automatic rotation interval of a key (7 days), in seconds.
pub const KEY_MIN_SECONDS: u64 = 7 * DAY;
/// Longest automatic rotation interval of a key (365 days), in seconds.
pub const KEY_MAX_SECONDS: u64 = 365 * DAY;

/// A validated automatic-rotation interval, held in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RotationInterval(u64);

impl RotationInterval {
    /// Parses a secret rotation interval (6h to 8760h inclusive).
    pub fn parse_secret_interval(text: &str) -> Result<Self, ValidationError> {
        parse_in_range(text, SECRET_MIN_SECONDS, SECRET_MAX_SECONDS, "6h", "8760h")
    }

    /// Parses a key rotation interval (7d to 365d inclusive).
    pub fn parse_key_interval(text: &str) -> Result<Self, ValidationError> {
        parse_in_range(text, KEY_MIN_SECONDS, KEY_MAX_SECONDS, "7d", "365d")
    }

    /// The interval in seconds.
    pub fn seconds(self) -> u64 {
        self.0
    }

    /// The wire form, seconds with an `s` suffix (`604800s`).
    pub fn as_seconds_string(self) -> String {
        format!("{}s", self.0)
    }

    /// The interval as a `time::Duration`, for computing the next rotation date from `now`.
    pub fn as_duration(self) -> time::Duration {
        // The ranges above keep the value far below i64::MAX; saturate rather than wrap anyway.
        time::Duration::seconds(i64::try_from(self.0).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for RotationInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

fn parse_in_range(
    text: &str,
    min: u64,
    max: u64,
    min_text: &'static str,
    max_text: &'static str,
) -> Result<RotationInterval, ValidationError> {
    let out_of_range = ValidationError::OutOfRange {
        param: PARAM,
        min: min_text,
        max: max_text,
    };
    match to_seconds(text)? {
        Some(seconds) if (min..=max).contains(&seconds) => Ok(RotationInterval(seconds)),
        _ => Err(out_of_range),
    }
}

/// Converts `<digits><unit>` to seconds; `Ok(None)` when the number overflows a u64 of seconds.
fn to_seconds(text: &str) -> Result<Option<u64>, ValidationError> {
    let malformed = || {
        ValidationError::invalid(
            PARAM,
            "must be a whole number followed by d, h, m or s, for example 30d",
        )
    };
    if text.is_empty() {
        return Err(ValidationError::Empty { param: PARAM });
    }
    let unit = text.chars().last().ok_or_else(malformed)?;
    let multiplier = match unit {
        'd' => DAY,
        'h' => HOUR,
        'm' => 60,
        's' => 1,
        _ => return Err(malformed()),
    };
    let digits = text.get(..text.len() - unit.len_utf8()).unwrap_or_default();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let mut value: u64 = 0;
    for b in digits.bytes() {
        let next = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')));
        match next {
            Some(v) => value = v,
            None => return Ok(None),
        }
    }
    Ok(value.checked_mul(multiplier))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rotation_interval_accepts_6h_and_8760h_boundaries() {
        assert_eq!(
            RotationInterval::parse_secret_interval("6h")
                .unwrap()
                .seconds(),
            21_600
        );
        assert_eq!(
            RotationInterval::parse_secret_interval("8760h")
                .unwrap()
                .seconds(),
            31_536_000
        );
        assert!(RotationInterval::parse_secret_interval("21600s").is_ok());
        assert!(RotationInterval::parse_secret_interval("365d").is_ok());
    }

    #[test]
    fn rotation_interval_rejects_just_outside_the_secret_range() {
        for text in ["21599s", "359m", "5h", "31536001s", "8761h", "366d", "0s"] {
            let err = RotationInterval::parse_secret_interval(text).unwrap_err();
            assert_eq!(
                err.to_string(),
                "RotationInterval must be between 6h and 8760h",
                "{text}"
            );
        }
    }

    #[test]
    fn key_interval_accepts_7d_to_365d() {
        assert_eq!(
            RotationInterval::parse_key_interval("7d")
                .unwrap()
                .seconds(),
            604_800
        );
        assert!(RotationInterval::parse_key_interval("365d").is_ok());
        assert!(RotationInterval::parse_key_interval("8760h").is_ok());
        let err = RotationInterval::parse_key_interval("6d").unwrap_err();
        assert_eq!(
            err.to_string(),
            "RotationInterval must be between 7d and 365d"
        );
        assert!(RotationInterval::parse_key_interval("366d").is_err());
    }

    #[test]
    fn renders_as_seconds_with_s_suffix() {
        let interval = RotationInterval::parse_secret_interval("7d").unwrap();
        assert_eq!(interval.as_seconds_string(), "604800s");
        assert_eq!(interval.to_string(), "604800s");
        assert_eq!(interval.as_duration(), time::Duration::days(7));
    }

    #[test]
    fn rejects_malformed_intervals() {
        for text in [
            "30", "d", "30D", "30 d", " 30d", "+30d", "-30d", "3.5d", "30w", "30dd", "1e3s", "٣d",
        ] {
            let err = RotationInterval::parse_secret_interval(text).unwrap_err();
            assert!(matches!(err, ValidationError::Invalid { .. }), "{text}");
        }
        assert_eq!(
            RotationInterval::parse_secret_interval(""),
            Err(ValidationError::Empty { param: PARAM })
        );
    }

    #[test]
    fn huge_numbers_are_out_of_range_not_overflowed() {
        for text in [
            "99999999999999999999999999d",
            "18446744073709551615d",
            "18446744073709551616s",
        ] {
            let err = RotationInterval::parse_secret_interval(text).unwrap_err();
            assert!(matches!(err, ValidationError::OutOfRange { .. }), "{text}");
        }
    }

    #[test]
    fn leading_zeros_are_accepted() {
        assert_eq!(
            RotationInterval::parse_secret_interval("0030d")
                .unwrap()
                .seconds(),
            30 * DAY
        );
    }

    proptest! {
        #[test]
        fn rotation_interval_round_trips_through_seconds_string(
            value in 1u64..20_000, unit in prop::sample::select(vec!['d', 'h', 'm', 's'])
        ) {
            let text = format!("{value}{unit}");
            if let Ok(interval) = RotationInterval::parse_secret_interval(&text) {
                let again = RotationInterval::parse_secret_interval(&interval.as_seconds_string());
                prop_assert_eq!(again, Ok(interval));
            }
        }

        #[test]
        fn secret_seconds_accepted_exactly_within_range(seconds in 0u64..40_000_000) {
            let parsed = RotationInterval::parse_secret_interval(&format!("{seconds}s"));
            let expected = (SECRET_MIN_SECONDS..=SECRET_MAX_SECONDS).contains(&seconds);
            prop_assert_eq!(parsed.is_ok(), expected);
        }

        #[test]
        fn interval_parse_never_panics(text in ".*") {
            let _ = RotationInterval::parse_secret_interval(&text);
            let _ = RotationInterval::parse_key_interval(&text);
        }
    }
}
