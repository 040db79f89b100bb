//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use super::State;
use crate::error::ApiError;

#[utoipa::path(tag = "ops", responses((status = 200, description = "The process is alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready once the database answers; migrations ran before the server started listening.
#[utoipa::path(
    tag = "ops",
    responses(
        (status = 200, description = "Database reachable, migrations applied"),
        (status = 503, description = "Database unreachable", body = crate::error::ErrorBody)
    )
)]
#[get("/readyz")]
pub async fn readyz(state: State) -> Result<HttpResponse, ApiError> {
    if state.db.is_ready().await {
        Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
    } else {
        Err(ApiError::Unavailable {
            retry_after_secs: 1,
        })
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}
