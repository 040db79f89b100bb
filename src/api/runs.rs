//! Reading runs: `GET /runs/{id}`, `POST /runs/query`, attachment downloads.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::optional_time;
use super::{State, Workspace, base_url};
use crate::db::models::RunRow;
use crate::db::runs::{self as run_store, RunQuery};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::filter::runs::{self as filter_runs, Cond, RunFilter, TraceFilters};
use crate::ingest::ops::dotted_order_ids;
use crate::time::format_micros;

/// A run as the SDKs read it (LangSmith's `Run` schema).
#[derive(Serialize, ToSchema)]
pub struct RunOut {
    pub id: String,
    pub name: String,
    pub run_type: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub status: String,
    pub trace_id: Option<String>,
    pub dotted_order: Option<String>,
    pub parent_run_id: Option<String>,
    pub parent_run_ids: Vec<String>,
    pub session_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Box<RawValue>>,
    pub error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Box<RawValue>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub events: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub serialized: Option<Box<RawValue>>,
    pub tags: Vec<String>,
    pub reference_example_id: Option<String>,
    pub app_path: String,
    #[schema(value_type = Object)]
    pub feedback_stats: Map<String, Value>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub prompt_cost: Option<f64>,
    pub completion_cost: Option<f64>,
    pub total_cost: Option<f64>,
    #[schema(value_type = Option<Object>)]
    pub prompt_token_details: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub completion_token_details: Option<Box<RawValue>>,
    pub first_token_time: Option<String>,
    pub thread_id: Option<String>,
    /// Attachments: `{"attachment.<name>": {"presigned_url": ..., "mime_type": ...}}`.
    #[schema(value_type = Object)]
    pub s3_urls: Map<String, Value>,
}

fn raw(text: Option<String>) -> Option<Box<RawValue>> {
    text.and_then(|t| RawValue::from_string(t).ok())
}

/// What a page of runs needs besides the rows: attachments and feedback, fetched once per page.
struct RunContext {
    base_url: String,
    workspace_id: String,
    attachments: HashMap<String, Vec<(String, String)>>,
    feedback: HashMap<String, Vec<run_store::KeyStats>>,
}

impl RunContext {
    fn load(
        conn: &mut crate::db::DbConnection,
        workspace_id: &str,
        base_url: String,
        rows: &[RunRow],
    ) -> ApiResult<Self> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        Ok(RunContext {
            base_url,
            workspace_id: workspace_id.to_string(),
            attachments: run_store::attachment_index(conn, workspace_id, &ids)?,
            feedback: run_store::feedback_stats(conn, workspace_id, &ids)?,
        })
    }

    fn present(&self, row: RunRow) -> RunOut {
        let start = row.start_time.unwrap_or_default();
        let status = filter_runs::status(&row);
        let parent_run_ids = row
            .dotted_order
            .as_deref()
            .and_then(dotted_order_ids)
            .map(|ids| {
                ids[..ids.len().saturating_sub(1)]
                    .iter()
                    .map(Uuid::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let session = row.session_id.clone().unwrap_or_default();
        let app_path = format!(
            "/o/{}/projects/p/{}/r/{}?trace_id={}&start_time={}",
            self.workspace_id,
            session,
            row.id,
            row.trace_id.as_deref().unwrap_or(&row.id),
            format_micros(start)
        );
        let s3_urls = self
            .attachments
            .get(&row.id)
            .into_iter()
            .flatten()
            .map(|(name, mime)| {
                let url = format!(
                    "{}/runs/{}/attachments/{}?tenant={}",
                    self.base_url, row.id, name, self.workspace_id
                );
                (
                    format!("attachment.{name}"),
                    serde_json::json!({"presigned_url": url, "mime_type": mime}),
                )
            })
            .collect();
        let feedback_stats = self
            .feedback
            .get(&row.id)
            .into_iter()
            .flatten()
            .map(|(key, n, avg)| (key.clone(), serde_json::json!({"n": n, "avg": avg})))
            .collect();
        let thread_id = filter_runs::thread_id(row.extra.as_deref());
        RunOut {
            id: row.id,
            name: row.name.unwrap_or_default(),
            run_type: row.run_type.unwrap_or_default(),
            start_time: format_micros(start),
            end_time: row.end_time.map(format_micros),
            status: status.to_string(),
            trace_id: row.trace_id,
            dotted_order: row.dotted_order,
            parent_run_id: row.parent_run_id,
            parent_run_ids,
            session_id: row.session_id,
            inputs: raw(row.inputs),
            outputs: raw(row.outputs),
            error: row.error,
            extra: raw(row.extra),
            events: raw(row.events),
            serialized: raw(row.serialized),
            tags: row
                .tags
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
            reference_example_id: row.reference_example_id,
            app_path,
            feedback_stats,
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            total_tokens: row.total_tokens,
            prompt_cost: row.prompt_cost,
            completion_cost: row.completion_cost,
            total_cost: row.total_cost,
            prompt_token_details: raw(row.prompt_token_details),
            completion_token_details: raw(row.completion_token_details),
            first_token_time: row.first_token_time.map(format_micros),
            thread_id,
            s3_urls,
        }
    }
}

/// Shapes a page of stored runs for reading, with their attachments and feedback stats.
pub fn present_rows(
    conn: &mut crate::db::DbConnection,
    workspace_id: &str,
    base_url: String,
    rows: Vec<RunRow>,
) -> ApiResult<Vec<RunOut>> {
    let context = RunContext::load(conn, workspace_id, base_url, &rows)?;
    Ok(rows.into_iter().map(|r| context.present(r)).collect())
}

#[utoipa::path(
    tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunOut),
        (status = 404, description = "No such run", body = ErrorBody)
    )
)]
#[get("/runs/{run_id}")]
pub async fn read_run(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let base = base_url(&req);
    let run = state
        .db
        .run(move |conn| {
            let ws = workspace.id();
            let Some(row) = run_store::find(conn, &ws, &id.to_string())? else {
                return Err(ApiError::not_found(format!("run {id} not found")));
            };
            let context = RunContext::load(conn, &ws, base, std::slice::from_ref(&row))?;
            Ok(context.present(row))
        })
        .await?;
    Ok(HttpResponse::Ok().json(run))
}

