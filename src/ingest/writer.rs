//! The ingest writer: one thread that commits queued batches many at a time (group commit),
//! so the database sees one transaction per burst instead of one per run. A request is
//! answered only after its batch is committed; a full queue is answered 429 at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::IngestBatch;
use crate::config::Config;
use crate::db::{Db, DbConnection, is_retryable, runs};
use crate::error::{ApiError, ApiResult};
use crate::rule_worker::RuleWorker;

/// How often a transaction that lost a race with another writer is run again.
const RACE_RETRIES: usize = 5;

struct Job {
    batch: IngestBatch,
    reply: oneshot::Sender<ApiResult<()>>,
}

/// Cheap to clone: every HTTP worker holds one.
#[derive(Clone)]
pub struct Writer {
    sender: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
    commit_timeout: Duration,
}

impl Writer {
    /// Starts the writer thread. It ends, after committing what is queued, once every
    /// `Writer` clone is dropped.
    pub fn start(db: Db, config: &Config, rules: RuleWorker) -> (Writer, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(config.ingest_queue_runs.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let worker = WriterThread {
            db,
            receiver,
            queued: queued.clone(),
            group_runs: config.ingest_group_runs.max(1),
            conn: None,
            inserted: 0,
            next_analyze: FIRST_ANALYZE,
            analyzing: Default::default(),
            rules,
        };
        let handle = std::thread::Builder::new()
            .name("ingest-writer".into())
            .spawn(move || worker.run())
            .expect("spawning the ingest writer thread");
        let writer = Writer {
            sender,
            queued,
            capacity: config.ingest_queue_runs,
            commit_timeout: config.ingest_commit_timeout,
        };
        (writer, handle)
    }

    /// Queues a batch and waits for its commit.
    pub async fn submit(&self, batch: IngestBatch) -> ApiResult<()> {
        let weight = batch.weight();
        let before = self.queued.fetch_add(weight, Ordering::SeqCst);
        // One oversized batch is still taken when the queue is empty.
        if before > 0 && before + weight > self.capacity {
            self.queued.fetch_sub(weight, Ordering::SeqCst);
            return Err(ApiError::Overloaded {
                retry_after_secs: 1,
            });
        }
        let (reply, answer) = oneshot::channel();
        if let Err(err) = self.sender.try_send(Job { batch, reply }) {
            self.queued.fetch_sub(weight, Ordering::SeqCst);
            return Err(match err {
                mpsc::error::TrySendError::Full(_) => ApiError::Overloaded {
                    retry_after_secs: 1,
                },
                mpsc::error::TrySendError::Closed(_) => ApiError::Unavailable {
                    retry_after_secs: 5,
                },
            });
        }
        match tokio::time::timeout(self.commit_timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::internal("ingest writer stopped")),
            // Still queued: the client retries, and re-applying the same batch is harmless.
            Err(_) => Err(ApiError::Unavailable {
                retry_after_secs: 2,
            }),
        }
    }
}

struct WriterThread {
    db: Db,
    receiver: mpsc::Receiver<Job>,
    queued: Arc<AtomicUsize>,
    group_runs: usize,
    conn: Option<DbConnection>,
    /// Runs inserted by this writer, and the count at which statistics are next refreshed.
    inserted: usize,
    next_analyze: usize,
    /// A statistics refresh is running.
    analyzing: Arc<std::sync::atomic::AtomicBool>,
    /// Woken when a commit queued traces for the run rules.
    rules: RuleWorker,
}

/// First statistics refresh after this many new runs; then each time the count doubles.
const FIRST_ANALYZE: usize = 1_000;

impl WriterThread {
    fn run(mut self) {
        while let Some(first) = self.receiver.blocking_recv() {
            let mut weight = first.batch.weight();
            let mut jobs = vec![first];
            // Everything that queued up while the last commit ran goes into this one.
            while weight < self.group_runs {
                match self.receiver.try_recv() {
                    Ok(job) => {
                        weight += job.batch.weight();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit(jobs);
            self.queued.fetch_sub(weight, Ordering::SeqCst);
        }
        log::info!("ingest writer stopped: queue drained");
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        let batches: Vec<&IngestBatch> = jobs.iter().map(|j| &j.batch).collect();
        let together = self.apply(&batches);
        if together.is_ok() || jobs.len() == 1 {
            for job in jobs {
                // Every job of the group gets the group's outcome.
                let _ = job.reply.send(together.clone());
            }
            return;
        }
        // One bad batch must not fail its neighbours: commit each on its own.
        for job in jobs {
            let result = self.apply(&[&job.batch]);
            let _ = job.reply.send(result);
        }
    }

    fn apply(&mut self, batches: &[&IngestBatch]) -> ApiResult<()> {
        let mut attempt = 0;
        loop {
            let conn = self.connection()?;
            match runs::apply_batches(conn, batches) {
                Ok(applied) => {
                    self.note_inserted(applied.inserted);
                    if applied.rule_work_queued {
                        self.rules.wake();
                    }
                    return Ok(());
                }
                Err(err) if is_retryable(&err) && attempt < RACE_RETRIES => {
                    attempt += 1;
                    log::debug!("ingest transaction raced another writer, retrying: {err}");
                }
                Err(err) => {
                    let broken = matches!(err, diesel::result::Error::BrokenTransactionManager)
                        || diesel::r2d2::R2D2Connection::is_broken(conn);
                    if broken {
                        self.conn = None;
                    }
                    return Err(ApiError::from(err));
                }
            }
        }
    }

    fn note_inserted(&mut self, inserted: usize) {
        self.inserted += inserted;
        if self.inserted < self.next_analyze {
            return;
        }
        self.next_analyze = self.inserted.saturating_mul(2);
        // ANALYZE takes hundreds of milliseconds on a large table: run it beside the writer
        // on a connection of its own, one at a time, so commits never wait for it.
        if self.analyzing.swap(true, Ordering::SeqCst) {
            return;
        }
        let (db, analyzing) = (self.db.clone(), self.analyzing.clone());
        let spawned = std::thread::Builder::new()
            .name("statistics".into())
            .spawn(move || {
                let outcome = db
                    .dedicated_connection()
                    .map_err(|e| e.to_string())
                    .and_then(|mut conn| {
                        runs::refresh_statistics(&mut conn).map_err(|e| e.to_string())
                    });
                if let Err(err) = outcome {
                    log::warn!("refreshing table statistics failed: {err}");
                }
                analyzing.store(false, Ordering::SeqCst);
            });
        if spawned.is_err() {
            self.analyzing.store(false, Ordering::SeqCst);
        }
    }

    fn connection(&mut self) -> ApiResult<&mut DbConnection> {
        if self.conn.is_none() {
            match self.db.dedicated_connection() {
                Ok(conn) => self.conn = Some(conn),
                Err(err) => {
                    log::warn!("ingest writer cannot connect to the database: {err}");
                    return Err(ApiError::Unavailable {
                        retry_after_secs: 2,
                    });
                }
            }
        }
        Ok(self.conn.as_mut().expect("set above"))
    }
}
