//! Runtime configuration: one typed struct read from `LOOPSMITH_*` environment variables.

use std::fmt;
use std::time::Duration;

/// Which storage engine a database URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Config {
    /// `host:port` to listen on; port 0 picks a free port.
    pub bind: String,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// Connections in the read pool.
    pub pool_size: u32,
    /// Largest accepted request body, compressed, in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted request body after decompression, in bytes.
    pub max_decoded_bytes: usize,
    /// Runs that may wait for the writer before ingest answers 429.
    pub ingest_queue_runs: usize,
    /// Most runs committed in one group transaction.
    pub ingest_group_runs: usize,
    /// How long a request waits for its commit before it is answered 503.
    pub ingest_commit_timeout: Duration,
    /// Worker threads for the HTTP server (0 = one per core).
    pub http_workers: usize,
    /// How often the rule worker looks for work queued by other replicas (it is woken at once
    /// for this replica's own runs and feedback).
    pub rule_poll_interval: Duration,
    /// Runs evaluated per backfill transaction.
    pub rule_backfill_page: usize,
    /// Wait before a failed webhook's first retry; doubled for each next one.
    pub webhook_retry_base: Duration,
    /// How long a webhook call may take.
    pub webhook_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} must be {expected}, got {value:?}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error(
        "LOOPSMITH_DATABASE_URL must start with sqlite:// or postgres:// (or postgresql://), got scheme {0:?}"
    )]
    UnknownScheme(String),
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the config from any variable source (the process environment in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                    name,
                    expected: "a whole number",
                    value: v,
                }),
            }
        };
        let config = Config {
            bind: get("LOOPSMITH_BIND").unwrap_or_else(|| "127.0.0.1:1984".to_string()),
            database_url: get("LOOPSMITH_DATABASE_URL")
                .unwrap_or_else(|| "sqlite://./loopsmith.db".to_string()),
            pool_size: number("LOOPSMITH_POOL_SIZE", 8)? as u32,
            max_body_bytes: number("LOOPSMITH_MAX_BODY_BYTES", 100 * 1024 * 1024)?,
            max_decoded_bytes: number("LOOPSMITH_MAX_DECODED_BYTES", 200 * 1024 * 1024)?,
            ingest_queue_runs: number("LOOPSMITH_INGEST_QUEUE_RUNS", 100_000)?,
            ingest_group_runs: number("LOOPSMITH_INGEST_GROUP_RUNS", 5_000)?,
            ingest_commit_timeout: Duration::from_secs(number(
                "LOOPSMITH_INGEST_COMMIT_TIMEOUT_SECS",
                8,
            )? as u64),
            http_workers: number("LOOPSMITH_HTTP_WORKERS", 0)?,
            rule_poll_interval: Duration::from_millis(
                number("LOOPSMITH_RULE_POLL_MS", 1_000)?.max(10) as u64,
            ),
            rule_backfill_page: number("LOOPSMITH_RULE_BACKFILL_PAGE", 500)?.max(1),
            webhook_retry_base: Duration::from_millis(
                number("LOOPSMITH_WEBHOOK_RETRY_MS", 1_000)? as u64
            ),
            webhook_timeout: Duration::from_secs(
                number("LOOPSMITH_WEBHOOK_TIMEOUT_SECS", 5)?.max(1) as u64,
            ),
        };
        config.backend()?;
        if config.pool_size == 0 {
            return Err(ConfigError::Invalid {
                name: "LOOPSMITH_POOL_SIZE",
                expected: "at least 1",
                value: "0".into(),
            });
        }
        Ok(config)
    }

    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let scheme = self.database_url.split("://").next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(ConfigError::UnknownScheme(other.to_string())),
        }
    }

    /// The database URL with any password replaced, safe to log.
    pub fn redacted_database_url(&self) -> String {
        redact_url_password(&self.database_url)
    }
}

fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => url.to_string(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &self.redacted_database_url())
            .field("pool_size", &self.pool_size)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_decoded_bytes", &self.max_decoded_bytes)
            .field("ingest_queue_runs", &self.ingest_queue_runs)
            .field("ingest_group_runs", &self.ingest_group_runs)
            .field("ingest_commit_timeout", &self.ingest_commit_timeout)
            .field("http_workers", &self.http_workers)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_sqlite_on_1984() {
        let c = config(&[]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:1984");
        assert_eq!(c.backend().unwrap(), Backend::Sqlite);
    }

    #[test]
    fn unknown_scheme_is_an_error() {
        let err = config(&[("LOOPSMITH_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().contains("mysql"));
    }

    #[test]
    fn bad_number_names_the_variable() {
        let err = config(&[("LOOPSMITH_POOL_SIZE", "many")]).unwrap_err();
        assert!(err.to_string().contains("LOOPSMITH_POOL_SIZE"));
    }

    #[test]
    fn password_is_redacted() {
        let c = config(&[("LOOPSMITH_DATABASE_URL", "postgres://u:secret@h:5432/db")]).unwrap();
        assert_eq!(c.redacted_database_url(), "postgres://u:***@h:5432/db");
        assert!(!format!("{c:?}").contains("secret"));
    }
}
