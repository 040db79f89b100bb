//! Runs: the ingest transaction and the reads.

use std::collections::{HashMap, HashSet};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use uuid::Uuid;

use super::models::{AttachmentRow, RunMetadataRow, RunRow};
use super::schema::{feedback, run_attachments, run_metadata, runs};
use super::sessions;
use super::{CHUNK, DbConnection, per_backend, run_filter};
use crate::filter::runs::{TraceFilters, metadata_index};
use crate::ingest::IngestBatch;
use crate::ingest::merge::{apply, derive_lineage, is_complete, refresh_derived};
use crate::ingest::ops::{OpKind, RunOp};
use crate::time::now_micros;

/// Where an operation wants its run filed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ProjectRef {
    Id(Uuid, Option<String>),
    Name(String),
}

impl ProjectRef {
    fn of(op: &RunOp) -> Option<ProjectRef> {
        match (op.session_id, &op.session_name) {
            (Some(id), name) => Some(ProjectRef::Id(id, name.clone())),
            (None, Some(name)) => Some(ProjectRef::Name(name.clone())),
            (None, None) => None,
        }
    }
}

struct Pending {
    row: RunRow,
    stored: bool,
    project: Option<ProjectRef>,
    /// The client sent no lineage: it is derived here, and children waiting on it fixed up.
    derives_lineage: bool,
    /// `extra` and `start_time` as stored before this batch, to tell whether the run's metadata
    /// index changes.
    stored_extra: Option<String>,
    stored_start: Option<i64>,
}

/// What a group commit did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    /// Runs that were new.
    pub inserted: usize,
    /// Traces were queued for the run rules (a run of a watched project ended, or feedback
    /// arrived on one).
    pub rule_work_queued: bool,
}

/// Applies many requests' batches in one transaction (group commit).
pub fn apply_batches(conn: &mut DbConnection, batches: &[&IngestBatch]) -> QueryResult<Applied> {
    super::write_transaction(conn, |conn| {
        let mut by_workspace: HashMap<Uuid, Vec<&IngestBatch>> = HashMap::new();
        for batch in batches {
            by_workspace
                .entry(batch.workspace_id)
                .or_default()
                .push(batch);
        }
        let mut applied = Applied::default();
        for (workspace_id, batches) in by_workspace {
            let done = apply_workspace(conn, &workspace_id.to_string(), &batches)?;
            applied.inserted += done.inserted;
            applied.rule_work_queued |= done.rule_work_queued;
        }
        Ok(applied)
    })
}

