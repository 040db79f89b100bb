//! Feedback (`/feedback`) and presigned feedback tokens (`/feedback/tokens`).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{QueryParams, Timedelta};
use super::{State, Workspace, base_url};
use crate::db::feedback::{self as store, FeedbackFilter};
use crate::db::models::{FeedbackRow, FeedbackTokenRow};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ingest::ops::{self, FeedbackOp};
use crate::time::{format_micros, now_micros, parse_time_str};

/// A feedback as the SDKs read it.
#[derive(Serialize, ToSchema)]
pub struct FeedbackOut {
    pub id: String,
    pub run_id: Option<String>,
    pub trace_id: Option<String>,
    pub session_id: Option<String>,
    pub key: String,
    pub score: Option<f64>,
    #[schema(value_type = Option<Object>)]
    pub value: Option<Box<RawValue>>,
    pub comment: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub correction: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub feedback_source: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub feedback_config: Option<Box<RawValue>>,
    pub feedback_group_id: Option<String>,
    pub comparative_experiment_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Box<RawValue>>,
    pub created_at: String,
    pub modified_at: String,
}

fn raw(text: Option<String>) -> Option<Box<RawValue>> {
    text.and_then(|t| RawValue::from_string(t).ok())
}

pub fn present(row: FeedbackRow) -> FeedbackOut {
    FeedbackOut {
        id: row.id,
        run_id: row.run_id,
        trace_id: row.trace_id,
        session_id: row.session_id,
        key: row.key,
        score: row.score,
        value: raw(row.value),
        comment: row.comment,
        correction: raw(row.correction),
        feedback_source: raw(row.feedback_source),
        feedback_config: raw(row.feedback_config),
        feedback_group_id: row.feedback_group_id,
        comparative_experiment_id: row.comparative_experiment_id,
        extra: raw(row.extra),
        created_at: format_micros(row.created_at),
        modified_at: format_micros(row.modified_at),
    }
}

async fn store_feedback(
    state: &State,
    workspace: Workspace,
    op: FeedbackOp,
) -> ApiResult<FeedbackOut> {
    let id = op.id;
    let stored = state
        .db
        .run(move |conn| {
            store::create(conn, &workspace.id(), &op, now_micros())?
                .map(present)
                .ok_or_else(|| ApiError::conflict(format!("feedback id {id} is already taken")))
        })
        .await?;
    // A rule may match the run now (a thumbs-up after the answer): evaluate without delay.
    state.rule_worker.wake();
    Ok(stored)
}

/// Creates feedback on a run (`run_id`, or `trace_id` for the root run), or on a whole project
/// (`session_id` without a run). The run need not be stored yet: the SDK may send feedback
/// before its trace arrives. Re-sending the same id returns the stored feedback.
#[utoipa::path(
    tag = "feedback",
    request_body(content = Object, description = "FeedbackCreate: key, score, value, comment, ..."),
    responses(
        (status = 200, description = "The stored feedback", body = FeedbackOut),
        (status = 409, description = "Id taken in another workspace", body = ErrorBody),
        (status = 422, description = "Invalid feedback", body = ErrorBody)
    )
)]
#[post("/feedback")]
pub async fn create_feedback(
    state: State,
    workspace: Workspace,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let op = ops::parse_feedback(&body, "feedback").map_err(ApiError::Unprocessable)?;
    if op.run_id.is_none() && op.session_id.is_none() {
        return Err(ApiError::unprocessable(
            "feedback: give run_id (or trace_id) for run feedback, or session_id for project feedback",
        ));
    }
    Ok(HttpResponse::Ok().json(store_feedback(&state, workspace, op).await?))
}

fn uuid_texts(params: &QueryParams, key: &str) -> ApiResult<Vec<String>> {
    Ok(params.uuids(key)?.iter().map(Uuid::to_string).collect())
}

fn optional_time(params: &QueryParams, key: &str) -> ApiResult<Option<i64>> {
    params
        .get(key)
        .map(|v| {
            parse_time_str(v).ok_or_else(|| {
                ApiError::unprocessable(format!("query parameter {key}: {v:?} is not a date-time"))
            })
        })
        .transpose()
}

