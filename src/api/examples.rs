//! Examples (`/examples`): the JSON endpoints. Every write makes a new dataset version.

use std::collections::{BTreeMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::datasets::{require, resolve_as_of};
use super::params::QueryParams;
use super::{State, Workspace};
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
}

pub fn present(row: ExampleRevisionRow) -> ExampleOut {
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
    }
}

pub fn write_error(err: ExampleWriteError) -> ApiError {
    match err {
        ExampleWriteError::AlreadyExists(id) => {
            ApiError::conflict(format!("example {id} already exists"))
        }
        ExampleWriteError::NotFound(id) => {
            ApiError::not_found(format!("example {id} not found in that dataset"))
        }
        ExampleWriteError::Invalid(problem) => ApiError::unprocessable(problem),
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
    bodies: Vec<ExampleCreate>,
) -> ApiResult<Vec<ExampleOut>> {
    state
        .db
        .run(move |conn| {
            let by_dataset = create_writes(conn, workspace, bodies)?;
            let created = store::create_examples_in(conn, &workspace.id(), by_dataset)?
                .map_err(write_error)?;
            Ok(created.into_iter().map(present).collect())
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
) -> ApiResult<HttpResponse> {
    let mut created = create_many(&state, workspace, vec![body.into_inner()]).await?;
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
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(create_many(&state, workspace, body.into_inner()).await?))
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
    for unsupported in ["metadata", "filter", "full_text_contains"] {
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
            Ok(store::list_examples(conn, &workspace.id(), &filter)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(present).collect::<Vec<_>>()))
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
    let row = state
        .db
        .run(move |conn| {
            let filter = ExampleFilter {
                ids: vec![id.to_string()],
                as_of,
                limit: 1,
                ..Default::default()
            };
            store::list_examples(conn, &workspace.id(), &filter)?
                .pop()
                .ok_or_else(|| ApiError::not_found(format!("example {id} not found")))
        })
        .await?;
    Ok(HttpResponse::Ok().json(present(row)))
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
        .service(read_example)
        .service(update_example)
        .service(delete_example);
}
