//! The rule worker's storage: the traces waiting to be (re)evaluated, the applications of
//! rules to runs (the exactly-once guard and the rules' logs), webhook deliveries and backfill
//! progress. Replicas share this work through row locks (`SKIP LOCKED`) on PostgreSQL and the
//! single writer lock on SQLite; the primary key of an application is the last guard.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use super::models::{
    FeedbackRow, RuleApplicationRow, RuleStateRow, RunRow, RunRuleRow, WebhookDeliveryRow,
};
use super::schema::{
    feedback, rule_pending_traces, rule_webhook_deliveries, run_rule_applications, run_rules, runs,
    sessions,
};
use super::{CHUNK, DbConnection, load_chunked, per_backend};
use crate::filter::runs::FeedbackFacts;

/// Projects of the workspace that an enabled rule watches: named by the rule, or
/// experiments of the dataset the rule names.
pub fn watched_sessions(
    conn: &mut DbConnection,
    workspace_id: &str,
) -> QueryResult<HashSet<String>> {
    let rules: Vec<(Option<String>, Option<String>)> = run_rules::table
        .filter(run_rules::workspace_id.eq(workspace_id))
        .filter(run_rules::is_enabled.eq(true))
        .select((run_rules::session_id, run_rules::dataset_id))
        .load(conn)?;
    let mut watched: HashSet<String> = rules.iter().filter_map(|(s, _)| s.clone()).collect();
    let datasets: Vec<String> = rules.into_iter().filter_map(|(_, d)| d).collect();
    if !datasets.is_empty() {
        watched.extend(
            sessions::table
                .filter(sessions::workspace_id.eq(workspace_id))
                .filter(sessions::reference_dataset_id.eq_any(&datasets))
                .select(sessions::id)
                .load::<String>(conn)?,
        );
    }
    Ok(watched)
}

/// Queues traces for evaluation. A trace already queued gets a new version, so a worker
/// evaluating it right now leaves it queued for another look.
pub fn enqueue_traces(
    conn: &mut DbConnection,
    workspace_id: &str,
    trace_ids: &[String],
    now: i64,
) -> QueryResult<()> {
    let mut sorted: Vec<&String> = trace_ids.iter().collect();
    // Sorted so concurrent writers take the rows' locks in the same order.
    sorted.sort();
    sorted.dedup();
    let rows: Vec<_> = sorted
        .into_iter()
        .map(|trace_id| {
            (
                rule_pending_traces::trace_id.eq(trace_id),
                rule_pending_traces::workspace_id.eq(workspace_id),
                rule_pending_traces::version.eq(0i64),
                rule_pending_traces::queued_at.eq(now),
            )
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        per_backend!(conn, |c| diesel::insert_into(rule_pending_traces::table)
            .values(chunk)
            .on_conflict(rule_pending_traces::trace_id)
            .do_update()
            .set(rule_pending_traces::version.eq(rule_pending_traces::version + 1))
            .execute(c))?;
    }
    Ok(())
}

/// Queues the traces of rated runs in watched projects (their feedback changed). The rows
/// name their run's trace and project once the run is stored (`feedback::insert_new`); feedback
/// that arrived first is evaluated when its run ends. Returns whether anything was queued.
pub fn enqueue_feedback(
    conn: &mut DbConnection,
    workspace_id: &str,
    rows: &[FeedbackRow],
    now: i64,
) -> QueryResult<bool> {
    if rows.iter().all(|r| r.run_id.is_none()) {
        return Ok(false);
    }
    let traces = feedback_traces(rows, &watched_sessions(conn, workspace_id)?);
    enqueue_traces(conn, workspace_id, &traces, now)?;
    Ok(!traces.is_empty())
}

/// The traces of rated runs in `watched` projects.
pub fn feedback_traces(rows: &[FeedbackRow], watched: &HashSet<String>) -> Vec<String> {
    rows.iter()
        .filter(|r| r.run_id.is_some())
        .filter(|r| r.session_id.as_ref().is_some_and(|s| watched.contains(s)))
        .filter_map(|r| r.trace_id.clone())
        .collect()
}

/// A queued trace as a worker saw it.
#[derive(Clone, Debug)]
pub struct PendingTrace {
    pub trace_id: String,
    pub workspace_id: String,
    pub version: i64,
}

/// Whether any trace is due, without taking a lock (cheap enough to poll).
pub fn any_pending(conn: &mut DbConnection, now: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        rule_pending_traces::table
            .filter(rule_pending_traces::queued_at.le(now))
            .select(rule_pending_traces::trace_id),
    ))
    .get_result(conn)
}

