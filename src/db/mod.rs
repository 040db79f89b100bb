//! Storage: one code path for SQLite and PostgreSQL through a diesel `MultiConnection`.
//! Dialect differences live in this module only.

pub mod annotation_queues;
pub mod comparative;
pub mod datasets;
pub mod feedback;
pub mod models;
pub mod rule_work;
pub mod run_filter;
pub mod run_rules;
pub mod run_stats;
pub mod runs;
pub mod schema;
pub mod sessions;
pub mod workspaces;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{Backend, Config};
use crate::error::{ApiError, ApiResult};

/// Runs the same diesel expression on whichever backend `conn` is, for the few statements the
/// multi-backend layer cannot express (multi-row INSERT, row locks).
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

impl DbConnection {
    /// Which SQL dialect this connection speaks, for the few queries written as text.
    pub fn dialect(&self) -> run_filter::Dialect {
        match self {
            DbConnection::Postgresql(_) => run_filter::Dialect::Postgres,
            DbConnection::Sqlite(_) => run_filter::Dialect::Sqlite,
        }
    }
}

/// Rows per multi-row INSERT and ids per `IN (...)`: well under both backends' bind limits.
pub const CHUNK: usize = 400;

/// Loads rows for many ids, `CHUNK` ids per query, in one list.
pub fn load_chunked<T>(
    ids: &[String],
    mut load: impl FnMut(&[String]) -> QueryResult<Vec<T>>,
) -> QueryResult<Vec<T>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        out.extend(load(chunk)?);
    }
    Ok(out)
}

/// Runs `work` in a transaction that writes. On SQLite it takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`): a transaction that reads first and writes later fails at once with
/// SQLITE_BUSY when another writer committed in between, whereas waiting for the lock up
/// front honours `busy_timeout`. Nested `transaction` calls inside become savepoints.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Transactions = <DbConnection as Connection>::TransactionManager;
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    let nested = AnsiTransactionManager::transaction_manager_status_mut(sqlite)
        .transaction_depth()?
        .is_some();
    if nested {
        // Already holding the lock: a savepoint.
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    // Begun on the SQLite connection inside; the multi-backend manager ends it there.
    match work(conn) {
        Ok(value) => {
            Transactions::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => {
            Transactions::rollback_transaction(conn)?;
            Err(err)
        }
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary constant naming the advisory lock replicas take while migrating PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x100b_5e1f;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot connect to the database {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("database migrations failed: {0}")]
    Migrate(String),
}

/// Opens connections of the backend the URL names; never guesses from the URL's shape.
#[derive(Clone, Debug)]
pub struct Manager {
    backend: Backend,
    target: String,
}

impl Manager {
    pub fn new(config: &Config) -> Result<Self, StartupError> {
        let backend = config.backend()?;
        let target = match backend {
            Backend::Sqlite => config
                .database_url
                .trim_start_matches("sqlite://")
                .to_string(),
            Backend::Postgres => config.database_url.clone(),
        };
        Ok(Manager { backend, target })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; FULL makes every commit durable.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // Statements are cached per connection; a generic plan made while a table was
                // small (a sequential scan) would stay in use as it grows. Plan each execution.
                conn.batch_execute("SET plan_cache_mode = force_custom_plan")
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgresql(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// Handle to the database for request handlers: runs blocking diesel work off the async runtime.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    manager: Manager,
}

impl Db {
    /// Connects, runs pending migrations and makes sure the default workspace exists.
    pub fn open(config: &Config) -> Result<Db, StartupError> {
        let manager = Manager::new(config)?;
        let connect_error = |reason: String| StartupError::Connect {
            url: config.redacted_database_url(),
            reason,
        };
        let mut conn = manager
            .connect()
            .map_err(|e| connect_error(first_line(&e.to_string())))?;
        migrate(&mut conn)?;
        workspaces::ensure_default(&mut conn).map_err(|e| StartupError::Migrate(e.to_string()))?;
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size)
            .connection_timeout(std::time::Duration::from_secs(10))
            .build(manager.clone())
            .map_err(|e| connect_error(first_line(&e.to_string())))?;
        Ok(Db { pool, manager })
    }

    pub fn backend(&self) -> Backend {
        self.manager.backend()
    }

    /// A connection of its own, outside the pool (the ingest writer keeps one).
    pub fn dedicated_connection(&self) -> Result<DbConnection, r2d2::Error> {
        self.manager.connect()
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    /// Whether the database answers a trivial query now.
    pub async fn is_ready(&self) -> bool {
        self.run(|conn| conn.batch_execute("SELECT 1").map_err(ApiError::from))
            .await
            .is_ok()
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

fn migrate(conn: &mut DbConnection) -> Result<(), StartupError> {
    let err = |e: &dyn std::fmt::Display| StartupError::Migrate(e.to_string());
    match conn {
        DbConnection::Sqlite(c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| err(&e))?;
        }
        DbConnection::Postgresql(c) => {
            // Replicas starting together must not migrate concurrently.
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .map_err(|e| err(&e))?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .map_err(|e| err(&e))?;
            result.map_err(|e| err(&e))?;
        }
    }
    Ok(())
}

/// Whether a failed transaction may succeed if simply run again (a concurrent writer won a race).
pub fn is_retryable(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    matches!(
        err,
        E::DatabaseError(
            K::UniqueViolation | K::SerializationFailure | K::ForeignKeyViolation,
            _
        )
    ) || err.to_string().contains("deadlock detected")
        || err.to_string().contains("database is locked")
}
