//! Projects, called sessions on the wire: `/sessions`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::QueryParams;
use super::params::optional_time;
use super::run_stats::stats_json;
use super::runs::compile_filter;
use super::{State, Workspace};
use crate::db::DbConnection;
use crate::db::models::SessionRow;
use crate::db::run_stats::{self, LatencyOf};
use crate::db::runs::RunQuery;
use crate::db::sessions::{self as store, SessionFilter};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::filter::runs::{RunFilter, TraceFilters};
use crate::time::{format_micros, now_micros};

/// A project (LangSmith's `TracerSession`), with stats when asked for.
#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: Option<String>,
    pub start_time: String,
    pub end_time: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Value>,
    pub reference_dataset_id: Option<String>,
    pub default_dataset_id: Option<String>,
    pub trace_tier: Option<String>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub stats: Map<String, Value>,
}

fn present(row: SessionRow, stats: Map<String, Value>) -> SessionOut {
    SessionOut {
        id: row.id,
        tenant_id: row.workspace_id,
        name: row.name,
        description: row.description,
        start_time: format_micros(row.start_time),
        end_time: row.end_time.map(format_micros),
        extra: row.extra.and_then(|e| serde_json::from_str(&e).ok()),
        reference_dataset_id: row.reference_dataset_id,
        default_dataset_id: row.default_dataset_id,
        trace_tier: row.trace_tier,
        stats,
    }
}

/// What project stats cover: `include_stats`, narrowed by `stats_filter` (filter language) and
/// `stats_start_time`.
#[derive(Clone, Default)]
pub struct StatsOptions {
    pub include: bool,
    pub filter: Option<RunFilter>,
    pub start_time: Option<i64>,
}

impl StatsOptions {
    pub fn parse(params: &QueryParams) -> ApiResult<Self> {
        Ok(StatsOptions {
            include: params.bool("include_stats")?.unwrap_or(false),
            filter: compile_filter("stats_filter", params.string("stats_filter").as_deref())?,
            start_time: optional_time(
                "stats_start_time",
                params.string("stats_start_time").as_deref(),
            )?,
        })
    }
}

/// A project as returned, with its stats when asked: those of `/runs/stats` over its runs
/// (latency over its traces), plus feedback given to the project itself.
pub fn with_stats(
    conn: &mut DbConnection,
    row: SessionRow,
    options: &StatsOptions,
) -> ApiResult<SessionOut> {
    if !options.include {
        return Ok(present(row, Map::new()));
    }
    let query = RunQuery {
        sessions: vec![row.id.clone()],
        filters: TraceFilters {
            filter: options.filter.clone(),
            ..TraceFilters::default()
        },
        start_time: options.start_time,
        ..RunQuery::default()
    };
    let stats = run_stats::stats(conn, &row.workspace_id, &query, LatencyOf::Roots)?;
    let mut fields = stats_json(&stats);
    let session_feedback: Map<String, Value> =
        crate::db::feedback::session_level_stats(conn, &row.workspace_id, &row.id)?
            .into_iter()
            .map(|(key, n, avg)| (key, json!({"n": n, "avg": avg})))
            .collect();
    fields.insert(
        "session_feedback_stats".into(),
        Value::Object(session_feedback),
    );
    Ok(present(row, fields))
}

#[derive(Deserialize, ToSchema)]
pub struct SessionCreate {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Map<String, Value>>,
    pub reference_dataset_id: Option<Uuid>,
    pub default_dataset_id: Option<Uuid>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub trace_tier: Option<String>,
}

fn json_text(extra: &Option<Map<String, Value>>) -> Option<String> {
    extra.as_ref().map(|e| Value::Object(e.clone()).to_string())
}

