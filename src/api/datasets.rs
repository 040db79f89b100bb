//! Datasets (`/datasets`), their versions, tags and splits.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::QueryParams;
use super::{State, Workspace};
use crate::db::DbConnection;
use crate::db::datasets::{self as store, DatasetFilter};
use crate::db::models::DatasetRow;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::time::{format_micros, now_micros, parse_time_str};

const DATA_TYPES: [&str; 3] = ["kv", "llm", "chat"];

#[derive(Serialize, ToSchema)]
pub struct DatasetOut {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub data_type: String,
    pub created_at: String,
    pub modified_at: String,
    pub example_count: i64,
    pub session_count: i64,
    pub last_session_start_time: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub inputs_schema_definition: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub outputs_schema_definition: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub transformations: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub tenant_id: String,
}

fn json_of(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn present(conn: &mut DbConnection, row: DatasetRow) -> ApiResult<DatasetOut> {
    let counts = store::counts(conn, &row.workspace_id, &row.id)?;
    Ok(DatasetOut {
        id: row.id,
        name: row.name,
        description: row.description,
        data_type: row.data_type,
        created_at: format_micros(row.created_at),
        modified_at: format_micros(row.modified_at),
        example_count: counts.example_count,
        session_count: counts.session_count,
        last_session_start_time: counts.last_session_start_time.map(format_micros),
        inputs_schema_definition: json_of(row.inputs_schema),
        outputs_schema_definition: json_of(row.outputs_schema),
        transformations: json_of(row.transformations),
        metadata: json_of(row.metadata),
        tenant_id: row.workspace_id,
    })
}

/// The dataset, or 404.
pub fn require(conn: &mut DbConnection, workspace: Workspace, id: Uuid) -> ApiResult<DatasetRow> {
    store::find(conn, &workspace.id(), &id.to_string())?
        .ok_or_else(|| ApiError::not_found(format!("dataset {id} not found")))
}

/// Runs `work` on the database once the dataset is known to exist in the workspace (404 if not).
async fn on_dataset<T, F>(state: &State, workspace: Workspace, id: Uuid, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut DbConnection, DatasetRow) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    state
        .db
        .run(move |conn| {
            let dataset = require(conn, workspace, id)?;
            work(conn, dataset)
        })
        .await
}

#[derive(Deserialize, ToSchema)]
pub struct DatasetCreate {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub data_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub inputs_schema_definition: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub outputs_schema_definition: Option<Map<String, Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub transformations: Option<Vec<Value>>,
    /// The SDKs send metadata as `extra.metadata`.
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

fn check_data_type(data_type: &str) -> ApiResult<()> {
    if DATA_TYPES.contains(&data_type) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "data_type must be one of kv, llm, chat; got {data_type:?}"
        )))
    }
}

