//! Webhook delivery. A rule's application queues one delivery per URL in the same
//! transaction; this sender posts them after the commit and records every attempt. Policy
//! (LangSmith's): a refused connection or a 5xx is retried twice with exponential backoff, a
//! timeout or a 4xx is final. Delivery is at least once: a crash between the POST and the
//! record of its answer sends it again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::config::Config;
use crate::db::models::WebhookDeliveryRow;
use crate::db::{Db, rule_work, runs};
use crate::error::ApiResult;
use crate::time::{format_micros, now_micros};

/// Attempts per delivery, the first included.
const MAX_ATTEMPTS: i64 = 3;
/// Deliveries taken per round.
const LEASE_BATCH: i64 = 20;

pub struct Sender {
    db: Db,
    client: reqwest::Client,
    retry_base: Duration,
    timeout: Duration,
    /// Where the run links in a payload point.
    base_url: String,
}

/// How one attempt ended.
enum Attempt {
    Delivered(u16),
    /// Worth another try (connection refused, 5xx).
    Retry(String, Option<u16>),
    Failed(String, Option<u16>),
}

impl Sender {
    pub fn new(db: Db, config: &Config) -> Sender {
        Sender {
            db,
            client: reqwest::Client::builder()
                .timeout(config.webhook_timeout)
                .build()
                .unwrap_or_default(),
            retry_base: config.webhook_retry_base,
            timeout: config.webhook_timeout,
            base_url: format!("http://{}", config.bind),
        }
    }

    pub async fn run(self, wake: Arc<Notify>, poll: Duration) {
        loop {
            let rest = match self.round().await {
                Ok(rest) => rest,
                Err(err) => {
                    log::warn!("webhook sender: {err}");
                    poll
                }
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(rest) => {}
            }
        }
    }

    /// Sends what is due; returns how long to rest before the next round.
    async fn round(&self) -> ApiResult<Duration> {
        // A lease longer than one call, so a replica that dies mid-call leaves it to others.
        let lease = (self.timeout + Duration::from_secs(5)).as_micros() as i64;
        loop {
            let due = self
                .db
                .run(move |conn| {
                    Ok(rule_work::lease_due_webhooks(
                        conn,
                        now_micros(),
                        lease,
                        LEASE_BATCH,
                    )?)
                })
                .await?;
            if due.is_empty() {
                break;
            }
            for delivery in due {
                self.deliver(delivery).await?;
            }
        }
        let next = self
            .db
            .run(|conn| Ok(rule_work::next_webhook_due(conn)?))
            .await?;
        Ok(match next {
            Some(at) => Duration::from_micros((at - now_micros()).clamp(0, 60_000_000) as u64),
            None => Duration::from_secs(60),
        })
    }

    async fn deliver(&self, mut delivery: WebhookDeliveryRow) -> ApiResult<()> {
        let body = self.payload(&delivery).await?;
        let attempt = match body {
            Some(body) => self.post(&delivery, &body).await,
            None => Attempt::Failed("the run is not stored any more".into(), None),
        };
        delivery.attempts += 1;
        let now = now_micros();
        match attempt {
            Attempt::Delivered(status) => {
                delivery.status = "success".into();
                delivery.response_status = Some(status.into());
                delivery.last_error = None;
                delivery.finished_at = Some(now);
            }
            Attempt::Retry(error, status) if delivery.attempts < MAX_ATTEMPTS => {
                let wait = self.retry_base * 2u32.pow(delivery.attempts as u32 - 1);
                log::info!(
                    "webhook {} for rule {} failed ({error}); retrying in {wait:?}",
                    delivery.url,
                    delivery.rule_id
                );
                delivery.response_status = status.map(Into::into);
                delivery.last_error = Some(error);
                delivery.next_attempt_at = now + wait.as_micros() as i64;
            }
            Attempt::Retry(error, status) | Attempt::Failed(error, status) => {
                log::warn!(
                    "webhook {} for rule {} failed for good after {} attempt(s): {error}",
                    delivery.url,
                    delivery.rule_id,
                    delivery.attempts
                );
                delivery.status = "error".into();
                delivery.response_status = status.map(Into::into);
                delivery.last_error = Some(error);
                delivery.finished_at = Some(now);
            }
        }
        self.db
            .run(move |conn| Ok(rule_work::save_webhook_attempt(conn, &delivery)?))
            .await
    }

    /// `{rule_id, start_time, end_time, runs: [run], feedback_stats}` as LangSmith posts it,
    /// the run as `GET /runs/{id}` shows it now.
    async fn payload(&self, delivery: &WebhookDeliveryRow) -> ApiResult<Option<Value>> {
        let (workspace_id, run_id) = (delivery.workspace_id.clone(), delivery.run_id.clone());
        let rule_id = delivery.rule_id.clone();
        let base = self.base_url.clone();
        self.db
            .run(move |conn| {
                let Some(row) = runs::find(conn, &workspace_id, &run_id)? else {
                    return Ok(None);
                };
                let (start, end) = (row.start_time, row.end_time);
                let run = crate::api::runs::present_rows(conn, &workspace_id, base, vec![row])?
                    .pop()
                    .map(|out| serde_json::to_value(out).unwrap_or_default())
                    .unwrap_or_default();
                let feedback_stats = run.get("feedback_stats").cloned().unwrap_or(Value::Null);
                Ok(Some(json!({
                    "rule_id": rule_id,
                    "start_time": start.map(format_micros),
                    "end_time": end.map(format_micros),
                    "runs": [run],
                    "feedback_stats": feedback_stats,
                })))
            })
            .await
    }

    async fn post(&self, delivery: &WebhookDeliveryRow, body: &Value) -> Attempt {
        let headers: serde_json::Map<String, Value> =
            serde_json::from_str(&delivery.headers).unwrap_or_default();
        let mut request = self.client.post(&delivery.url).json(body);
        for (name, value) in &headers {
            if let Some(value) = value.as_str() {
                request = request.header(name.as_str(), value);
            }
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let code = status.as_u16();
                if status.is_success() {
                    Attempt::Delivered(code)
                } else if status.is_server_error() {
                    Attempt::Retry(format!("the receiver answered {code}"), Some(code))
                } else {
                    Attempt::Failed(format!("the receiver answered {code}"), Some(code))
                }
            }
            Err(err) if err.is_timeout() => {
                Attempt::Failed(format!("no answer within {:?}", self.timeout), None)
            }
            Err(err) if err.is_connect() => {
                Attempt::Retry("could not connect to the receiver".into(), None)
            }
            Err(err) if err.is_builder() => Attempt::Failed(
                "the URL or a header is not valid for a request".into(),
                None,
            ),
            Err(_) => Attempt::Retry("the request failed".into(), None),
        }
    }
}