#[utoipa::path(
    tag = "feedback",
    params(
        ("run" = Option<Vec<Uuid>>, Query, description = "Run ids"),
        ("key" = Option<Vec<String>>, Query, description = "Feedback keys"),
        ("source" = Option<Vec<String>>, Query, description = "feedback_source.type: api, model, app, auto_eval"),
        ("session" = Option<Vec<Uuid>>, Query, description = "Projects"),
        ("has_comment" = Option<bool>, Query, description = "With or without a comment"),
        ("has_score" = Option<bool>, Query, description = "With or without a score"),
        ("level" = Option<String>, Query, description = "run or session"),
        ("min_created_at" = Option<String>, Query, description = "Created at or after"),
        ("max_created_at" = Option<String>, Query, description = "Created at or before"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses(
        (status = 200, description = "Feedback, newest first", body = [FeedbackOut]),
        (status = 422, description = "Bad parameter", body = ErrorBody)
    )
)]
#[get("/feedback")]
pub async fn list_feedback(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let run_level = match params.get("level") {
        None => None,
        Some("run") => Some(true),
        Some("session") => Some(false),
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "query parameter level must be run or session, got {other:?}"
            )));
        }
    };
    let filter = FeedbackFilter {
        runs: uuid_texts(&params, "run")?,
        keys: params.all("key").into_iter().map(str::to_string).collect(),
        sources: params
            .all("source")
            .into_iter()
            .map(str::to_string)
            .collect(),
        sessions: uuid_texts(&params, "session")?,
        has_comment: params.bool("has_comment")?,
        has_score: params.bool("has_score")?,
        run_level,
        min_created_at: optional_time(&params, "min_created_at")?,
        max_created_at: optional_time(&params, "max_created_at")?,
        limit,
        offset,
    };
    let rows = state
        .db
        .run(move |conn| Ok(store::list(conn, &workspace.id(), &filter)?))
        .await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(present).collect::<Vec<_>>()))
}

async fn load(state: &State, workspace: Workspace, id: Uuid) -> ApiResult<FeedbackRow> {
    state
        .db
        .run(move |conn| {
            store::find(conn, &workspace.id(), &id.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("feedback {id} not found")))
        })
        .await
}

#[utoipa::path(
    tag = "feedback",
    params(("feedback_id" = Uuid, Path, description = "Feedback id")),
    responses(
        (status = 200, description = "The feedback", body = FeedbackOut),
        (status = 404, description = "No such feedback", body = ErrorBody)
    )
)]
#[get("/feedback/{feedback_id}")]
pub async fn read_feedback(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = load(&state, workspace, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(present(row)))
}

/// Fields to change; absent or null ones stay.
#[derive(Deserialize, ToSchema)]
pub struct FeedbackUpdate {
    #[schema(value_type = Option<f64>)]
    pub score: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub value: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub correction: Option<Box<RawValue>>,
    pub comment: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub feedback_config: Option<Box<RawValue>>,
}

#[utoipa::path(
    tag = "feedback",
    params(("feedback_id" = Uuid, Path, description = "Feedback id")),
    request_body = FeedbackUpdate,
    responses(
        (status = 200, description = "The updated feedback", body = FeedbackOut),
        (status = 404, description = "No such feedback", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)
    )
)]
#[patch("/feedback/{feedback_id}")]
pub async fn update_feedback(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<FeedbackUpdate>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let body = body.into_inner();
    let score = ops::parse_score(body.score.as_deref(), "feedback update")
        .map_err(ApiError::Unprocessable)?;
    if body
        .feedback_config
        .as_ref()
        .is_some_and(|c| !c.get().starts_with('{'))
    {
        return Err(ApiError::unprocessable(
            "feedback update: feedback_config must be a JSON object",
        ));
    }
    let out = state
        .db
        .run(move |conn| {
            let mut row = store::find(conn, &workspace.id(), &id.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("feedback {id} not found")))?;
            if score.is_some() {
                row.score = score;
            }
            if let Some(value) = ops::any_json(body.value.as_deref()) {
                row.value = Some(value);
            }
            if let Some(correction) = ops::any_json(body.correction.as_deref()) {
                row.correction = Some(correction);
            }
            if body.comment.is_some() {
                row.comment = body.comment;
            }
            if let Some(config) = ops::any_json(body.feedback_config.as_deref()) {
                row.feedback_config = Some(config);
            }
            row.modified_at = now_micros();
            store::update(conn, &mut row)?;
            Ok(present(row))
        })
        .await?;
    state.rule_worker.wake();
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "feedback",
    params(("feedback_id" = Uuid, Path, description = "Feedback id")),
    responses(
        (status = 200, description = "Deleted"),
        (status = 404, description = "No such feedback", body = ErrorBody)
    )
)]
#[delete("/feedback/{feedback_id}")]
pub async fn delete_feedback(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::delete_by_id(
        state,
        workspace,
        path.into_inner(),
        "feedback",
        store::delete,
    )
    .await
}