#[utoipa::path(
    tag = "datasets",
    request_body = DatasetCreate,
    responses(
        (status = 200, description = "The dataset", body = DatasetOut),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 422, description = "Invalid dataset", body = ErrorBody)
    )
)]
#[post("/datasets")]
pub async fn create_dataset(
    state: State,
    workspace: Workspace,
    body: web::Json<DatasetCreate>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let name = body
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::unprocessable("name: a dataset needs a non-empty name"))?;
    let data_type = body.data_type.unwrap_or_else(|| "kv".into());
    check_data_type(&data_type)?;
    let metadata = body.metadata.or_else(|| {
        body.extra
            .as_ref()
            .and_then(|e| e.get("metadata"))
            .and_then(Value::as_object)
            .cloned()
    });
    let text = |m: Option<Map<String, Value>>| m.map(|m| Value::Object(m).to_string());
    let (inputs_schema, outputs_schema) = (
        text(body.inputs_schema_definition),
        text(body.outputs_schema_definition),
    );
    crate::schema_check::DatasetSchemas::from_texts(
        inputs_schema.as_deref(),
        outputs_schema.as_deref(),
    )
    .map_err(ApiError::Unprocessable)?;
    let now = now_micros();
    let row = DatasetRow {
        id: body.id.unwrap_or_else(Uuid::now_v7).to_string(),
        workspace_id: workspace.id(),
        name: name.clone(),
        description: body.description,
        data_type,
        inputs_schema,
        outputs_schema,
        transformations: body.transformations.map(|t| Value::Array(t).to_string()),
        metadata: text(metadata),
        created_at: now,
        modified_at: now,
    };
    let out = state
        .db
        .run(move |conn| match store::insert(conn, &row)? {
            Some(row) => present(conn, row),
            None => Err(ApiError::conflict(format!(
                "a dataset named {name:?} already exists"
            ))),
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Creates a dataset from a CSV file: multipart fields `file`, `input_keys` and `output_keys`
/// (repeated), and optional `name` (default: the file name), `description`, `data_type`, `id`.
#[utoipa::path(
    tag = "datasets",
    request_body(content_type = "multipart/form-data", description = "file, input_keys, output_keys, name, description, data_type, id"),
    responses(
        (status = 200, description = "The dataset with one example per row", body = DatasetOut),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 422, description = "Malformed CSV or missing column", body = ErrorBody)
    )
)]
#[post("/datasets/upload")]
pub async fn upload_csv(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    use crate::ingest::multipart;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multipart::boundary_from_content_type(content_type)
        .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    let parts =
        multipart::parse(&body, &boundary).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let text_of = |name: &str| -> Vec<String> {
        parts
            .iter()
            .filter(|p| p.name == name)
            .map(|p| String::from_utf8_lossy(p.body).trim().to_string())
            .collect()
    };
    let file = parts
        .iter()
        .find(|p| p.name == "file")
        .ok_or_else(|| ApiError::unprocessable("the form has no file field"))?;
    let input_keys = text_of("input_keys");
    if input_keys.is_empty() {
        return Err(ApiError::unprocessable(
            "input_keys: name at least one input column",
        ));
    }
    let output_keys = text_of("output_keys");
    let rows = crate::dataset_files::import_csv(file.body, &input_keys, &output_keys)
        .map_err(ApiError::Unprocessable)?;
    let file_name = file.filename.unwrap_or("upload.csv").to_string();
    let name = text_of("name")
        .pop()
        .filter(|n| !n.is_empty())
        .unwrap_or(file_name);
    let data_type = text_of("data_type").pop().unwrap_or_else(|| "kv".into());
    check_data_type(&data_type)?;
    let id = match text_of("id").pop() {
        Some(id) => Uuid::parse_str(&id)
            .map_err(|_| ApiError::unprocessable(format!("id: {id:?} is not a UUID")))?,
        None => Uuid::now_v7(),
    };
    let now = now_micros();
    let row = DatasetRow {
        id: id.to_string(),
        workspace_id: workspace.id(),
        name: name.clone(),
        description: text_of("description").pop(),
        data_type,
        inputs_schema: None,
        outputs_schema: None,
        transformations: None,
        metadata: None,
        created_at: now,
        modified_at: now,
    };
    let writes: Vec<store::ExampleWrite> = rows
        .into_iter()
        .map(|(inputs, outputs)| store::ExampleWrite {
            id: Uuid::now_v7().to_string(),
            inputs: Some(Value::Object(inputs).to_string()),
            outputs: Some(Value::Object(outputs).to_string()),
            ..Default::default()
        })
        .collect();
    let out = state
        .db
        .run(
            move |conn| match store::insert_with_examples(conn, &row, writes)? {
                Some(row) => present(conn, row),
                None => Err(ApiError::conflict(format!(
                    "a dataset named {name:?} already exists"
                ))),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "datasets",
    params(
        ("id" = Option<Vec<Uuid>>, Query, description = "Dataset ids"),
        ("name" = Option<String>, Query, description = "Exact name"),
        ("name_contains" = Option<String>, Query, description = "Name substring"),
        ("data_type" = Option<Vec<String>>, Query, description = "kv, llm or chat"),
        ("sort_by" = Option<String>, Query, description = "name or created_at"),
        ("sort_by_desc" = Option<bool>, Query, description = "Descending (default true)"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "Datasets", body = [DatasetOut]),
        (status = 422, description = "Bad parameter", body = ErrorBody)
    )
)]
#[get("/datasets")]
pub async fn list_datasets(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let metadata = params
        .get("metadata")
        .map(crate::json_match::parse_filter)
        .transpose()
        .map_err(ApiError::Unprocessable)?;
    let data_types: Vec<String> = params
        .all("data_type")
        .into_iter()
        .map(str::to_string)
        .collect();
    for data_type in &data_types {
        check_data_type(data_type)?;
    }
    let (sort_by_name, descending) = params.name_or_time_order("created_at")?;
    let filter = DatasetFilter {
        ids: params.uuids("id")?.iter().map(Uuid::to_string).collect(),
        name: params.string("name"),
        name_contains: params.string("name_contains"),
        data_types,
        sort_by_name,
        descending,
        limit,
        offset,
    };
    let out = state
        .db
        .run(move |conn| {
            let rows = match &metadata {
                None => store::list(conn, &workspace.id(), &filter)?,
                // Metadata is matched here, then paged: a workspace has few datasets.
                Some(wanted) => {
                    let all = DatasetFilter {
                        limit: i64::MAX,
                        offset: 0,
                        ..filter
                    };
                    let rows = store::list(conn, &workspace.id(), &all)?;
                    crate::json_match::page_where(
                        rows,
                        |r| r.metadata.as_deref(),
                        |m| crate::json_match::contains(m, wanted),
                        offset,
                        limit,
                    )
                }
            };
            rows.into_iter()
                .map(|row| present(conn, row))
                .collect::<ApiResult<Vec<_>>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The dataset", body = DatasetOut),
        (status = 404, description = "No such dataset", body = ErrorBody)
    )
)]
#[get("/datasets/{dataset_id}")]
pub async fn read_dataset(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let out = state
        .db
        .run(move |conn| {
            let row = require(conn, workspace, id)?;
            present(conn, row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Fields to change; absent or null ones stay.
#[derive(Deserialize, ToSchema)]
pub struct DatasetUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub inputs_schema_definition: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub outputs_schema_definition: Option<Map<String, Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub transformations: Option<Vec<Value>>,
}

#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    request_body = DatasetUpdate,
    responses(
        (status = 200, description = "The updated dataset", body = DatasetOut),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody)
    )
)]
#[patch("/datasets/{dataset_id}")]
pub async fn update_dataset(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<DatasetUpdate>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let body = body.into_inner();
    if body.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::unprocessable(
            "name: a dataset name cannot be empty",
        ));
    }
    let out = state
        .db
        .run(move |conn| {
            let mut row = require(conn, workspace, id)?;
            if let Some(name) = body.name.map(|n| n.trim().to_string()) {
                let mut same_name = DatasetFilter {
                    name: Some(name.clone()),
                    limit: 1,
                    ..Default::default()
                };
                same_name.descending = true;
                if store::list(conn, &row.workspace_id, &same_name)?
                    .iter()
                    .any(|other| other.id != row.id)
                {
                    return Err(ApiError::conflict(format!(
                        "a dataset named {name:?} already exists"
                    )));
                }
                row.name = name;
            }
            let text = |m: Map<String, Value>| Some(Value::Object(m).to_string());
            if body.description.is_some() {
                row.description = body.description;
            }
            if let Some(metadata) = body.metadata {
                row.metadata = text(metadata);
            }
            if let Some(schema) = body.inputs_schema_definition {
                row.inputs_schema = text(schema);
            }
            if let Some(schema) = body.outputs_schema_definition {
                row.outputs_schema = text(schema);
            }
            if let Some(transformations) = body.transformations {
                row.transformations = Some(Value::Array(transformations).to_string());
            }
            crate::schema_check::DatasetSchemas::from_texts(
                row.inputs_schema.as_deref(),
                row.outputs_schema.as_deref(),
            )
            .map_err(ApiError::Unprocessable)?;
            row.modified_at = now_micros().max(row.modified_at);
            store::update(conn, &row)?;
            present(conn, row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "Deleted with its examples and versions"),
        (status = 404, description = "No such dataset", body = ErrorBody)
    )
)]
#[delete("/datasets/{dataset_id}")]
pub async fn delete_dataset(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::delete_by_id(
        state,
        workspace,
        path.into_inner(),
        "dataset",
        store::delete,
    )
    .await
}