fn apply_workspace(
    conn: &mut DbConnection,
    workspace_id: &str,
    batches: &[&IngestBatch],
) -> QueryResult<Applied> {
    let now = now_micros();
    let mut ids: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let touched = batches.iter().flat_map(|b| {
        b.runs
            .iter()
            .map(|op| op.id)
            .chain(b.attachments.iter().map(|a| a.run_id))
    });
    for id in touched {
        if seen.insert(id) {
            ids.push(id.to_string());
        }
    }
    // Sorted so concurrent writers lock rows in the same order (no deadlocks).
    ids.sort();
    let mut pending: HashMap<String, Pending> = load_for_update(conn, workspace_id, &ids)?
        .into_iter()
        .map(|row| {
            let id = row.id.clone();
            let pending = Pending {
                stored_extra: row.extra.clone(),
                stored_start: row.start_time,
                row,
                stored: true,
                project: None,
                derives_lineage: false,
            };
            (id, pending)
        })
        .collect();
    let new_pending = |id: &str| Pending {
        row: RunRow {
            workspace_id: workspace_id.to_string(),
            id: id.to_string(),
            inserted_at: now,
            ..RunRow::default()
        },
        stored: false,
        project: None,
        derives_lineage: false,
        stored_extra: None,
        stored_start: None,
    };
    for op in batches.iter().flat_map(|b| b.runs.iter()) {
        let id = op.id.to_string();
        let entry = pending
            .entry(id.clone())
            .or_insert_with(|| new_pending(&id));
        apply(&mut entry.row, op);
        if op.kind == OpKind::Post && op.dotted_order.is_none() {
            entry.derives_lineage = true;
        }
        // A post files the run; a patch only says where when nothing else has.
        if let Some(wanted) = ProjectRef::of(op) {
            let unfiled = entry.row.session_id.is_none() && entry.project.is_none();
            if op.kind == OpKind::Post || unfiled {
                entry.project = Some(wanted);
            }
        }
    }
    for attachment in batches.iter().flat_map(|b| b.attachments.iter()) {
        let id = attachment.run_id.to_string();
        pending
            .entry(id.clone())
            .or_insert_with(|| new_pending(&id));
    }
    resolve_projects(conn, workspace_id, &mut pending)?;
    derive_missing_lineage(conn, workspace_id, &mut pending)?;

    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    // Runs whose metadata index is (re)written: new runs, and stored ones whose extra changed.
    let mut metadata_changed = Vec::new();
    let mut parents_of_orphans = Vec::new();
    let watched = super::rule_work::watched_sessions(conn, workspace_id)?;
    // Traces the rules look at again: a run of a watched project ended, or got feedback.
    let mut ended_traces = Vec::new();
    for entry in pending.into_values() {
        let mut row = entry.row;
        refresh_derived(&mut row);
        row.updated_at = now;
        if entry.derives_lineage && row.dotted_order.is_some() {
            parents_of_orphans.push(row.clone());
        }
        if !entry.stored || entry.stored_extra != row.extra || entry.stored_start != row.start_time
        {
            metadata_changed.push(MetadataChange {
                run_id: row.id.clone(),
                old: entry
                    .stored
                    .then(|| (entry.stored_extra.clone(), entry.stored_start.unwrap_or(0))),
                extra: row.extra.clone(),
                start_time: row.start_time.unwrap_or(0),
            });
        }
        let watched_end =
            row.end_time.is_some() && row.session_id.as_ref().is_some_and(|s| watched.contains(s));
        if watched_end {
            ended_traces.push(row.trace_id.clone().unwrap_or_else(|| row.id.clone()));
        }
        if entry.stored {
            updates.push(row);
        } else {
            inserts.push(row);
        }
    }
    for chunk in inserts.chunks(CHUNK) {
        per_backend!(conn, |c| diesel::insert_into(runs::table)
            .values(chunk)
            .execute(c))?;
    }
    for row in &updates {
        diesel::update(runs::table.find((&row.workspace_id, &row.id)))
            .set(row)
            .execute(conn)?;
    }
    index_metadata(conn, workspace_id, &metadata_changed)?;
    store_attachments(conn, workspace_id, batches, now)?;
    let feedback: Vec<_> = batches.iter().flat_map(|b| b.feedback.iter()).collect();
    let rated = super::feedback::insert_new(conn, workspace_id, &feedback, now)?;
    adopt_orphans(conn, workspace_id, parents_of_orphans, now)?;
    ended_traces.extend(super::rule_work::feedback_traces(&rated, &watched));
    super::rule_work::enqueue_traces(conn, workspace_id, &ended_traces, now)?;
    Ok(Applied {
        inserted: inserts.len(),
        rule_work_queued: !ended_traces.is_empty(),
    })
}

/// A run whose metadata index rows are (re)written.
struct MetadataChange {
    run_id: String,
    /// The stored run's extra and start time, whose rows go.
    old: Option<(Option<String>, i64)>,
    extra: Option<String>,
    start_time: i64,
}

fn metadata_rows(
    workspace_id: &str,
    run_id: &str,
    extra: Option<&str>,
    start_time: i64,
) -> impl Iterator<Item = RunMetadataRow> {
    metadata_index(extra)
        .into_iter()
        .map(move |(key, value)| RunMetadataRow {
            workspace_id: workspace_id.to_string(),
            run_id: run_id.to_string(),
            key,
            value,
            start_time,
        })
}

