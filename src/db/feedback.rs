//! Feedback, presigned feedback tokens and feedback configs.

use std::collections::{HashMap, HashSet};

use diesel::dsl::{avg, count_star};
use diesel::prelude::*;
use uuid::Uuid;

use super::models::{FeedbackConfigRow, FeedbackRow, FeedbackTokenRow};
use super::schema::{feedback, feedback_configs, feedback_tokens, runs};
use super::sessions::escape_like;
use super::{CHUNK, DbConnection};
use crate::ingest::ops::FeedbackOp;

pub fn row_from_op(workspace_id: &str, op: &FeedbackOp, now: i64) -> FeedbackRow {
    let text = |id: Option<Uuid>| id.map(|u| u.to_string());
    FeedbackRow {
        id: op.id.to_string(),
        workspace_id: workspace_id.to_string(),
        run_id: text(op.run_id),
        trace_id: text(op.trace_id),
        session_id: text(op.session_id),
        key: op.key.clone(),
        score: op.score,
        value: op.value.clone(),
        comment: op.comment.clone(),
        correction: op.correction.clone(),
        feedback_source: op.feedback_source.clone(),
        feedback_config: op.feedback_config.clone(),
        feedback_group_id: text(op.feedback_group_id),
        extra: op.extra.clone(),
        created_at: op.created_at.unwrap_or(now),
        modified_at: op.modified_at.unwrap_or(now),
        comparative_experiment_id: text(op.comparative_experiment_id),
        source_type: op.source_type.clone(),
    }
}

