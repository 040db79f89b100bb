//! A run rule's log: one entry per run the rule matched, with the outcome of each action
//! (LangSmith's `RuleLogSchema`): `GET /runs/rules/{id}/logs` (offset paging),
//! `/logs/v2` (cursor paging) and `/last_applied`.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::{Value, json};
use uuid::Uuid;

use super::params::{QueryParams, optional_time};
use super::{State, Workspace};
use crate::db::DbConnection;
use crate::db::models::{RuleApplicationRow, WebhookDeliveryRow};
use crate::db::rule_work::{self as store, LogFilter};
use crate::db::run_rules;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::time::format_micros;

/// LangSmith's bounds for `limit` on the log listings.
const MAX_LIMIT: i64 = 1440;
const DEFAULT_LIMIT: i64 = 150;

/// The webhooks' outcome for one run: success when every URL took it, error when one failed
/// for good (with each delivery's state in the payload), none yet while one is pending.
fn webhook_outcome(deliveries: &[&WebhookDeliveryRow]) -> Value {
    if deliveries.is_empty() {
        return Value::Null;
    }
    let each: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            json!({
                "url": d.url,
                "status": d.status,
                "attempts": d.attempts,
                "response_status": d.response_status,
                "error": d.last_error,
            })
        })
        .collect();
    let outcome = if deliveries.iter().any(|d| d.status == "error") {
        "error"
    } else if deliveries.iter().all(|d| d.status == "success") {
        "success"
    } else {
        // Still being retried: not an outcome yet.
        return json!({"outcome": "skipped", "payload": {"pending": true, "deliveries": each}});
    };
    json!({"outcome": outcome, "payload": {"deliveries": each}})
}

/// Shapes applications as `RuleLogSchema` entries, with their webhook deliveries.
fn present(
    conn: &mut DbConnection,
    rule_id: &str,
    rows: Vec<RuleApplicationRow>,
) -> ApiResult<Vec<Value>> {
    let run_ids: Vec<String> = rows.iter().map(|r| r.run_id.clone()).collect();
    let deliveries = store::deliveries(conn, rule_id, &run_ids)?;
    let mut by_run: HashMap<&str, Vec<&WebhookDeliveryRow>> = HashMap::new();
    for delivery in &deliveries {
        by_run.entry(&delivery.run_id).or_default().push(delivery);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let outcomes: Value = serde_json::from_str(&row.outcomes).unwrap_or_default();
            let action = |name: &str| outcomes.get(name).cloned().unwrap_or(Value::Null);
            let webhooks = match by_run.get(row.run_id.as_str()) {
                Some(list) => webhook_outcome(list),
                None => action("webhooks"),
            };
            json!({
                "rule_id": row.rule_id,
                "run_id": row.run_id,
                "run_name": row.run_name,
                "run_type": row.run_type,
                "run_session_id": row.session_id,
                "start_time": row.run_start_time.map(format_micros),
                "end_time": row.run_end_time.map(format_micros),
                "application_time": format_micros(row.applied_at),
                "thread_id": row.thread_id,
                "backfill": row.backfill,
                "add_to_annotation_queue": action("add_to_annotation_queue"),
                "add_to_dataset": action("add_to_dataset"),
                "webhooks": webhooks,
                "evaluators": Value::Null,
                "alerts": Value::Null,
                "extend_only": Value::Null,
            })
        })
        .collect())
}

/// The filters every log listing takes: `limit`, `start_time`, `end_time` (of the
/// application), `session_id`, `backfill`.
fn log_filter(params: &QueryParams) -> ApiResult<LogFilter> {
    let limit = params.int("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::unprocessable(format!(
            "query parameter limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    Ok(LogFilter {
        backfill: params.bool("backfill")?,
        start_time: optional_time("start_time", params.get("start_time"))?,
        end_time: optional_time("end_time", params.get("end_time"))?,
        session_id: params.uuids("session_id")?.first().map(Uuid::to_string),
        limit,
        ..LogFilter::default()
    })
}

/// Reads a rule's log after checking the rule is in the workspace.
async fn rule_log<T: Send + 'static>(
    state: &State,
    workspace: Workspace,
    rule_id: Uuid,
    read: impl FnOnce(&mut DbConnection, &str) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    state
        .db
        .run(move |conn| {
            let id = rule_id.to_string();
            if run_rules::find(conn, &workspace.id(), &id)?.is_none() {
                return Err(ApiError::not_found(format!("rule {rule_id} not found")));
            }
            read(conn, &id)
        })
        .await
}