fn index_metadata(
    conn: &mut DbConnection,
    workspace_id: &str,
    changed: &[MetadataChange],
) -> QueryResult<()> {
    for change in changed {
        let Some((extra, start_time)) = &change.old else {
            continue;
        };
        for old in metadata_rows(workspace_id, &change.run_id, extra.as_deref(), *start_time) {
            diesel::delete(run_metadata::table.find((
                old.workspace_id,
                old.key,
                old.value,
                old.start_time,
                old.run_id,
            )))
            .execute(conn)?;
        }
    }
    let rows: Vec<RunMetadataRow> = changed
        .iter()
        .flat_map(|change| {
            metadata_rows(
                workspace_id,
                &change.run_id,
                change.extra.as_deref(),
                change.start_time,
            )
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        // One entry per run and key: the old rows of a changed run were deleted above.
        per_backend!(conn, |c| diesel::insert_into(run_metadata::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// Refreshes the planner's statistics of the tables ingest grows. PostgreSQL's autovacuum
/// does this too when it is on; without it, plans made for an empty table (scans instead of
/// key look-ups) slow ingest down as the table grows. SQLite needs nothing.
pub fn refresh_statistics(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Postgresql(c) => {
            c.batch_execute("ANALYZE runs, feedback, run_attachments, run_metadata")
        }
        DbConnection::Sqlite(_) => Ok(()),
    }
}

fn load_for_update(
    conn: &mut DbConnection,
    workspace_id: &str,
    ids: &[String],
) -> QueryResult<Vec<RunRow>> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let query = runs::table
            .filter(runs::workspace_id.eq(workspace_id))
            .filter(runs::id.eq_any(chunk));
        // PostgreSQL replicas may write the same run at once: lock it. SQLite has one writer.
        let found = match conn {
            DbConnection::Postgresql(c) => {
                query.select(RunRow::as_select()).for_update().load(c)?
            }
            DbConnection::Sqlite(c) => query.select(RunRow::as_select()).load(c)?,
        };
        rows.extend(found);
    }
    Ok(rows)
}

fn resolve_projects(
    conn: &mut DbConnection,
    workspace_id: &str,
    pending: &mut HashMap<String, Pending>,
) -> QueryResult<()> {
    let mut resolved: HashMap<ProjectRef, String> = HashMap::new();
    for entry in pending.values_mut() {
        let wanted = match entry.project.take() {
            Some(wanted) => wanted,
            // A finished run that never named a project goes to "default", as with LangSmith.
            None if entry.row.session_id.is_none() && is_complete(&entry.row) => {
                ProjectRef::Name("default".into())
            }
            None => continue,
        };
        let session_id = match resolved.get(&wanted) {
            Some(id) => id.clone(),
            None => {
                let row = match &wanted {
                    ProjectRef::Id(id, name) => {
                        sessions::get_or_create_by_id(conn, workspace_id, *id, name.as_deref())?
                    }
                    ProjectRef::Name(name) => {
                        sessions::get_or_create_by_name(conn, workspace_id, name)?
                    }
                };
                resolved.insert(wanted, row.id.clone());
                row.id
            }
        };
        entry.row.session_id = Some(session_id);
    }
    Ok(())
}

/// Fills trace_id/dotted_order for runs sent without them, parents first (they may be in
/// the same batch or already stored).
fn derive_missing_lineage(
    conn: &mut DbConnection,
    workspace_id: &str,
    pending: &mut HashMap<String, Pending>,
) -> QueryResult<()> {
    let mut waiting: Vec<String> = pending
        .iter()
        .filter(|(_, p)| p.row.dotted_order.is_none() || p.row.trace_id.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    // Each pass settles at least one level of the tree; stop when nothing moves.
    loop {
        let mut progressed = false;
        let mut still_waiting = Vec::new();
        for id in waiting {
            let parent_id = pending[&id].row.parent_run_id.clone();
            let parent = match &parent_id {
                None => None,
                Some(pid) => match pending.get(pid) {
                    Some(p) => Some(p.row.clone()),
                    None => find_row(conn, workspace_id, pid)?,
                },
            };
            let entry = pending.get_mut(&id).expect("id came from the map");
            if derive_lineage(&mut entry.row, parent.as_ref()) {
                progressed = true;
            } else {
                still_waiting.push(id);
            }
        }
        waiting = still_waiting;
        if !progressed || waiting.is_empty() {
            return Ok(());
        }
    }
}

/// Children stored before their parent had a dotted_order get theirs now, level by level.
fn adopt_orphans(
    conn: &mut DbConnection,
    workspace_id: &str,
    mut parents: Vec<RunRow>,
    now: i64,
) -> QueryResult<()> {
    while let Some(parent) = parents.pop() {
        let orphans: Vec<RunRow> = runs::table
            .filter(runs::workspace_id.eq(workspace_id))
            .filter(runs::parent_run_id.eq(&parent.id))
            .filter(runs::dotted_order.is_null())
            .select(RunRow::as_select())
            .load(conn)?;
        for mut orphan in orphans {
            if derive_lineage(&mut orphan, Some(&parent)) {
                orphan.updated_at = now;
                diesel::update(runs::table.find((&orphan.workspace_id, &orphan.id)))
                    .set(&orphan)
                    .execute(conn)?;
                parents.push(orphan);
            }
        }
    }
    Ok(())
}

fn store_attachments(
    conn: &mut DbConnection,
    workspace_id: &str,
    batches: &[&IngestBatch],
    now: i64,
) -> QueryResult<()> {
    for attachment in batches.iter().flat_map(|b| b.attachments.iter()) {
        let run_id = attachment.run_id.to_string();
        // A re-sent attachment replaces the earlier one of the same name.
        diesel::delete(run_attachments::table.find((workspace_id, &run_id, &attachment.name)))
            .execute(conn)?;
        diesel::insert_into(run_attachments::table)
            .values(AttachmentRow {
                workspace_id: workspace_id.to_string(),
                run_id,
                name: attachment.name.clone(),
                content_type: attachment.content_type.clone(),
                data: attachment.data.to_vec(),
                created_at: now,
            })
            .execute(conn)?;
    }
    Ok(())
}

fn find_row(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<Option<RunRow>> {
    runs::table
        .find((workspace_id, id))
        .select(RunRow::as_select())
        .first(conn)
        .optional()
}

/// A run as readers see it: only once its post (or a patch carrying the same) has arrived.
pub fn find(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<Option<RunRow>> {
    Ok(find_row(conn, workspace_id, id)?.filter(is_complete))
}

/// What `POST /runs/query` and `/runs/stats` select on.
#[derive(Debug, Default, Clone)]
pub struct RunQuery {
    /// `filter`, `trace_filter`, `tree_filter` (and `query` as a search).
    pub filters: TraceFilters,
    pub ids: Vec<String>,
    pub sessions: Vec<String>,
    pub trace: Option<String>,
    pub parent_run: Option<String>,
    pub run_type: Option<String>,
    pub reference_examples: Vec<String>,
    pub is_root: Option<bool>,
    pub error: Option<bool>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub ascending: bool,
    /// Resume strictly after this (start_time, id) position in the order.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// Keyset paging on a (start time, id) pair of columns: resume after the cursor, in order.
macro_rules! page {
    ($query:expr, $q:expr, $start:expr, $id:expr) => {{
        let mut query = $query;
        if let Some((time, id)) = &$q.after {
            query = if $q.ascending {
                query.filter(
                    $start
                        .gt(*time)
                        .or($start.eq(*time).and($id.gt(id.clone()))),
                )
            } else {
                query.filter(
                    $start
                        .lt(*time)
                        .or($start.eq(*time).and($id.lt(id.clone()))),
                )
            };
        }
        if $q.ascending {
            query.order(($start.asc(), $id.asc()))
        } else {
            query.order(($start.desc(), $id.desc()))
        }
        .limit($q.limit)
    }};
}

/// A page of the selected runs in start-time order, resuming after the cursor.
pub fn query(
    conn: &mut DbConnection,
    workspace_id: &str,
    q: &RunQuery,
) -> QueryResult<Vec<RunRow>> {
    match conn {
        // PostgreSQL estimates the filters' selectivity poorly and prefers hashing whole tables
        // and sorting; for a page of the newest runs, walking an index in order and stopping
        // early is what pays. Disabled for this one transaction only.
        DbConnection::Postgresql(_) => conn.transaction(|conn| {
            conn.batch_execute(
                "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off",
            )?;
            query_page(conn, workspace_id, q)
        }),
        DbConnection::Sqlite(_) => query_page(conn, workspace_id, q),
    }
}

fn query_page(
    conn: &mut DbConnection,
    workspace_id: &str,
    q: &RunQuery,
) -> QueryResult<Vec<RunRow>> {
    let dialect = conn.dialect();
    // A filter that requires one metadata key and value reads that value's runs from the
    // metadata index, newest first, and stops after a page: far fewer rows than walking the
    // project's runs when the value is rare.
    if let Some((key, value)) = run_filter::metadata_driver(&q.filters) {
        let driven = runs::table
            .inner_join(
                run_metadata::table.on(run_metadata::workspace_id
                    .eq(runs::workspace_id)
                    .and(run_metadata::run_id.eq(runs::id))
                    .and(run_metadata::start_time.nullable().eq(runs::start_time))),
            )
            .filter(run_metadata::workspace_id.eq(workspace_id.to_string()))
            .filter(run_metadata::key.eq(key))
            .filter(run_metadata::value.eq(value))
            .filter(run_filter::exact_selection(workspace_id, q, dialect))
            .select(RunRow::as_select())
            .into_boxed();
        return page!(driven, q, run_metadata::start_time, run_metadata::run_id).load(conn);
    }
    let condition = match dialect {
        run_filter::Dialect::Sqlite => run_filter::selection(workspace_id, q, dialect),
        run_filter::Dialect::Postgres => run_filter::exact_selection(workspace_id, q, dialect),
    };
    let plain = runs::table
        .filter(condition)
        .select(RunRow::as_select())
        .into_boxed();
    page!(plain, q, runs::start_time.assume_not_null(), runs::id).load(conn)
}

/// Attachment names and content types of these runs, by run id.
pub fn attachment_index(
    conn: &mut DbConnection,
    workspace_id: &str,
    run_ids: &[String],
) -> QueryResult<HashMap<String, Vec<(String, String)>>> {
    let mut index: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for chunk in run_ids.chunks(CHUNK) {
        let found: Vec<(String, String, String)> = run_attachments::table
            .filter(run_attachments::workspace_id.eq(workspace_id))
            .filter(run_attachments::run_id.eq_any(chunk))
            .select((
                run_attachments::run_id,
                run_attachments::name,
                run_attachments::content_type,
            ))
            .order(run_attachments::name.asc())
            .load(conn)?;
        for (run_id, name, content_type) in found {
            index.entry(run_id).or_default().push((name, content_type));
        }
    }
    Ok(index)
}

pub fn attachment(
    conn: &mut DbConnection,
    workspace_id: &str,
    run_id: &str,
    name: &str,
) -> QueryResult<Option<AttachmentRow>> {
    run_attachments::table
        .find((workspace_id, run_id, name))
        .select(AttachmentRow::as_select())
        .first(conn)
        .optional()
}

/// Per feedback key: how many, and the mean score.
pub type KeyStats = (String, i64, Option<f64>);

/// Feedback count and mean score per key for each of these runs.
pub fn feedback_stats(
    conn: &mut DbConnection,
    workspace_id: &str,
    run_ids: &[String],
) -> QueryResult<HashMap<String, Vec<KeyStats>>> {
    use diesel::dsl::{avg, count_star};
    let mut stats: HashMap<String, Vec<KeyStats>> = HashMap::new();
    for chunk in run_ids.chunks(CHUNK) {
        let found: Vec<(Option<String>, String, i64, Option<f64>)> = feedback::table
            .filter(feedback::workspace_id.eq(workspace_id))
            .filter(feedback::run_id.eq_any(chunk))
            .group_by((feedback::run_id, feedback::key))
            .select((
                feedback::run_id,
                feedback::key,
                count_star(),
                avg(feedback::score),
            ))
            .load(conn)?;
        for (run_id, key, n, mean) in found {
            if let Some(run_id) = run_id {
                stats.entry(run_id).or_default().push((key, n, mean));
            }
        }
    }
    Ok(stats)
}