/// Traces evaluated per transaction.
pub const TRACES_PER_CLAIM: i64 = 100;

/// The oldest due traces no other worker holds, locked until the transaction ends.
pub fn claim_pending(
    conn: &mut DbConnection,
    limit: i64,
    now: i64,
) -> QueryResult<Vec<PendingTrace>> {
    let query = rule_pending_traces::table
        .filter(rule_pending_traces::queued_at.le(now))
        .order((
            rule_pending_traces::queued_at,
            rule_pending_traces::trace_id,
        ))
        .limit(limit)
        .select((
            rule_pending_traces::trace_id,
            rule_pending_traces::workspace_id,
            rule_pending_traces::version,
        ));
    let rows: Vec<(String, String, i64)> = match conn {
        DbConnection::Postgresql(c) => query.for_update().skip_locked().load(c)?,
        // The transaction holds SQLite's only write lock: nobody else is claiming.
        DbConnection::Sqlite(c) => query.load(c)?,
    };
    Ok(rows
        .into_iter()
        .map(|(trace_id, workspace_id, version)| PendingTrace {
            trace_id,
            workspace_id,
            version,
        })
        .collect())
}

/// Moves the traces the next claim would take out of the way until `until`; returns how many.
pub fn postpone_oldest(conn: &mut DbConnection, now: i64, until: i64) -> QueryResult<usize> {
    super::write_transaction(conn, |conn| {
        let oldest: Vec<String> = claim_pending(conn, TRACES_PER_CLAIM, now)?
            .into_iter()
            .map(|t| t.trace_id)
            .collect();
        diesel::update(
            rule_pending_traces::table.filter(rule_pending_traces::trace_id.eq_any(&oldest)),
        )
        .set(rule_pending_traces::queued_at.eq(until))
        .execute(conn)
    })
}