/// Inserts the feedback whose ids are not stored yet (a retried request re-sends the same
/// ids) and returns the rows inserted.
pub fn insert_new(
    conn: &mut DbConnection,
    workspace_id: &str,
    ops: &[&FeedbackOp],
    now: i64,
) -> QueryResult<Vec<FeedbackRow>> {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = ops.iter().map(|f| f.id.to_string()).collect();
    let mut existing: HashSet<String> = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        existing.extend(
            feedback::table
                .filter(feedback::id.eq_any(chunk))
                .select(feedback::id)
                .load::<String>(conn)?,
        );
    }
    let mut rows: Vec<FeedbackRow> = ops
        .iter()
        .filter(|f| existing.insert(f.id.to_string()))
        .map(|f| row_from_op(workspace_id, f, now))
        .collect();
    fill_from_runs(conn, workspace_id, &mut rows)?;
    for chunk in rows.chunks(CHUNK) {
        super::per_backend!(conn, |c| diesel::insert_into(feedback::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(rows)
}

/// Run feedback names its run's trace and project, as LangSmith's does, when the run is
/// stored already (feedback may arrive first); the run's own values win over what a client
/// sent.
fn fill_from_runs(
    conn: &mut DbConnection,
    workspace_id: &str,
    rows: &mut [FeedbackRow],
) -> QueryResult<()> {
    let wanted: Vec<String> = rows.iter().filter_map(|r| r.run_id.clone()).collect();
    let found: HashMap<String, (Option<String>, Option<String>)> =
        super::load_chunked(&wanted, |chunk| {
            runs::table
                .filter(runs::workspace_id.eq(workspace_id))
                .filter(runs::id.eq_any(chunk))
                .select((runs::id, (runs::trace_id, runs::session_id)))
                .load(conn)
        })?
        .into_iter()
        .collect();
    for row in rows.iter_mut() {
        if let Some((trace, session)) = row.run_id.as_ref().and_then(|id| found.get(id)) {
            row.trace_id = trace.clone().or(row.trace_id.take());
            row.session_id = session.clone().or(row.session_id.take());
        }
    }
    Ok(())
}

/// Stores one feedback. The same id again (an SDK retry) returns the stored one; an id taken
/// in another workspace is `Ok(None)`.
pub fn create(
    conn: &mut DbConnection,
    workspace_id: &str,
    op: &FeedbackOp,
    now: i64,
) -> QueryResult<Option<FeedbackRow>> {
    super::write_transaction(conn, |conn| {
        let inserted = insert_new(conn, workspace_id, &[op], now)?;
        super::rule_work::enqueue_feedback(conn, workspace_id, &inserted, now)?;
        let stored = feedback::table
            .find(op.id.to_string())
            .select(FeedbackRow::as_select())
            .first(conn)?;
        Ok((stored.workspace_id == workspace_id).then_some(stored))
    })
}

pub fn find(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Option<FeedbackRow>> {
    feedback::table
        .filter(feedback::workspace_id.eq(workspace_id))
        .filter(feedback::id.eq(id))
        .select(FeedbackRow::as_select())
        .first(conn)
        .optional()
}

#[derive(Debug, Default)]
pub struct FeedbackFilter {
    pub runs: Vec<String>,
    pub keys: Vec<String>,
    pub sources: Vec<String>,
    pub sessions: Vec<String>,
    pub has_comment: Option<bool>,
    pub has_score: Option<bool>,
    /// `Some(true)`: run-level only; `Some(false)`: project-level only.
    pub run_level: Option<bool>,
    pub min_created_at: Option<i64>,
    pub max_created_at: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

pub fn list(
    conn: &mut DbConnection,
    workspace_id: &str,
    filter: &FeedbackFilter,
) -> QueryResult<Vec<FeedbackRow>> {
    let mut query = feedback::table
        .filter(feedback::workspace_id.eq(workspace_id))
        .select(FeedbackRow::as_select())
        .into_boxed();
    if !filter.runs.is_empty() {
        query = query.filter(feedback::run_id.eq_any(&filter.runs));
    }
    if !filter.keys.is_empty() {
        query = query.filter(feedback::key.eq_any(&filter.keys));
    }
    if !filter.sources.is_empty() {
        query = query.filter(feedback::source_type.eq_any(&filter.sources));
    }
    if !filter.sessions.is_empty() {
        // Run feedback belongs to the project of its run.
        let project_runs = runs::table
            .filter(runs::workspace_id.eq(workspace_id.to_string()))
            .filter(runs::session_id.eq_any(filter.sessions.clone()))
            .select(runs::id.nullable());
        query = query.filter(
            feedback::session_id
                .eq_any(filter.sessions.clone())
                .or(feedback::run_id.eq_any(project_runs)),
        );
    }
    match filter.has_comment {
        Some(true) => {
            query = query.filter(
                feedback::comment
                    .is_not_null()
                    .and(feedback::comment.ne("")),
            )
        }
        Some(false) => {
            query = query.filter(feedback::comment.is_null().or(feedback::comment.eq("")))
        }
        None => {}
    }
    match filter.has_score {
        Some(true) => query = query.filter(feedback::score.is_not_null()),
        Some(false) => query = query.filter(feedback::score.is_null()),
        None => {}
    }
    match filter.run_level {
        Some(true) => query = query.filter(feedback::run_id.is_not_null()),
        Some(false) => query = query.filter(feedback::run_id.is_null()),
        None => {}
    }
    if let Some(min) = filter.min_created_at {
        query = query.filter(feedback::created_at.ge(min));
    }
    if let Some(max) = filter.max_created_at {
        query = query.filter(feedback::created_at.le(max));
    }
    query
        .order((feedback::created_at.desc(), feedback::id.desc()))
        .limit(filter.limit)
        .offset(filter.offset)
        .load(conn)
}

/// Saves a changed feedback (naming its run's trace and project, like new feedback); its run
/// is evaluated again by the rules that watch it.
pub fn update(conn: &mut DbConnection, row: &mut FeedbackRow) -> QueryResult<()> {
    super::write_transaction(conn, |conn| {
        let workspace_id = row.workspace_id.clone();
        fill_from_runs(conn, &workspace_id, std::slice::from_mut(row))?;
        diesel::update(
            feedback::table
                .filter(feedback::workspace_id.eq(&workspace_id))
                .filter(feedback::id.eq(&row.id)),
        )
        .set(&*row)
        .execute(conn)?;
        let rated = std::slice::from_ref(&*row);
        super::rule_work::enqueue_feedback(conn, &workspace_id, rated, row.modified_at)?;
        Ok(())
    })
}

pub fn delete(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<bool> {
    let deleted = diesel::delete(
        feedback::table
            .filter(feedback::workspace_id.eq(workspace_id))
            .filter(feedback::id.eq(id)),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}

/// Count and mean score per key of a project's project-level feedback (no run).
pub fn session_level_stats(
    conn: &mut DbConnection,
    workspace_id: &str,
    session_id: &str,
) -> QueryResult<Vec<(String, i64, Option<f64>)>> {
    feedback::table
        .filter(feedback::workspace_id.eq(workspace_id))
        .filter(feedback::session_id.eq(session_id))
        .filter(feedback::run_id.is_null())
        .group_by(feedback::key)
        .select((feedback::key, count_star(), avg(feedback::score)))
        .order(feedback::key.asc())
        .load(conn)
}

pub fn insert_tokens(conn: &mut DbConnection, rows: &[FeedbackTokenRow]) -> QueryResult<()> {
    super::write_transaction(conn, |conn| {
        for row in rows {
            diesel::insert_into(feedback_tokens::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A token by id, whatever its workspace: holding the token is the permission.
pub fn find_token(conn: &mut DbConnection, id: &str) -> QueryResult<Option<FeedbackTokenRow>> {
    feedback_tokens::table
        .find(id)
        .select(FeedbackTokenRow::as_select())
        .first(conn)
        .optional()
}

pub fn tokens_for_run(
    conn: &mut DbConnection,
    workspace_id: &str,
    run_id: &str,
) -> QueryResult<Vec<FeedbackTokenRow>> {
    feedback_tokens::table
        .filter(feedback_tokens::workspace_id.eq(workspace_id))
        .filter(feedback_tokens::run_id.eq(run_id))
        .order(feedback_tokens::created_at.asc())
        .select(FeedbackTokenRow::as_select())
        .load(conn)
}

/// A feedback config, deleted ones included (a deleted key can be created again).
pub fn find_config(
    conn: &mut DbConnection,
    workspace_id: &str,
    key: &str,
) -> QueryResult<Option<FeedbackConfigRow>> {
    feedback_configs::table
        .find((workspace_id, key))
        .select(FeedbackConfigRow::as_select())
        .first(conn)
        .optional()
}

pub fn save_config(conn: &mut DbConnection, row: &FeedbackConfigRow) -> QueryResult<()> {
    let exists = find_config(conn, &row.workspace_id, &row.feedback_key)?.is_some();
    if exists {
        diesel::update(feedback_configs::table.find((&row.workspace_id, &row.feedback_key)))
            .set(row)
            .execute(conn)?;
    } else {
        diesel::insert_into(feedback_configs::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn list_configs(
    conn: &mut DbConnection,
    workspace_id: &str,
    keys: &[String],
    name_contains: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<FeedbackConfigRow>> {
    let mut query = feedback_configs::table
        .filter(feedback_configs::workspace_id.eq(workspace_id))
        .filter(feedback_configs::deleted.eq(false))
        .select(FeedbackConfigRow::as_select())
        .into_boxed();
    if !keys.is_empty() {
        query = query.filter(feedback_configs::feedback_key.eq_any(keys));
    }
    if let Some(part) = name_contains {
        query = query.filter(
            feedback_configs::feedback_key
                .like(format!("%{}%", escape_like(part)))
                .escape('\\'),
        );
    }
    query
        .order(feedback_configs::feedback_key.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)
}
