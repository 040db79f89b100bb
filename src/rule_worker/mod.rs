//! The rule worker: tokio tasks inside the server that apply run rules as runs end and
//! feedback arrives, backfill new rules over past runs and deliver webhooks. All progress is
//! in the database (see `db::rule_work`), so a restart resumes where the last commit left off
//! and replicas on one PostgreSQL share the work.

pub mod apply;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::Config;
use crate::db::{Db, is_retryable, rule_work};
use crate::time::now_micros;

/// Wakes the worker: cheap to clone and to call (ingest and feedback call it after commits
/// that queued rule work).
#[derive(Clone, Default)]
pub struct RuleWorker {
    rules: Arc<Notify>,
    webhooks: Arc<Notify>,
}

impl RuleWorker {
    /// New work was committed: look now rather than at the next poll.
    pub fn wake(&self) {
        self.rules.notify_one();
    }

    /// Starts the tasks. Must be called inside the tokio runtime; they end with it.
    pub fn spawn(&self, db: Db, config: &Config) {
        let (rules, webhooks) = (self.rules.clone(), self.webhooks.clone());
        let poll = config.rule_poll_interval;
        let page = config.rule_backfill_page as i64;
        let worker_db = db.clone();
        let webhook_wake = webhooks.clone();
        tokio::spawn(async move { run_rules(worker_db, rules, webhook_wake, poll, page).await });
        let sender = webhooks::Sender::new(db, config);
        tokio::spawn(async move { sender.run(webhooks, poll).await });
    }
}

/// How long the worker rests after a database error before it tries again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// How long traces whose evaluation fails are set aside (microseconds).
const POSTPONE: i64 = 60_000_000;

async fn run_rules(
    db: Db,
    wake: Arc<Notify>,
    webhooks: Arc<Notify>,
    poll: Duration,
    backfill_page: i64,
) {
    loop {
        match work_once(&db, backfill_page).await {
            Ok(Progress {
                worked,
                webhooks_queued,
            }) => {
                if webhooks_queued {
                    webhooks.notify_one();
                }
                if worked {
                    continue;
                }
            }
            Err(err) => {
                log::warn!("rule worker: {err}");
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

struct Progress {
    worked: bool,
    webhooks_queued: bool,
}

/// Evaluates everything queued, then one page of backfill (so that live feedback never waits
/// behind a long backfill).
async fn work_once(db: &Db, backfill_page: i64) -> crate::error::ApiResult<Progress> {
    db.run(move |conn| {
        let mut progress = Progress {
            worked: false,
            webhooks_queued: false,
        };
        // Plain reads first: an idle worker never takes SQLite's write lock.
        while rule_work::any_pending(conn, now_micros())? {
            let report = match apply::pending_step(conn, now_micros()) {
                Ok(Some(report)) => report,
                Ok(None) => break,
                Err(err) if is_retryable(&err) => return Err(err.into()),
                Err(err) => {
                    // Not a race: something in the oldest traces fails every time. Set them
                    // aside so the rest of the queue is not stuck behind them.
                    let now = now_micros();
                    let postponed = rule_work::postpone_oldest(conn, now, now + POSTPONE)?;
                    log::error!("rule worker: evaluating traces failed, {postponed} set aside for a minute: {err}");
                    continue;
                }
            };
            log::debug!(
                "rule worker: {} traces evaluated, {} new applications",
                report.evaluated,
                report.applied
            );
            progress.webhooks_queued |= report.webhooks_queued > 0;
        }
        if rule_work::any_backfill(conn)?
            && let Some(report) = apply::backfill_step(conn, backfill_page, now_micros())?
        {
            log::debug!(
                "rule worker: backfill page of {} runs, {} new applications",
                report.evaluated,
                report.applied
            );
            progress.worked = true;
            progress.webhooks_queued |= report.webhooks_queued > 0;
        }
        Ok(progress)
    })
    .await
}
