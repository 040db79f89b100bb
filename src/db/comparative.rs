//! Comparative (pairwise) experiments.

use diesel::dsl::{avg, count_star};
use diesel::prelude::*;

use super::DbConnection;
use super::models::ComparativeExperimentRow;
use super::schema::{comparative_experiments, feedback};

/// Inserts one; `Ok(false)` when its id is taken.
pub fn insert(conn: &mut DbConnection, row: &ComparativeExperimentRow) -> QueryResult<bool> {
    let inserted = super::write_transaction(conn, |conn| {
        diesel::insert_into(comparative_experiments::table)
            .values(row)
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Count and mean score per key of the feedback given within a comparative experiment.
pub fn feedback_stats(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Vec<(String, i64, Option<f64>)>> {
    feedback::table
        .filter(feedback::workspace_id.eq(workspace_id))
        .filter(feedback::comparative_experiment_id.eq(id))
        .group_by(feedback::key)
        .select((feedback::key, count_star(), avg(feedback::score)))
        .order(feedback::key.asc())
        .load(conn)
}
