//! Builds and starts the HTTP server.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Logger, NormalizePath};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::api::{self, AppState};
use crate::config::Config;
use crate::db::{Db, StartupError};
use crate::error::{
    ApiError, ErrorBody, json_error_handler, path_error_handler, query_error_handler,
};
use crate::ingest::writer::Writer;
use crate::rule_worker::RuleWorker;

/// Everything the server needs, opened and migrated, but not yet listening.
pub struct Prepared {
    state: web::Data<AppState>,
    writer_thread: JoinHandle<()>,
}

pub fn prepare(config: Config) -> Result<Prepared, StartupError> {
    let db = Db::open(&config)?;
    let rule_worker = RuleWorker::default();
    let (writer, writer_thread) = Writer::start(db.clone(), &config, rule_worker.clone());
    Ok(Prepared {
        state: web::Data::new(AppState {
            config,
            db,
            writer,
            workspaces: Default::default(),
            rule_worker,
        }),
        writer_thread,
    })
}

/// A server that is listening; `wait` returns once it has shut down and the ingest queue
/// is committed.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    server: actix_web::dev::Server,
    writer_thread: JoinHandle<()>,
}

impl Prepared {
    /// Binds the configured address. Must be called inside an actix/tokio runtime.
    pub fn listen(self) -> Result<Running, StartupError> {
        let Prepared {
            state,
            writer_thread,
        } = self;
        let bind = state.config.bind.clone();
        state.rule_worker.spawn(state.db.clone(), &state.config);
        let workers = match state.config.http_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let server = HttpServer::new(move || {
            let json_limit = state.config.max_body_bytes;
            App::new()
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(json_limit)
                        .content_type_required(false)
                        .error_handler(|err, _| json_error_handler(err)),
                )
                .app_data(web::PayloadConfig::new(json_limit))
                .app_data(web::QueryConfig::default().error_handler(query_error_handler))
                .app_data(web::PathConfig::default().error_handler(path_error_handler))
                .service(web::scope("/api/v1/platform").configure(api::examples::platform_routes))
                .service(web::scope("/v1/platform").configure(api::examples::platform_routes))
                .service(web::scope("/api/v1").configure(api::routes))
                .service(web::scope("/api").configure(api::routes))
                .configure(api::routes)
                .default_service(web::to(unknown_route))
                .wrap(ErrorHandlers::new().default_handler(json_errors))
                .wrap(NormalizePath::trim())
                .wrap(Logger::new("%a \"%r\" %s %b %Dms"))
        })
        .workers(workers)
        .shutdown_timeout(30)
        .bind(&bind)
        .map_err(|e| StartupError::Connect {
            url: bind.clone(),
            reason: format!("cannot listen: {e}"),
        })?;
        let addr = *server
            .addrs()
            .first()
            .ok_or_else(|| StartupError::Connect {
                url: bind.clone(),
                reason: "no address bound".into(),
            })?;
        let server = server.run();
        log::info!("listening on http://{addr}");
        Ok(Running {
            addr,
            handle: server.handle(),
            server,
            writer_thread,
        })
    }
}

impl Running {
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Every Writer clone lived in the app; with them gone the writer drains and stops.
        let writer_thread = self.writer_thread;
        let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
        result
    }
}

async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Gives every error response the `{"detail": ...}` body, including actix's own plain-text ones.
fn json_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = res
        .response()
        .error()
        .map(|e| e.to_string())
        .filter(|_| status.is_client_error())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.insert_header((name.clone(), value.clone()));
        }
    }
    let response = new.json(ErrorBody { detail });
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
