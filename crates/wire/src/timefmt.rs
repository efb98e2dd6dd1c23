//! Timestamps as Alibaba writes them: UTC `YYYY-MM-DDThh:mm:ssZ`.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// Formats a unix time (seconds) as `YYYY-MM-DDThh:mm:ssZ`.
pub fn format_unix(secs: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// Parses a request timestamp (`Timestamp` for V1, `x-acs-date` for V3) into unix seconds.
/// RFC 3339 is accepted in full (fractional seconds, offsets); clients send the `Z` form.
pub fn parse_unix(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_the_alibaba_form() {
        let t = parse_unix("2026-11-27T20:15:41Z").unwrap();
        assert_eq!(format_unix(t), "2026-11-27T20:15:41Z");
        assert_eq!(parse_unix("2026-11-27T20:15:41.500+00:00"), Some(t));
        assert_eq!(parse_unix("yesterday"), None);
    }
}
