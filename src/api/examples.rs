//! Examples (`/examples`): the JSON endpoints. Every write makes a new dataset version.

use std::collections::{BTreeMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::datasets::{require, resolve_as_of};
use super::params::QueryParams;
use super::{State, Workspace, base_url};
use crate::db::DbConnection;
use crate::db::datasets::{self as store, ExampleFilter, ExampleWrite, ExampleWriteError};
use crate::db::models::ExampleRevisionRow;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::time::{format_micros, parse_time_str};

#[derive(Serialize, ToSchema)]
pub struct ExampleOut {
    pub id: String,
    pub dataset_id: String,
    #[schema(value_type = Object)]
    pub inputs: Value,
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub source_run_id: Option<String>,
    pub created_at: String,
    /// The version at which this example last changed.
    pub modified_at: String,
    /// `{"attachment.<name>": {"presigned_url", "mime_type"}}`
    #[schema(value_type = Object)]
    pub attachment_urls: Map<String, Value>,
}

/// Shapes examples for reading, with links to their files.
pub fn present_rows(
    conn: &mut DbConnection,
    workspace: Workspace,
    base_url: &str,
    rows: Vec<ExampleRevisionRow>,
) -> ApiResult<Vec<ExampleOut>> {
    let keys: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.example_id.clone(), r.valid_from))
        .collect();
    let mut index = store::attachment_index(conn, &keys)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let files = index
                .remove(&(row.example_id.clone(), row.valid_from))
                .unwrap_or_default();
            let urls = files
                .into_iter()
                .map(|(name, mime)| {
                    let url = format!(
                        "{base_url}/examples/{}/attachments/{name}?revision={}&tenant={}",
                        row.example_id, row.valid_from, workspace.0
                    );
                    (
                        format!("attachment.{name}"),
                        json!({"presigned_url": url, "mime_type": mime}),
                    )
                })
                .collect();
            let mut out = present(row);
            out.attachment_urls = urls;
            out
        })
        .collect())
}

fn present(row: ExampleRevisionRow) -> ExampleOut {
    let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
    ExampleOut {
        id: row.example_id,
        dataset_id: row.dataset_id,
        inputs: serde_json::from_str(&row.inputs).unwrap_or_else(|_| json!({})),
        outputs: json(row.outputs),
        metadata: json(row.metadata),
        source_run_id: row.source_run_id,
        created_at: format_micros(row.created_at),
        modified_at: format_micros(row.valid_from),
        attachment_urls: Map::new(),
    }
}

pub fn write_error(err: ExampleWriteError) -> ApiError {
    let detail = err.to_string();
    match err {
        ExampleWriteError::AlreadyExists(_) => ApiError::conflict(detail),
        ExampleWriteError::NotFound(_) => ApiError::not_found(detail),
        ExampleWriteError::Invalid(_) => ApiError::unprocessable(detail),
    }
}

/// `split` as the SDK sends it: a name or a list of names.
fn splits_of(split: Option<Value>, label: &str) -> ApiResult<Option<Vec<String>>> {
    let invalid = || {
        ApiError::unprocessable(format!(
            "{label}: split must be a name or a list of names without commas"
        ))
    };
    let names = match split {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(one)) => vec![one],
        Some(Value::Array(many)) => many
            .into_iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(invalid))
            .collect::<ApiResult<_>>()?,
        Some(_) => return Err(invalid()),
    };
    if names.iter().any(|n| n.is_empty() || n.contains(',')) {
        return Err(invalid());
    }
    Ok(Some(names))
}

fn object_text(value: Option<Map<String, Value>>) -> Option<String> {
    value.map(|m| Value::Object(m).to_string())
}

#[derive(Deserialize, ToSchema)]
pub struct ExampleCreate {
    pub id: Option<Uuid>,
    pub dataset_id: Uuid,
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub split: Option<Value>,
    pub source_run_id: Option<Uuid>,
    /// Copy the source run's inputs and outputs.
    #[serde(default)]
    pub use_source_run_io: bool,
    pub created_at: Option<String>,
}