/// Which runs: the fields `/runs/query`, `/runs/stats` and `/runs/monitor` share. Unknown keys
/// are ignored; nulls mean "not given".
#[derive(Deserialize, ToSchema, Default, Clone)]
pub struct RunSelection {
    /// Exact run ids.
    pub id: Option<Vec<Uuid>>,
    /// Project ids.
    pub session: Option<Vec<Uuid>>,
    /// Alias the Python SDK passes through from `read_run(load_child_runs=True)`.
    pub session_id: Option<Uuid>,
    pub trace: Option<Uuid>,
    pub parent_run: Option<Uuid>,
    pub run_type: Option<String>,
    pub reference_example: Option<Vec<Uuid>>,
    pub is_root: Option<bool>,
    pub error: Option<bool>,
    /// Runs that started at or after this time.
    pub start_time: Option<String>,
    /// Runs that started at or before this time.
    pub end_time: Option<String>,
    /// Filter language, on each run.
    pub filter: Option<String>,
    /// Filter language, on the root run of each run's trace.
    pub trace_filter: Option<String>,
    /// Filter language, on any run of each run's trace.
    pub tree_filter: Option<String>,
    /// Free text, searched in each run's name, inputs, outputs and error.
    pub query: Option<String>,
    /// `1` selects root runs (LangSmith's legacy field).
    pub execution_order: Option<i64>,
}

/// Body of `POST /runs/query`.
#[derive(Deserialize, ToSchema, Default)]
pub struct RunQueryBody {
    #[serde(flatten)]
    pub selection: RunSelection,
    /// Fields to return (LangSmith's `RunSelect` names); identity fields always come back.
    pub select: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub order: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Cursors {
    pub next: Option<String>,
    pub prev: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RunQueryResponse {
    #[schema(value_type = Vec<RunOut>)]
    pub runs: Vec<Value>,
    pub cursors: Cursors,
}

const CURSOR_PREFIX: &str = "ls1:";

fn encode_cursor(row: &RunRow) -> String {
    format!(
        "{CURSOR_PREFIX}{}:{}",
        row.start_time.unwrap_or_default(),
        row.id
    )
}

fn decode_cursor(cursor: &str) -> ApiResult<(i64, String)> {
    let malformed =
        || ApiError::bad_request("cursor is malformed: pass back cursors.next as given");
    let rest = cursor.strip_prefix(CURSOR_PREFIX).ok_or_else(malformed)?;
    let (time, id) = rest.split_once(':').ok_or_else(malformed)?;
    let time = time.parse().map_err(|_| malformed())?;
    let id = Uuid::parse_str(id).map_err(|_| malformed())?;
    Ok((time, id.to_string()))
}

/// A filter-language field, checked; the error names the field and the position.
pub fn compile_filter(field: &str, text: Option<&str>) -> ApiResult<Option<RunFilter>> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => filter_runs::compile(text).map(Some).map_err(|e| {
            ApiError::bad_request(format!("{field}: {} at offset {}", e.message, e.offset))
        }),
    }
}

