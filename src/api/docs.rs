//! The OpenAPI document (generated from the handlers' annotations) and Swagger UI, served from
//! assets compiled into the binary.

use actix_web::{HttpResponse, get, web};

use crate::error::ApiError;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Loopsmith",
        description = "A self-hosted, LangSmith-compatible server. Every path is also served under /api/v1."
    ),
    paths(
        super::info::info,
        super::health::healthz,
        super::health::readyz,
        super::ingest::ingest_multipart,
        super::ingest::ingest_batch,
        super::ingest::create_run,
        super::ingest::update_run,
        super::runs::read_run,
        super::runs::query_runs,
        super::runs::validate_query,
        super::run_stats::run_stats,
        super::run_stats::monitor,
        super::runs::read_attachment,
        super::sessions::create_session,
        super::sessions::list_sessions,
        super::sessions::read_session,
        super::sessions::update_session,
        super::sessions::delete_session,
        super::feedback::create_feedback,
        super::feedback::list_feedback,
        super::feedback::read_feedback,
        super::feedback::update_feedback,
        super::feedback::delete_feedback,
        super::feedback::create_tokens,
        super::feedback::list_tokens,
        super::feedback::post_with_token,
        super::feedback::get_with_token,
        super::feedback_configs::create_config,
        super::feedback_configs::list_configs,
        super::feedback_configs::update_config,
        super::feedback_configs::delete_config,
        super::datasets::create_dataset,
        super::datasets::upload_csv,
        super::datasets::create_comparative,
        super::datasets::share_dataset,
        super::datasets::read_share,
        super::datasets::unshare_dataset,
        super::datasets::public_dataset,
        super::datasets::public_examples,
        super::datasets::public_experiments,
        super::datasets::list_datasets,
        super::datasets::read_dataset,
        super::datasets::update_dataset,
        super::datasets::delete_dataset,
        super::datasets::list_versions,
        super::datasets::read_version,
        super::datasets::update_tag,
        super::datasets::list_splits,
        super::datasets::update_splits,
        super::datasets::experiment_runs,
        super::datasets::diff_versions,
        super::datasets::export_openai_finetuning,
        super::datasets::export_dataset,
        super::examples::create_example,
        super::examples::create_examples_bulk,
        super::examples::list_examples,
        super::examples::read_example,
        super::examples::update_example,
        super::examples::update_examples_bulk,
        super::examples::delete_example,
        super::examples::delete_examples,
        super::examples::read_example_attachment,
        super::examples::upload_examples,
        super::examples::update_examples_multipart,
        super::examples::hard_delete_examples,
        super::rules::create_rule,
        super::rules::validate_rule,
        super::rules::list_rules,
        super::rules::update_rule,
        super::rules::delete_rule,
        super::rules::trigger_rule,
        super::rules::trigger_rules,
        super::rule_logs::list_logs,
        super::rule_logs::list_logs_v2,
        super::rule_logs::last_applied,
        super::annotation_queues::create_queue,
        super::annotation_queues::list_queues,
        super::annotation_queues::read_queue,
        super::annotation_queues::update_queue,
        super::annotation_queues::delete_queue,
        super::annotation_queues::add_queue_runs,
        super::annotation_queues::add_queue_runs_by_key,
        super::annotation_queues::list_queue_runs,
        super::annotation_queues::queue_run_at,
        super::annotation_queues::remove_queue_run,
        super::annotation_queues::update_queue_run,
        super::annotation_queues::set_queue_run_status,
        super::annotation_queues::queue_size,
        openapi_json,
        swagger_ui,
        swagger_asset,
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as committed in `openapi/openapi.json`.
pub fn openapi_json_text() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

#[utoipa::path(tag = "docs", responses((status = 200, description = "This API's OpenAPI document")))]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_json_text())
}

const SWAGGER_INDEX: &[u8] = include_bytes!("../../assets/swagger-ui/index.html");

const SWAGGER_FILES: [(&str, &str, &[u8]); 3] = [
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "swagger-ui-bundle.js",
        "application/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("../../assets/swagger-ui/favicon-32x32.png"),
    ),
];

/// Swagger UI's assets. The page itself is `/docs`; it links them as `docs/<file>` so that it
/// works under every mount point.
#[utoipa::path(
    tag = "docs",
    params(("file" = String, Path, description = "An asset of the page")),
    responses(
        (status = 200, description = "The asset"),
        (status = 404, description = "No such asset", body = crate::error::ErrorBody)
    )
)]
#[get("/docs/{file}")]
pub async fn swagger_asset(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let wanted = path.into_inner();
    SWAGGER_FILES
        .iter()
        .find(|(name, _, _)| *name == wanted)
        .map(|(_, content_type, bytes)| HttpResponse::Ok().content_type(*content_type).body(*bytes))
        .ok_or_else(|| ApiError::not_found(format!("no docs asset {wanted:?}")))
}

#[utoipa::path(tag = "docs", responses((status = 200, description = "Swagger UI")))]
#[get("/docs")]
pub async fn swagger_ui() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(SWAGGER_INDEX)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json)
        .service(swagger_ui)
        .service(swagger_asset);
}