#[derive(Deserialize, ToSchema)]
pub struct TokenCreate {
    pub run_id: Uuid,
    pub feedback_key: String,
    #[schema(value_type = Option<Object>)]
    pub feedback_config: Option<serde_json::Map<String, Value>>,
    pub expires_in: Option<Timedelta>,
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub id: String,
    /// POST or GET here, without an API key, to add feedback.
    pub url: String,
    pub expires_at: String,
    pub run_id: String,
    pub feedback_key: String,
}

/// Tokens last three hours unless the request says otherwise.
const DEFAULT_TOKEN_HOURS: i64 = 3;

fn token_row(workspace: Workspace, spec: &TokenCreate, now: i64) -> ApiResult<FeedbackTokenRow> {
    if spec.feedback_key.trim().is_empty() {
        return Err(ApiError::unprocessable("feedback_key must not be empty"));
    }
    let expires_at = match (&spec.expires_at, &spec.expires_in) {
        (Some(at), _) => parse_time_str(at).ok_or_else(|| {
            ApiError::unprocessable(format!("expires_at: {at:?} is not a date-time"))
        })?,
        (None, Some(span)) => span
            .micros()
            .and_then(|d| now.checked_add(d))
            .ok_or_else(|| ApiError::unprocessable("expires_in is too long"))?,
        (None, None) => now + Timedelta::hours(DEFAULT_TOKEN_HOURS).micros().unwrap_or(0),
    };
    if expires_at <= now {
        return Err(ApiError::unprocessable(
            "the token would already be expired",
        ));
    }
    Ok(FeedbackTokenRow {
        id: Uuid::new_v4().to_string(),
        workspace_id: workspace.id(),
        run_id: spec.run_id.to_string(),
        feedback_key: spec.feedback_key.clone(),
        feedback_config: spec
            .feedback_config
            .as_ref()
            .map(|c| Value::Object(c.clone()).to_string()),
        expires_at,
        created_at: now,
    })
}

fn token_out(base: &str, row: FeedbackTokenRow) -> TokenOut {
    TokenOut {
        url: format!("{base}/feedback/tokens/{}", row.id),
        id: row.id,
        expires_at: format_micros(row.expires_at),
        run_id: row.run_id,
        feedback_key: row.feedback_key,
    }
}

/// Creates presigned feedback tokens: one object in, one token out; an array in, an array out.
#[utoipa::path(
    tag = "feedback",
    request_body = TokenCreate,
    responses(
        (status = 200, description = "The token (or tokens, for an array)", body = TokenOut),
        (status = 422, description = "Invalid request", body = ErrorBody)
    )
)]
#[post("/feedback/tokens")]
pub async fn create_tokens(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let many = body.is_array();
    let specs: Vec<TokenCreate> = match body {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                serde_json::from_value(item)
                    .map_err(|e| ApiError::unprocessable(format!("token [{i}]: {e}")))
            })
            .collect::<ApiResult<_>>()?,
        item => vec![
            serde_json::from_value(item)
                .map_err(|e| ApiError::unprocessable(format!("token: {e}")))?,
        ],
    };
    let now = now_micros();
    let rows = specs
        .iter()
        .map(|spec| token_row(workspace, spec, now))
        .collect::<ApiResult<Vec<_>>>()?;
    let stored = rows.clone();
    state
        .db
        .run(move |conn| Ok(store::insert_tokens(conn, &stored)?))
        .await?;
    let base = base_url(&req);
    let mut tokens: Vec<TokenOut> = rows.into_iter().map(|r| token_out(&base, r)).collect();
    Ok(if many {
        HttpResponse::Ok().json(tokens)
    } else {
        HttpResponse::Ok().json(tokens.remove(0))
    })
}

#[utoipa::path(
    tag = "feedback",
    params(("run_id" = Uuid, Query, description = "The run the tokens are for")),
    responses(
        (status = 200, description = "The run's tokens", body = [TokenOut]),
        (status = 422, description = "Missing run_id", body = ErrorBody)
    )
)]
#[get("/feedback/tokens")]
pub async fn list_tokens(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let run_id = params
        .uuids("run_id")?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::unprocessable("query parameter run_id is required"))?;
    let rows = state
        .db
        .run(move |conn| {
            Ok(store::tokens_for_run(
                conn,
                &workspace.id(),
                &run_id.to_string(),
            )?)
        })
        .await?;
    let base = base_url(&req);
    Ok(HttpResponse::Ok().json(
        rows.into_iter()
            .map(|r| token_out(&base, r))
            .collect::<Vec<_>>(),
    ))
}

