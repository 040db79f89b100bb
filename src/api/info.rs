//! `GET /info`: the handshake the SDKs use to pick their fastest ingest path.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::State;

/// The LangSmith API version we answer as: new enough that the Python SDK sends feedback
/// inside multipart batches (≥ 0.8.10) and that neither SDK warns about an old server.
pub const API_VERSION: &str = "0.16.20";

#[derive(Serialize, ToSchema)]
pub struct BatchIngestConfig {
    pub use_multipart_endpoint: bool,
    pub size_limit: u32,
    pub size_limit_bytes: u64,
    pub scale_up_qsize_trigger: u32,
    pub scale_up_nthreads_limit: u32,
    pub scale_down_nempty_trigger: u32,
}

#[derive(Serialize, ToSchema)]
pub struct InstanceFlags {
    pub zstd_compression_enabled: bool,
    pub gzip_body_enabled: bool,
    pub dataset_examples_multipart_enabled: bool,
    pub examples_multipart_enabled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct InfoResponse {
    pub version: String,
    pub license_expiration_time: Option<String>,
    /// All six keys are always present: the Python SDK indexes them directly.
    pub batch_ingest_config: BatchIngestConfig,
    pub instance_flags: InstanceFlags,
    pub git_sha: Option<String>,
}

#[utoipa::path(
    tag = "info",
    responses((status = 200, description = "Server capabilities", body = InfoResponse))
)]
#[get("/info")]
pub async fn info(state: State) -> HttpResponse {
    HttpResponse::Ok().json(InfoResponse {
        version: API_VERSION.to_string(),
        license_expiration_time: None,
        batch_ingest_config: BatchIngestConfig {
            use_multipart_endpoint: true,
            size_limit: 100,
            size_limit_bytes: (state.config.max_decoded_bytes as u64).min(20 * 1024 * 1024),
            scale_up_qsize_trigger: 1000,
            scale_up_nthreads_limit: 16,
            scale_down_nempty_trigger: 4,
        },
        instance_flags: InstanceFlags {
            zstd_compression_enabled: true,
            gzip_body_enabled: true,
            dataset_examples_multipart_enabled: true,
            // The deprecated upsert endpoint (`/v1/platform/examples/multipart`) is not served.
            examples_multipart_enabled: false,
        },
        git_sha: option_env!("LOOPSMITH_GIT_SHA").map(str::to_string),
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(info);
}