/// Turns create bodies into writes, copying run inputs/outputs where asked.
fn create_writes(
    conn: &mut DbConnection,
    workspace: Workspace,
    bodies: Vec<ExampleCreate>,
) -> ApiResult<BTreeMap<String, Vec<ExampleWrite>>> {
    let mut seen = HashSet::new();
    let mut by_dataset: BTreeMap<String, Vec<ExampleWrite>> = BTreeMap::new();
    for (index, body) in bodies.into_iter().enumerate() {
        let label = format!("example [{index}]");
        let id = body.id.unwrap_or_else(Uuid::now_v7);
        if !seen.insert(id) {
            return Err(ApiError::unprocessable(format!(
                "{label}: id {id} appears twice"
            )));
        }
        let dataset = require(conn, workspace, body.dataset_id)?;
        let mut write = ExampleWrite {
            id: id.to_string(),
            dataset_id: Some(dataset.id.clone()),
            inputs: object_text(body.inputs),
            outputs: object_text(body.outputs),
            metadata: object_text(body.metadata),
            source_run_id: body.source_run_id.map(|r| r.to_string()),
            splits: splits_of(body.split, &label)?,
            attachments: None,
            created_at: body
                .created_at
                .map(|t| {
                    parse_time_str(&t).ok_or_else(|| {
                        ApiError::unprocessable(format!(
                            "{label}: created_at {t:?} is not a date-time"
                        ))
                    })
                })
                .transpose()?,
        };
        if body.use_source_run_io {
            let run_id = body.source_run_id.ok_or_else(|| {
                ApiError::unprocessable(format!("{label}: use_source_run_io needs source_run_id"))
            })?;
            let run = crate::db::runs::find(conn, &workspace.id(), &run_id.to_string())?
                .ok_or_else(|| {
                    ApiError::not_found(format!("{label}: source run {run_id} not found"))
                })?;
            write.inputs = run.inputs.or(write.inputs);
            write.outputs = run.outputs.or(write.outputs);
        }
        by_dataset.entry(dataset.id).or_default().push(write);
    }
    Ok(by_dataset)
}

async fn create_many(
    state: &State,
    workspace: Workspace,
    base: String,
    bodies: Vec<ExampleCreate>,
) -> ApiResult<Vec<ExampleOut>> {
    state
        .db
        .run(move |conn| {
            let by_dataset = create_writes(conn, workspace, bodies)?;
            let created = store::create_examples_in(conn, &workspace.id(), by_dataset)?
                .map_err(write_error)?;
            present_rows(conn, workspace, &base, created)
        })
        .await
}

#[utoipa::path(
    tag = "examples",
    request_body = ExampleCreate,
    responses(
        (status = 200, description = "The example", body = ExampleOut),
        (status = 404, description = "No such dataset or source run", body = ErrorBody),
        (status = 409, description = "Id taken", body = ErrorBody),
        (status = 422, description = "Invalid example", body = ErrorBody)
    )
)]
#[post("/examples")]
pub async fn create_example(
    state: State,
    workspace: Workspace,
    body: web::Json<ExampleCreate>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let mut created =
        create_many(&state, workspace, base_url(&req), vec![body.into_inner()]).await?;
    Ok(HttpResponse::Ok().json(created.remove(0)))
}

#[utoipa::path(
    tag = "examples",
    request_body = [ExampleCreate],
    responses(
        (status = 200, description = "The examples, all created or none", body = [ExampleOut]),
        (status = 409, description = "An id is taken", body = ErrorBody),
        (status = 422, description = "Invalid example", body = ErrorBody)
    )
)]
#[post("/examples/bulk")]
pub async fn create_examples_bulk(
    state: State,
    workspace: Workspace,
    body: web::Json<Vec<ExampleCreate>>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let created = create_many(&state, workspace, base_url(&req), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(created))
}