impl RunSelection {
    /// The filter-language fields, checked.
    fn filters(&self) -> ApiResult<TraceFilters> {
        let mut filter = compile_filter("filter", self.filter.as_deref())?;
        if let Some(query) = self
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            let search = filter_runs::search(query);
            filter = Some(match filter {
                Some(RunFilter(cond)) => RunFilter(Cond::All(vec![cond, search.0])),
                None => search,
            });
        }
        Ok(TraceFilters {
            filter,
            trace_filter: compile_filter("trace_filter", self.trace_filter.as_deref())?,
            tree_filter: compile_filter("tree_filter", self.tree_filter.as_deref())?,
        })
    }

    /// The runs selected, as the storage layer takes them (no paging yet).
    pub fn to_query(&self) -> ApiResult<RunQuery> {
        let filters = self.filters()?;
        if let Some(run_type) = &self.run_type
            && !crate::ingest::ops::RUN_TYPES.contains(&run_type.as_str())
        {
            return Err(ApiError::unprocessable(format!(
                "run_type {run_type:?} is not one of {}",
                crate::ingest::ops::RUN_TYPES.join(", ")
            )));
        }
        let is_root = match self.execution_order {
            None => self.is_root,
            Some(1) => Some(true),
            Some(other) => {
                return Err(ApiError::unprocessable(format!(
                    "execution_order must be 1 (root runs), got {other}"
                )));
            }
        };
        let texts = |ids: &Option<Vec<Uuid>>| -> Vec<String> {
            ids.iter().flatten().map(Uuid::to_string).collect()
        };
        let mut sessions = texts(&self.session);
        sessions.extend(self.session_id.map(|s| s.to_string()));
        Ok(RunQuery {
            filters,
            ids: texts(&self.id),
            sessions,
            trace: self.trace.map(|t| t.to_string()),
            parent_run: self.parent_run.map(|p| p.to_string()),
            run_type: self.run_type.clone(),
            reference_examples: texts(&self.reference_example),
            is_root,
            error: self.error,
            start_time: optional_time("start_time", self.start_time.as_deref())?,
            end_time: optional_time("end_time", self.end_time.as_deref())?,
            ..RunQuery::default()
        })
    }
}

/// LangSmith's `RunSelect` names. Those Loopsmith has no data for are accepted and left out.
const SELECTABLE: [&str; 59] = [
    "id",
    "name",
    "run_type",
    "start_time",
    "end_time",
    "status",
    "error",
    "extra",
    "events",
    "inputs",
    "inputs_preview",
    "inputs_s3_urls",
    "inputs_or_signed_url",
    "outputs",
    "outputs_preview",
    "outputs_s3_urls",
    "outputs_or_signed_url",
    "s3_urls",
    "error_or_signed_url",
    "events_or_signed_url",
    "extra_or_signed_url",
    "serialized_or_signed_url",
    "parent_run_id",
    "manifest_id",
    "manifest_s3_id",
    "manifest",
    "session_id",
    "serialized",
    "reference_example_id",
    "reference_dataset_id",
    "total_tokens",
    "prompt_tokens",
    "prompt_token_details",
    "completion_tokens",
    "completion_token_details",
    "total_cost",
    "prompt_cost",
    "prompt_cost_details",
    "completion_cost",
    "completion_cost_details",
    "price_model_id",
    "first_token_time",
    "trace_id",
    "dotted_order",
    "last_queued_at",
    "feedback_stats",
    "child_run_ids",
    "parent_run_ids",
    "tags",
    "in_dataset",
    "app_path",
    "share_token",
    "trace_tier",
    "trace_first_received_at",
    "ttl_seconds",
    "trace_upgrade",
    "thread_id",
    "trace_min_max_start_time",
    "messages",
];

/// Returned whatever `select` says: the SDKs parse every run into a `Run` that needs them.
const ALWAYS_SELECTED: [&str; 10] = [
    "id",
    "name",
    "run_type",
    "start_time",
    "trace_id",
    "dotted_order",
    "session_id",
    "status",
    "app_path",
    "parent_run_id",
];

fn check_select(select: &[String]) -> ApiResult<()> {
    match select
        .iter()
        .find(|s| !SELECTABLE.contains(&s.as_str()) && s.as_str() != "inserted_at")
    {
        Some(unknown) => Err(ApiError::unprocessable(format!(
            "select: {unknown:?} is not a run field (see RunSelect)"
        ))),
        None => Ok(()),
    }
}

/// A run as JSON with only the selected fields (and the identity ones).
fn selected_fields(run: RunOut, select: Option<&[String]>) -> Value {
    let mut value = serde_json::to_value(run).unwrap_or_default();
    if let (Some(select), Value::Object(fields)) = (select, &mut value) {
        // `*_or_signed_url` and `s3_urls` variants name the documents themselves.
        let wanted = |key: &str| {
            ALWAYS_SELECTED.contains(&key)
                || select.iter().any(|s| {
                    s == key
                        || s.strip_suffix("_or_signed_url") == Some(key)
                        || (key == "s3_urls" && s.ends_with("s3_urls"))
                })
        };
        fields.retain(|key, _| wanted(key));
    }
    value
}

