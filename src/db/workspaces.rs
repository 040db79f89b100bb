//! Workspaces: every stored row belongs to one.

use diesel::prelude::*;
use uuid::Uuid;

use super::DbConnection;
use super::models::WorkspaceRow;
use super::schema::workspaces;
use crate::time::now_micros;

/// The workspace requests resolve to until authentication selects others.
pub const DEFAULT_WORKSPACE_ID: Uuid = Uuid::from_u128(0x8f6c_3c1e_5d2a_4b7e_9a41_7c0d_2e5f_1a01);

/// Creates the default workspace and its `default` project if they are missing. Safe to run
/// from several replicas at once.
pub fn ensure_default(conn: &mut DbConnection) -> QueryResult<()> {
    let id = DEFAULT_WORKSPACE_ID.to_string();
    let exists = workspaces::table
        .find(&id)
        .select(workspaces::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if !exists {
        let inserted = diesel::insert_into(workspaces::table)
            .values(WorkspaceRow {
                id: id.clone(),
                name: "Default".into(),
                created_at: now_micros(),
            })
            .execute(conn);
        match inserted {
            Ok(_) => {}
            Err(e) if super::is_retryable(&e) => {}
            Err(e) => return Err(e),
        }
    }
    // The SDKs learn the tenant id from `GET /sessions?limit=1`: keep a project there.
    super::sessions::get_or_create_by_name(conn, &id, "default")?;
    Ok(())
}

pub fn exists(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    Ok(workspaces::table
        .find(id)
        .select(workspaces::id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}
