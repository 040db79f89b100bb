//! Annotation queues (`/annotation-queues`): runs waiting for human review, with a rubric;
//! every call the SDKs make. Reviewers' feedback goes through `/feedback` onto the run.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{QueryParams, optional_time};
use super::{State, Workspace, base_url, deleted_or_not_found};
use crate::db::DbConnection;
use crate::db::annotation_queues::{self as store, AddError, Completed, QueueFilter};
use crate::db::models::{AnnotationQueueRow, QueueRunRow};
use crate::db::runs::RunQuery;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::time::{format_micros, now_micros};

/// A queue (LangSmith's `AnnotationQueueSchema` with details).
#[derive(Serialize, ToSchema)]
pub struct QueueOut {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub rubric_instructions: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub rubric_items: Value,
    /// Always `single`: pairwise queues are not supported.
    pub queue_type: String,
    pub total_runs: i64,
    pub default_dataset: Option<String>,
    pub num_reviewers_per_item: i64,
    pub enable_reservations: bool,
    pub reservation_minutes: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

fn present(row: AnnotationQueueRow, total_runs: i64) -> QueueOut {
    let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    QueueOut {
        id: row.id,
        tenant_id: row.workspace_id,
        name: row.name,
        description: row.description,
        created_at: format_micros(row.created_at),
        updated_at: format_micros(row.updated_at),
        rubric_instructions: row.rubric_instructions,
        rubric_items: json(row.rubric_items).unwrap_or_else(|| json!([])),
        queue_type: "single".into(),
        total_runs,
        default_dataset: row.default_dataset,
        num_reviewers_per_item: row.num_reviewers_per_item,
        enable_reservations: row.enable_reservations,
        reservation_minutes: row.reservation_minutes,
        metadata: json(row.metadata),
    }
}

/// Fields of a queue a client may set. On create, absent ones take their defaults; on PATCH,
/// absent ones stay as they are.
#[derive(Deserialize, ToSchema, Default)]
pub struct QueueFields {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub rubric_instructions: Option<String>,
    /// `[{feedback_key, description?, value_descriptions?, score_descriptions?, is_required?}]`
    #[schema(value_type = Option<Vec<Object>>)]
    pub rubric_items: Option<Vec<Value>>,
    pub default_dataset: Option<Uuid>,
    pub num_reviewers_per_item: Option<i64>,
    pub enable_reservations: Option<bool>,
    pub reservation_minutes: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

impl QueueFields {
    /// Checks the fields and writes them onto `row`.
    fn apply(self, conn: &mut DbConnection, row: &mut AnnotationQueueRow) -> ApiResult<()> {
        if let Some(name) = self.name {
            if name.trim().is_empty() {
                return Err(ApiError::unprocessable("name must not be empty"));
            }
            row.name = name;
        }
        if let Some(items) = self.rubric_items {
            for (i, item) in items.iter().enumerate() {
                let key = item.get("feedback_key").and_then(Value::as_str);
                if !item.is_object() || key.is_none_or(|k| k.trim().is_empty()) {
                    return Err(ApiError::unprocessable(format!(
                        "rubric_items[{i}] needs a feedback_key"
                    )));
                }
            }
            row.rubric_items = Some(Value::Array(items).to_string());
        }
        if let Some(dataset) = self.default_dataset {
            if crate::db::datasets::find(conn, &row.workspace_id, &dataset.to_string())?.is_none() {
                return Err(ApiError::not_found(format!(
                    "default_dataset {dataset} not found"
                )));
            }
            row.default_dataset = Some(dataset.to_string());
        }
        if let Some(n) = self.num_reviewers_per_item {
            if n < 1 {
                return Err(ApiError::unprocessable(format!(
                    "num_reviewers_per_item must be at least 1, got {n}"
                )));
            }
            row.num_reviewers_per_item = n;
        }
        if let Some(minutes) = self.reservation_minutes {
            if minutes < 1 {
                return Err(ApiError::unprocessable(format!(
                    "reservation_minutes must be at least 1, got {minutes}"
                )));
            }
            row.reservation_minutes = Some(minutes);
        }
        row.enable_reservations = self.enable_reservations.unwrap_or(row.enable_reservations);
        row.description = self.description.or(row.description.take());
        row.rubric_instructions = self.rubric_instructions.or(row.rubric_instructions.take());
        if let Some(metadata) = self.metadata {
            row.metadata = Some(Value::Object(metadata).to_string());
        }
        Ok(())
    }
}

fn queue_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("annotation queue {id} not found"))
}