/// What a token holder may send (body of POST, or query of GET).
#[derive(Deserialize, ToSchema, Default)]
pub struct TokenFeedback {
    #[schema(value_type = Option<f64>)]
    pub score: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub value: Option<Box<RawValue>>,
    #[schema(value_type = Option<Object>)]
    pub correction: Option<Box<RawValue>>,
    pub comment: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, Value>>,
}

/// Adds a feedback through a token: for the token's run and key, as often as wanted until it
/// expires. The token is the credential; no API key is needed.
async fn use_token(state: &State, token: Uuid, given: TokenFeedback) -> ApiResult<FeedbackOut> {
    let score = ops::parse_score(given.score.as_deref(), "token feedback")
        .map_err(ApiError::Unprocessable)?;
    let row = state
        .db
        .run(move |conn| {
            store::find_token(conn, &token.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("feedback token {token} not found")))
        })
        .await?;
    if row.expires_at <= now_micros() {
        return Err(ApiError::Gone(format!(
            "feedback token {token} has expired"
        )));
    }
    let source = json!({"type": "api", "metadata": given.metadata.unwrap_or_default()});
    let op = FeedbackOp {
        id: Uuid::now_v7(),
        run_id: Uuid::parse_str(&row.run_id).ok(),
        trace_id: None,
        session_id: None,
        key: row.feedback_key.clone(),
        score,
        value: ops::any_json(given.value.as_deref()),
        comment: given.comment,
        correction: ops::any_json(given.correction.as_deref()),
        feedback_source: Some(source.to_string()),
        source_type: "api".into(),
        feedback_config: row.feedback_config.clone(),
        feedback_group_id: None,
        comparative_experiment_id: None,
        created_at: None,
        modified_at: None,
        extra: None,
    };
    let workspace = Workspace(
        Uuid::parse_str(&row.workspace_id)
            .map_err(|_| ApiError::internal("stored workspace id is not a UUID"))?,
    );
    store_feedback(state, workspace, op).await
}

#[utoipa::path(
    tag = "feedback",
    params(("token" = Uuid, Path, description = "Feedback token")),
    request_body = TokenFeedback,
    responses(
        (status = 200, description = "The feedback created", body = FeedbackOut),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 410, description = "Token expired", body = ErrorBody)
    )
)]
#[post("/feedback/tokens/{token}")]
pub async fn post_with_token(
    state: State,
    path: web::Path<Uuid>,
    body: Option<web::Json<TokenFeedback>>,
) -> ApiResult<HttpResponse> {
    let given = body.map(web::Json::into_inner).unwrap_or_default();
    Ok(HttpResponse::Ok().json(use_token(&state, path.into_inner(), given).await?))
}

/// The browser form of the token: `score`, `value`, `comment`, `correction` as query parameters.
#[utoipa::path(
    tag = "feedback",
    params(
        ("token" = Uuid, Path, description = "Feedback token"),
        ("score" = Option<f64>, Query, description = "Score"),
        ("value" = Option<String>, Query, description = "Value"),
        ("comment" = Option<String>, Query, description = "Comment"),
        ("correction" = Option<String>, Query, description = "Correction")
    ),
    responses(
        (status = 200, description = "Recorded"),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 410, description = "Token expired", body = ErrorBody)
    )
)]
#[get("/feedback/tokens/{token}")]
pub async fn get_with_token(
    state: State,
    path: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    // Query values are text: a number or boolean stays one, anything else is a JSON string.
    let json_of = |key: &str| {
        params.get(key).and_then(|v| {
            let parsed = serde_json::from_str::<Value>(v)
                .ok()
                .filter(|j| j.is_number() || j.is_boolean())
                .unwrap_or_else(|| Value::String(v.to_string()));
            RawValue::from_string(parsed.to_string()).ok()
        })
    };
    let given = TokenFeedback {
        score: json_of("score"),
        value: json_of("value"),
        correction: json_of("correction"),
        comment: params.string("comment"),
        metadata: None,
    };
    use_token(&state, path.into_inner(), given).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Token routes first: `/feedback/tokens` must not be read as a feedback id.
    cfg.service(create_tokens)
        .service(list_tokens)
        .service(post_with_token)
        .service(get_with_token)
        .service(create_feedback)
        .service(list_feedback)
        .service(read_feedback)
        .service(update_feedback)
        .service(delete_feedback);
}