/// Creates a project. A taken name is 409, unless `upsert=true`: then the existing project is
/// updated with what was given and returned.
#[utoipa::path(
    tag = "sessions",
    params(("upsert" = Option<bool>, Query, description = "Return the existing project of that name")),
    request_body = SessionCreate,
    responses(
        (status = 200, description = "The project", body = SessionOut),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody)
    )
)]
#[post("/sessions")]
pub async fn create_session(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
    body: web::Json<SessionCreate>,
) -> ApiResult<HttpResponse> {
    let upsert = QueryParams::parse(req.query_string())
        .bool("upsert")?
        .unwrap_or(false);
    let body = body.into_inner();
    let name = body
        .name
        .clone()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::unprocessable("name: a project needs a non-empty name"))?;
    let now = now_micros();
    let row = SessionRow {
        id: body.id.unwrap_or_else(Uuid::now_v7).to_string(),
        workspace_id: workspace.id(),
        name: name.clone(),
        description: body.description.clone(),
        start_time: optional_time("start_time", body.start_time.as_deref())?.unwrap_or(now),
        end_time: optional_time("end_time", body.end_time.as_deref())?,
        extra: json_text(&body.extra),
        reference_dataset_id: body.reference_dataset_id.map(|d| d.to_string()),
        default_dataset_id: body.default_dataset_id.map(|d| d.to_string()),
        trace_tier: body.trace_tier.clone(),
        created_at: now,
    };
    let out = state
        .db
        .run(move |conn| {
            if let Some(created) = store::insert(conn, &row)? {
                return with_stats(conn, created, &StatsOptions::default());
            }
            let existing = store::find_by_name(conn, &row.workspace_id, &name)?;
            match existing {
                Some(mut existing) if upsert => {
                    if row.description.is_some() {
                        existing.description = row.description;
                    }
                    if row.extra.is_some() {
                        existing.extra = row.extra;
                    }
                    if row.reference_dataset_id.is_some() {
                        existing.reference_dataset_id = row.reference_dataset_id;
                    }
                    store::update(conn, &existing)?;
                    with_stats(conn, existing, &StatsOptions::default())
                }
                Some(_) => Err(ApiError::conflict(format!(
                    "a project named {name:?} already exists"
                ))),
                None => Err(ApiError::conflict(format!(
                    "a project with id {} already exists",
                    row.id
                ))),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Lists projects: `id` (repeated), `name`, `name_contains`, `reference_dataset` (repeated),
/// `reference_free`, `include_stats`, `sort_by` (`name` or `start_time`), `sort_by_desc`,
/// `limit` (≤ 100), `offset`.
#[utoipa::path(
    tag = "sessions",
    params(
        ("id" = Option<Vec<Uuid>>, Query, description = "Project ids"),
        ("name" = Option<String>, Query, description = "Exact name"),
        ("name_contains" = Option<String>, Query, description = "Name substring"),
        ("reference_dataset" = Option<Vec<Uuid>>, Query, description = "Experiments of these datasets"),
        ("reference_free" = Option<bool>, Query, description = "Only projects without a dataset"),
        ("include_stats" = Option<bool>, Query, description = "Add run and feedback stats"),
        ("stats_filter" = Option<String>, Query, description = "Filter language: stats over the matching runs only"),
        ("stats_start_time" = Option<String>, Query, description = "Stats over runs started since"),
        ("sort_by" = Option<String>, Query, description = "name or start_time"),
        ("sort_by_desc" = Option<bool>, Query, description = "Descending (default true)"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "Projects", body = [SessionOut]),
        (status = 422, description = "Bad parameter", body = ErrorBody)
    )
)]
#[get("/sessions")]
pub async fn list_sessions(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let (sort_by_name, descending) = params.name_or_time_order("start_time")?;
    let filter = SessionFilter {
        ids: params.uuids("id")?.iter().map(Uuid::to_string).collect(),
        name: params.string("name"),
        name_contains: params.string("name_contains"),
        reference_dataset: params
            .uuids("reference_dataset")?
            .iter()
            .map(Uuid::to_string)
            .collect(),
        reference_free: params.bool("reference_free")?,
        sort_by_name,
        descending,
        limit,
        offset,
    };
    let stats = StatsOptions::parse(&params)?;
    let out = state
        .db
        .run(move |conn| {
            store::list(conn, &workspace.id(), &filter)?
                .into_iter()
                .map(|row| with_stats(conn, row, &stats))
                .collect::<ApiResult<Vec<_>>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

async fn load(
    state: &State,
    workspace: Workspace,
    id: Uuid,
    stats: StatsOptions,
) -> ApiResult<SessionOut> {
    state
        .db
        .run(move |conn| {
            let row = store::find(conn, &workspace.id(), &id.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("project {id} not found")))?;
            with_stats(conn, row, &stats)
        })
        .await
}

#[utoipa::path(
    tag = "sessions",
    params(
        ("session_id" = Uuid, Path, description = "Project id"),
        ("include_stats" = Option<bool>, Query, description = "Add run and feedback stats"),
        ("stats_filter" = Option<String>, Query, description = "Filter language: stats over the matching runs only"),
        ("stats_start_time" = Option<String>, Query, description = "Stats over runs started since")
    ),
    responses(
        (status = 200, description = "The project", body = SessionOut),
        (status = 404, description = "No such project", body = ErrorBody)
    )
)]
#[get("/sessions/{session_id}")]
pub async fn read_session(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let stats = StatsOptions::parse(&QueryParams::parse(req.query_string()))?;
    let out = load(&state, workspace, path.into_inner(), stats).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Fields to change; absent or null fields stay as they are. `extra` replaces the stored one.
#[derive(Deserialize, ToSchema)]
pub struct SessionUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Map<String, Value>>,
    pub end_time: Option<String>,
    pub default_dataset_id: Option<Uuid>,
    pub trace_tier: Option<String>,
}

#[utoipa::path(
    tag = "sessions",
    params(("session_id" = Uuid, Path, description = "Project id")),
    request_body = SessionUpdate,
    responses(
        (status = 200, description = "The updated project", body = SessionOut),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody)
    )
)]
#[patch("/sessions/{session_id}")]
pub async fn update_session(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<SessionUpdate>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let body = body.into_inner();
    let end_time = optional_time("end_time", body.end_time.as_deref())?;
    if body.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::unprocessable(
            "name: a project name cannot be empty",
        ));
    }
    let out = state
        .db
        .run(move |conn| {
            let mut row = store::find(conn, &workspace.id(), &id.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("project {id} not found")))?;
            if let Some(name) = &body.name {
                let taken = store::find_by_name(conn, &row.workspace_id, name.trim())?
                    .is_some_and(|other| other.id != row.id);
                if taken {
                    return Err(ApiError::conflict(format!(
                        "a project named {name:?} already exists"
                    )));
                }
                row.name = name.trim().to_string();
            }
            if body.description.is_some() {
                row.description = body.description.clone();
            }
            if body.extra.is_some() {
                row.extra = json_text(&body.extra);
            }
            if end_time.is_some() {
                row.end_time = end_time;
            }
            if let Some(dataset) = body.default_dataset_id {
                row.default_dataset_id = Some(dataset.to_string());
            }
            if body.trace_tier.is_some() {
                row.trace_tier = body.trace_tier.clone();
            }
            store::update(conn, &row)?;
            with_stats(conn, row, &StatsOptions::default())
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Deletes a project with its runs and their feedback.
#[utoipa::path(
    tag = "sessions",
    params(("session_id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "Deleted"),
        (status = 404, description = "No such project", body = ErrorBody)
    )
)]
#[delete("/sessions/{session_id}")]
pub async fn delete_session(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::delete_by_id(
        state,
        workspace,
        path.into_inner(),
        "project",
        store::delete,
    )
    .await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_session)
        .service(list_sessions)
        .service(read_session)
        .service(update_session)
        .service(delete_session);
}
