//! Timestamps: stored as microseconds since the Unix epoch (UTC), sent as RFC 3339.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

pub type Micros = i64;

pub fn now_micros() -> Micros {
    Utc::now().timestamp_micros()
}

/// Parses what the SDKs send: RFC 3339 with `Z` or an offset, a naive ISO time (taken as UTC,
/// `T` or space separated), or a JSON number of epoch milliseconds (JS `Date.now()`).
pub fn parse_json_time(value: &Value) -> Option<Micros> {
    match value {
        Value::String(s) => parse_time_str(s),
        Value::Number(n) => n
            .as_f64()
            .filter(|ms| ms.is_finite())
            .map(|ms| (ms * 1000.0).round() as i64),
        _ => None,
    }
}

pub fn parse_time_str(s: &str) -> Option<Micros> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    let spaced = s.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&spaced) {
        return Some(dt.timestamp_micros());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&spaced, format) {
            return Some(naive.and_utc().timestamp_micros());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc().timestamp_micros())
}

fn to_datetime(micros: Micros) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// RFC 3339 in UTC with microseconds and an explicit offset, as both SDKs parse.
pub fn format_micros(micros: Micros) -> String {
    to_datetime(micros)
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

/// One `dotted_order` segment: the start time as `%Y%m%dT%H%M%S%fZ` followed by the run id.
pub fn dotted_order_segment(start_micros: Micros, id: &uuid::Uuid) -> String {
    format!(
        "{}{}",
        to_datetime(start_micros).format("%Y%m%dT%H%M%S%6fZ"),
        id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_sdk_form() {
        let expected = 1_763_936_748_847_428;
        for v in [
            json!("2025-11-23T22:25:48.847428+00:00"),
            json!("2025-11-23T22:25:48.847428Z"),
            json!("2025-11-23T22:25:48.847428"),
            json!("2025-11-23 22:25:48.847428+00:00"),
        ] {
            assert_eq!(parse_json_time(&v), Some(expected), "{v}");
        }
        assert_eq!(
            parse_json_time(&json!(1_763_936_748_847i64)),
            Some(1_763_936_748_847_000)
        );
        assert_eq!(parse_json_time(&json!("yesterday")), None);
        assert_eq!(parse_json_time(&json!(true)), None);
    }

    #[test]
    fn formats_round_trip() {
        let t = 1_763_936_748_847_428;
        assert_eq!(format_micros(t), "2025-11-23T22:25:48.847428+00:00");
        assert_eq!(parse_time_str(&format_micros(t)), Some(t));
    }

    #[test]
    fn dotted_segment_matches_sdk_format() {
        let id = uuid::Uuid::parse_str("01a20a83-f12f-777e-87f2-2b92e3170d69").unwrap();
        assert_eq!(
            dotted_order_segment(1_763_936_748_847_428, &id),
            "20251123T222548847428Z01a20a83-f12f-777e-87f2-2b92e3170d69"
        );
    }
}
