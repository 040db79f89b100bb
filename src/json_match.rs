//! JSON containment, as metadata filters use it. Pure: no HTTP, no database.

use serde_json::Value;

/// Whether `haystack` contains `needle`: every key of a needle object is in the haystack
/// object with a containing value; every element of a needle array is contained by some
/// element of the haystack array; other values are equal.
pub fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::Object(h), Value::Object(n)) => n
            .iter()
            .all(|(key, value)| h.get(key).is_some_and(|found| contains(found, value))),
        (Value::Array(h), Value::Array(n)) => n
            .iter()
            .all(|value| h.iter().any(|found| contains(found, value))),
        (h, n) => h == n,
    }
}

/// The rows whose stored metadata (JSON text; `null` when absent) passes `keep`, then one page.
pub fn page_where<T>(
    rows: Vec<T>,
    metadata_of: impl Fn(&T) -> Option<&str>,
    keep: impl Fn(&Value) -> bool,
    offset: i64,
    limit: i64,
) -> Vec<T> {
    rows.into_iter()
        .filter(|row| {
            let metadata = metadata_of(row)
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .unwrap_or(Value::Null);
            keep(&metadata)
        })
        .skip(offset.max(0) as usize)
        .take(limit.max(0) as usize)
        .collect()
}

/// A metadata filter from a query parameter: a JSON object.
pub fn parse_filter(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(format!("metadata must be a JSON object, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_semantics() {
        let meta = json!({"assistant": "a1", "tags": ["x", "y"], "nested": {"k": 1, "j": 2}});
        assert!(contains(&meta, &json!({})));
        assert!(contains(&meta, &json!({"assistant": "a1"})));
        assert!(contains(&meta, &json!({"nested": {"k": 1}, "tags": ["y"]})));
        assert!(!contains(&meta, &json!({"assistant": "a2"})));
        assert!(!contains(&meta, &json!({"missing": null})));
        assert!(!contains(&json!(null), &json!({"a": 1})));
        assert!(parse_filter("[1]").is_err());
        assert!(parse_filter("{\"a\": 1}").is_ok());
    }
}
