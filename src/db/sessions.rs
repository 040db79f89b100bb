//! Projects ("sessions" on the wire).

use diesel::dsl::{count_star, max, sum};
use diesel::prelude::*;
use uuid::Uuid;

use super::DbConnection;
use super::models::SessionRow;
use super::schema::{feedback, runs, sessions};
use crate::time::now_micros;

fn new_row(workspace_id: &str, id: Uuid, name: &str) -> SessionRow {
    let now = now_micros();
    SessionRow {
        id: id.to_string(),
        workspace_id: workspace_id.to_string(),
        name: name.to_string(),
        description: None,
        start_time: now,
        end_time: None,
        extra: None,
        reference_dataset_id: None,
        default_dataset_id: None,
        trace_tier: None,
        created_at: now,
    }
}

pub fn find(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Option<SessionRow>> {
    sessions::table
        .filter(sessions::workspace_id.eq(workspace_id))
        .filter(sessions::id.eq(id))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_name(
    conn: &mut DbConnection,
    workspace_id: &str,
    name: &str,
) -> QueryResult<Option<SessionRow>> {
    sessions::table
        .filter(sessions::workspace_id.eq(workspace_id))
        .filter(sessions::name.eq(name))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
}

/// Inserts a project; `Ok(None)` when the name (or id) is already taken.
pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> QueryResult<Option<SessionRow>> {
    // A savepoint keeps an outer transaction usable after a unique violation (PostgreSQL).
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(sessions::table)
            .values(row)
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(Some(row.clone())),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The project of that name, created on first use (ingest auto-creates projects).
pub fn get_or_create_by_name(
    conn: &mut DbConnection,
    workspace_id: &str,
    name: &str,
) -> QueryResult<SessionRow> {
    if let Some(found) = find_by_name(conn, workspace_id, name)? {
        return Ok(found);
    }
    match insert(conn, &new_row(workspace_id, Uuid::now_v7(), name))? {
        Some(row) => Ok(row),
        // Another writer created it between our look-up and insert.
        None => find_by_name(conn, workspace_id, name)?.ok_or(diesel::result::Error::NotFound),
    }
}

/// The project with that id; created (named `name`, or after its id) when a run names an id
/// nobody created yet, so that no run is refused for it.
pub fn get_or_create_by_id(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: Uuid,
    name: Option<&str>,
) -> QueryResult<SessionRow> {
    let id_text = id.to_string();
    if let Some(found) = find(conn, workspace_id, &id_text)? {
        return Ok(found);
    }
    let wanted = name.map(str::to_string).unwrap_or_else(|| id_text.clone());
    if let Some(row) = insert(conn, &new_row(workspace_id, id, &wanted))? {
        return Ok(row);
    }
    if let Some(found) = find(conn, workspace_id, &id_text)? {
        return Ok(found);
    }
    // The name is taken by another project: keep the run under its own id.
    insert(conn, &new_row(workspace_id, id, &id_text))?.ok_or(diesel::result::Error::NotFound)
}

#[derive(Default, Debug)]
pub struct SessionFilter {
    pub ids: Vec<String>,
    pub name: Option<String>,
    pub name_contains: Option<String>,
    pub reference_dataset: Vec<String>,
    pub reference_free: Option<bool>,
    pub sort_by_name: bool,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

pub fn list(
    conn: &mut DbConnection,
    workspace_id: &str,
    filter: &SessionFilter,
) -> QueryResult<Vec<SessionRow>> {
    let mut query = sessions::table
        .filter(sessions::workspace_id.eq(workspace_id))
        .select(SessionRow::as_select())
        .into_boxed();
    if !filter.ids.is_empty() {
        query = query.filter(sessions::id.eq_any(&filter.ids));
    }
    if let Some(name) = &filter.name {
        query = query.filter(sessions::name.eq(name));
    }
    if let Some(part) = &filter.name_contains {
        query = query.filter(
            sessions::name
                .like(format!("%{}%", escape_like(part)))
                .escape('\\'),
        );
    }
    if !filter.reference_dataset.is_empty() {
        query = query.filter(sessions::reference_dataset_id.eq_any(&filter.reference_dataset));
    }
    match filter.reference_free {
        Some(true) => query = query.filter(sessions::reference_dataset_id.is_null()),
        Some(false) => query = query.filter(sessions::reference_dataset_id.is_not_null()),
        None => {}
    }
    query = match (filter.sort_by_name, filter.descending) {
        (true, true) => query.order((sessions::name.desc(), sessions::id.desc())),
        (true, false) => query.order((sessions::name.asc(), sessions::id.asc())),
        (false, true) => query.order((sessions::start_time.desc(), sessions::id.desc())),
        (false, false) => query.order((sessions::start_time.asc(), sessions::id.asc())),
    };
    query.limit(filter.limit).offset(filter.offset).load(conn)
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn update(conn: &mut DbConnection, row: &SessionRow) -> QueryResult<bool> {
    let changed = conn.transaction(|conn| {
        diesel::update(
            sessions::table
                .filter(sessions::workspace_id.eq(&row.workspace_id))
                .filter(sessions::id.eq(&row.id)),
        )
        .set(row)
        .execute(conn)
    });
    match changed {
        Ok(n) => Ok(n > 0),
        Err(e) => Err(e),
    }
}

/// Deletes a project with its runs (attachments cascade) and their feedback.
pub fn delete(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let project_runs = runs::table
            .filter(runs::workspace_id.eq(workspace_id))
            .filter(runs::session_id.eq(id))
            .select(runs::id.nullable());
        diesel::delete(
            feedback::table
                .filter(feedback::workspace_id.eq(workspace_id))
                .filter(
                    feedback::session_id
                        .eq(id)
                        .or(feedback::run_id.eq_any(project_runs)),
                ),
        )
        .execute(conn)?;
        diesel::delete(
            runs::table
                .filter(runs::workspace_id.eq(workspace_id))
                .filter(runs::session_id.eq(id)),
        )
        .execute(conn)?;
        let deleted = diesel::delete(
            sessions::table
                .filter(sessions::workspace_id.eq(workspace_id))
                .filter(sessions::id.eq(id)),
        )
        .execute(conn)?;
        Ok(deleted > 0)
    })
}

/// Aggregates over a project's runs, as `read_project(include_stats=True)` returns them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SessionStats {
    pub run_count: i64,
    pub error_count: i64,
    pub latency_p50: Option<f64>,
    pub latency_p99: Option<f64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub prompt_cost: Option<f64>,
    pub completion_cost: Option<f64>,
    pub total_cost: Option<f64>,
    pub last_run_start_time: Option<i64>,
    /// Feedback on the project's runs, per key.
    pub feedback: Vec<FeedbackKeyStats>,
    /// Feedback on the project itself (no run), per key.
    pub session_feedback: Vec<FeedbackKeyStats>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackKeyStats {
    pub key: String,
    pub n: i64,
    pub avg: Option<f64>,
}

type RunTotals = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
);

/// `SUM` of an integer column as BIGINT: PostgreSQL would otherwise answer NUMERIC.
fn sum_bigint(
    column: &str,
) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::BigInt>> {
    diesel::dsl::sql(&format!("CAST(SUM(runs.{column}) AS BIGINT)"))
}

pub fn stats(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<SessionStats> {
    let in_project = runs::workspace_id
        .eq(workspace_id.to_string())
        .and(runs::session_id.eq(id.to_string()))
        .and(runs::name.is_not_null());
    let totals: RunTotals = runs::table
        .filter(in_project.clone())
        .select((
            count_star(),
            sum_bigint("prompt_tokens"),
            sum_bigint("completion_tokens"),
            sum_bigint("total_tokens"),
            sum(runs::prompt_cost),
            sum(runs::completion_cost),
            sum(runs::total_cost),
            max(runs::start_time),
        ))
        .first(conn)?;
    let error_count: i64 = runs::table
        .filter(in_project.clone())
        .filter(runs::error.is_not_null())
        .select(count_star())
        .first(conn)?;
    // Latency percentiles over finished root runs (whole traces), read off the sorted list.
    let latency =
        (runs::end_time.assume_not_null() - runs::start_time.assume_not_null()).nullable();
    let finished_roots = runs::table
        .filter(in_project)
        .filter(runs::parent_run_id.is_null())
        .filter(runs::end_time.is_not_null())
        .filter(runs::start_time.is_not_null());
    let finished: i64 = finished_roots.clone().select(count_star()).first(conn)?;
    let mut percentile = |q: f64| -> QueryResult<Option<f64>> {
        if finished == 0 {
            return Ok(None);
        }
        let rank = ((finished - 1) as f64 * q).round() as i64;
        let micros: Option<i64> = finished_roots
            .clone()
            .select(latency)
            .order(latency.asc())
            .offset(rank)
            .first(conn)?;
        Ok(micros.map(|m| m as f64 / 1_000_000.0))
    };
    let latency_p50 = percentile(0.5)?;
    let latency_p99 = percentile(0.99)?;
    let feedback = feedback_stats(conn, workspace_id, id)?;
    let session_feedback = super::feedback::session_level_stats(conn, workspace_id, id)?
        .into_iter()
        .map(|(key, n, avg)| FeedbackKeyStats { key, n, avg })
        .collect();
    let (run_count, prompt, completion, total, prompt_cost, completion_cost, total_cost, last) =
        totals;
    Ok(SessionStats {
        run_count,
        error_count,
        latency_p50,
        latency_p99,
        prompt_tokens: prompt.unwrap_or(0),
        completion_tokens: completion.unwrap_or(0),
        total_tokens: total.unwrap_or(0),
        prompt_cost,
        completion_cost,
        total_cost,
        last_run_start_time: last,
        feedback,
        session_feedback,
    })
}

fn feedback_stats(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Vec<FeedbackKeyStats>> {
    // Run feedback counts through its run: it may have arrived before the run did.
    let project_runs = runs::table
        .filter(runs::workspace_id.eq(workspace_id))
        .filter(runs::session_id.eq(id))
        .select(runs::id.nullable());
    let rows: Vec<(String, i64, Option<f64>)> = feedback::table
        .filter(feedback::workspace_id.eq(workspace_id))
        .filter(feedback::run_id.eq_any(project_runs))
        .group_by(feedback::key)
        .select((
            feedback::key,
            count_star(),
            diesel::dsl::avg(feedback::score),
        ))
        .order(feedback::key.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(key, n, avg)| FeedbackKeyStats { key, n, avg })
        .collect())
}
