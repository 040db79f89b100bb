//! Projects ("sessions" on the wire).

use diesel::prelude::*;
use uuid::Uuid;

use super::DbConnection;
use super::models::SessionRow;
use super::schema::{feedback, run_metadata, runs, sessions};
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
    let inserted = super::write_transaction(conn, |conn| {
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
    let changed = super::write_transaction(conn, |conn| {
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
    super::write_transaction(conn, |conn| {
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
        let project_run_ids = runs::table
            .filter(runs::workspace_id.eq(workspace_id))
            .filter(runs::session_id.eq(id))
            .select(runs::id);
        diesel::delete(
            run_metadata::table
                .filter(run_metadata::workspace_id.eq(workspace_id))
                .filter(run_metadata::run_id.eq_any(project_run_ids)),
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
        if deleted > 0 {
            super::rule_work::disable_rules_on(
                conn,
                workspace_id,
                super::rule_work::Target::Project,
                id,
            )?;
        }
        Ok(deleted > 0)
    })
}