/// Removes evaluated traces, unless a new event bumped their version meanwhile.
pub fn release_pending(conn: &mut DbConnection, done: &[PendingTrace]) -> QueryResult<()> {
    for trace in done {
        diesel::delete(
            rule_pending_traces::table
                .filter(rule_pending_traces::trace_id.eq(&trace.trace_id))
                .filter(rule_pending_traces::version.eq(trace.version)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Every run of these traces.
pub fn trace_runs(
    conn: &mut DbConnection,
    workspace_id: &str,
    trace_ids: &[String],
) -> QueryResult<Vec<RunRow>> {
    load_chunked(trace_ids, |chunk| {
        runs::table
            .filter(runs::workspace_id.eq(workspace_id))
            .filter(runs::trace_id.eq_any(chunk))
            .select(RunRow::as_select())
            .load(conn)
    })
}

/// The feedback of some runs as filters see it, and each run's latest `correction`.
#[derive(Default)]
pub struct RunFeedback {
    pub facts: HashMap<String, Vec<FeedbackFacts>>,
    pub corrections: HashMap<String, String>,
}

pub fn run_feedback(
    conn: &mut DbConnection,
    workspace_id: &str,
    run_ids: &[String],
) -> QueryResult<RunFeedback> {
    type Stored = (
        Option<String>,
        String,
        Option<f64>,
        Option<String>,
        String,
        Option<String>,
    );
    // Oldest first, so the last correction seen for a run is its latest.
    let stored: Vec<Stored> = load_chunked(run_ids, |chunk| {
        feedback::table
            .filter(feedback::workspace_id.eq(workspace_id))
            .filter(feedback::run_id.eq_any(chunk))
            .order((feedback::modified_at, feedback::id))
            .select((
                feedback::run_id,
                feedback::key,
                feedback::score,
                feedback::value,
                feedback::source_type,
                feedback::correction,
            ))
            .load(conn)
    })?;
    let mut out = RunFeedback::default();
    for (run_id, key, score, value, source, correction) in stored {
        let Some(run_id) = run_id else { continue };
        if let Some(correction) = correction.filter(|c| c != "null") {
            out.corrections.insert(run_id.clone(), correction);
        }
        out.facts.entry(run_id).or_default().push(FeedbackFacts {
            key,
            score,
            value,
            source,
        });
    }
    Ok(out)
}

/// Projects a rule watches: its own, or the experiments of its dataset.
pub fn rule_sessions(conn: &mut DbConnection, rule: &RunRuleRow) -> QueryResult<Vec<String>> {
    match (&rule.session_id, &rule.dataset_id) {
        (Some(session), _) => Ok(vec![session.clone()]),
        (None, Some(dataset)) => sessions::table
            .filter(sessions::workspace_id.eq(&rule.workspace_id))
            .filter(sessions::reference_dataset_id.eq(dataset))
            .select(sessions::id)
            .load(conn),
        (None, None) => Ok(Vec::new()),
    }
}

/// The enabled rules that watch a project.
pub fn rules_watching(
    conn: &mut DbConnection,
    workspace_id: &str,
    session_id: &str,
) -> QueryResult<Vec<RunRuleRow>> {
    let reference: Option<String> = sessions::table
        .filter(sessions::workspace_id.eq(workspace_id))
        .filter(sessions::id.eq(session_id))
        .select(sessions::reference_dataset_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    let mut query = run_rules::table
        .filter(run_rules::workspace_id.eq(workspace_id))
        .filter(run_rules::is_enabled.eq(true))
        .select(RunRuleRow::as_select())
        .into_boxed();
    query = match reference {
        Some(dataset) => query.filter(
            run_rules::session_id
                .eq(session_id.to_string())
                .or(run_rules::dataset_id.eq(dataset)),
        ),
        None => query.filter(run_rules::session_id.eq(session_id.to_string())),
    };
    query
        .order((run_rules::created_at, run_rules::id))
        .load(conn)
}

/// Records that a rule matched a run; `false` when it already had (nothing more to do).
pub fn record_application(conn: &mut DbConnection, row: &RuleApplicationRow) -> QueryResult<bool> {
    let inserted = per_backend!(conn, |c| diesel::insert_into(run_rule_applications::table)
        .values(row)
        .on_conflict((
            run_rule_applications::rule_id,
            run_rule_applications::run_id
        ))
        .do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

pub fn set_outcomes(
    conn: &mut DbConnection,
    rule_id: &str,
    run_id: &str,
    outcomes: &str,
) -> QueryResult<()> {
    diesel::update(run_rule_applications::table.find((rule_id, run_id)))
        .set(run_rule_applications::outcomes.eq(outcomes))
        .execute(conn)
        .map(|_| ())
}

/// Turns a rule off and says why.
pub fn disable_rule(conn: &mut DbConnection, rule_id: &str, reason: &str) -> QueryResult<()> {
    log::warn!("run rule {rule_id} disabled: {reason}");
    diesel::update(run_rules::table.find(rule_id))
        .set((
            run_rules::is_enabled.eq(false),
            run_rules::disabled_reason.eq(reason),
        ))
        .execute(conn)
        .map(|_| ())
}

/// What a deleted object was to the rules that point at it.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    Dataset,
    Queue,
    Project,
}

/// Disables the rules that act on (or watch) a deleted dataset, queue or project.
pub fn disable_rules_on(
    conn: &mut DbConnection,
    workspace_id: &str,
    target: Target,
    id: &str,
) -> QueryResult<()> {
    let rules = run_rules::table
        .filter(run_rules::workspace_id.eq(workspace_id))
        .filter(run_rules::is_enabled.eq(true));
    let ids: Vec<String> = match target {
        Target::Dataset => rules
            .filter(
                run_rules::add_to_dataset_id
                    .eq(id)
                    .or(run_rules::dataset_id.eq(id)),
            )
            .select(run_rules::id)
            .load(conn)?,
        Target::Queue => rules
            .filter(run_rules::add_to_annotation_queue_id.eq(id))
            .select(run_rules::id)
            .load(conn)?,
        Target::Project => rules
            .filter(run_rules::session_id.eq(id))
            .select(run_rules::id)
            .load(conn)?,
    };
    let what = match target {
        Target::Dataset => "dataset",
        Target::Queue => "annotation queue",
        Target::Project => "project",
    };
    for rule in ids {
        disable_rule(conn, &rule, &format!("its {what} {id} was deleted"))?;
    }
    Ok(())
}

pub fn rule_state(conn: &mut DbConnection, rule_id: &str) -> QueryResult<RuleStateRow> {
    run_rules::table
        .find(rule_id)
        .select(RuleStateRow::as_select())
        .first(conn)
}

/// Starts a rule's backfill from the beginning.
pub fn start_backfill(conn: &mut DbConnection, rule_id: &str) -> QueryResult<()> {
    diesel::update(run_rules::table.find(rule_id))
        .set((
            run_rules::backfill_status.eq("running"),
            run_rules::backfill_cursor_time.eq(None::<i64>),
            run_rules::backfill_cursor_id.eq(None::<String>),
            run_rules::backfill_evaluated.eq(0i64),
            run_rules::backfill_total.eq(None::<i64>),
            run_rules::backfill_completed_at.eq(None::<i64>),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Clears the reason a rule was disabled (a client turned it on again).
pub fn clear_disabled_reason(conn: &mut DbConnection, rule_id: &str) -> QueryResult<()> {
    diesel::update(run_rules::table.find(rule_id))
        .set(run_rules::disabled_reason.eq(None::<String>))
        .execute(conn)
        .map(|_| ())
}

/// An enabled rule with a backfill to do that no other worker is doing, locked until the
/// transaction ends (`NO KEY UPDATE`: applications of the rule elsewhere may still insert).
pub fn claim_backfill(conn: &mut DbConnection) -> QueryResult<Option<(RunRuleRow, RuleStateRow)>> {
    // Built per backend: the selection's row type is tied to the backend it loads from.
    macro_rules! query {
        () => {
            run_rules::table
                .filter(run_rules::is_enabled.eq(true))
                .filter(run_rules::backfill_status.eq("running"))
                .order((run_rules::created_at, run_rules::id))
                .select((RunRuleRow::as_select(), RuleStateRow::as_select()))
                .limit(1)
        };
    }
    match conn {
        DbConnection::Postgresql(c) => query!()
            .for_no_key_update()
            .skip_locked()
            .first(c)
            .optional(),
        DbConnection::Sqlite(c) => query!().first(c).optional(),
    }
}

/// Runs of these projects from `from` on, after the cursor, in (start time, id) order.
pub fn backfill_page(
    conn: &mut DbConnection,
    workspace_id: &str,
    sessions: &[String],
    from: i64,
    after: Option<(i64, String)>,
    limit: i64,
) -> QueryResult<Vec<RunRow>> {
    let mut query = runs::table
        .filter(runs::workspace_id.eq(workspace_id))
        .filter(runs::session_id.eq_any(sessions))
        .filter(runs::start_time.ge(from))
        .select(RunRow::as_select())
        .order((runs::start_time, runs::id))
        .limit(limit)
        .into_boxed();
    if let Some((time, id)) = after {
        query = query.filter(
            runs::start_time
                .gt(time)
                .or(runs::start_time.eq(time).and(runs::id.gt(id))),
        );
    }
    query.load(conn)
}

pub fn backfill_total(
    conn: &mut DbConnection,
    workspace_id: &str,
    sessions: &[String],
    from: i64,
) -> QueryResult<i64> {
    runs::table
        .filter(runs::workspace_id.eq(workspace_id))
        .filter(runs::session_id.eq_any(sessions))
        .filter(runs::start_time.ge(from))
        .count()
        .get_result(conn)
}

/// Saves a backfill's progress: the last run evaluated and the running count; `done` ends it.
pub fn save_backfill(
    conn: &mut DbConnection,
    rule_id: &str,
    state: &RuleStateRow,
) -> QueryResult<()> {
    diesel::update(run_rules::table.find(rule_id))
        .set((
            run_rules::backfill_status.eq(&state.backfill_status),
            run_rules::backfill_cursor_time.eq(state.backfill_cursor_time),
            run_rules::backfill_cursor_id.eq(&state.backfill_cursor_id),
            run_rules::backfill_evaluated.eq(state.backfill_evaluated),
            run_rules::backfill_total.eq(state.backfill_total),
            run_rules::backfill_completed_at.eq(state.backfill_completed_at),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn queue_webhook(conn: &mut DbConnection, row: &WebhookDeliveryRow) -> QueryResult<()> {
    diesel::insert_into(rule_webhook_deliveries::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Takes due deliveries for `lease` microseconds: each is moved past the lease first, and
/// only the ones this call moved are returned, so two replicas never send the same attempt.
pub fn lease_due_webhooks(
    conn: &mut DbConnection,
    now: i64,
    lease: i64,
    limit: i64,
) -> QueryResult<Vec<WebhookDeliveryRow>> {
    let due: Vec<WebhookDeliveryRow> = rule_webhook_deliveries::table
        .filter(rule_webhook_deliveries::status.eq("pending"))
        .filter(rule_webhook_deliveries::next_attempt_at.le(now))
        .order(rule_webhook_deliveries::next_attempt_at)
        .limit(limit)
        .select(WebhookDeliveryRow::as_select())
        .load(conn)?;
    let mut leased = Vec::new();
    for mut row in due {
        let moved = diesel::update(
            rule_webhook_deliveries::table
                .filter(rule_webhook_deliveries::id.eq(&row.id))
                .filter(rule_webhook_deliveries::status.eq("pending"))
                .filter(rule_webhook_deliveries::next_attempt_at.eq(row.next_attempt_at)),
        )
        .set(rule_webhook_deliveries::next_attempt_at.eq(now + lease))
        .execute(conn)?;
        if moved == 1 {
            row.next_attempt_at = now + lease;
            leased.push(row);
        }
    }
    Ok(leased)
}

/// The earliest time a pending delivery is due, if any.
pub fn next_webhook_due(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    rule_webhook_deliveries::table
        .filter(rule_webhook_deliveries::status.eq("pending"))
        .select(diesel::dsl::min(rule_webhook_deliveries::next_attempt_at))
        .first(conn)
}

/// Records an attempt: `status` stays pending (with the next attempt's time) or ends.
pub fn save_webhook_attempt(conn: &mut DbConnection, row: &WebhookDeliveryRow) -> QueryResult<()> {
    diesel::update(rule_webhook_deliveries::table.find(&row.id))
        .set((
            rule_webhook_deliveries::status.eq(&row.status),
            rule_webhook_deliveries::attempts.eq(row.attempts),
            rule_webhook_deliveries::next_attempt_at.eq(row.next_attempt_at),
            rule_webhook_deliveries::last_error.eq(&row.last_error),
            rule_webhook_deliveries::response_status.eq(row.response_status),
            rule_webhook_deliveries::finished_at.eq(row.finished_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Which applications a log listing wants.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    /// `Some(true)`: backfill only; `Some(false)`: live only.
    pub backfill: Option<bool>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub session_id: Option<String>,
    /// Newest first, strictly before this (applied_at, run_id).
    pub before: Option<(i64, String)>,
    pub offset: i64,
    pub limit: i64,
}

/// A rule's applications, newest first.
pub fn applications(
    conn: &mut DbConnection,
    rule_id: &str,
    filter: &LogFilter,
) -> QueryResult<Vec<RuleApplicationRow>> {
    let mut query = run_rule_applications::table
        .filter(run_rule_applications::rule_id.eq(rule_id.to_string()))
        .select(RuleApplicationRow::as_select())
        .into_boxed();
    if let Some(backfill) = filter.backfill {
        query = query.filter(run_rule_applications::backfill.eq(backfill));
    }
    if let Some(start) = filter.start_time {
        query = query.filter(run_rule_applications::applied_at.ge(start));
    }
    if let Some(end) = filter.end_time {
        query = query.filter(run_rule_applications::applied_at.le(end));
    }
    if let Some(session) = &filter.session_id {
        query = query.filter(run_rule_applications::session_id.eq(session.clone()));
    }
    if let Some((at, run)) = &filter.before {
        query = query.filter(
            run_rule_applications::applied_at
                .lt(*at)
                .or(run_rule_applications::applied_at
                    .eq(*at)
                    .and(run_rule_applications::run_id.lt(run.clone()))),
        );
    }
    query
        .order((
            run_rule_applications::applied_at.desc(),
            run_rule_applications::run_id.desc(),
        ))
        .offset(filter.offset)
        .limit(filter.limit)
        .load(conn)
}

/// The webhook deliveries of some applications of a rule.
pub fn deliveries(
    conn: &mut DbConnection,
    rule_id: &str,
    run_ids: &[String],
) -> QueryResult<Vec<WebhookDeliveryRow>> {
    load_chunked(run_ids, |chunk| {
        rule_webhook_deliveries::table
            .filter(rule_webhook_deliveries::rule_id.eq(rule_id))
            .filter(rule_webhook_deliveries::run_id.eq_any(chunk))
            .order(rule_webhook_deliveries::created_at)
            .select(WebhookDeliveryRow::as_select())
            .load(conn)
    })
}

/// Whether some enabled rule has a backfill to do (a plain read, cheap enough to poll).
pub fn any_backfill(conn: &mut DbConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        run_rules::table
            .filter(run_rules::is_enabled.eq(true))
            .filter(run_rules::backfill_status.eq("running"))
            .select(run_rules::id),
    ))
    .get_result(conn)
}