#[utoipa::path(
    tag = "examples",
    params(
        ("dataset" = Option<Uuid>, Query, description = "Dataset id"),
        ("id" = Option<Vec<Uuid>>, Query, description = "Example ids"),
        ("as_of" = Option<String>, Query, description = "A time or a tag: the dataset as it was then"),
        ("splits" = Option<Vec<String>>, Query, description = "Examples in any of these splits"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "Examples, oldest first", body = [ExampleOut]),
        (status = 400, description = "Unsupported filter", body = ErrorBody),
        (status = 422, description = "Bad parameter", body = ErrorBody)
    )
)]
#[get("/examples")]
pub async fn list_examples(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let base = base_url(&req);
    let metadata = params
        .get("metadata")
        .map(crate::json_match::parse_filter)
        .transpose()
        .map_err(ApiError::Unprocessable)?;
    let filter_expr = params
        .get("filter")
        .map(crate::filter::examples::compile)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    for unsupported in ["full_text_contains"] {
        if params.get(unsupported).is_some() {
            return Err(ApiError::bad_request(format!(
                "{unsupported}: this example filter is not supported by this server yet"
            )));
        }
    }
    let dataset = params.uuids("dataset")?.into_iter().next();
    let as_of = params.string("as_of");
    if as_of.is_some() && dataset.is_none() {
        return Err(ApiError::unprocessable("as_of needs a dataset"));
    }
    let ids: Vec<String> = params.uuids("id")?.iter().map(Uuid::to_string).collect();
    let splits: Vec<String> = params
        .all("splits")
        .into_iter()
        .map(str::to_string)
        .collect();
    let rows = state
        .db
        .run(move |conn| {
            let at = match (dataset, as_of) {
                (Some(dataset), Some(as_of)) => {
                    require(conn, workspace, dataset)?;
                    Some(resolve_as_of(conn, &dataset.to_string(), &as_of)?)
                }
                _ => None,
            };
            let filter = ExampleFilter {
                dataset_id: dataset.map(|d| d.to_string()),
                ids,
                as_of: at,
                splits,
                limit,
                offset,
            };
            let rows = if metadata.is_none() && filter_expr.is_none() {
                store::list_examples(conn, &workspace.id(), &filter)?
            } else {
                // Metadata conditions are checked here, then the page is cut.
                let all = ExampleFilter {
                    limit: i64::MAX,
                    offset: 0,
                    ..filter
                };
                let rows = store::list_examples(conn, &workspace.id(), &all)?;
                let keep = |m: &Value| {
                    metadata
                        .as_ref()
                        .is_none_or(|w| crate::json_match::contains(m, w))
                        && filter_expr.as_ref().is_none_or(|f| f.matches(m))
                };
                crate::json_match::page_where(rows, |r| r.metadata.as_deref(), keep, offset, limit)
            };
            present_rows(conn, workspace, &base, rows)
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows))
}

#[utoipa::path(
    tag = "examples",
    params(
        ("example_id" = Uuid, Path, description = "Example id"),
        ("as_of" = Option<String>, Query, description = "A time: the example as it was then")
    ),
    responses(
        (status = 200, description = "The example", body = ExampleOut),
        (status = 404, description = "No such example", body = ErrorBody)
    )
)]
#[get("/examples/{example_id}")]
pub async fn read_example(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let as_of = QueryParams::parse(req.query_string())
        .get("as_of")
        .map(|t| {
            parse_time_str(t)
                .ok_or_else(|| ApiError::unprocessable(format!("as_of: {t:?} is not a date-time")))
        })
        .transpose()?;
    let base = base_url(&req);
    let example = state
        .db
        .run(move |conn| {
            let filter = ExampleFilter {
                ids: vec![id.to_string()],
                as_of,
                limit: 1,
                ..Default::default()
            };
            let rows = store::list_examples(conn, &workspace.id(), &filter)?;
            present_rows(conn, workspace, &base, rows)?
                .pop()
                .ok_or_else(|| ApiError::not_found(format!("example {id} not found")))
        })
        .await?;
    Ok(HttpResponse::Ok().json(example))
}