#[derive(Serialize, ToSchema)]
pub struct DatasetVersionOut {
    pub as_of: String,
    pub tags: Vec<String>,
}

#[utoipa::path(
    tag = "datasets",
    params(
        ("dataset_id" = Uuid, Path, description = "Dataset id"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "Versions, newest first", body = [DatasetVersionOut]),
        (status = 404, description = "No such dataset", body = ErrorBody)
    )
)]
#[get("/datasets/{dataset_id}/versions")]
pub async fn list_versions(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let (limit, offset) = QueryParams::parse(req.query_string()).page()?;
    let versions = on_dataset(&state, workspace, id, move |conn, _| {
        Ok(store::versions(conn, &id.to_string(), limit, offset)?)
    })
    .await?;
    let out: Vec<DatasetVersionOut> = versions
        .into_iter()
        .map(|(as_of, tags)| DatasetVersionOut {
            as_of: format_micros(as_of),
            tags,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// A point in a dataset's history given as a time or a tag (`latest` included).
pub fn resolve_as_of(conn: &mut DbConnection, dataset_id: &str, as_of: &str) -> ApiResult<i64> {
    if let Some(at) = parse_time_str(as_of) {
        return Ok(at);
    }
    store::tagged_version(conn, dataset_id, as_of)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "dataset {dataset_id} has no version tagged {as_of:?}"
        ))
    })
}