impl RunQueryBody {
    fn to_query(&self) -> ApiResult<RunQuery> {
        let ascending = match self.order.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(other) => {
                return Err(ApiError::unprocessable(format!(
                    "order must be \"asc\" or \"desc\", got {other:?}"
                )));
            }
        };
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::unprocessable(format!(
                "limit must be between 1 and 1000, got {limit}"
            )));
        }
        if let Some(select) = &self.select {
            check_select(select)?;
        }
        Ok(RunQuery {
            ascending,
            after: self.cursor.as_deref().map(decode_cursor).transpose()?,
            limit,
            ..self.selection.to_query()?
        })
    }
}

#[utoipa::path(
    tag = "runs",
    request_body = RunQueryBody,
    responses(
        (status = 200, description = "A page of runs", body = RunQueryResponse),
        (status = 400, description = "A filter that does not parse, or a bad cursor", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody)
    )
)]
#[post("/runs/query")]
pub async fn query_runs(
    state: State,
    workspace: Workspace,
    body: web::Json<RunQueryBody>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let mut query = body.to_query()?;
    let select = body.into_inner().select;
    let limit = query.limit;
    // One more than asked tells whether another page exists.
    query.limit = limit + 1;
    let base = base_url(&req);
    let response = state
        .db
        .run(move |conn| {
            let ws = workspace.id();
            let mut rows = run_store::query(conn, &ws, &query)?;
            let next = if rows.len() as i64 > limit {
                rows.truncate(limit as usize);
                rows.last().map(encode_cursor)
            } else {
                None
            };
            let runs = present_rows(conn, &ws, base, rows)?
                .into_iter()
                .map(|run| selected_fields(run, select.as_deref()))
                .collect();
            Ok(RunQueryResponse {
                runs,
                cursors: Cursors { next, prev: None },
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

#[derive(Serialize, ToSchema)]
pub struct ValidationProblem {
    /// The body field at fault (`filter`, `trace_filter`, `start_time`...).
    pub field: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct QueryValidation {
    pub valid: bool,
    pub errors: Vec<ValidationProblem>,
}

/// Checks a `/runs/query` body without running it: every problem, each with its field.
#[utoipa::path(
    tag = "runs",
    request_body = RunQueryBody,
    responses((status = 200, description = "Whether the query is valid, and why not", body = QueryValidation))
)]
#[post("/runs/query/validate")]
pub async fn validate_query(body: web::Json<RunQueryBody>) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    for (field, text) in [
        ("filter", &body.selection.filter),
        ("trace_filter", &body.selection.trace_filter),
        ("tree_filter", &body.selection.tree_filter),
    ] {
        if let Err(e) = compile_filter(field, text.as_deref()) {
            errors.push(ValidationProblem {
                field: field.to_string(),
                message: e.to_string(),
            });
        }
    }
    if errors.is_empty()
        && let Err(e) = body.to_query()
    {
        let message = e.to_string();
        let field = message
            .split(':')
            .next()
            .unwrap_or("body")
            .trim()
            .to_string();
        errors.push(ValidationProblem { field, message });
    }
    Ok(HttpResponse::Ok().json(QueryValidation {
        valid: errors.is_empty(),
        errors,
    }))
}

/// The bytes of a run attachment (the `presigned_url` in `s3_urls`).
#[utoipa::path(
    tag = "runs",
    params(
        ("run_id" = Uuid, Path, description = "Run id"),
        ("name" = String, Path, description = "Attachment name"),
        ("tenant" = Option<Uuid>, Query, description = "Workspace, as in s3_urls")
    ),
    responses(
        (status = 200, description = "The attachment's bytes"),
        (status = 404, description = "No such attachment", body = ErrorBody)
    )
)]
#[get("/runs/{run_id}/attachments/{name}")]
pub async fn read_attachment(
    state: State,
    path: web::Path<(Uuid, String)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (run_id, name) = path.into_inner();
    let workspace = super::link_workspace(&super::params::QueryParams::parse(req.query_string()))?;
    let attachment = state
        .db
        .run(move |conn| {
            run_store::attachment(conn, &workspace.id(), &run_id.to_string(), &name)?.ok_or_else(
                || ApiError::not_found(format!("run {run_id} has no attachment {name:?}")),
            )
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(attachment.content_type)
        .body(attachment.data))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(validate_query)
        .service(query_runs)
        .service(read_attachment)
        .service(read_run);
}