fn load_queue(
    conn: &mut DbConnection,
    workspace: &Workspace,
    id: Uuid,
) -> ApiResult<AnnotationQueueRow> {
    store::find(conn, &workspace.id(), &id.to_string())?.ok_or_else(|| queue_not_found(id))
}

#[utoipa::path(
    tag = "annotation-queues",
    request_body = QueueFields,
    responses(
        (status = 200, description = "The new queue", body = QueueOut),
        (status = 404, description = "default_dataset not found", body = ErrorBody),
        (status = 409, description = "A queue with this id exists", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)
    )
)]
#[post("/annotation-queues")]
pub async fn create_queue(
    state: State,
    workspace: Workspace,
    body: web::Json<QueueFields>,
) -> ApiResult<HttpResponse> {
    let fields = body.into_inner();
    if fields.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::unprocessable("name is required"));
    }
    let now = now_micros();
    let id = fields.id.unwrap_or_else(Uuid::now_v7);
    let out = state
        .db
        .run(move |conn| {
            let mut row = AnnotationQueueRow {
                id: id.to_string(),
                workspace_id: workspace.id(),
                name: String::new(),
                description: None,
                rubric_instructions: None,
                rubric_items: None,
                default_dataset: None,
                num_reviewers_per_item: 1,
                enable_reservations: true,
                reservation_minutes: Some(1),
                metadata: None,
                created_at: now,
                updated_at: now,
            };
            fields.apply(conn, &mut row)?;
            if store::find_any(conn, &row.id)? {
                return Err(ApiError::conflict(format!(
                    "annotation queue {id} already exists"
                )));
            }
            store::insert(conn, &row)?;
            Ok(present(row, 0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Lists queues, newest first: `ids` (repeated), `name`, `name_contains`, `limit`, `offset`.
#[utoipa::path(
    tag = "annotation-queues",
    params(
        ("ids" = Option<Vec<Uuid>>, Query, description = "Queue ids"),
        ("name" = Option<String>, Query, description = "Exact name"),
        ("name_contains" = Option<String>, Query, description = "Name substring"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses((status = 200, description = "Queues", body = [QueueOut]))
)]
#[get("/annotation-queues")]
pub async fn list_queues(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let filter = QueueFilter {
        ids: params.uuids("ids")?.iter().map(Uuid::to_string).collect(),
        name: params.string("name"),
        name_contains: params.string("name_contains"),
        limit,
        offset,
    };
    let out = state
        .db
        .run(move |conn| {
            Ok(store::list(conn, &workspace.id(), &filter)?
                .into_iter()
                .map(|(row, size)| present(row, size))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "annotation-queues",
    params(("queue_id" = Uuid, Path, description = "Queue id")),
    responses(
        (status = 200, description = "The queue", body = QueueOut),
        (status = 404, description = "No such queue", body = ErrorBody)
    )
)]
#[get("/annotation-queues/{queue_id}")]
pub async fn read_queue(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let out = state
        .db
        .run(move |conn| {
            let row = load_queue(conn, &workspace, id)?;
            let size = store::size(conn, &row.id, None)?;
            Ok(present(row, size))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "annotation-queues",
    params(("queue_id" = Uuid, Path, description = "Queue id")),
    request_body = QueueFields,
    responses(
        (status = 200, description = "The updated queue", body = QueueOut),
        (status = 404, description = "No such queue or dataset", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)
    )
)]
#[patch("/annotation-queues/{queue_id}")]
pub async fn update_queue(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<QueueFields>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let mut fields = body.into_inner();
    fields.id = None;
    let out = state
        .db
        .run(move |conn| {
            let mut row = load_queue(conn, &workspace, id)?;
            fields.apply(conn, &mut row)?;
            row.updated_at = now_micros();
            store::update(conn, &row)?;
            let size = store::size(conn, &row.id, None)?;
            Ok(present(row, size))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "annotation-queues",
    params(("queue_id" = Uuid, Path, description = "Queue id")),
    responses(
        (status = 200, description = "Deleted, with its entries (not the runs)"),
        (status = 404, description = "No such queue", body = ErrorBody)
    )
)]
#[delete("/annotation-queues/{queue_id}")]
pub async fn delete_queue(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::delete_by_id(
        state,
        workspace,
        path.into_inner(),
        "annotation queue",
        store::delete,
    )
    .await
}

/// A run to add: its id, or an object with `run_id` (the by-key form and newer SDKs).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RunToAdd {
    Id(Uuid),
    Key { run_id: Uuid },
}

#[derive(Serialize, ToSchema)]
pub struct QueueRunOut {
    pub id: String,
    pub queue_id: String,
    pub run_id: String,
    pub added_at: String,
    pub last_reviewed_time: Option<String>,
}

fn present_entry(row: &QueueRunRow) -> QueueRunOut {
    QueueRunOut {
        id: row.id.clone(),
        queue_id: row.queue_id.clone(),
        run_id: row.run_id.clone(),
        added_at: format_micros(row.added_at),
        last_reviewed_time: row.last_reviewed_time.map(format_micros),
    }
}

async fn add_runs(
    state: State,
    workspace: Workspace,
    queue: Uuid,
    runs: Vec<RunToAdd>,
) -> ApiResult<HttpResponse> {
    let run_ids: Vec<String> = runs
        .into_iter()
        .map(|r| match r {
            RunToAdd::Id(id) | RunToAdd::Key { run_id: id } => id.to_string(),
        })
        .collect();
    let out = state
        .db
        .run(move |conn| {
            load_queue(conn, &workspace, queue)?;
            match store::add_runs(
                conn,
                &workspace.id(),
                &queue.to_string(),
                &run_ids,
                now_micros(),
            ) {
                Ok(rows) => Ok(rows.iter().map(present_entry).collect::<Vec<_>>()),
                Err(AddError::UnknownRuns(ids)) => Err(ApiError::not_found(format!(
                    "runs not found (not ingested yet?): {}",
                    ids.join(", ")
                ))),
                Err(AddError::Db(e)) => Err(e.into()),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Adds runs (a JSON array of run ids, or of `{run_id}` objects); a run already queued keeps
/// its place.
#[utoipa::path(
    tag = "annotation-queues",
    params(("queue_id" = Uuid, Path, description = "Queue id")),
    request_body = Vec<RunToAdd>,
    responses(
        (status = 200, description = "The queue entries of these runs", body = [QueueRunOut]),
        (status = 404, description = "No such queue, or runs not found", body = ErrorBody)
    )
)]
#[post("/annotation-queues/{queue_id}/runs")]
pub async fn add_queue_runs(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<Vec<RunToAdd>>,
) -> ApiResult<HttpResponse> {
    add_runs(state, workspace, path.into_inner(), body.into_inner()).await
}

/// The same, for `[{run_id, session_id, start_time}]` (the SDKs' `RunKey` form).
#[utoipa::path(
    tag = "annotation-queues",
    params(("queue_id" = Uuid, Path, description = "Queue id")),
    request_body = Vec<RunToAdd>,
    responses(
        (status = 200, description = "The queue entries of these runs", body = [QueueRunOut]),
        (status = 404, description = "No such queue, or runs not found", body = ErrorBody)
    )
)]
#[post("/annotation-queues/{queue_id}/runs/by-key")]
pub async fn add_queue_runs_by_key(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<Vec<RunToAdd>>,
) -> ApiResult<HttpResponse> {
    add_runs(state, workspace, path.into_inner(), body.into_inner()).await
}

/// `status`: `needs_my_review` (not done), `completed` (done), `needs_others_review` (nothing:
/// one reviewer identity here), absent (all).
fn status_filter(params: &QueryParams) -> ApiResult<Result<Completed, ()>> {
    match params.string("status").as_deref() {
        None => Ok(Ok(None)),
        Some("needs_my_review") => Ok(Ok(Some(false))),
        Some("completed") => Ok(Ok(Some(true))),
        Some("needs_others_review") => Ok(Err(())),
        Some(other) => Err(ApiError::unprocessable(format!(
            "status must be needs_my_review, needs_others_review or completed, got {other:?}"
        ))),
    }
}

/// Entries as runs (the run object plus `added_at`, `last_reviewed_time`, `queue_run_id`).
fn entries_as_runs(
    conn: &mut DbConnection,
    workspace_id: &str,
    base: String,
    entries: Vec<QueueRunRow>,
) -> ApiResult<Vec<Value>> {
    // One query for the page's runs. An entry whose run was deleted (its project went) is
    // not listed.
    let ids: Vec<String> = entries.iter().map(|e| e.run_id.clone()).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = RunQuery {
        limit: ids.len() as i64,
        ids,
        ..RunQuery::default()
    };
    let mut by_id: HashMap<String, _> = crate::db::runs::query(conn, workspace_id, &query)?
        .into_iter()
        .map(|run| (run.id.clone(), run))
        .collect();
    let (entries, runs): (Vec<&QueueRunRow>, Vec<_>) = entries
        .iter()
        .filter_map(|entry| Some((entry, by_id.remove(&entry.run_id)?)))
        .unzip();
    let presented = super::runs::present_rows(conn, workspace_id, base, runs)?;
    Ok(entries
        .into_iter()
        .zip(presented)
        .map(|(entry, run)| {
            let mut value = serde_json::to_value(run).unwrap_or_default();
            if let Value::Object(fields) = &mut value {
                fields.insert("added_at".into(), json!(format_micros(entry.added_at)));
                fields.insert(
                    "last_reviewed_time".into(),
                    json!(entry.last_reviewed_time.map(format_micros)),
                );
                fields.insert("queue_run_id".into(), json!(entry.id));
            }
            value
        })
        .collect())
}

#[utoipa::path(
    tag = "annotation-queues",
    params(
        ("queue_id" = Uuid, Path, description = "Queue id"),
        ("status" = Option<String>, Query, description = "needs_my_review, needs_others_review or completed"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "The queued runs, in queue order", body = [Object]),
        (status = 404, description = "No such queue", body = ErrorBody)
    )
)]
#[get("/annotation-queues/{queue_id}/runs")]
pub async fn list_queue_runs(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let queue = path.into_inner();
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let status = status_filter(&params)?;
    let base = base_url(&req);
    let out = state
        .db
        .run(move |conn| {
            load_queue(conn, &workspace, queue)?;
            let Ok(completed) = status else {
                return Ok(Vec::new());
            };
            let entries = store::items(conn, &queue.to_string(), completed, limit, offset)?;
            entries_as_runs(conn, &workspace.id(), base, entries)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The run at a 0-based position in the queue.
#[utoipa::path(
    tag = "annotation-queues",
    params(
        ("queue_id" = Uuid, Path, description = "Queue id"),
        ("index" = i64, Path, description = "0-based position")
    ),
    responses(
        (status = 200, description = "The queued run", body = Object),
        (status = 404, description = "No such queue, or the index is past the end", body = ErrorBody)
    )
)]
#[get("/annotation-queues/{queue_id}/run/{index}")]
pub async fn queue_run_at(
    state: State,
    workspace: Workspace,
    path: web::Path<(Uuid, i64)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (queue, index) = path.into_inner();
    if index < 0 {
        return Err(ApiError::unprocessable("index must not be negative"));
    }
    let base = base_url(&req);
    let out = state
        .db
        .run(move |conn| {
            load_queue(conn, &workspace, queue)?;
            let entries = store::items(conn, &queue.to_string(), None, 1, index)?;
            entries_as_runs(conn, &workspace.id(), base, entries)?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ApiError::not_found(format!("annotation queue {queue} has no run at {index}"))
                })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Removes a run from the queue: the path names the queue entry or the run.
#[utoipa::path(
    tag = "annotation-queues",
    params(
        ("queue_id" = Uuid, Path, description = "Queue id"),
        ("queue_run_id" = Uuid, Path, description = "Queue entry id, or run id")
    ),
    responses(
        (status = 200, description = "Removed"),
        (status = 404, description = "Not in this queue", body = ErrorBody)
    )
)]
#[delete("/annotation-queues/{queue_id}/runs/{queue_run_id}")]
pub async fn remove_queue_run(
    state: State,
    workspace: Workspace,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (queue, item) = path.into_inner();
    let deleted = state
        .db
        .run(move |conn| {
            load_queue(conn, &workspace, queue)?;
            match store::find_item(conn, &queue.to_string(), &item.to_string())? {
                Some(entry) => Ok(store::remove_item(conn, &entry.id)?),
                None => Ok(false),
            }
        })
        .await?;
    deleted_or_not_found(deleted, "queued run", item)
}

#[derive(Deserialize, ToSchema)]
pub struct QueueRunUpdate {
    /// Setting it marks the entry reviewed (done).
    pub last_reviewed_time: Option<String>,
    pub added_at: Option<String>,
}

/// Updates a queue entry; `last_reviewed_time` marks it done.
#[utoipa::path(
    tag = "annotation-queues",
    params(
        ("queue_id" = Uuid, Path, description = "Queue id"),
        ("queue_run_id" = Uuid, Path, description = "Queue entry id, or run id")
    ),
    request_body = QueueRunUpdate,
    responses(
        (status = 200, description = "The entry", body = QueueRunOut),
        (status = 404, description = "Not in this queue", body = ErrorBody),
        (status = 422, description = "Bad time", body = ErrorBody)
    )
)]
#[patch("/annotation-queues/{queue_id}/runs/{queue_run_id}")]
pub async fn update_queue_run(
    state: State,
    workspace: Workspace,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<QueueRunUpdate>,
) -> ApiResult<HttpResponse> {
    let (queue, item) = path.into_inner();
    let reviewed = optional_time("last_reviewed_time", body.last_reviewed_time.as_deref())?;
    let added = optional_time("added_at", body.added_at.as_deref())?;
    let out = state
        .db
        .run(move |conn| {
            load_queue(conn, &workspace, queue)?;
            let mut entry = store::find_item(conn, &queue.to_string(), &item.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("queued run {item} not found")))?;
            if let Some(reviewed) = reviewed {
                entry.last_reviewed_time = Some(reviewed);
                entry.completed = true;
            }
            entry.added_at = added.unwrap_or(entry.added_at);
            store::update_item(conn, &entry)?;
            Ok(present_entry(&entry))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, ToSchema)]
pub struct QueueRunStatus {
    /// `completed`, or `needs_review` to send it back.
    pub status: String,
}

/// Marks a queue entry done (`completed`) or back to review (`needs_review`).
#[utoipa::path(
    tag = "annotation-queues",
    params(("annotation_queue_run_id" = Uuid, Path, description = "Queue entry id")),
    request_body = QueueRunStatus,
    responses(
        (status = 200, description = "The entry", body = QueueRunOut),
        (status = 404, description = "No such entry", body = ErrorBody),
        (status = 422, description = "Unknown status", body = ErrorBody)
    )
)]
#[post("/annotation-queues/status/{annotation_queue_run_id}")]
pub async fn set_queue_run_status(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<QueueRunStatus>,
) -> ApiResult<HttpResponse> {
    let item = path.into_inner();
    let completed = match body.status.as_str() {
        "completed" => true,
        "needs_review" | "needs_my_review" => false,
        other => {
            return Err(ApiError::unprocessable(format!(
                "status must be completed or needs_review, got {other:?}"
            )));
        }
    };
    let out = state
        .db
        .run(move |conn| {
            let mut entry = store::find_item_by_id(conn, &workspace.id(), &item.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("queued run {item} not found")))?;
            entry.completed = completed;
            entry.last_reviewed_time = completed.then(now_micros);
            store::update_item(conn, &entry)?;
            Ok(present_entry(&entry))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "annotation-queues",
    params(
        ("queue_id" = Uuid, Path, description = "Queue id"),
        ("status" = Option<String>, Query, description = "needs_my_review, needs_others_review or completed")
    ),
    responses(
        (status = 200, description = "{\"size\": n}", body = Object),
        (status = 404, description = "No such queue", body = ErrorBody)
    )
)]
#[get("/annotation-queues/{queue_id}/size")]
pub async fn queue_size(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let queue = path.into_inner();
    let status = status_filter(&QueryParams::parse(req.query_string()))?;
    let size = state
        .db
        .run(move |conn| {
            load_queue(conn, &workspace, queue)?;
            match status {
                Ok(completed) => Ok(store::size(conn, &queue.to_string(), completed)?),
                Err(()) => Ok(0),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "size": size })))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(set_queue_run_status)
        .service(create_queue)
        .service(list_queues)
        .service(read_queue)
        .service(update_queue)
        .service(delete_queue)
        .service(add_queue_runs_by_key)
        .service(add_queue_runs)
        .service(list_queue_runs)
        .service(queue_run_at)
        .service(remove_queue_run)
        .service(update_queue_run)
        .service(queue_size);
}