#[utoipa::path(
    tag = "datasets",
    params(
        ("dataset_id" = Uuid, Path, description = "Dataset id"),
        ("as_of" = Option<String>, Query, description = "A time: the version in force then"),
        ("tag" = Option<String>, Query, description = "A tag, or latest")
    ),
    responses(
        (status = 200, description = "The version", body = DatasetVersionOut),
        (status = 404, description = "No such dataset or version", body = ErrorBody),
        (status = 422, description = "Neither or both of as_of and tag", body = ErrorBody)
    )
)]
#[get("/datasets/{dataset_id}/version")]
pub async fn read_version(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let params = QueryParams::parse(req.query_string());
    let point = match (params.string("as_of"), params.string("tag")) {
        (Some(time), None) => Ok(parse_time_str(&time).ok_or_else(|| {
            ApiError::unprocessable(format!("as_of: {time:?} is not a date-time"))
        })?),
        (None, Some(tag)) => Err(tag),
        _ => return Err(ApiError::unprocessable("give exactly one of as_of and tag")),
    };
    let (version, tags) = on_dataset(&state, workspace, id, move |conn, _| {
        let dataset = id.to_string();
        let at = match point {
            Ok(time) => time,
            Err(tag) => resolve_as_of(conn, &dataset, &tag)?,
        };
        store::version_at(conn, &dataset, at)?.ok_or_else(|| {
            ApiError::not_found(format!("dataset {id} has no version at that point"))
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(DatasetVersionOut {
        as_of: format_micros(version),
        tags,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct TagUpdate {
    /// A time that is exactly one of the dataset's versions, or a tag.
    pub as_of: String,
    pub tag: String,
}

#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    request_body = TagUpdate,
    responses(
        (status = 200, description = "The tagged version", body = DatasetVersionOut),
        (status = 404, description = "No such dataset or version", body = ErrorBody)
    )
)]
#[put("/datasets/{dataset_id}/tags")]
pub async fn update_tag(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<TagUpdate>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let body = body.into_inner();
    if body.tag.trim().is_empty() || body.tag == "latest" {
        return Err(ApiError::unprocessable(
            "tag must be non-empty and not \"latest\"",
        ));
    }
    let tag = body.tag.clone();
    let (version, tags) = on_dataset(&state, workspace, id, move |conn, _| {
        let dataset = id.to_string();
        let at = resolve_as_of(conn, &dataset, &body.as_of)?;
        if !store::set_tag(conn, &dataset, &body.tag, at)? {
            return Err(ApiError::not_found(format!(
                "dataset {id} has no version at exactly {}",
                body.as_of
            )));
        }
        Ok(store::version_at(conn, &dataset, at)?.unwrap_or((at, vec![tag])))
    })
    .await?;
    Ok(HttpResponse::Ok().json(DatasetVersionOut {
        as_of: format_micros(version),
        tags,
    }))
}

#[utoipa::path(
    tag = "datasets",
    params(
        ("dataset_id" = Uuid, Path, description = "Dataset id"),
        ("as_of" = Option<String>, Query, description = "A time or tag")
    ),
    responses(
        (status = 200, description = "Split names", body = [String]),
        (status = 404, description = "No such dataset", body = ErrorBody)
    )
)]
#[get("/datasets/{dataset_id}/splits")]
pub async fn list_splits(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let as_of = QueryParams::parse(req.query_string()).string("as_of");
    let names = on_dataset(&state, workspace, id, move |conn, _| {
        let dataset = id.to_string();
        let at = as_of
            .map(|a| resolve_as_of(conn, &dataset, &a))
            .transpose()?;
        Ok(store::splits(conn, &workspace.id(), &dataset, at)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(names))
}

#[derive(Deserialize, ToSchema)]
pub struct SplitUpdate {
    pub split_name: String,
    pub examples: Vec<Uuid>,
    #[serde(default)]
    pub remove: bool,
}

/// Adds the split to (or removes it from) the listed examples, as one new version.
#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    request_body = SplitUpdate,
    responses(
        (status = 200, description = "The examples changed", body = [String]),
        (status = 404, description = "No such dataset or example", body = ErrorBody)
    )
)]
#[put("/datasets/{dataset_id}/splits")]
pub async fn update_splits(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<SplitUpdate>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let body = body.into_inner();
    if body.split_name.trim().is_empty() || body.split_name.contains(',') {
        return Err(ApiError::unprocessable(
            "split_name must be non-empty and contain no comma",
        ));
    }
    let changed = on_dataset(&state, workspace, id, move |conn, _| {
        let ids: Vec<String> = body.examples.iter().map(Uuid::to_string).collect();
        let filter = store::ExampleFilter {
            dataset_id: Some(id.to_string()),
            ids: ids.clone(),
            limit: i64::MAX,
            ..Default::default()
        };
        let current = store::list_examples(conn, &workspace.id(), &filter)?;
        if current.len() != ids.len() {
            return Err(ApiError::not_found(format!(
                "not every example listed is in dataset {id}"
            )));
        }
        let writes = current
            .into_iter()
            .map(|row| {
                let mut splits: Vec<String> = row
                    .splits
                    .split(',')
                    .filter(|s| !s.is_empty() && *s != body.split_name)
                    .map(str::to_string)
                    .collect();
                if !body.remove {
                    splits.push(body.split_name.clone());
                }
                store::ExampleWrite {
                    id: row.example_id,
                    splits: Some(splits),
                    ..Default::default()
                }
            })
            .collect();
        match store::update_examples(conn, &workspace.id(), writes)? {
            Ok(rows) => Ok(rows.into_iter().map(|r| r.example_id).collect::<Vec<_>>()),
            Err(e) => Err(super::examples::write_error(e)),
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(changed))
}

/// Every example of the dataset at a version (`as_of`: a time or tag; default the latest).
async fn export_rows(
    state: &State,
    workspace: Workspace,
    id: Uuid,
    as_of: Option<String>,
) -> ApiResult<Vec<crate::dataset_files::ExampleData>> {
    let rows = on_dataset(state, workspace, id, move |conn, _| {
        let dataset = id.to_string();
        let at = as_of
            .map(|a| resolve_as_of(conn, &dataset, &a))
            .transpose()?;
        let filter = store::ExampleFilter {
            dataset_id: Some(dataset),
            as_of: at,
            limit: i64::MAX,
            ..Default::default()
        };
        Ok(store::list_examples(conn, &workspace.id(), &filter)?)
    })
    .await?;
    let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    Ok(rows
        .into_iter()
        .map(|r| crate::dataset_files::ExampleData {
            id: r.example_id,
            inputs: serde_json::from_str(&r.inputs).unwrap_or(Value::Null),
            outputs: json(r.outputs),
            metadata: json(r.metadata),
        })
        .collect())
}

/// The dataset in OpenAI's fine-tuning format (JSON lines of `{"messages": [...]}`).
#[utoipa::path(
    tag = "datasets",
    params(
        ("dataset_id" = Uuid, Path, description = "Dataset id"),
        ("as_of" = Option<String>, Query, description = "A time or tag")
    ),
    responses(
        (status = 200, description = "JSON lines", content_type = "application/jsonl"),
        (status = 404, description = "No such dataset", body = ErrorBody)
    )
)]
#[get("/datasets/{dataset_id}/openai_ft")]
pub async fn export_openai_finetuning(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let as_of = QueryParams::parse(req.query_string()).string("as_of");
    let rows = export_rows(&state, workspace, path.into_inner(), as_of).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/jsonl")
        .body(crate::dataset_files::to_openai_finetuning(&rows)))
}

/// The dataset as `csv`, `jsonl` or `openai` (fine-tuning) text.
#[utoipa::path(
    tag = "datasets",
    params(
        ("dataset_id" = Uuid, Path, description = "Dataset id"),
        ("format" = String, Query, description = "csv, jsonl or openai"),
        ("as_of" = Option<String>, Query, description = "A time or tag")
    ),
    responses(
        (status = 200, description = "The export"),
        (status = 404, description = "No such dataset", body = ErrorBody),
        (status = 422, description = "Unknown format", body = ErrorBody)
    )
)]
#[get("/datasets/{dataset_id}/export")]
pub async fn export_dataset(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let format = params.string("format").unwrap_or_else(|| "jsonl".into());
    if !["csv", "jsonl", "openai"].contains(&format.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "format must be csv, jsonl or openai, got {format:?}"
        )));
    }
    let rows = export_rows(&state, workspace, path.into_inner(), params.string("as_of")).await?;
    let (content_type, body) = match format.as_str() {
        "csv" => (
            "text/csv; charset=utf-8",
            crate::dataset_files::to_csv(&rows).map_err(ApiError::internal)?,
        ),
        "openai" => (
            "application/jsonl",
            crate::dataset_files::to_openai_finetuning(&rows),
        ),
        _ => ("application/jsonl", crate::dataset_files::to_jsonl(&rows)),
    };
    Ok(HttpResponse::Ok().content_type(content_type).body(body))
}

