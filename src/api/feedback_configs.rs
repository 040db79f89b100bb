//! Feedback configs (`/feedback-configs`): how a feedback key is scored, shared by the
//! workspace (continuous with min/max, categorical with categories, or freeform).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::params::QueryParams;
use super::{State, Workspace};
use crate::db::feedback as store;
use crate::db::models::FeedbackConfigRow;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::time::{format_micros, now_micros};

#[derive(Serialize, ToSchema)]
pub struct FeedbackConfigOut {
    pub feedback_key: String,
    #[schema(value_type = Object)]
    pub feedback_config: Value,
    pub tenant_id: String,
    pub modified_at: String,
    pub is_lower_score_better: Option<bool>,
}

fn present(row: FeedbackConfigRow) -> FeedbackConfigOut {
    FeedbackConfigOut {
        feedback_config: serde_json::from_str(&row.feedback_config).unwrap_or(Value::Null),
        feedback_key: row.feedback_key,
        tenant_id: row.workspace_id,
        modified_at: format_micros(row.modified_at),
        is_lower_score_better: row.is_lower_score_better,
    }
}

/// Checks a config's shape: `type` is continuous, categorical or freeform; categorical needs
/// categories with values; min must not exceed max.
fn validate_config(config: &Map<String, Value>) -> ApiResult<()> {
    let kind = config.get("type").and_then(Value::as_str).ok_or_else(|| {
        ApiError::unprocessable(
            "feedback_config.type is required: continuous, categorical or freeform",
        )
    })?;
    match kind {
        "continuous" => {
            let bound = |k: &str| config.get(k).and_then(Value::as_f64);
            if let (Some(min), Some(max)) = (bound("min"), bound("max"))
                && min > max
            {
                return Err(ApiError::unprocessable(format!(
                    "feedback_config: min {min} is greater than max {max}"
                )));
            }
            Ok(())
        }
        "categorical" => {
            let categories = config
                .get("categories")
                .and_then(Value::as_array)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "feedback_config.categories is required for a categorical config",
                    )
                })?;
            if categories.iter().any(|c| c.get("value").is_none()) {
                return Err(ApiError::unprocessable(
                    "feedback_config.categories: every category needs a value",
                ));
            }
            Ok(())
        }
        "freeform" => Ok(()),
        other => Err(ApiError::unprocessable(format!(
            "feedback_config.type must be continuous, categorical or freeform, got {other:?}"
        ))),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct FeedbackConfigCreate {
    pub feedback_key: String,
    #[schema(value_type = Object)]
    pub feedback_config: Map<String, Value>,
    pub is_lower_score_better: Option<bool>,
}

/// Creates a config. The same key with the same config again returns the stored one; a
/// different config for a key in use is refused (400).
#[utoipa::path(
    tag = "feedback",
    request_body = FeedbackConfigCreate,
    responses(
        (status = 200, description = "The config", body = FeedbackConfigOut),
        (status = 400, description = "The key has another config", body = ErrorBody),
        (status = 422, description = "Invalid config", body = ErrorBody)
    )
)]
#[post("/feedback-configs")]
pub async fn create_config(
    state: State,
    workspace: Workspace,
    body: web::Json<FeedbackConfigCreate>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if body.feedback_key.trim().is_empty() {
        return Err(ApiError::unprocessable("feedback_key must not be empty"));
    }
    validate_config(&body.feedback_config)?;
    let config = Value::Object(body.feedback_config);
    let out = state
        .db
        .run(move |conn| {
            let existing = store::find_config(conn, &workspace.id(), &body.feedback_key)?;
            if let Some(existing) = existing.filter(|e| !e.deleted) {
                let same = serde_json::from_str::<Value>(&existing.feedback_config).ok()
                    == Some(config.clone());
                return if same {
                    Ok(present(existing))
                } else {
                    Err(ApiError::bad_request(format!(
                        "feedback key {:?} already has a different config; update it instead",
                        body.feedback_key
                    )))
                };
            }
            let row = FeedbackConfigRow {
                workspace_id: workspace.id(),
                feedback_key: body.feedback_key,
                feedback_config: config.to_string(),
                is_lower_score_better: Some(body.is_lower_score_better.unwrap_or(false)),
                modified_at: now_micros(),
                deleted: false,
            };
            store::save_config(conn, &row)?;
            Ok(present(row))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "feedback",
    params(
        ("key" = Option<Vec<String>>, Query, description = "Feedback keys"),
        ("name_contains" = Option<String>, Query, description = "Key substring"),
        ("limit" = Option<i64>, Query, description = "1..=100, default 100"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")
    ),
    responses((status = 200, description = "Configs", body = [FeedbackConfigOut]))
)]
#[get("/feedback-configs")]
pub async fn list_configs(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let (limit, offset) = params.page()?;
    let keys: Vec<String> = params.all("key").into_iter().map(str::to_string).collect();
    let name_contains = params.string("name_contains");
    let rows = state
        .db
        .run(move |conn| {
            Ok(store::list_configs(
                conn,
                &workspace.id(),
                &keys,
                name_contains.as_deref(),
                limit,
                offset,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(present).collect::<Vec<_>>()))
}

#[derive(Deserialize, ToSchema)]
pub struct FeedbackConfigUpdate {
    pub feedback_key: String,
    #[schema(value_type = Option<Object>)]
    pub feedback_config: Option<Map<String, Value>>,
    pub is_lower_score_better: Option<bool>,
}

#[utoipa::path(
    tag = "feedback",
    request_body = FeedbackConfigUpdate,
    responses(
        (status = 200, description = "The updated config", body = FeedbackConfigOut),
        (status = 404, description = "No such key", body = ErrorBody)
    )
)]
#[patch("/feedback-configs")]
pub async fn update_config(
    state: State,
    workspace: Workspace,
    body: web::Json<FeedbackConfigUpdate>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if let Some(config) = &body.feedback_config {
        validate_config(config)?;
    }
    let out = state
        .db
        .run(move |conn| {
            let mut row = store::find_config(conn, &workspace.id(), &body.feedback_key)?
                .filter(|r| !r.deleted)
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "no feedback config for key {:?}",
                        body.feedback_key
                    ))
                })?;
            if let Some(config) = body.feedback_config {
                row.feedback_config = Value::Object(config).to_string();
            }
            if body.is_lower_score_better.is_some() {
                row.is_lower_score_better = body.is_lower_score_better;
            }
            row.modified_at = now_micros();
            store::save_config(conn, &row)?;
            Ok(present(row))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Deletes a key's config; the key may be configured again afterwards.
#[utoipa::path(
    tag = "feedback",
    params(("feedback_key" = String, Query, description = "The key")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such key", body = ErrorBody)
    )
)]
#[delete("/feedback-configs")]
pub async fn delete_config(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let key = QueryParams::parse(req.query_string())
        .string("feedback_key")
        .ok_or_else(|| ApiError::unprocessable("query parameter feedback_key is required"))?;
    state
        .db
        .run(move |conn| {
            let mut row = store::find_config(conn, &workspace.id(), &key)?
                .filter(|r| !r.deleted)
                .ok_or_else(|| {
                    ApiError::not_found(format!("no feedback config for key {key:?}"))
                })?;
            row.deleted = true;
            row.modified_at = now_micros();
            store::save_config(conn, &row)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_config)
        .service(list_configs)
        .service(update_config)
        .service(delete_config);
}