/// Fields to change; absent or null ones stay.
#[derive(Deserialize, ToSchema)]
pub struct ExampleUpdate {
    pub id: Option<Uuid>,
    pub dataset_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub split: Option<Value>,
}

fn update_write(id: Uuid, body: ExampleUpdate, label: &str) -> ApiResult<ExampleWrite> {
    Ok(ExampleWrite {
        id: id.to_string(),
        dataset_id: body.dataset_id.map(|d| d.to_string()),
        inputs: object_text(body.inputs),
        outputs: object_text(body.outputs),
        metadata: object_text(body.metadata),
        splits: splits_of(body.split, label)?,
        ..Default::default()
    })
}

async fn update_many(
    state: &State,
    workspace: Workspace,
    writes: Vec<ExampleWrite>,
) -> ApiResult<usize> {
    state
        .db
        .run(move |conn| {
            let updated =
                store::update_examples(conn, &workspace.id(), writes)?.map_err(write_error)?;
            Ok(updated.len())
        })
        .await
}

#[utoipa::path(
    tag = "examples",
    params(("example_id" = Uuid, Path, description = "Example id")),
    request_body = ExampleUpdate,
    responses(
        (status = 200, description = "Updated"),
        (status = 404, description = "No such example", body = ErrorBody)
    )
)]
#[patch("/examples/{example_id}")]
pub async fn update_example(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<ExampleUpdate>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let write = update_write(id, body.into_inner(), "example update")?;
    update_many(&state, workspace, vec![write]).await?;
    Ok(HttpResponse::Ok().json(json!({"example_id": id})))
}

#[utoipa::path(
    tag = "examples",
    request_body = [ExampleUpdate],
    responses(
        (status = 200, description = "Updated, all or none"),
        (status = 404, description = "An example is missing", body = ErrorBody),
        (status = 422, description = "An update has no id", body = ErrorBody)
    )
)]
#[patch("/examples/bulk")]
pub async fn update_examples_bulk(
    state: State,
    workspace: Workspace,
    body: web::Json<Vec<ExampleUpdate>>,
) -> ApiResult<HttpResponse> {
    let writes = body
        .into_inner()
        .into_iter()
        .enumerate()
        .map(|(index, update)| {
            let label = format!("example update [{index}]");
            let id = update
                .id
                .ok_or_else(|| ApiError::unprocessable(format!("{label}: id is required")))?;
            update_write(id, update, &label)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let count = update_many(&state, workspace, writes).await?;
    Ok(HttpResponse::Ok().json(json!({"count": count})))
}

async fn delete_many(
    state: &State,
    workspace: Workspace,
    ids: Vec<String>,
) -> ApiResult<HttpResponse> {
    state
        .db
        .run(move |conn| store::delete_examples(conn, &workspace.id(), &ids)?.map_err(write_error))
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

#[utoipa::path(
    tag = "examples",
    params(("example_id" = Uuid, Path, description = "Example id")),
    responses(
        (status = 200, description = "Deleted from the next version on"),
        (status = 404, description = "No such example", body = ErrorBody)
    )
)]
#[delete("/examples/{example_id}")]
pub async fn delete_example(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    delete_many(&state, workspace, vec![path.into_inner().to_string()]).await
}

#[utoipa::path(
    tag = "examples",
    params(("example_ids" = Vec<Uuid>, Query, description = "Examples to delete")),
    responses(
        (status = 200, description = "Deleted, all or none"),
        (status = 404, description = "An example is missing", body = ErrorBody)
    )
)]
#[delete("/examples")]
pub async fn delete_examples(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let ids: Vec<String> = QueryParams::parse(req.query_string())
        .uuids("example_ids")?
        .iter()
        .map(Uuid::to_string)
        .collect();
    if ids.is_empty() {
        return Err(ApiError::unprocessable(
            "query parameter example_ids is required",
        ));
    }
    delete_many(&state, workspace, ids).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_examples_bulk)
        .service(update_examples_bulk)
        .service(create_example)
        .service(list_examples)
        .service(delete_examples)
        .service(read_example_attachment)
        .service(read_example)
        .service(update_example)
        .service(delete_example);
}

