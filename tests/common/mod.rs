//! Boots the real server on port 0 against a fresh database and talks HTTP to it.
//! Every storage test runs on SQLite and, when `LOOPSMITH_TEST_POSTGRES_URL` is set, PostgreSQL.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use loopsmith::config::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub url: String,
    pub backend: Backend,
    pub database_url: String,
    client: Client,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("postgres URL has a path");
    let query = url
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{base}/{name}{query}")
}

impl TestServer {
    /// `None` when the backend is not available here (PostgreSQL without the env variable).
    pub fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, &[])
    }

    pub fn start_with(backend: Backend, overrides: &[(&str, &str)]) -> Option<TestServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, postgres) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("loopsmith.db").display()),
                None,
            ),
            Backend::Postgres => {
                let admin = std::env::var("LOOPSMITH_TEST_POSTGRES_URL").ok()?;
                let name = format!("loopsmith_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin).expect("connect to test PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                (replace_database(&admin, &name), Some((admin, name)))
            }
        };
        let server = Self::boot(backend, &database_url, overrides, dir, postgres);
        Some(server)
    }

    fn boot(
        backend: Backend,
        database_url: &str,
        overrides: &[(&str, &str)],
        dir: tempfile::TempDir,
        postgres: Option<(String, String)>,
    ) -> TestServer {
        let mut vars: HashMap<String, String> = HashMap::from([
            ("LOOPSMITH_BIND".into(), "127.0.0.1:0".into()),
            ("LOOPSMITH_DATABASE_URL".into(), database_url.to_string()),
            ("LOOPSMITH_HTTP_WORKERS".into(), "2".into()),
            ("LOOPSMITH_POOL_SIZE".into(), "4".into()),
        ]);
        for (k, v) in overrides {
            vars.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match loopsmith::app::prepare(config).and_then(loopsmith::app::Prepared::listen) {
                    Ok(running) => {
                        tx.send(Ok((running.addr, running.handle.clone()))).unwrap();
                        running.wait().await.expect("server ran");
                    }
                    Err(err) => tx.send(Err(err.to_string())).unwrap(),
                }
            })
        });
        let (addr, handle) = rx
            .recv()
            .expect("server thread answered")
            .unwrap_or_else(|e| panic!("server failed to start: {e}"));
        TestServer {
            url: format!("http://{addr}"),
            backend,
            database_url: database_url.to_string(),
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            handle,
            thread: Some(thread),
            _dir: dir,
            postgres,
        }
    }

    /// A second server on the same database (another replica); the first one owns the database.
    pub fn replica(&self) -> TestServer {
        Self::boot(
            self.backend,
            &self.database_url,
            &[],
            tempfile::tempdir().unwrap(),
            None,
        )
    }

    /// Starts a new server on the database a stopped one used, keeping its files alive.
    pub fn reopen(backend: Backend, database_url: &str, mut old: TestServer) -> TestServer {
        old.stop();
        let dir = std::mem::replace(&mut old._dir, tempfile::tempdir().unwrap());
        let postgres = old.postgres.take();
        Self::boot(backend, database_url, &[], dir, postgres)
    }

    /// Stops the server gracefully (in-flight commits finish) and waits for it.
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(self.handle.stop(true));
            thread.join().expect("server thread ended");
        }
    }

    /// Adds a second workspace straight into the database (there is no API for it yet).
    pub fn create_workspace(&self) -> uuid::Uuid {
        use diesel::r2d2::ManageConnection;
        let id = uuid::Uuid::now_v7();
        let vars = HashMap::from([(
            "LOOPSMITH_DATABASE_URL".to_string(),
            self.database_url.clone(),
        )]);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        let mut conn = loopsmith::db::Manager::new(&config)
            .unwrap()
            .connect()
            .unwrap();
        diesel::insert_into(loopsmith::db::schema::workspaces::table)
            .values(loopsmith::db::models::WorkspaceRow {
                id: id.to_string(),
                name: "second".into(),
                created_at: 0,
            })
            .execute(&mut conn)
            .unwrap();
        id
    }

    /// GET with `X-Tenant-Id`.
    pub fn get_in(&self, workspace: &uuid::Uuid, path: &str) -> (u16, Value) {
        send(
            self.client
                .get(format!("{}{path}", self.url))
                .header("x-tenant-id", workspace.to_string()),
        )
    }

    pub fn post_json_in(&self, workspace: &uuid::Uuid, path: &str, body: &Value) -> (u16, Value) {
        send(
            self.client
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .header("x-tenant-id", workspace.to_string())
                .body(body.to_string()),
        )
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        send(self.client.get(format!("{}{path}", self.url)))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        send(self.client.delete(format!("{}{path}", self.url)))
    }

    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        send(
            self.client
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }

    pub fn patch_json(&self, path: &str, body: &Value) -> (u16, Value) {
        send(
            self.client
                .patch(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }

    /// Posts raw bytes with the given headers.
    pub fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
        let mut request = self.client.post(format!("{}{path}", self.url)).body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        send(request)
    }

    pub fn post_multipart(&self, body: &Multipart) -> (u16, Value) {
        self.post_raw(
            "/runs/multipart",
            &[("content-type", &body.content_type())],
            body.bytes(),
        )
    }

    /// Polls `GET path` until it answers 200 or the time is up; ingest is committed before
    /// 202, so reads should see it at once, but allow for slow CI machines.
    pub fn get_eventually(&self, path: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get(path);
            if status == 200 {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} kept answering {status}: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if let Some((admin, name)) = self.postgres.take()
            && let Ok(mut conn) = PgConnection::establish(&admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

pub fn send(request: RequestBuilder) -> (u16, Value) {
    let response: Response = request.send().expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Builds multipart bodies the way the Python SDK does (per-part Content-Length).
#[derive(Default)]
pub struct Multipart {
    parts: Vec<(String, String, Vec<u8>)>,
}

pub const BOUNDARY: &str = "3d2f6e1c9b8a4f0e8d7c6b5a4f3e2d1c";

impl Multipart {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn json(mut self, name: &str, value: &Value) -> Self {
        self.parts.push((
            name.into(),
            "application/json".into(),
            value.to_string().into_bytes(),
        ));
        self
    }

    pub fn raw(mut self, name: &str, content_type: &str, body: &[u8]) -> Self {
        self.parts
            .push((name.into(), content_type.into(), body.to_vec()));
        self
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, content_type, body) in &self.parts {
            out.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }
}

/// A dotted_order segment for a run started `offset_ms` after a fixed instant.
pub fn segment(offset_ms: i64, id: &uuid::Uuid) -> String {
    let start = chrono::DateTime::from_timestamp_millis(1_764_000_000_000 + offset_ms).unwrap();
    format!("{}{}", start.format("%Y%m%dT%H%M%S%6fZ"), id)
}

pub fn iso(offset_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(1_764_000_000_000 + offset_ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Declares each listed test function once per backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let server = $crate::common::TestServer::start($crate::common::Backend::Sqlite)
                        .expect("SQLite is always available");
                    super::$name(&server);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    match $crate::common::TestServer::start($crate::common::Backend::Postgres) {
                        Some(server) => super::$name(&server),
                        None => eprintln!("skipped: LOOPSMITH_TEST_POSTGRES_URL is not set"),
                    }
                }
            )*
        }
    };
}
