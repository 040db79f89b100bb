//! HTTP handlers, one module per resource. Handlers parse, resolve the workspace, call the
//! storage layer and shape the response.

pub mod annotation_queues;
pub mod datasets;
pub mod docs;
pub mod examples;
pub mod feedback;
pub mod feedback_configs;
pub mod health;
pub mod info;
pub mod ingest;
pub mod params;
pub mod rule_logs;
pub mod rules;
pub mod run_stats;
pub mod runs;
pub mod sessions;

use std::collections::HashSet;
use std::sync::RwLock;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use crate::config::Config;
use crate::db::Db;
use crate::db::workspaces::DEFAULT_WORKSPACE_ID;
use crate::error::ApiError;
use crate::ingest::writer::Writer;
use crate::rule_worker::RuleWorker;

/// What every handler can reach.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub writer: Writer,
    pub workspaces: KnownWorkspaces,
    pub rule_worker: RuleWorker,
}

pub type State = web::Data<AppState>;

/// The workspace a request acts in; every query is scoped by it. A request names one with the
/// `X-Tenant-Id` header (as the SDKs do when `LANGSMITH_WORKSPACE_ID` is set) or gets the default
/// workspace. Authentication will decide who may use which; only this extractor changes then.
#[derive(Clone, Copy, Debug)]
pub struct Workspace(pub Uuid);

impl Workspace {
    pub fn id(&self) -> String {
        self.0.to_string()
    }
}

/// Workspaces seen to exist; they are never deleted, so a hit needs no database round trip.
#[derive(Default)]
pub struct KnownWorkspaces(RwLock<HashSet<Uuid>>);

impl FromRequest for Workspace {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let header = req
            .headers()
            .get("x-tenant-id")
            .map(|v| v.to_str().unwrap_or_default().trim().to_string())
            .filter(|v| !v.is_empty());
        let state = req.app_data::<State>().cloned();
        Box::pin(async move {
            let Some(header) = header else {
                return Ok(Workspace(DEFAULT_WORKSPACE_ID));
            };
            let id = Uuid::parse_str(&header).map_err(|_| {
                ApiError::bad_request("header X-Tenant-Id must be a workspace UUID")
            })?;
            if id == DEFAULT_WORKSPACE_ID {
                return Ok(Workspace(id));
            }
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let known = |state: &AppState| {
                state
                    .workspaces
                    .0
                    .read()
                    .map(|set| set.contains(&id))
                    .unwrap_or(false)
            };
            if known(&state) {
                return Ok(Workspace(id));
            }
            let exists = state
                .db
                .run(move |conn| Ok(crate::db::workspaces::exists(conn, &id.to_string())?))
                .await?;
            if !exists {
                return Err(ApiError::Forbidden(format!(
                    "workspace {id} does not exist"
                )));
            }
            if let Ok(mut set) = state.workspaces.0.write() {
                set.insert(id);
            }
            Ok(Workspace(id))
        })
    }
}

/// Registers every resource's routes; mounted at `/`, `/api` and `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    info::routes(cfg);
    annotation_queues::routes(cfg);
    health::routes(cfg);
    ingest::routes(cfg);
    feedback::routes(cfg);
    datasets::routes(cfg);
    examples::routes(cfg);
    feedback_configs::routes(cfg);
    rules::routes(cfg);
    rule_logs::routes(cfg);
    run_stats::routes(cfg);
    runs::routes(cfg);
    sessions::routes(cfg);
    docs::routes(cfg);
}

/// The URL prefix a request came in under (`""`, `/api` or `/api/v1`), so links we hand out
/// point back the same way.
pub fn mount_prefix(req: &HttpRequest) -> &'static str {
    let path = req.path();
    if path.starts_with("/api/v1/") {
        "/api/v1"
    } else if path.starts_with("/api/") {
        "/api"
    } else {
        ""
    }
}

/// Absolute base URL of this server as the client reached it.
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}{}", info.scheme(), info.host(), mount_prefix(req))
}

/// Deletes one thing of the workspace by id with `delete` (a storage function answering
/// whether something was deleted) and answers as `deleted_or_not_found` does.
pub async fn delete_by_id(
    state: State,
    workspace: Workspace,
    id: Uuid,
    what: &'static str,
    delete: fn(&mut crate::db::DbConnection, &str, &str) -> diesel::QueryResult<bool>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let deleted = state
        .db
        .run(move |conn| Ok(delete(conn, &workspace.id(), &id.to_string())?))
        .await?;
    deleted_or_not_found(deleted, what, id)
}

/// The answer to a DELETE: `{}` when something was deleted, else 404 naming what was missing.
pub fn deleted_or_not_found(
    deleted: bool,
    what: &str,
    id: Uuid,
) -> Result<actix_web::HttpResponse, ApiError> {
    if deleted {
        Ok(actix_web::HttpResponse::Ok().json(serde_json::json!({})))
    } else {
        Err(ApiError::not_found(format!("{what} {id} not found")))
    }
}

/// The workspace named by a download link (`tenant=`); links carry it because the SDKs fetch
/// them without headers. (Links are to be signed once authentication exists.)
pub fn link_workspace(params: &params::QueryParams) -> Result<Workspace, ApiError> {
    Ok(params
        .uuids("tenant")?
        .into_iter()
        .next()
        .map_or(Workspace(DEFAULT_WORKSPACE_ID), Workspace))
}
