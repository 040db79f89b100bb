//! Aggregates over runs: `POST /runs/stats` and the monitoring time series `POST /runs/monitor`.
//! Both select runs exactly as `/runs/query` does (filter language included).

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::params::Timedelta;
use super::runs::RunSelection;
use super::{State, Workspace};
use crate::db::run_stats::{self as store, FeedbackKeyStats, LatencyOf, RunStats};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::time::{format_micros, now_micros};

/// Per feedback key: `{n, avg, stdev, min, max}` (LangSmith's `feedback_stats` shape).
pub fn feedback_json(stats: &[FeedbackKeyStats]) -> Map<String, Value> {
    stats
        .iter()
        .map(|f| {
            (
                f.key.clone(),
                json!({"n": f.n, "avg": f.avg, "stdev": f.stdev, "min": f.min, "max": f.max}),
            )
        })
        .collect()
}

/// LangSmith's `RunStats` fields.
pub fn stats_json(s: &RunStats) -> Map<String, Value> {
    let value = json!({
        "run_count": s.run_count,
        "latency_p50": s.latency_p50,
        "latency_p99": s.latency_p99,
        "first_token_p50": s.first_token_p50,
        "first_token_p99": s.first_token_p99,
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "total_tokens": s.total_tokens,
        "prompt_cost": s.prompt_cost,
        "completion_cost": s.completion_cost,
        "total_cost": s.total_cost,
        "error_rate": s.error_rate(),
        "streaming_rate": s.streaming_rate(),
        "first_run_start_time": s.first_run_start_time.map(format_micros),
        "last_run_start_time": s.last_run_start_time.map(format_micros),
        "feedback_stats": feedback_json(&s.feedback),
        "run_facets": [],
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Body of `POST /runs/stats`: the runs, as for `/runs/query`.
#[derive(Deserialize, ToSchema)]
pub struct RunStatsBody {
    #[serde(flatten)]
    pub selection: RunSelection,
    /// LangSmith's grouped stats; not supported (refused rather than ignored).
    #[schema(value_type = Option<Object>)]
    pub group_by: Option<Value>,
}

/// Run count, latency and first-token percentiles (seconds), tokens, costs, error and
/// streaming rates, first and last start time, and feedback per key, over the selected runs.
#[utoipa::path(
    tag = "runs",
    request_body = RunStatsBody,
    responses(
        (status = 200, description = "Stats of the selected runs", body = Object),
        (status = 400, description = "A filter that does not parse", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody)
    )
)]
#[post("/runs/stats")]
pub async fn run_stats(
    state: State,
    workspace: Workspace,
    body: web::Json<RunStatsBody>,
) -> ApiResult<HttpResponse> {
    if body.group_by.as_ref().is_some_and(|g| !g.is_null()) {
        return Err(ApiError::unprocessable(
            "group_by is not supported by this server: query each group with its own filter",
        ));
    }
    let query = body.selection.to_query()?;
    let stats = state
        .db
        .run(move |conn| {
            Ok(store::stats(
                conn,
                &workspace.id(),
                &query,
                LatencyOf::Selected,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(stats_json(&stats)))
}

/// Body of `POST /runs/monitor`: the runs as for `/runs/query`; `start_time` / `end_time` bound
/// the window (default: the last 7 days), `stride` is the bucket width (default 1 hour).
#[derive(Deserialize, ToSchema)]
pub struct MonitorBody {
    #[serde(flatten)]
    pub selection: RunSelection,
    /// Bucket width (default 1 hour).
    pub stride: Option<Timedelta>,
}

/// At most this many buckets per request.
const MAX_BUCKETS: i64 = 2000;

/// Run and feedback stats over time: one bucket per `stride`, each with the stats of the runs
/// that started in it (`/runs/stats` fields). E.g. the hourly mean `user_score` of one
/// assistant's traces over the last week:
/// `{"session": [...], "is_root": true, "filter": "and(eq(metadata_key, \"assistant_id\"),
/// eq(metadata_value, \"A1\"))", "stride": {"hours": 1}}`.
#[utoipa::path(
    tag = "runs",
    request_body = MonitorBody,
    responses(
        (status = 200, description = "Buckets in time order: {stride_seconds, start_time, end_time, buckets: [{start_time, end_time, ...stats}]}", body = Object),
        (status = 400, description = "A filter that does not parse", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody)
    )
)]
#[post("/runs/monitor")]
pub async fn monitor(
    state: State,
    workspace: Workspace,
    body: web::Json<MonitorBody>,
) -> ApiResult<HttpResponse> {
    let stride_micros = body
        .stride
        .unwrap_or(Timedelta::hours(1))
        .micros()
        .filter(|s| *s > 0)
        .ok_or_else(|| ApiError::unprocessable("stride must be a positive duration"))?;
    let query = body.selection.to_query()?;
    let to = query
        .end_time
        .map_or(now_micros() + 1, |end| end.saturating_add(1));
    let from = query.start_time.unwrap_or(to - 7 * 86_400 * 1_000_000);
    if from >= to {
        return Err(ApiError::unprocessable(
            "start_time must be before end_time",
        ));
    }
    let buckets = (to - from + stride_micros - 1) / stride_micros;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::unprocessable(format!(
            "{buckets} buckets asked for; at most {MAX_BUCKETS}: widen the stride or narrow the window"
        )));
    }
    let series = state
        .db
        .run(move |conn| {
            Ok(store::time_series(
                conn,
                &workspace.id(),
                &query,
                from,
                to,
                stride_micros,
            )?)
        })
        .await?;
    let buckets: Vec<Value> = series
        .iter()
        .map(|bucket| {
            let mut fields = stats_json(&bucket.stats);
            fields.insert("start_time".into(), json!(format_micros(bucket.start)));
            fields.insert(
                "end_time".into(),
                json!(format_micros((bucket.start + stride_micros).min(to))),
            );
            Value::Object(fields)
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "stride_seconds": stride_micros / 1_000_000,
        "start_time": format_micros(from),
        "end_time": format_micros(to),
        "buckets": buckets,
    })))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(run_stats).service(monitor);
}