/// The bytes of an example's file, at the revision the link names.
#[utoipa::path(
    tag = "examples",
    params(
        ("example_id" = Uuid, Path, description = "Example id"),
        ("name" = String, Path, description = "Attachment name"),
        ("revision" = i64, Query, description = "The revision, as in attachment_urls"),
        ("tenant" = Option<Uuid>, Query, description = "Workspace, as in attachment_urls")
    ),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file", body = ErrorBody)
    )
)]
#[get("/examples/{example_id}/attachments/{name}")]
pub async fn read_example_attachment(
    state: State,
    path: web::Path<(Uuid, String)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (id, name) = path.into_inner();
    let params = QueryParams::parse(req.query_string());
    let workspace = super::link_workspace(&params)?;
    let revision = params
        .int("revision")?
        .ok_or_else(|| ApiError::unprocessable("query parameter revision is required"))?;
    let file = state
        .db
        .run(move |conn| {
            store::attachment(conn, &workspace.id(), &id.to_string(), revision, &name)?
                .ok_or_else(|| ApiError::not_found(format!("example {id} has no file {name:?}")))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .body(file.data))
}

/// Parses the multipart form of the platform example endpoints: per example a `{id}` part
/// (JSON: created_at, metadata, split, source_run_id, ...), optional `{id}.inputs`,
/// `{id}.outputs`, `{id}.attachment.{name}` (or `attachments.`) and, on update,
/// `{id}.attachments_operations` (`{"rename": {old: new}, "retain": [name]}`).
fn examples_from_parts(
    parts: &[crate::ingest::multipart::Part<'_>],
    dataset_id: &str,
) -> ApiResult<Vec<(ExampleWrite, bool)>> {
    let mut order: Vec<String> = Vec::new();
    let mut writes: std::collections::HashMap<String, (ExampleWrite, bool, bool)> =
        Default::default();
    let bad = |part: &str, what: String| ApiError::unprocessable(format!("part {part:?}: {what}"));
    for part in parts {
        let (id_text, field) = part.name.split_once('.').unwrap_or((part.name, ""));
        let id = Uuid::parse_str(id_text)
            .map_err(|_| bad(part.name, format!("{id_text:?} is not an example id")))?
            .to_string();
        let entry = writes.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            let write = ExampleWrite {
                id: id.clone(),
                dataset_id: Some(dataset_id.to_string()),
                ..Default::default()
            };
            (write, false, false)
        });
        let json = |what: &str| -> ApiResult<Value> {
            serde_json::from_slice(part.body)
                .map_err(|e| bad(part.name, format!("{what} is not valid JSON ({e})")))
        };
        let object = |what: &str| -> ApiResult<String> {
            match json(what)? {
                value @ Value::Object(_) => Ok(value.to_string()),
                _ => Err(bad(part.name, format!("{what} must be a JSON object"))),
            }
        };
        match field {
            "" => {
                entry.1 = true;
                let Value::Object(mut head) = json("the example")? else {
                    return Err(bad(part.name, "the example must be a JSON object".into()));
                };
                let label = format!("part {:?}", part.name);
                entry.0.splits = splits_of(head.remove("split"), &label)?;
                if let Some(metadata) = head.remove("metadata").filter(|m| !m.is_null()) {
                    if !metadata.is_object() {
                        return Err(bad(part.name, "metadata must be a JSON object".into()));
                    }
                    entry.0.metadata = Some(metadata.to_string());
                }
                if let Some(run) = head.remove("source_run_id").filter(|r| !r.is_null()) {
                    let run = run
                        .as_str()
                        .and_then(|r| Uuid::parse_str(r).ok())
                        .ok_or_else(|| bad(part.name, "source_run_id must be a UUID".into()))?;
                    entry.0.source_run_id = Some(run.to_string());
                }
                if let Some(created) = head.remove("created_at").filter(|c| !c.is_null()) {
                    entry.0.created_at =
                        Some(created.as_str().and_then(parse_time_str).ok_or_else(|| {
                            bad(part.name, "created_at must be a date-time".into())
                        })?);
                }
                if head.get("use_source_run_io").and_then(Value::as_bool) == Some(true) {
                    entry.2 = true;
                }
            }
            "inputs" => entry.0.inputs = Some(object("inputs")?),
            "outputs" => entry.0.outputs = Some(object("outputs")?),
            "attachments_operations" => {
                let operations = json("attachments_operations")?;
                let plan = entry.0.attachments.get_or_insert_with(Default::default);
                if let Some(rename) = operations.get("rename").and_then(Value::as_object) {
                    for (old, new) in rename {
                        let new = new
                            .as_str()
                            .ok_or_else(|| bad(part.name, "rename values must be names".into()))?;
                        plan.rename.insert(old.clone(), new.to_string());
                    }
                }
                if let Some(retain) = operations.get("retain").and_then(Value::as_array) {
                    plan.retain = retain
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect();
                }
            }
            other => {
                let name = other
                    .strip_prefix("attachment.")
                    .or_else(|| other.strip_prefix("attachments."))
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| bad(part.name, format!("unknown field {other:?}")))?;
                let content_type = part
                    .content_type
                    .and_then(|ct| ct.split(';').next())
                    .map(str::trim)
                    .filter(|ct| !ct.is_empty())
                    .unwrap_or("application/octet-stream");
                entry
                    .0
                    .attachments
                    .get_or_insert_with(Default::default)
                    .uploads
                    .push((
                        name.to_string(),
                        content_type.to_string(),
                        part.body.to_vec(),
                    ));
            }
        }
    }
    order
        .into_iter()
        .map(|id| {
            let (write, has_head, use_run_io) = writes.remove(&id).expect("listed above");
            if !has_head {
                return Err(ApiError::unprocessable(format!(
                    "example {id}: its {id} part is missing"
                )));
            }
            Ok((write, use_run_io))
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct UploadResult {
    pub example_ids: Vec<String>,
    pub count: usize,
    pub as_of: Option<String>,
}

async fn multipart_examples(
    state: &State,
    workspace: Workspace,
    dataset_id: Uuid,
    req: &HttpRequest,
    body: &[u8],
) -> ApiResult<Vec<(ExampleWrite, bool)>> {
    use crate::ingest::multipart;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multipart::boundary_from_content_type(content_type)
        .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    let parts =
        multipart::parse(body, &boundary).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let writes = examples_from_parts(&parts, &dataset_id.to_string())?;
    state
        .db
        .run(move |conn| require(conn, workspace, dataset_id).map(|_| ()))
        .await?;
    Ok(writes)
}

/// Creates examples from a multipart form (with files); all or nothing, one version.
#[utoipa::path(
    tag = "examples",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    request_body(content_type = "multipart/form-data", description = "Parts per example: {id}, {id}.inputs, {id}.outputs, {id}.attachment.{name}"),
    responses(
        (status = 201, description = "Created", body = UploadResult),
        (status = 404, description = "No such dataset or source run", body = ErrorBody),
        (status = 409, description = "An id is taken", body = ErrorBody),
        (status = 422, description = "Invalid example", body = ErrorBody)
    )
)]
#[post("/datasets/{dataset_id}/examples")]
pub async fn upload_examples(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let dataset_id = path.into_inner();
    let writes = multipart_examples(&state, workspace, dataset_id, &req, &body).await?;
    let result = state
        .db
        .run(move |conn| {
            let mut ready = Vec::new();
            for (mut write, use_run_io) in writes {
                if use_run_io {
                    let run_id = write.source_run_id.clone().ok_or_else(|| {
                        ApiError::unprocessable(format!(
                            "example {}: use_source_run_io needs source_run_id",
                            write.id
                        ))
                    })?;
                    let run = crate::db::runs::find(conn, &workspace.id(), &run_id)?.ok_or_else(
                        || ApiError::not_found(format!("source run {run_id} not found")),
                    )?;
                    write.inputs = run.inputs.or(write.inputs);
                    write.outputs = run.outputs.or(write.outputs);
                }
                ready.push(write);
            }
            let mut groups = std::collections::BTreeMap::new();
            groups.insert(dataset_id.to_string(), ready);
            let created =
                store::create_examples_in(conn, &workspace.id(), groups)?.map_err(write_error)?;
            Ok(UploadResult {
                as_of: created.first().map(|r| format_micros(r.valid_from)),
                count: created.len(),
                example_ids: created.into_iter().map(|r| r.example_id).collect(),
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(result))
}

/// Changes examples from a multipart form: absent parts keep their values; files follow
/// `attachments_operations`, and new uploads without operations replace the old files.
#[utoipa::path(
    tag = "examples",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    request_body(content_type = "multipart/form-data", description = "Parts per example: {id}, {id}.inputs, {id}.outputs, {id}.attachment.{name}, {id}.attachments_operations"),
    responses(
        (status = 201, description = "Updated", body = UploadResult),
        (status = 404, description = "No such example in the dataset", body = ErrorBody),
        (status = 422, description = "Invalid change", body = ErrorBody)
    )
)]
#[patch("/datasets/{dataset_id}/examples")]
pub async fn update_examples_multipart(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let dataset_id = path.into_inner();
    let writes: Vec<ExampleWrite> = multipart_examples(&state, workspace, dataset_id, &req, &body)
        .await?
        .into_iter()
        .map(|(write, _)| write)
        .collect();
    let result = state
        .db
        .run(move |conn| {
            let updated =
                store::update_examples(conn, &workspace.id(), writes)?.map_err(write_error)?;
            Ok(UploadResult {
                as_of: updated.first().map(|r| format_micros(r.valid_from)),
                count: updated.len(),
                example_ids: updated.into_iter().map(|r| r.example_id).collect(),
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(result))
}

#[derive(Deserialize, ToSchema)]
pub struct HardDelete {
    pub example_ids: Vec<Uuid>,
    pub hard_delete: bool,
}

/// Deletes examples from every version of their dataset, files included.
#[utoipa::path(
    tag = "examples",
    request_body = HardDelete,
    responses(
        (status = 200, description = "Deleted", body = UploadResult),
        (status = 422, description = "hard_delete must be true", body = ErrorBody)
    )
)]
#[post("/datasets/examples/delete")]
pub async fn hard_delete_examples(
    state: State,
    workspace: Workspace,
    body: web::Json<HardDelete>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if !body.hard_delete {
        return Err(ApiError::unprocessable(
            "hard_delete must be true here; DELETE /examples deletes from the next version on",
        ));
    }
    let ids: Vec<String> = body.example_ids.iter().map(Uuid::to_string).collect();
    let deleted = state
        .db
        .run(move |conn| Ok(store::hard_delete_examples(conn, &workspace.id(), &ids)?))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"count": deleted.len(), "example_ids": deleted})))
}

/// Routes the SDKs reach under `/v1/platform` (or `/api/v1/platform`).
pub fn platform_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(hard_delete_examples)
        .service(upload_examples)
        .service(update_examples_multipart);
}
