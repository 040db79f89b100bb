//! Query-string parsing the way the SDKs send it: repeated keys for lists, `True`/`false`/`1`
//! for booleans, unknown keys ignored.

use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::time::parse_time_str;

pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    pub fn parse(query: &str) -> Self {
        QueryParams {
            pairs: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_string)
    }

    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        self.get(key).map(|v| parse_bool(key, v)).transpose()
    }

    pub fn uuids(&self, key: &str) -> ApiResult<Vec<Uuid>> {
        self.all(key)
            .into_iter()
            .map(|v| {
                Uuid::parse_str(v).map_err(|_| {
                    ApiError::unprocessable(format!(
                        "query parameter {key}: {v:?} is not a valid UUID"
                    ))
                })
            })
            .collect()
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        self.get(key)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::unprocessable(format!(
                        "query parameter {key}: {v:?} is not a whole number"
                    ))
                })
            })
            .transpose()
    }

    /// `sort_by` (`name` or `time_key`, the default) and `sort_by_desc` (default: descending by
    /// time, ascending by name): whether to sort by name, and whether descending.
    pub fn name_or_time_order(&self, time_key: &str) -> ApiResult<(bool, bool)> {
        let by_name = match self.get("sort_by") {
            None => false,
            Some("name") => true,
            Some(key) if key == time_key => false,
            Some(other) => {
                return Err(ApiError::unprocessable(format!(
                    "sort_by must be name or {time_key}, got {other:?}"
                )));
            }
        };
        Ok((by_name, self.bool("sort_by_desc")?.unwrap_or(!by_name)))
    }

    /// `limit` and `offset` for list endpoints: limit 1..=100 (default 100), offset ≥ 0.
    pub fn page(&self) -> ApiResult<(i64, i64)> {
        let limit = self.int("limit")?.unwrap_or(100);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::unprocessable(format!(
                "query parameter limit must be between 1 and 100, got {limit}"
            )));
        }
        let offset = self.int("offset")?.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::unprocessable(format!(
                "query parameter offset must not be negative, got {offset}"
            )));
        }
        Ok((limit, offset))
    }
}

pub fn parse_bool(key: &str, value: &str) -> ApiResult<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::unprocessable(format!(
            "query parameter {key}: {value:?} is not a boolean"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_python_booleans() {
        let q = QueryParams::parse("id=a&id=b&include_stats=True&x=False&limit=5");
        assert_eq!(q.all("id"), vec!["a", "b"]);
        assert_eq!(q.bool("include_stats").unwrap(), Some(true));
        assert_eq!(q.bool("x").unwrap(), Some(false));
        assert_eq!(q.page().unwrap(), (5, 0));
        assert!(QueryParams::parse("limit=0").page().is_err());
        assert!(QueryParams::parse("flag=maybe").bool("flag").is_err());
        assert!(QueryParams::parse("id=zz").uuids("id").is_err());
    }
}

/// A duration as LangSmith sends one (`TimedeltaInput`): `{"days", "hours", "minutes"}`.
#[derive(serde::Deserialize, utoipa::ToSchema, Clone, Copy, Default, Debug)]
pub struct Timedelta {
    #[serde(default)]
    pub days: i64,
    #[serde(default)]
    pub hours: i64,
    #[serde(default)]
    pub minutes: i64,
}

impl Timedelta {
    pub fn hours(hours: i64) -> Self {
        Timedelta {
            hours,
            ..Timedelta::default()
        }
    }

    /// In microseconds; `None` when it overflows.
    pub fn micros(&self) -> Option<i64> {
        self.days
            .checked_mul(24 * 60)
            .and_then(|m| m.checked_add(self.hours.checked_mul(60)?))
            .and_then(|m| m.checked_add(self.minutes))
            .and_then(|m| m.checked_mul(60_000_000))
    }
}

/// An optional ISO-8601 time field: microseconds, or a 422 naming the field.
pub fn optional_time(field: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .map(|v| {
            parse_time_str(v).ok_or_else(|| {
                ApiError::unprocessable(format!("{field}: {v:?} is not an ISO-8601 date-time"))
            })
        })
        .transpose()
}