#[derive(Deserialize, ToSchema)]
pub struct ComparativeCreate {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub experiment_ids: Vec<Uuid>,
    pub reference_dataset_id: Uuid,
    pub created_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Map<String, Value>>,
}

#[derive(Serialize, ToSchema)]
pub struct ComparativeOut {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tenant_id: String,
    pub created_at: String,
    pub modified_at: String,
    pub reference_dataset_id: String,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub experiments_info: Vec<Value>,
    #[schema(value_type = Object)]
    pub feedback_stats: Map<String, Value>,
}

/// Groups experiments on one dataset for side-by-side (pairwise) judging.
#[utoipa::path(
    tag = "datasets",
    request_body = ComparativeCreate,
    responses(
        (status = 200, description = "The comparative experiment", body = ComparativeOut),
        (status = 404, description = "No such dataset or experiment", body = ErrorBody),
        (status = 409, description = "Id taken", body = ErrorBody),
        (status = 422, description = "Experiments of another dataset, or none", body = ErrorBody)
    )
)]
#[post("/datasets/comparative")]
pub async fn create_comparative(
    state: State,
    workspace: Workspace,
    body: web::Json<ComparativeCreate>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if body.experiment_ids.len() < 2 {
        return Err(ApiError::unprocessable(
            "experiment_ids: compare at least two experiments",
        ));
    }
    let created_at = match &body.created_at {
        Some(t) => parse_time_str(t).ok_or_else(|| {
            ApiError::unprocessable(format!("created_at: {t:?} is not a date-time"))
        })?,
        None => now_micros(),
    };
    let out = state
        .db
        .run(move |conn| {
            let dataset = require(conn, workspace, body.reference_dataset_id)?;
            let mut info = Vec::new();
            for experiment in &body.experiment_ids {
                let project =
                    crate::db::sessions::find(conn, &workspace.id(), &experiment.to_string())?
                        .ok_or_else(|| {
                            ApiError::not_found(format!("experiment {experiment} not found"))
                        })?;
                if project.reference_dataset_id.as_deref() != Some(dataset.id.as_str()) {
                    return Err(ApiError::unprocessable(format!(
                        "experiment {experiment} is not an experiment on dataset {}",
                        dataset.id
                    )));
                }
                info.push(serde_json::json!({"id": project.id, "name": project.name}));
            }
            let row = crate::db::models::ComparativeExperimentRow {
                id: body.id.unwrap_or_else(Uuid::now_v7).to_string(),
                workspace_id: workspace.id(),
                name: body.name,
                description: body.description,
                reference_dataset_id: dataset.id,
                experiment_ids: serde_json::to_string(&body.experiment_ids).unwrap_or_default(),
                extra: body.extra.map(|e| Value::Object(e).to_string()),
                created_at,
                modified_at: created_at,
            };
            if !crate::db::comparative::insert(conn, &row)? {
                return Err(ApiError::conflict(format!(
                    "comparative experiment {} already exists",
                    row.id
                )));
            }
            let feedback_stats =
                crate::db::comparative::feedback_stats(conn, &row.workspace_id, &row.id)?
                    .into_iter()
                    .map(|(key, n, avg)| (key, serde_json::json!({"n": n, "avg": avg})))
                    .collect();
            Ok(ComparativeOut {
                id: row.id,
                name: row.name,
                description: row.description,
                tenant_id: row.workspace_id,
                created_at: format_micros(row.created_at),
                modified_at: format_micros(row.modified_at),
                reference_dataset_id: row.reference_dataset_id,
                extra: json_of(row.extra),
                experiments_info: info,
                feedback_stats,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Serialize, ToSchema)]
pub struct DatasetShare {
    pub dataset_id: String,
    pub share_token: String,
}

/// Shares the dataset read-only: its token opens `/public/{token}/...` without an API key.
#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The share (the same token if already shared)", body = DatasetShare),
        (status = 404, description = "No such dataset", body = ErrorBody)
    )
)]
#[put("/datasets/{dataset_id}/share")]
pub async fn share_dataset(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let token = on_dataset(&state, workspace, id, move |conn, _| {
        Ok(store::share(conn, &id.to_string())?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DatasetShare {
        dataset_id: id.to_string(),
        share_token: token,
    }))
}

#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The share", body = DatasetShare),
        (status = 404, description = "No such dataset, or not shared", body = ErrorBody)
    )
)]
#[get("/datasets/{dataset_id}/share")]
pub async fn read_share(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let token = on_dataset(&state, workspace, id, move |conn, _| {
        store::share_token(conn, &id.to_string())?
            .ok_or_else(|| ApiError::not_found(format!("dataset {id} is not shared")))
    })
    .await?;
    Ok(HttpResponse::Ok().json(DatasetShare {
        dataset_id: id.to_string(),
        share_token: token,
    }))
}

