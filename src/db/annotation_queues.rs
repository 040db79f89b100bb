//! Annotation queues and the runs waiting in them.

use std::collections::{HashMap, HashSet};

use diesel::dsl::count_star;
use diesel::prelude::*;
use uuid::Uuid;

use super::DbConnection;
use super::models::{AnnotationQueueRow, QueueRunRow};
use super::rule_work::Target;
use super::schema::{annotation_queue_runs, annotation_queues, runs};
use super::sessions::escape_like;

/// `GET /annotation-queues` filters.
#[derive(Debug, Default, Clone)]
pub struct QueueFilter {
    pub ids: Vec<String>,
    pub name: Option<String>,
    pub name_contains: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

pub fn insert(conn: &mut DbConnection, row: &AnnotationQueueRow) -> QueryResult<()> {
    diesel::insert_into(annotation_queues::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Whether a queue with this id exists in any workspace (ids are global).
pub fn find_any(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(annotation_queues::table.find(id))).get_result(conn)
}

pub fn find(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Option<AnnotationQueueRow>> {
    annotation_queues::table
        .filter(annotation_queues::workspace_id.eq(workspace_id))
        .filter(annotation_queues::id.eq(id))
        .select(AnnotationQueueRow::as_select())
        .first(conn)
        .optional()
}

/// Queues, newest first, each with how many runs it holds.
pub fn list(
    conn: &mut DbConnection,
    workspace_id: &str,
    filter: &QueueFilter,
) -> QueryResult<Vec<(AnnotationQueueRow, i64)>> {
    let mut query = annotation_queues::table
        .filter(annotation_queues::workspace_id.eq(workspace_id.to_string()))
        .select(AnnotationQueueRow::as_select())
        .into_boxed();
    if !filter.ids.is_empty() {
        query = query.filter(annotation_queues::id.eq_any(filter.ids.clone()));
    }
    if let Some(name) = &filter.name {
        query = query.filter(annotation_queues::name.eq(name.clone()));
    }
    if let Some(part) = &filter.name_contains {
        query = query.filter(
            annotation_queues::name
                .like(format!("%{}%", escape_like(part)))
                .escape('\\'),
        );
    }
    let rows: Vec<AnnotationQueueRow> = query
        .order((annotation_queues::created_at.desc(), annotation_queues::id))
        .limit(filter.limit)
        .offset(filter.offset)
        .load(conn)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let sizes: HashMap<String, i64> = annotation_queue_runs::table
        .filter(annotation_queue_runs::queue_id.eq_any(ids))
        .group_by(annotation_queue_runs::queue_id)
        .select((annotation_queue_runs::queue_id, count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let size = sizes.get(&row.id).copied().unwrap_or(0);
            (row, size)
        })
        .collect())
}

pub fn update(conn: &mut DbConnection, row: &AnnotationQueueRow) -> QueryResult<()> {
    diesel::update(annotation_queues::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

pub fn delete(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<bool> {
    super::write_transaction(conn, |conn| {
        diesel::delete(annotation_queue_runs::table.filter(annotation_queue_runs::queue_id.eq(id)))
            .execute(conn)?;
        let deleted = diesel::delete(
            annotation_queues::table
                .filter(annotation_queues::workspace_id.eq(workspace_id))
                .filter(annotation_queues::id.eq(id)),
        )
        .execute(conn)?;
        if deleted > 0 {
            super::rule_work::disable_rules_on(conn, workspace_id, Target::Queue, id)?;
        }
        Ok(deleted > 0)
    })
}

/// Why runs could not be added.
#[derive(Debug)]
pub enum AddError {
    /// These run ids are not stored in the workspace.
    UnknownRuns(Vec<String>),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for AddError {
    fn from(e: diesel::result::Error) -> Self {
        AddError::Db(e)
    }
}

/// Adds runs to a queue; a run already there keeps its place. Returns the queue's entries for
/// these runs.
pub fn add_runs(
    conn: &mut DbConnection,
    workspace_id: &str,
    queue_id: &str,
    run_ids: &[String],
    now: i64,
) -> Result<Vec<QueueRunRow>, AddError> {
    super::write_transaction(conn, |conn| {
        let known: HashSet<String> = runs::table
            .filter(runs::workspace_id.eq(workspace_id))
            .filter(runs::id.eq_any(run_ids))
            .filter(runs::name.is_not_null())
            .select(runs::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        let unknown: Vec<String> = run_ids
            .iter()
            .filter(|id| !known.contains(*id))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(AddError::UnknownRuns(unknown));
        }
        let present: HashSet<String> = annotation_queue_runs::table
            .filter(annotation_queue_runs::queue_id.eq(queue_id))
            .filter(annotation_queue_runs::run_id.eq_any(run_ids))
            .select(annotation_queue_runs::run_id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        let mut seen = HashSet::new();
        // Distinct added_at values keep the order in which the runs were given.
        let new_rows: Vec<QueueRunRow> = run_ids
            .iter()
            .filter(|id| !present.contains(*id) && seen.insert((*id).clone()))
            .enumerate()
            .map(|(i, run_id)| QueueRunRow {
                id: Uuid::now_v7().to_string(),
                queue_id: queue_id.to_string(),
                workspace_id: workspace_id.to_string(),
                run_id: run_id.clone(),
                added_at: now + i as i64,
                last_reviewed_time: None,
                completed: false,
            })
            .collect();
        for row in &new_rows {
            diesel::insert_into(annotation_queue_runs::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(annotation_queue_runs::table
            .filter(annotation_queue_runs::queue_id.eq(queue_id))
            .filter(annotation_queue_runs::run_id.eq_any(run_ids))
            .order((annotation_queue_runs::added_at, annotation_queue_runs::id))
            .select(QueueRunRow::as_select())
            .load(conn)?)
    })
}

/// Review state a listing asks for: `Some(false)` waiting, `Some(true)` done, `None` all.
pub type Completed = Option<bool>;

/// A queue's entries in queue order (when added, then id).
pub fn items(
    conn: &mut DbConnection,
    queue_id: &str,
    completed: Completed,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<QueueRunRow>> {
    let mut query = annotation_queue_runs::table
        .filter(annotation_queue_runs::queue_id.eq(queue_id.to_string()))
        .select(QueueRunRow::as_select())
        .into_boxed();
    if let Some(done) = completed {
        query = query.filter(annotation_queue_runs::completed.eq(done));
    }
    query
        .order((annotation_queue_runs::added_at, annotation_queue_runs::id))
        .limit(limit)
        .offset(offset)
        .load(conn)
}

pub fn size(conn: &mut DbConnection, queue_id: &str, completed: Completed) -> QueryResult<i64> {
    let mut query = annotation_queue_runs::table
        .filter(annotation_queue_runs::queue_id.eq(queue_id.to_string()))
        .select(count_star())
        .into_boxed();
    if let Some(done) = completed {
        query = query.filter(annotation_queue_runs::completed.eq(done));
    }
    query.first(conn)
}

/// The entry a path names: by its own id (LangSmith's `queue_run_id`) or by its run's id (what
/// the Python SDK 0.10.5 sends).
pub fn find_item(
    conn: &mut DbConnection,
    queue_id: &str,
    item_or_run_id: &str,
) -> QueryResult<Option<QueueRunRow>> {
    annotation_queue_runs::table
        .filter(annotation_queue_runs::queue_id.eq(queue_id))
        .filter(
            annotation_queue_runs::id
                .eq(item_or_run_id)
                .or(annotation_queue_runs::run_id.eq(item_or_run_id)),
        )
        .select(QueueRunRow::as_select())
        .first(conn)
        .optional()
}

/// The entry with this id in any queue of the workspace.
pub fn find_item_by_id(
    conn: &mut DbConnection,
    workspace_id: &str,
    item_id: &str,
) -> QueryResult<Option<QueueRunRow>> {
    annotation_queue_runs::table
        .filter(annotation_queue_runs::workspace_id.eq(workspace_id))
        .filter(annotation_queue_runs::id.eq(item_id))
        .select(QueueRunRow::as_select())
        .first(conn)
        .optional()
}

pub fn update_item(conn: &mut DbConnection, row: &QueueRunRow) -> QueryResult<()> {
    diesel::update(annotation_queue_runs::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

pub fn remove_item(conn: &mut DbConnection, item_id: &str) -> QueryResult<bool> {
    diesel::delete(annotation_queue_runs::table.find(item_id))
        .execute(conn)
        .map(|n| n > 0)
}
