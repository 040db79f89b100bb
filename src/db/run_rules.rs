//! Run rules: storage and listing. (The worker that applies them is not built yet.)

use diesel::prelude::*;

use super::DbConnection;
use super::models::RunRuleRow;
use super::schema::run_rules;
use super::sessions::escape_like;

/// `GET /runs/rules` filters.
#[derive(Debug, Default, Clone)]
pub struct RuleFilter {
    pub ids: Vec<String>,
    pub session_id: Option<String>,
    pub dataset_id: Option<String>,
    /// `Some(true)`: project rules only; `Some(false)`: dataset rules only.
    pub on_session: Option<bool>,
    pub name_contains: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &RunRuleRow) -> QueryResult<()> {
    diesel::insert_into(run_rules::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn exists_anywhere(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(run_rules::table.find(id))).get_result(conn)
}

pub fn find(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Option<RunRuleRow>> {
    run_rules::table
        .filter(run_rules::workspace_id.eq(workspace_id))
        .filter(run_rules::id.eq(id))
        .select(RunRuleRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConnection,
    workspace_id: &str,
    filter: &RuleFilter,
) -> QueryResult<Vec<RunRuleRow>> {
    let mut query = run_rules::table
        .filter(run_rules::workspace_id.eq(workspace_id.to_string()))
        .select(RunRuleRow::as_select())
        .into_boxed();
    if !filter.ids.is_empty() {
        query = query.filter(run_rules::id.eq_any(filter.ids.clone()));
    }
    if let Some(session) = &filter.session_id {
        query = query.filter(run_rules::session_id.eq(session.clone()));
    }
    if let Some(dataset) = &filter.dataset_id {
        query = query.filter(run_rules::dataset_id.eq(dataset.clone()));
    }
    match filter.on_session {
        Some(true) => query = query.filter(run_rules::session_id.is_not_null()),
        Some(false) => query = query.filter(run_rules::dataset_id.is_not_null()),
        None => {}
    }
    if let Some(part) = &filter.name_contains {
        query = query.filter(
            run_rules::display_name
                .like(format!("%{}%", escape_like(part)))
                .escape('\\'),
        );
    }
    query
        .order((run_rules::created_at.asc(), run_rules::id))
        .load(conn)
}

pub fn update(conn: &mut DbConnection, row: &RunRuleRow) -> QueryResult<()> {
    diesel::update(run_rules::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

pub fn delete(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(
        run_rules::table
            .filter(run_rules::workspace_id.eq(workspace_id))
            .filter(run_rules::id.eq(id)),
    )
    .execute(conn)
    .map(|n| n > 0)
}