#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "No longer shared"),
        (status = 404, description = "No such dataset, or not shared", body = ErrorBody)
    )
)]
#[delete("/datasets/{dataset_id}/share")]
pub async fn unshare_dataset(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let removed = on_dataset(&state, workspace, id, move |conn, _| {
        Ok(store::unshare(conn, &id.to_string())?)
    })
    .await?;
    super::deleted_or_not_found(removed, "share of dataset", id)
}

/// The dataset a share token opens (and its workspace, which public reads act in).
fn shared(conn: &mut DbConnection, token: Uuid) -> ApiResult<(DatasetRow, Workspace)> {
    let row = store::shared_dataset(conn, &token.to_string())?
        .ok_or_else(|| ApiError::not_found(format!("no dataset is shared as {token}")))?;
    let workspace = Uuid::parse_str(&row.workspace_id)
        .map_err(|_| ApiError::internal("stored workspace id is not a UUID"))?;
    Ok((row, Workspace(workspace)))
}

#[utoipa::path(
    tag = "public",
    params(("share_token" = Uuid, Path, description = "Share token")),
    responses(
        (status = 200, description = "The shared dataset", body = DatasetOut),
        (status = 404, description = "No such share", body = ErrorBody)
    )
)]
#[get("/public/{share_token}/datasets")]
pub async fn public_dataset(state: State, path: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let token = path.into_inner();
    let out = state
        .db
        .run(move |conn| {
            let (row, _) = shared(conn, token)?;
            present(conn, row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "public",
    params(
        ("share_token" = Uuid, Path, description = "Share token"),
        ("id" = Option<Vec<Uuid>>, Query, description = "Example ids"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "The shared dataset's examples", body = [super::examples::ExampleOut]),
        (status = 404, description = "No such share", body = ErrorBody)
    )
)]
#[get("/public/{share_token}/examples")]
pub async fn public_examples(
    state: State,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let token = path.into_inner();
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let ids: Vec<String> = params.uuids("id")?.iter().map(Uuid::to_string).collect();
    let base = super::base_url(&req);
    let out = state
        .db
        .run(move |conn| {
            let (row, workspace) = shared(conn, token)?;
            let filter = store::ExampleFilter {
                dataset_id: Some(row.id),
                ids,
                limit,
                offset,
                ..Default::default()
            };
            let rows = store::list_examples(conn, &workspace.id(), &filter)?;
            super::examples::present_rows(conn, workspace, &base, rows)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "public",
    params(
        ("share_token" = Uuid, Path, description = "Share token"),
        ("id" = Option<Vec<Uuid>>, Query, description = "Project ids"),
        ("name" = Option<String>, Query, description = "Exact name"),
        ("name_contains" = Option<String>, Query, description = "Name substring"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "The shared dataset's experiments", body = [super::sessions::SessionOut]),
        (status = 404, description = "No such share", body = ErrorBody)
    )
)]
#[get("/public/{share_token}/datasets/sessions")]
pub async fn public_experiments(
    state: State,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let token = path.into_inner();
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let filter = crate::db::sessions::SessionFilter {
        ids: params.uuids("id")?.iter().map(Uuid::to_string).collect(),
        name: params.string("name"),
        name_contains: params.string("name_contains"),
        descending: true,
        limit,
        offset,
        ..Default::default()
    };
    let out = state
        .db
        .run(move |conn| {
            let (row, workspace) = shared(conn, token)?;
            let filter = crate::db::sessions::SessionFilter {
                reference_dataset: vec![row.id],
                ..filter
            };
            crate::db::sessions::list(conn, &workspace.id(), &filter)?
                .into_iter()
                .map(|session| super::sessions::with_stats(conn, session, &Default::default()))
                .collect::<ApiResult<Vec<_>>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Serialize, ToSchema)]
pub struct VersionDiff {
    pub examples_modified: Vec<String>,
    pub examples_added: Vec<String>,
    pub examples_removed: Vec<String>,
}

/// Which examples changed between two versions (each a time or a tag).
#[utoipa::path(
    tag = "datasets",
    params(
        ("dataset_id" = Uuid, Path, description = "Dataset id"),
        ("from_version" = String, Query, description = "Time or tag"),
        ("to_version" = String, Query, description = "Time or tag")
    ),
    responses(
        (status = 200, description = "Example ids added, modified and removed", body = VersionDiff),
        (status = 404, description = "No such dataset or tag", body = ErrorBody),
        (status = 422, description = "Missing version", body = ErrorBody)
    )
)]
#[get("/datasets/{dataset_id}/versions/diff")]
pub async fn diff_versions(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let params = QueryParams::parse(req.query_string());
    let required = |key: &str| {
        params
            .string(key)
            .ok_or_else(|| ApiError::unprocessable(format!("query parameter {key} is required")))
    };
    let (from, to) = (required("from_version")?, required("to_version")?);
    let diff = on_dataset(&state, workspace, id, move |conn, _| {
        let dataset = id.to_string();
        let mut state_at = |point: &str| -> ApiResult<std::collections::BTreeMap<String, i64>> {
            let at = resolve_as_of(conn, &dataset, point)?;
            let filter = store::ExampleFilter {
                dataset_id: Some(dataset.clone()),
                as_of: Some(at),
                limit: i64::MAX,
                ..Default::default()
            };
            Ok(store::list_examples(conn, &workspace.id(), &filter)?
                .into_iter()
                .map(|r| (r.example_id, r.valid_from))
                .collect())
        };
        let (before, after) = (state_at(&from)?, state_at(&to)?);
        Ok(VersionDiff {
            examples_modified: after
                .iter()
                .filter(|(id, v)| before.get(*id).is_some_and(|old| old != *v))
                .map(|(id, _)| id.clone())
                .collect(),
            examples_added: after
                .keys()
                .filter(|id| !before.contains_key(*id))
                .cloned()
                .collect(),
            examples_removed: before
                .keys()
                .filter(|id| !after.contains_key(*id))
                .cloned()
                .collect(),
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(diff))
}

#[derive(Deserialize, ToSchema)]
pub struct ExperimentRunsQuery {
    pub session_ids: Vec<Uuid>,
    #[serde(default)]
    pub offset: i64,
    pub limit: Option<i64>,
    #[serde(default)]
    pub preview: bool,
    pub comparative_experiment_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub filters: Option<Map<String, Value>>,
}

/// An example with the root runs that experiments made of it.
#[derive(Serialize, ToSchema)]
pub struct ExampleWithRuns {
    #[serde(flatten)]
    pub example: super::examples::ExampleOut,
    pub runs: Vec<super::runs::RunOut>,
}

/// Most repetitions of one example read back per page.
const RUNS_PER_EXAMPLE_PAGE: i64 = 10_000;

/// A page of the dataset's examples, each with the experiments' root runs on it.
#[utoipa::path(
    tag = "datasets",
    params(("dataset_id" = Uuid, Path, description = "Dataset id")),
    request_body = ExperimentRunsQuery,
    responses(
        (status = 200, description = "Examples with runs", body = [ExampleWithRuns]),
        (status = 400, description = "Unsupported filter", body = ErrorBody),
        (status = 404, description = "No such dataset", body = ErrorBody)
    )
)]
#[post("/datasets/{dataset_id}/runs")]
pub async fn experiment_runs(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<ExperimentRunsQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let body = body.into_inner();
    if body.filters.as_ref().is_some_and(|f| !f.is_empty())
        || body.comparative_experiment_id.is_some()
    {
        return Err(ApiError::bad_request(
            "filters and comparative_experiment_id are not supported by this server yet",
        ));
    }
    let limit = body.limit.unwrap_or(100);
    if !(1..=100).contains(&limit) || body.offset < 0 {
        return Err(ApiError::unprocessable(
            "limit must be 1..=100 and offset not negative",
        ));
    }
    let base = super::base_url(&req);
    let out = on_dataset(&state, workspace, id, move |conn, _| {
        let ws = workspace.id();
        let filter = store::ExampleFilter {
            dataset_id: Some(id.to_string()),
            limit,
            offset: body.offset,
            ..Default::default()
        };
        let examples = store::list_examples(conn, &ws, &filter)?;
        let query = crate::db::runs::RunQuery {
            sessions: body.session_ids.iter().map(Uuid::to_string).collect(),
            reference_examples: examples.iter().map(|e| e.example_id.clone()).collect(),
            is_root: Some(true),
            ascending: true,
            limit: RUNS_PER_EXAMPLE_PAGE,
            ..Default::default()
        };
        let rows = if query.sessions.is_empty() || query.reference_examples.is_empty() {
            Vec::new()
        } else {
            crate::db::runs::query(conn, &ws, &query)?
        };
        let mut runs = super::runs::present_rows(conn, &ws, base.clone(), rows)?;
        let examples = super::examples::present_rows(conn, workspace, &base, examples)?;
        Ok(examples
            .into_iter()
            .map(|example| {
                let (mine, rest): (Vec<_>, Vec<_>) = runs
                    .drain(..)
                    .partition(|r| r.reference_example_id.as_deref() == Some(&example.id));
                runs = rest;
                ExampleWithRuns {
                    example,
                    runs: mine,
                }
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_dataset)
        .service(create_comparative)
        .service(upload_csv)
        .service(list_datasets)
        .service(diff_versions)
        .service(export_openai_finetuning)
        .service(export_dataset)
        .service(list_versions)
        .service(read_version)
        .service(update_tag)
        .service(list_splits)
        .service(update_splits)
        .service(share_dataset)
        .service(read_share)
        .service(unshare_dataset)
        .service(public_dataset)
        .service(public_examples)
        .service(public_experiments)
        .service(experiment_runs)
        .service(read_dataset)
        .service(update_dataset)
        .service(delete_dataset);
}
