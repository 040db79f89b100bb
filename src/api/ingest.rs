//! Run ingestion: `POST /runs/multipart`, `POST /runs/batch`, `POST /runs`, `PATCH /runs/{id}`.
//! Each answers 202 only after what it carried is committed.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, patch, post, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::{json, value::RawValue};
use uuid::Uuid;

use super::{State, Workspace};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ingest::ops::{self, OpKind};
use crate::ingest::{IngestBatch, decode, multipart};

/// Reads the whole body within the configured limits and undoes `Content-Encoding`.
async fn read_body(
    state: &State,
    req: &HttpRequest,
    mut payload: web::Payload,
) -> ApiResult<Bytes> {
    let limit = state.config.max_body_bytes;
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "request body is larger than the {limit} bytes the server accepts"
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(64 * 1024));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("could not read request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    log::debug!(
        "{} body: {} bytes, content-encoding {}",
        req.path(),
        body.len(),
        encoding.unwrap_or("none")
    );
    decode::decode_body(encoding, body.freeze(), state.config.max_decoded_bytes).map_err(
        |e| match e {
            decode::DecodeError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            decode::DecodeError::Unsupported(_) => ApiError::UnsupportedMediaType(e.to_string()),
            _ => ApiError::bad_request(e.to_string()),
        },
    )
}

/// Answers 202 once the batch is committed.
async fn commit(state: &State, batch: IngestBatch) -> ApiResult<HttpResponse> {
    state.writer.submit(batch).await?;
    Ok(HttpResponse::Accepted().json(json!({})))
}

/// Many runs, their large fields, attachments and feedback as multipart/form-data parts
/// (`post.{id}`, `patch.{id}`, `post.{id}.inputs`, `attachment.{id}.{name}`, `feedback.{id}` ...),
/// optionally compressed with `Content-Encoding: zstd` or `gzip`.
#[utoipa::path(
    tag = "runs",
    request_body(content_type = "multipart/form-data", description = "Run operations as parts"),
    responses(
        (status = 202, description = "Committed"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid run", body = ErrorBody),
        (status = 429, description = "Write queue full; retry after Retry-After", body = ErrorBody)
    )
)]
#[post("/runs/multipart")]
pub async fn ingest_multipart(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multipart::boundary_from_content_type(content_type)
        .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    let body = read_body(&state, &req, payload).await?;
    let parts =
        multipart::parse(&body, &boundary).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let batch =
        crate::ingest::batch_from_parts(workspace.0, &parts).map_err(ApiError::Unprocessable)?;
    commit(&state, batch).await
}

/// `{"post": [run, ...], "patch": [run, ...]}`; either key may be missing.
#[utoipa::path(
    tag = "runs",
    request_body(content = Object, description = "{\"post\": [...], \"patch\": [...]}"),
    responses(
        (status = 202, description = "Committed"),
        (status = 422, description = "Invalid run", body = ErrorBody),
        (status = 429, description = "Write queue full", body = ErrorBody)
    )
)]
#[post("/runs/batch")]
pub async fn ingest_batch(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state, &req, payload).await?;
    #[derive(serde::Deserialize)]
    struct BatchBody<'a> {
        #[serde(borrow, default)]
        post: Option<Vec<&'a RawValue>>,
        #[serde(borrow, default)]
        patch: Option<Vec<&'a RawValue>>,
    }
    let parsed: BatchBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::unprocessable(format!(
            "body must be a JSON object {{\"post\": [...], \"patch\": [...]}} ({e})"
        ))
    })?;
    let mut batch = IngestBatch::new(workspace.0);
    for (kind, key, items) in [
        (OpKind::Post, "post", parsed.post),
        (OpKind::Patch, "patch", parsed.patch),
    ] {
        for (index, item) in items.unwrap_or_default().into_iter().enumerate() {
            let label = format!("{key}[{index}]");
            let op = ops::parse_valid_run(kind, item.get().as_bytes(), None, &label)
                .map_err(ApiError::Unprocessable)?;
            batch.runs.push(op);
        }
    }
    commit(&state, batch).await
}

/// One run; `id`, `trace_id` and `dotted_order` are derived when missing.
#[utoipa::path(
    tag = "runs",
    request_body(content = Object, description = "A run"),
    responses(
        (status = 202, description = "Committed"),
        (status = 422, description = "Invalid run", body = ErrorBody)
    )
)]
#[post("/runs")]
pub async fn create_run(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state, &req, payload).await?;
    let id = body_id(&body).unwrap_or_else(Uuid::now_v7);
    let mut op =
        ops::parse_run(OpKind::Post, &body, Some(id), "run").map_err(ApiError::Unprocessable)?;
    if op.start_time.is_none() {
        op.start_time = Some(crate::time::now_micros());
    }
    ops::validate(&op, "run").map_err(ApiError::Unprocessable)?;
    commit(&state, IngestBatch::of_run(workspace.0, op)).await
}

/// The id in a run body, if it has a valid one (the full parse reports a bad one).
fn body_id(body: &[u8]) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<Uuid>,
    }
    serde_json::from_slice::<IdOnly>(body).ok()?.id
}

/// Changes to one run; absent or null fields stay as they are. A patch for a run not seen
/// yet is kept and merged when its post arrives.
#[utoipa::path(
    tag = "runs",
    params(("run_id" = Uuid, Path, description = "Run id")),
    request_body(content = Object, description = "Fields to change"),
    responses(
        (status = 202, description = "Committed"),
        (status = 422, description = "Invalid run", body = ErrorBody)
    )
)]
#[patch("/runs/{run_id}")]
pub async fn update_run(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state, &req, payload).await?;
    let label = format!("patch of run {}", *path);
    let op = ops::parse_valid_run(OpKind::Patch, &body, Some(*path), &label)
        .map_err(ApiError::Unprocessable)?;
    commit(&state, IngestBatch::of_run(workspace.0, op)).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(ingest_multipart)
        .service(ingest_batch)
        .service(create_run)
        .service(update_run);
}