/// The rule's log, newest first, paged with `limit` (1–1440, default 150) and `offset`.
#[utoipa::path(
    tag = "rules",
    params(
        ("rule_id" = Uuid, Path, description = "Rule id"),
        ("limit" = Option<i64>, Query, description = "1 to 1440, default 150"),
        ("offset" = Option<i64>, Query, description = "Entries to skip"),
        ("start_time" = Option<String>, Query, description = "Applied at or after"),
        ("end_time" = Option<String>, Query, description = "Applied at or before"),
        ("session_id" = Option<Uuid>, Query, description = "Runs of this project")
    ),
    responses(
        (status = 200, description = "RuleLogSchema entries", body = [Object]),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 422, description = "Bad parameter", body = ErrorBody)
    )
)]
#[get("/runs/rules/{rule_id}/logs")]
pub async fn list_logs(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let mut filter = log_filter(&params)?;
    filter.offset = params.int("offset")?.unwrap_or(0);
    if filter.offset < 0 {
        return Err(ApiError::unprocessable(
            "query parameter offset must not be negative",
        ));
    }
    let logs = rule_log(&state, workspace, path.into_inner(), move |conn, id| {
        let rows = store::applications(conn, id, &filter)?;
        present(conn, id, rows)
    })
    .await?;
    Ok(HttpResponse::Ok().json(logs))
}

/// A v2 cursor: where the last page ended, opaque to clients.
fn encode_cursor(row: &RuleApplicationRow) -> String {
    format!("{}:{}", row.applied_at, row.run_id)
}

fn decode_cursor(cursor: &str) -> ApiResult<(i64, String)> {
    cursor
        .split_once(':')
        .and_then(|(at, run)| Some((at.parse().ok()?, run.to_string())))
        .ok_or_else(|| {
            ApiError::unprocessable("query parameter cursor is not one this server gave")
        })
}

/// The rule's log, newest first, paged with the `cursor` of the previous page
/// (`{logs, cursor, has_more}`); `backfill=true` lists the backfill's entries only.
#[utoipa::path(
    tag = "rules",
    params(
        ("rule_id" = Uuid, Path, description = "Rule id"),
        ("limit" = Option<i64>, Query, description = "1 to 1440, default 150"),
        ("cursor" = Option<String>, Query, description = "From the previous page"),
        ("backfill" = Option<bool>, Query, description = "Backfill entries only"),
        ("start_time" = Option<String>, Query, description = "Applied at or after"),
        ("end_time" = Option<String>, Query, description = "Applied at or before"),
        ("session_id" = Option<Uuid>, Query, description = "Runs of this project")
    ),
    responses(
        (status = 200, description = "RuleLogsPaginatedResponse", body = Object),
        (status = 404, description = "No such rule", body = ErrorBody),
        (status = 422, description = "Bad parameter", body = ErrorBody)
    )
)]
#[get("/runs/rules/{rule_id}/logs/v2")]
pub async fn list_logs_v2(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let mut filter = log_filter(&params)?;
    filter.before = params.get("cursor").map(decode_cursor).transpose()?;
    let limit = filter.limit as usize;
    // One more than asked tells whether another page follows.
    filter.limit += 1;
    let page = rule_log(&state, workspace, path.into_inner(), move |conn, id| {
        let mut rows = store::applications(conn, id, &filter)?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let cursor = has_more.then(|| rows.last().map(encode_cursor)).flatten();
        let logs = present(conn, id, rows)?;
        Ok(json!({"logs": logs, "cursor": cursor, "has_more": has_more}))
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The rule's latest log entry (`backfill=true`: the backfill's latest).
#[utoipa::path(
    tag = "rules",
    params(
        ("rule_id" = Uuid, Path, description = "Rule id"),
        ("backfill" = Option<bool>, Query, description = "The backfill's latest entry")
    ),
    responses(
        (status = 200, description = "RuleLogSchema", body = Object),
        (status = 404, description = "No such rule, or it has not been applied yet", body = ErrorBody)
    )
)]
#[get("/runs/rules/{rule_id}/last_applied")]
pub async fn last_applied(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let filter = LogFilter {
        backfill: Some(params.bool("backfill")?.unwrap_or(false)),
        limit: 1,
        ..LogFilter::default()
    };
    let rule_id = path.into_inner();
    let entry = rule_log(&state, workspace, rule_id, move |conn, id| {
        let rows = store::applications(conn, id, &filter)?;
        present(conn, id, rows)?
            .pop()
            .ok_or_else(|| ApiError::not_found(format!("rule {rule_id} has not been applied yet")))
    })
    .await?;
    Ok(HttpResponse::Ok().json(entry))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_logs_v2)
        .service(list_logs)
        .service(last_applied);
}
