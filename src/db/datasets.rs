//! Datasets, their versions and tags, and their examples stored as revisions.

use std::collections::HashMap;

use diesel::dsl::{count_star, max};
use diesel::prelude::*;

use super::DbConnection;
use super::models::{
    DatasetRow, DatasetTagRow, DatasetVersionRow, ExampleAttachmentRow, ExampleRevisionRow,
};
use super::rule_work::Target;
use super::schema::{
    dataset_shares, dataset_tags, dataset_versions, datasets, example_attachments,
    example_revisions, sessions,
};
use super::sessions::escape_like;
use crate::time::now_micros;

type Backend = <DbConnection as Connection>::Backend;

/// Inserts a dataset; `Ok(None)` when its name (or id) is taken.
pub fn insert(conn: &mut DbConnection, row: &DatasetRow) -> QueryResult<Option<DatasetRow>> {
    let inserted = super::write_transaction(conn, |conn| {
        diesel::insert_into(datasets::table)
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

/// Creates a dataset with its first examples, all or nothing; `Ok(None)` when the name is taken.
pub fn insert_with_examples(
    conn: &mut DbConnection,
    row: &DatasetRow,
    writes: Vec<ExampleWrite>,
) -> QueryResult<Option<DatasetRow>> {
    super::write_transaction(conn, |conn| {
        let Some(created) = insert(conn, row)? else {
            return Ok(None);
        };
        let mut groups = std::collections::BTreeMap::new();
        groups.insert(row.id.clone(), writes);
        match create_examples_in(conn, &row.workspace_id, groups)? {
            Ok(_) => Ok(Some(created)),
            // Fresh ids and no schema: a refusal here is a bug, and undoes the dataset too.
            Err(_) => Err(diesel::result::Error::RollbackTransaction),
        }
    })
}

pub fn find(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Option<DatasetRow>> {
    datasets::table
        .filter(datasets::workspace_id.eq(workspace_id))
        .filter(datasets::id.eq(id))
        .select(DatasetRow::as_select())
        .first(conn)
        .optional()
}

#[derive(Debug, Default)]
pub struct DatasetFilter {
    pub ids: Vec<String>,
    pub name: Option<String>,
    pub name_contains: Option<String>,
    pub data_types: Vec<String>,
    pub sort_by_name: bool,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

pub fn list(
    conn: &mut DbConnection,
    workspace_id: &str,
    filter: &DatasetFilter,
) -> QueryResult<Vec<DatasetRow>> {
    let mut query = datasets::table
        .filter(datasets::workspace_id.eq(workspace_id))
        .select(DatasetRow::as_select())
        .into_boxed();
    if !filter.ids.is_empty() {
        query = query.filter(datasets::id.eq_any(&filter.ids));
    }
    if let Some(name) = &filter.name {
        query = query.filter(datasets::name.eq(name));
    }
    if let Some(part) = &filter.name_contains {
        query = query.filter(
            datasets::name
                .like(format!("%{}%", escape_like(part)))
                .escape('\\'),
        );
    }
    if !filter.data_types.is_empty() {
        query = query.filter(datasets::data_type.eq_any(&filter.data_types));
    }
    query = match (filter.sort_by_name, filter.descending) {
        (true, true) => query.order((datasets::name.desc(), datasets::id.desc())),
        (true, false) => query.order((datasets::name.asc(), datasets::id.asc())),
        (false, true) => query.order((datasets::created_at.desc(), datasets::id.desc())),
        (false, false) => query.order((datasets::created_at.asc(), datasets::id.asc())),
    };
    query.limit(filter.limit).offset(filter.offset).load(conn)
}

pub fn update(conn: &mut DbConnection, row: &DatasetRow) -> QueryResult<()> {
    diesel::update(
        datasets::table
            .filter(datasets::workspace_id.eq(&row.workspace_id))
            .filter(datasets::id.eq(&row.id)),
    )
    .set(row)
    .execute(conn)?;
    Ok(())
}

/// Deletes a dataset with its examples, versions and tags (they cascade); the rules that fill
/// it or watch its experiments are disabled.
pub fn delete(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<bool> {
    super::write_transaction(conn, |conn| {
        let deleted = diesel::delete(
            datasets::table
                .filter(datasets::workspace_id.eq(workspace_id))
                .filter(datasets::id.eq(id)),
        )
        .execute(conn)?;
        if deleted > 0 {
            super::rule_work::disable_rules_on(conn, workspace_id, Target::Dataset, id)?;
        }
        Ok(deleted > 0)
    })
}

/// What a dataset listing shows besides its own fields.
#[derive(Debug, Default, Clone)]
pub struct DatasetCounts {
    pub example_count: i64,
    pub session_count: i64,
    pub last_session_start_time: Option<i64>,
}

pub fn counts(conn: &mut DbConnection, workspace_id: &str, id: &str) -> QueryResult<DatasetCounts> {
    let example_count = example_revisions::table
        .filter(example_revisions::dataset_id.eq(id))
        .filter(example_revisions::valid_to.is_null())
        .select(count_star())
        .first(conn)?;
    let (session_count, last_session_start_time): (i64, Option<i64>) = sessions::table
        .filter(sessions::workspace_id.eq(workspace_id))
        .filter(sessions::reference_dataset_id.eq(id))
        .select((count_star(), max(sessions::start_time)))
        .first(conn)?;
    Ok(DatasetCounts {
        example_count,
        session_count,
        last_session_start_time,
    })
}

/// Opens a new version of the dataset: strictly later than every earlier one, so each write
/// has its own `as_of`.
pub fn new_version(conn: &mut DbConnection, dataset_id: &str) -> QueryResult<i64> {
    // Replicas writing the same dataset at once must not pick the same version: PostgreSQL
    // locks the dataset row until commit; SQLite has one writer at a time.
    if let DbConnection::Postgresql(c) = conn {
        datasets::table
            .find(dataset_id)
            .select(datasets::id)
            .for_update()
            .first::<String>(c)?;
    }
    let last: Option<i64> = dataset_versions::table
        .filter(dataset_versions::dataset_id.eq(dataset_id))
        .select(max(dataset_versions::as_of))
        .first(conn)?;
    let as_of = last.map_or(now_micros(), |last| now_micros().max(last + 1));
    diesel::insert_into(dataset_versions::table)
        .values(DatasetVersionRow {
            dataset_id: dataset_id.to_string(),
            as_of,
        })
        .execute(conn)?;
    diesel::update(datasets::table.filter(datasets::id.eq(dataset_id)))
        .set(datasets::modified_at.eq(as_of))
        .execute(conn)?;
    Ok(as_of)
}

pub fn versions(
    conn: &mut DbConnection,
    dataset_id: &str,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<(i64, Vec<String>)>> {
    let times: Vec<i64> = dataset_versions::table
        .filter(dataset_versions::dataset_id.eq(dataset_id))
        .select(dataset_versions::as_of)
        .order(dataset_versions::as_of.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    let tags = tags_by_version(conn, dataset_id)?;
    Ok(times
        .into_iter()
        .map(|t| (t, tags.get(&t).cloned().unwrap_or_default()))
        .collect())
}

fn tags_by_version(
    conn: &mut DbConnection,
    dataset_id: &str,
) -> QueryResult<HashMap<i64, Vec<String>>> {
    let rows: Vec<DatasetTagRow> = dataset_tags::table
        .filter(dataset_tags::dataset_id.eq(dataset_id))
        .select(DatasetTagRow::as_select())
        .order(dataset_tags::tag.asc())
        .load(conn)?;
    let mut by_version: HashMap<i64, Vec<String>> = HashMap::new();
    for row in rows {
        by_version.entry(row.as_of).or_default().push(row.tag);
    }
    Ok(by_version)
}

/// The version in force at `at`: the latest one not after it.
pub fn version_at(
    conn: &mut DbConnection,
    dataset_id: &str,
    at: i64,
) -> QueryResult<Option<(i64, Vec<String>)>> {
    let found: Option<i64> = dataset_versions::table
        .filter(dataset_versions::dataset_id.eq(dataset_id))
        .filter(dataset_versions::as_of.le(at))
        .select(max(dataset_versions::as_of))
        .first(conn)?;
    let Some(version) = found else {
        return Ok(None);
    };
    let tags = tags_by_version(conn, dataset_id)?
        .remove(&version)
        .unwrap_or_default();
    Ok(Some((version, tags)))
}

/// The version a tag names; `latest` is the newest version.
pub fn tagged_version(
    conn: &mut DbConnection,
    dataset_id: &str,
    tag: &str,
) -> QueryResult<Option<i64>> {
    if tag == "latest" {
        return dataset_versions::table
            .filter(dataset_versions::dataset_id.eq(dataset_id))
            .select(max(dataset_versions::as_of))
            .first(conn);
    }
    dataset_tags::table
        .find((dataset_id, tag))
        .select(dataset_tags::as_of)
        .first(conn)
        .optional()
}

/// Points `tag` at the version `as_of` (moving it if it named another); false if no such version.
pub fn set_tag(
    conn: &mut DbConnection,
    dataset_id: &str,
    tag: &str,
    as_of: i64,
) -> QueryResult<bool> {
    super::write_transaction(conn, |conn| {
        let exists = dataset_versions::table
            .find((dataset_id, as_of))
            .select(count_star())
            .first::<i64>(conn)?
            > 0;
        if !exists {
            return Ok(false);
        }
        diesel::delete(dataset_tags::table.find((dataset_id, tag))).execute(conn)?;
        diesel::insert_into(dataset_tags::table)
            .values(DatasetTagRow {
                dataset_id: dataset_id.to_string(),
                tag: tag.to_string(),
                as_of,
            })
            .execute(conn)?;
        Ok(true)
    })
}

/// The revisions of examples that held at `as_of` (`None`: the current ones).
#[derive(Debug, Default)]
pub struct ExampleFilter {
    pub dataset_id: Option<String>,
    pub ids: Vec<String>,
    pub as_of: Option<i64>,
    pub splits: Vec<String>,
    pub limit: i64,
    pub offset: i64,
}

pub fn list_examples(
    conn: &mut DbConnection,
    workspace_id: &str,
    filter: &ExampleFilter,
) -> QueryResult<Vec<ExampleRevisionRow>> {
    let mut query = example_revisions::table
        .filter(example_revisions::workspace_id.eq(workspace_id))
        .select(ExampleRevisionRow::as_select())
        .into_boxed();
    if let Some(dataset) = &filter.dataset_id {
        query = query.filter(example_revisions::dataset_id.eq(dataset));
    }
    if !filter.ids.is_empty() {
        query = query.filter(example_revisions::example_id.eq_any(&filter.ids));
    }
    query = match filter.as_of {
        None => query.filter(example_revisions::valid_to.is_null()),
        Some(at) => query.filter(example_revisions::valid_from.le(at)).filter(
            example_revisions::valid_to
                .is_null()
                .or(example_revisions::valid_to.gt(at)),
        ),
    };
    if let Some((first, rest)) = filter.splits.split_first() {
        let pattern = |split: &String| format!("%,{},%", escape_like(split));
        let mut any_split: Box<
            dyn BoxableExpression<
                    example_revisions::table,
                    Backend,
                    SqlType = diesel::sql_types::Bool,
                >,
        > = Box::new(example_revisions::splits.like(pattern(first)).escape('\\'));
        for split in rest {
            any_split =
                Box::new(any_split.or(example_revisions::splits.like(pattern(split)).escape('\\')));
        }
        query = query.filter(any_split);
    }
    query
        .order((
            example_revisions::created_at.asc(),
            example_revisions::example_id.asc(),
        ))
        .limit(filter.limit)
        .offset(filter.offset)
        .load(conn)
}

/// A new example or a change to one; `None` leaves a field as it is (on create: empty).
#[derive(Debug, Clone, Default)]
pub struct ExampleWrite {
    pub id: String,
    pub dataset_id: Option<String>,
    pub inputs: Option<String>,
    pub outputs: Option<String>,
    pub metadata: Option<String>,
    pub source_run_id: Option<String>,
    /// `metadata.dataset_split` as a list; `None` keeps what the metadata says.
    pub splits: Option<Vec<String>>,
    pub created_at: Option<i64>,
    /// Files to attach; `None` keeps the example's files as they are.
    pub attachments: Option<AttachmentPlan>,
}

/// What an example's files become: the ones renamed or retained from its last revision,
/// plus the uploads (which win on a name clash).
#[derive(Debug, Clone, Default)]
pub struct AttachmentPlan {
    /// (name, content type, bytes)
    pub uploads: Vec<(String, String, Vec<u8>)>,
    pub rename: HashMap<String, String>,
    pub retain: Vec<String>,
}

/// An attached file: name, content type, bytes.
pub type File = (String, String, Vec<u8>);

impl AttachmentPlan {
    /// The files of the new revision, given the previous revision's.
    pub fn apply(&self, previous: Vec<ExampleAttachmentRow>) -> Vec<File> {
        let mut files: std::collections::BTreeMap<String, (String, Vec<u8>)> = Default::default();
        for old in previous {
            if let Some(new_name) = self.rename.get(&old.name) {
                files.insert(new_name.clone(), (old.content_type, old.data));
            } else if self.retain.contains(&old.name) {
                files.insert(old.name, (old.content_type, old.data));
            }
        }
        for (name, content_type, data) in &self.uploads {
            files.insert(name.clone(), (content_type.clone(), data.clone()));
        }
        files
            .into_iter()
            .map(|(name, (ct, data))| (name, ct, data))
            .collect()
    }
}

fn attachments_of(
    conn: &mut DbConnection,
    example_id: &str,
    valid_from: i64,
) -> QueryResult<Vec<ExampleAttachmentRow>> {
    example_attachments::table
        .filter(example_attachments::example_id.eq(example_id))
        .filter(example_attachments::valid_from.eq(valid_from))
        .select(ExampleAttachmentRow::as_select())
        .load(conn)
}

fn attach(conn: &mut DbConnection, row: &ExampleRevisionRow, files: Vec<File>) -> QueryResult<()> {
    for (name, content_type, data) in files {
        diesel::insert_into(example_attachments::table)
            .values(ExampleAttachmentRow {
                example_id: row.example_id.clone(),
                valid_from: row.valid_from,
                name,
                content_type,
                data,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// Names and content types of files, by (example id, revision).
pub type AttachmentIndex = HashMap<(String, i64), Vec<(String, String)>>;

/// Names and content types of the files of these revisions.
pub fn attachment_index(
    conn: &mut DbConnection,
    revisions: &[(String, i64)],
) -> QueryResult<AttachmentIndex> {
    let mut index = AttachmentIndex::new();
    let ids: Vec<String> = revisions.iter().map(|(id, _)| id.clone()).collect();
    let wanted: std::collections::HashSet<&(String, i64)> = revisions.iter().collect();
    for chunk in ids.chunks(400) {
        let found: Vec<(String, i64, String, String)> = example_attachments::table
            .filter(example_attachments::example_id.eq_any(chunk))
            .select((
                example_attachments::example_id,
                example_attachments::valid_from,
                example_attachments::name,
                example_attachments::content_type,
            ))
            .order(example_attachments::name.asc())
            .load(conn)?;
        for (id, valid_from, name, content_type) in found {
            let key = (id, valid_from);
            if wanted.contains(&key) {
                index.entry(key).or_default().push((name, content_type));
            }
        }
    }
    Ok(index)
}

/// One file of one revision, if that revision is in the workspace.
pub fn attachment(
    conn: &mut DbConnection,
    workspace_id: &str,
    example_id: &str,
    valid_from: i64,
    name: &str,
) -> QueryResult<Option<ExampleAttachmentRow>> {
    let in_workspace = example_revisions::table
        .find((example_id, valid_from))
        .filter(example_revisions::workspace_id.eq(workspace_id))
        .select(count_star())
        .first::<i64>(conn)?
        > 0;
    if !in_workspace {
        return Ok(None);
    }
    example_attachments::table
        .find((example_id, valid_from, name))
        .select(ExampleAttachmentRow::as_select())
        .first(conn)
        .optional()
}

/// Removes examples from every version, files included; returns the ids that existed.
pub fn hard_delete_examples(
    conn: &mut DbConnection,
    workspace_id: &str,
    ids: &[String],
) -> QueryResult<Vec<String>> {
    super::write_transaction(conn, |conn| {
        let mut existing: Vec<String> = example_revisions::table
            .filter(example_revisions::workspace_id.eq(workspace_id))
            .filter(example_revisions::example_id.eq_any(ids))
            .select(example_revisions::example_id)
            .distinct()
            .load(conn)?;
        existing.sort();
        diesel::delete(
            example_attachments::table.filter(example_attachments::example_id.eq_any(&existing)),
        )
        .execute(conn)?;
        diesel::delete(
            example_revisions::table
                .filter(example_revisions::workspace_id.eq(workspace_id))
                .filter(example_revisions::example_id.eq_any(&existing)),
        )
        .execute(conn)?;
        Ok(existing)
    })
}

/// Why an example write was refused; nothing was written.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ExampleWriteError {
    #[error("example {0} already exists")]
    AlreadyExists(String),
    #[error("example {0} not found in that dataset")]
    NotFound(String),
    /// The example does not match its dataset's schema.
    #[error("{0}")]
    Invalid(String),
}

fn current(
    conn: &mut DbConnection,
    workspace_id: &str,
    ids: &[String],
) -> QueryResult<HashMap<String, ExampleRevisionRow>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(400) {
        let rows: Vec<ExampleRevisionRow> = example_revisions::table
            .filter(example_revisions::workspace_id.eq(workspace_id))
            .filter(example_revisions::example_id.eq_any(chunk))
            .filter(example_revisions::valid_to.is_null())
            .select(ExampleRevisionRow::as_select())
            .load(conn)?;
        found.extend(rows.into_iter().map(|r| (r.example_id.clone(), r)));
    }
    Ok(found)
}

/// The metadata with `dataset_split` set from `splits` when given, and the split list to index.
fn with_splits(metadata: Option<String>, splits: Option<Vec<String>>) -> (Option<String>, String) {
    let mut parsed: Option<serde_json::Value> = metadata
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok());
    if let Some(splits) = splits {
        let object = parsed.get_or_insert_with(|| serde_json::json!({}));
        if let Some(map) = object.as_object_mut() {
            map.insert("dataset_split".into(), serde_json::json!(splits));
        }
    }
    let listed: Vec<String> = parsed
        .as_ref()
        .and_then(|m| m.get("dataset_split"))
        .map(|s| match s {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(many) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .filter(|l: &Vec<String>| !l.is_empty())
        .unwrap_or_else(|| vec!["base".to_string()]);
    (
        parsed.map(|m| m.to_string()),
        format!(",{},", listed.join(",")),
    )
}

fn revision(
    workspace_id: &str,
    dataset_id: &str,
    write: ExampleWrite,
    as_of: i64,
) -> ExampleRevisionRow {
    let (metadata, splits) = with_splits(write.metadata, write.splits);
    ExampleRevisionRow {
        example_id: write.id,
        valid_from: as_of,
        valid_to: None,
        workspace_id: workspace_id.to_string(),
        dataset_id: dataset_id.to_string(),
        inputs: write.inputs.unwrap_or_else(|| "{}".to_string()),
        outputs: write.outputs,
        metadata,
        source_run_id: write.source_run_id,
        splits,
        created_at: write.created_at.unwrap_or(as_of),
    }
}

/// Creates examples in one dataset as one new version; returns the version.
fn create_examples(
    conn: &mut DbConnection,
    workspace_id: &str,
    dataset_id: &str,
    writes: Vec<ExampleWrite>,
) -> QueryResult<Result<(i64, Vec<ExampleRevisionRow>), ExampleWriteError>> {
    super::write_transaction(conn, |conn| {
        let ids: Vec<String> = writes.iter().map(|w| w.id.clone()).collect();
        let taken = example_revisions::table
            .filter(example_revisions::example_id.eq_any(&ids))
            .select(example_revisions::example_id)
            .first::<String>(conn)
            .optional()?;
        if let Some(id) = taken {
            return Ok(Err(ExampleWriteError::AlreadyExists(id)));
        }
        let schemas = schemas_of(conn, dataset_id)?;
        for write in &writes {
            let label = format!("example {}", write.id);
            let inputs = write.inputs.as_deref().unwrap_or("{}");
            if let Err(problem) = schemas.check(inputs, write.outputs.as_deref(), &label) {
                return Ok(Err(ExampleWriteError::Invalid(problem)));
            }
        }
        let as_of = new_version(conn, dataset_id)?;
        let mut files = Vec::new();
        let rows: Vec<ExampleRevisionRow> = writes
            .into_iter()
            .map(|mut w| {
                files.push(
                    w.attachments
                        .take()
                        .map(|plan| plan.uploads)
                        .unwrap_or_default(),
                );
                revision(workspace_id, dataset_id, w, as_of)
            })
            .collect();
        for chunk in rows.chunks(400) {
            super::per_backend!(conn, |c| diesel::insert_into(example_revisions::table)
                .values(chunk)
                .execute(c))?;
        }
        for (row, uploads) in rows.iter().zip(files) {
            attach(conn, row, uploads)?;
        }
        Ok(Ok((as_of, rows)))
    })
}

/// A transaction's failure: the database's, or a refusal that must undo what was written.
enum TxError {
    Db(diesel::result::Error),
    Refused(ExampleWriteError),
}

impl From<diesel::result::Error> for TxError {
    fn from(err: diesel::result::Error) -> Self {
        TxError::Db(err)
    }
}

/// Creates examples in several datasets at once, all or nothing (one version per dataset).
pub fn create_examples_in(
    conn: &mut DbConnection,
    workspace_id: &str,
    by_dataset: std::collections::BTreeMap<String, Vec<ExampleWrite>>,
) -> QueryResult<Result<Vec<ExampleRevisionRow>, ExampleWriteError>> {
    let outcome = super::write_transaction(conn, |conn| -> Result<_, TxError> {
        let mut created = Vec::new();
        for (dataset_id, writes) in by_dataset {
            let (_, rows) = create_examples(conn, workspace_id, &dataset_id, writes)?
                .map_err(TxError::Refused)?;
            created.extend(rows);
        }
        Ok(created)
    });
    match outcome {
        Ok(created) => Ok(Ok(created)),
        Err(TxError::Refused(err)) => Ok(Err(err)),
        Err(TxError::Db(err)) => Err(err),
    }
}

fn close(conn: &mut DbConnection, row: &ExampleRevisionRow, at: i64) -> QueryResult<()> {
    diesel::update(example_revisions::table.find((&row.example_id, row.valid_from)))
        .set(example_revisions::valid_to.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// The schemas of a dataset, compiled (an unreadable stored schema checks nothing).
fn schemas_of(
    conn: &mut DbConnection,
    dataset_id: &str,
) -> QueryResult<crate::schema_check::DatasetSchemas> {
    let dataset = datasets::table
        .find(dataset_id)
        .select(DatasetRow::as_select())
        .first(conn)?;
    Ok(crate::schema_check::DatasetSchemas::from_texts(
        dataset.inputs_schema.as_deref(),
        dataset.outputs_schema.as_deref(),
    )
    .unwrap_or_default())
}

/// Changes examples (each dataset touched gets one new version); all or nothing. The result
/// of each change must match its dataset's schemas.
pub fn update_examples(
    conn: &mut DbConnection,
    workspace_id: &str,
    writes: Vec<ExampleWrite>,
) -> QueryResult<Result<Vec<ExampleRevisionRow>, ExampleWriteError>> {
    let outcome = super::write_transaction(conn, |conn| -> Result<_, TxError> {
        let ids: Vec<String> = writes.iter().map(|w| w.id.clone()).collect();
        let stored = current(conn, workspace_id, &ids)?;
        let unknown = writes.iter().find(|w| match stored.get(&w.id) {
            None => true,
            Some(old) => w.dataset_id.as_ref().is_some_and(|d| *d != old.dataset_id),
        });
        if let Some(write) = unknown {
            return Err(TxError::Refused(ExampleWriteError::NotFound(
                write.id.clone(),
            )));
        }
        let mut versions: HashMap<String, i64> = HashMap::new();
        let mut schemas: HashMap<String, crate::schema_check::DatasetSchemas> = HashMap::new();
        let mut updated = Vec::new();
        for write in writes {
            let old = &stored[&write.id];
            if !schemas.contains_key(&old.dataset_id) {
                let compiled = schemas_of(conn, &old.dataset_id)?;
                schemas.insert(old.dataset_id.clone(), compiled);
            }
            let as_of = match versions.get(&old.dataset_id) {
                Some(v) => *v,
                None => {
                    let v = new_version(conn, &old.dataset_id)?;
                    versions.insert(old.dataset_id.clone(), v);
                    v
                }
            };
            close(conn, old, as_of)?;
            let previous_files = attachments_of(conn, &old.example_id, old.valid_from)?;
            let files = match &write.attachments {
                None => previous_files
                    .into_iter()
                    .map(|f| (f.name, f.content_type, f.data))
                    .collect(),
                Some(plan) => plan.apply(previous_files),
            };
            let merged = ExampleWrite {
                id: write.id,
                dataset_id: None,
                inputs: write.inputs.or_else(|| Some(old.inputs.clone())),
                outputs: write.outputs.or_else(|| old.outputs.clone()),
                metadata: write.metadata.or_else(|| old.metadata.clone()),
                source_run_id: write.source_run_id.or_else(|| old.source_run_id.clone()),
                splits: write.splits,
                created_at: Some(old.created_at),
                attachments: None,
            };
            let row = revision(workspace_id, &old.dataset_id, merged, as_of);
            let label = format!("example {}", row.example_id);
            schemas[&old.dataset_id]
                .check(&row.inputs, row.outputs.as_deref(), &label)
                .map_err(|problem| TxError::Refused(ExampleWriteError::Invalid(problem)))?;
            diesel::insert_into(example_revisions::table)
                .values(&row)
                .execute(conn)?;
            attach(conn, &row, files)?;
            updated.push(row);
        }
        Ok(updated)
    });
    match outcome {
        Ok(updated) => Ok(Ok(updated)),
        Err(TxError::Refused(err)) => Ok(Err(err)),
        Err(TxError::Db(err)) => Err(err),
    }
}

/// Deletes examples: their current revisions end at a new version; older versions keep them.
pub fn delete_examples(
    conn: &mut DbConnection,
    workspace_id: &str,
    ids: &[String],
) -> QueryResult<Result<(), ExampleWriteError>> {
    super::write_transaction(conn, |conn| {
        let stored = current(conn, workspace_id, ids)?;
        if let Some(missing) = ids.iter().find(|id| !stored.contains_key(*id)) {
            return Ok(Err(ExampleWriteError::NotFound(missing.clone())));
        }
        let mut versions: HashMap<String, i64> = HashMap::new();
        for row in stored.values() {
            let as_of = match versions.get(&row.dataset_id) {
                Some(v) => *v,
                None => {
                    let v = new_version(conn, &row.dataset_id)?;
                    versions.insert(row.dataset_id.clone(), v);
                    v
                }
            };
            close(conn, row, as_of)?;
        }
        Ok(Ok(()))
    })
}

/// The split names used by a dataset's examples at a version (`None`: now).
pub fn splits(
    conn: &mut DbConnection,
    workspace_id: &str,
    dataset_id: &str,
    as_of: Option<i64>,
) -> QueryResult<Vec<String>> {
    let filter = ExampleFilter {
        dataset_id: Some(dataset_id.to_string()),
        as_of,
        limit: i64::MAX,
        ..Default::default()
    };
    let mut names = std::collections::BTreeSet::new();
    for row in list_examples(conn, workspace_id, &filter)? {
        names.extend(
            row.splits
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    Ok(names.into_iter().collect())
}

/// The dataset's share token, if it is shared.
pub fn share_token(conn: &mut DbConnection, dataset_id: &str) -> QueryResult<Option<String>> {
    dataset_shares::table
        .find(dataset_id)
        .select(dataset_shares::share_token)
        .first(conn)
        .optional()
}

/// Shares the dataset (keeping an existing token) and returns its token.
pub fn share(conn: &mut DbConnection, dataset_id: &str) -> QueryResult<String> {
    super::write_transaction(conn, |conn| {
        if let Some(token) = share_token(conn, dataset_id)? {
            return Ok(token);
        }
        let token = uuid::Uuid::new_v4().to_string();
        diesel::insert_into(dataset_shares::table)
            .values((
                dataset_shares::dataset_id.eq(dataset_id),
                dataset_shares::share_token.eq(&token),
                dataset_shares::created_at.eq(now_micros()),
            ))
            .execute(conn)?;
        Ok(token)
    })
}

pub fn unshare(conn: &mut DbConnection, dataset_id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(dataset_shares::table.find(dataset_id)).execute(conn)? > 0)
}

/// The shared dataset a token opens, whatever its workspace.
pub fn shared_dataset(conn: &mut DbConnection, token: &str) -> QueryResult<Option<DatasetRow>> {
    let dataset_id: Option<String> = dataset_shares::table
        .filter(dataset_shares::share_token.eq(token))
        .select(dataset_shares::dataset_id)
        .first(conn)
        .optional()?;
    let Some(dataset_id) = dataset_id else {
        return Ok(None);
    };
    datasets::table
        .find(dataset_id)
        .select(DatasetRow::as_select())
        .first(conn)
        .optional()
}
