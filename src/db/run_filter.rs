//! Compiles a run filter (`crate::filter::runs`) to a SQL condition for SQLite or PostgreSQL.
//! The result is a diesel expression, so it joins the boxed run queries like any other
//! `.filter(...)`; values travel as bind parameters. The text differs between the dialects only
//! where their SQL does: JSON access, LIKE, text ordering.
//!
//! Every condition produced here is TRUE or FALSE, never NULL, so that `NOT` and `NOT EXISTS`
//! behave as the in-memory evaluator does.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, Double, HasSqlType, Text};

use super::runs::RunQuery;
use crate::filter::runs::{
    Cond, EntryAttr, Family, Field, Lit, Op, RunFilter, THREAD_KEYS, Test, TraceFilters,
    index_literal,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
enum Part {
    Sql(String),
    Text(String),
    Int(i64),
    Float(f64),
}

/// A boolean SQL condition with its bind parameters.
#[derive(Clone, Debug, Default)]
pub struct SqlCondition {
    parts: Vec<Part>,
}

impl Expression for SqlCondition {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for SqlCondition {}
impl<QS> SelectableExpression<QS> for SqlCondition {}

impl<GB> ValidGrouping<GB> for SqlCondition {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl QueryId for SqlCondition {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for SqlCondition
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Double>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    f64: ToSql<Double, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        for part in &self.parts {
            match part {
                Part::Sql(sql) => out.push_sql(sql),
                Part::Text(v) => out.push_bind_param::<Text, String>(v)?,
                Part::Int(v) => out.push_bind_param::<BigInt, i64>(v)?,
                Part::Float(v) => out.push_bind_param::<Double, f64>(v)?,
            }
        }
        Ok(())
    }
}

/// The condition for `runs` rows (the table under its own name) that a query selects: complete
/// runs of the workspace, narrowed by the query's fields and filters.
pub fn selection(workspace_id: &str, q: &RunQuery, dialect: Dialect) -> SqlCondition {
    build_selection(workspace_id, q, dialect, true)
}

/// The same condition with only the exact tests, no index candidate sets: for a query that
/// already starts from the metadata index (`metadata_driver`), where candidate sets would only
/// cost their materialisation, and for PostgreSQL's pages, where they lead its planner to
/// hash-join whole tables instead of walking the newest runs. On SQLite the runs' own columns
/// are written so that no other index of runs is picked to start from.
pub fn exact_selection(workspace_id: &str, q: &RunQuery, dialect: Dialect) -> SqlCondition {
    build_selection(workspace_id, q, dialect, false)
}

fn build_selection(
    workspace_id: &str,
    q: &RunQuery,
    dialect: Dialect,
    candidate_sets: bool,
) -> SqlCondition {
    let mut b = Builder {
        dialect,
        out: SqlCondition::default(),
        aliases: 0,
        workspace_id: workspace_id.to_string(),
        // Driven by the metadata index, SQLite must not pick another index of runs to start
        // from (it would walk the project): unary plus makes a column unusable for an index.
        runs: if !candidate_sets && dialect == Dialect::Sqlite {
            "+runs"
        } else {
            "runs"
        },
    };
    let r = b.runs;
    b.sql(&format!("({r}.workspace_id = "));
    b.bind(&Lit::Text(workspace_id.to_string()));
    b.sql(&format!(
        " AND {r}.name IS NOT NULL AND {r}.run_type IS NOT NULL AND {r}.start_time IS NOT NULL"
    ));
    let text = |v: &String| Lit::Text(v.clone());
    for (column, values) in [
        ("id", &q.ids),
        ("session_id", &q.sessions),
        ("reference_example_id", &q.reference_examples),
    ] {
        if !values.is_empty() {
            b.sql(" AND ");
            b.scalar_test(
                &format!("{r}.{column}"),
                &Test::In(values.iter().map(text).collect()),
                false,
            );
        }
    }
    for (column, value) in [
        ("trace_id", &q.trace),
        ("parent_run_id", &q.parent_run),
        ("run_type", &q.run_type),
    ] {
        if let Some(value) = value {
            b.sql(&format!(" AND {r}.{column} = "));
            b.bind(&text(value));
        }
    }
    for (column, present) in [
        ("parent_run_id", q.is_root.map(|root| !root)),
        ("error", q.error),
    ] {
        match present {
            Some(true) => b.sql(&format!(" AND {r}.{column} IS NOT NULL")),
            Some(false) => b.sql(&format!(" AND {r}.{column} IS NULL")),
            None => {}
        }
    }
    if let Some(start) = q.start_time {
        b.sql(&format!(" AND {r}.start_time >= "));
        b.bind(&Lit::Int(start));
    }
    if let Some(end) = q.end_time {
        b.sql(&format!(" AND {r}.start_time <= "));
        b.bind(&Lit::Int(end));
    }
    b.filters(&q.filters, candidate_sets);
    b.sql(")");
    b.out
}

/// The condition for the runs a query selects, for work that reads them all (aggregates):
/// when a metadata key and value are required, SQLite is steered to start from that value's
/// runs in the metadata index (the other columns of runs are made unusable for an index).
pub fn unordered_selection(workspace_id: &str, q: &RunQuery, dialect: Dialect) -> SqlCondition {
    let Some((key, value)) = metadata_driver(&q.filters) else {
        return selection(workspace_id, q, dialect);
    };
    let mut out = SqlCondition::default();
    out.parts.push(Part::Sql("(runs.workspace_id = ".into()));
    out.parts.push(Part::Text(workspace_id.to_string()));
    out.parts.push(Part::Sql(
        " AND runs.id IN (SELECT run_id FROM run_metadata WHERE workspace_id = ".into(),
    ));
    out.parts.push(Part::Text(workspace_id.to_string()));
    out.parts.push(Part::Sql(" AND key = ".into()));
    out.parts.push(Part::Text(key));
    out.parts.push(Part::Sql(" AND value = ".into()));
    out.parts.push(Part::Text(value));
    out.parts.push(Part::Sql(") AND ".into()));
    out.parts
        .extend(exact_selection(workspace_id, q, dialect).parts);
    out.parts.push(Part::Sql(")".into()));
    out
}

/// `feedback` rows on the runs a query selects.
pub fn feedback_of_selection(workspace_id: &str, q: &RunQuery, dialect: Dialect) -> SqlCondition {
    let mut out = SqlCondition::default();
    out.parts.push(Part::Sql(
        "feedback.run_id IN (SELECT runs.id FROM runs WHERE ".into(),
    ));
    out.parts
        .extend(unordered_selection(workspace_id, q, dialect).parts);
    out.parts.push(Part::Sql(")".into()));
    out
}

/// The metadata key and index value every run the filters select must have, if any: the query
/// can then start from those runs in the metadata index.
pub fn metadata_driver(filters: &TraceFilters) -> Option<(String, String)> {
    let filter = filters.filter.as_ref()?;
    required_entries(&filter.0).into_iter().find_map(|entry| {
        let Cond::Entry {
            family: Family::Metadata,
            tests,
            ..
        } = entry
        else {
            return None;
        };
        let key = tests.iter().find_map(|(attr, test)| match (attr, test) {
            (EntryAttr::Key, Test::Cmp(Op::Eq, Lit::Text(key))) => Some(key.clone()),
            _ => None,
        })?;
        let value = tests.iter().find_map(|(attr, test)| match (attr, test) {
            (EntryAttr::Value, Test::Cmp(Op::Eq, lit)) => index_literal(lit),
            _ => None,
        })?;
        Some((key, value))
    })
}

/// The key/value groups a condition requires at its top level (through nested `and`s only).
fn required_entries(cond: &Cond) -> Vec<&Cond> {
    match cond {
        Cond::All(conds) => conds.iter().flat_map(required_entries).collect(),
        Cond::Entry { exists: true, .. } => vec![cond],
        _ => Vec::new(),
    }
}

impl Builder {
    fn filters(&mut self, filters: &TraceFilters, candidate_sets: bool) {
        // Index-backed candidate sets first. They are supersets of the exact conditions below
        // (which still decide), but let the planner start from the feedback or metadata index
        // instead of reading every run's JSON.
        let with_candidates = [(&filters.filter, "id"), (&filters.trace_filter, "trace_id")];
        for (filter, column) in with_candidates.into_iter().filter(|_| candidate_sets) {
            for entry in filter.iter().flat_map(|f| required_entries(&f.0)) {
                self.candidates(entry, column);
            }
        }
        if let Some(filter) = &filters.filter {
            self.sql(" AND ");
            self.cond(&filter.0, self.runs);
        }
        if let Some(filter) = &filters.trace_filter {
            self.sql(" AND ");
            self.in_trace(filter, "id");
        }
        if let Some(filter) = &filters.tree_filter {
            self.sql(" AND ");
            self.in_trace(filter, "trace_id");
        }
    }
}

struct Builder {
    dialect: Dialect,
    out: SqlCondition,
    aliases: usize,
    workspace_id: String,
    /// How the selected runs' own columns are written (`runs`, or `+runs` on SQLite).
    runs: &'static str,
}

impl Builder {
    fn sql(&mut self, sql: &str) {
        match self.out.parts.last_mut() {
            Some(Part::Sql(last)) => last.push_str(sql),
            _ => self.out.parts.push(Part::Sql(sql.to_string())),
        }
    }

    fn bind(&mut self, lit: &Lit) {
        let part = match lit {
            Lit::Text(t) => Part::Text(t.clone()),
            Lit::Int(i) => Part::Int(*i),
            Lit::Num(n) => Part::Float(*n),
            Lit::Bool(b) => Part::Int(i64::from(*b)),
            Lit::Null => unreachable!("null is tested with IS NULL, never bound"),
        };
        self.out.parts.push(part);
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    /// `AND runs.<column> IN (<runs having such a feedback or metadata entry>)`, from the index,
    /// when the group names its key exactly.
    fn candidates(&mut self, entry: &Cond, column: &str) {
        let Cond::Entry { family, tests, .. } = entry else {
            return;
        };
        let key_test = tests.iter().find_map(|(attr, test)| match (attr, test) {
            (EntryAttr::Key, Test::Cmp(Op::Eq, Lit::Text(_)) | Test::In(_)) => Some(test),
            _ => None,
        });
        let Some(key_test) = key_test else { return };
        let table = match family {
            Family::Feedback => "feedback",
            Family::Metadata => "run_metadata",
            Family::Inputs | Family::Outputs => return,
        };
        self.sql(&format!(
            " AND runs.{column} IN (SELECT run_id FROM {table} WHERE run_id IS NOT NULL AND workspace_id = "
        ));
        let workspace = Lit::Text(self.workspace_id.clone());
        self.bind(&workspace);
        self.sql(" AND ");
        self.scalar_test("key", key_test, false);
        for (attr, test) in tests {
            let value = match (family, attr, test) {
                (Family::Feedback, EntryAttr::Score, Test::Cmp(Op::Eq, lit @ Lit::Num(_))) => {
                    Some(("score", lit.clone()))
                }
                (Family::Metadata, EntryAttr::Value, Test::Cmp(Op::Eq, lit)) => {
                    index_literal(lit).map(|v| ("value", Lit::Text(v)))
                }
                _ => None,
            };
            if let Some((column, lit)) = value {
                self.sql(&format!(" AND {column} = "));
                self.bind(&lit);
                break;
            }
        }
        self.sql(")");
    }

    /// Some complete run of the same trace, whose `column` equals the candidate's `trace_id`,
    /// passes `filter`: the root (`id`) or any run (`trace_id`).
    fn in_trace(&mut self, filter: &RunFilter, column: &str) {
        let t = self.alias("t");
        self.sql(&format!(
            "EXISTS (SELECT 1 FROM runs {t} WHERE {t}.workspace_id = runs.workspace_id \
             AND {t}.{column} = runs.trace_id AND {t}.name IS NOT NULL \
             AND {t}.run_type IS NOT NULL AND {t}.start_time IS NOT NULL AND "
        ));
        self.cond(&filter.0, &t);
        self.sql(")");
    }

    fn cond(&mut self, cond: &Cond, r: &str) {
        match cond {
            Cond::All(conds) | Cond::Any(conds) => {
                let (joiner, empty) = if matches!(cond, Cond::All(_)) {
                    (" AND ", "1=1")
                } else {
                    (" OR ", "1=0")
                };
                if conds.is_empty() {
                    self.sql(empty);
                    return;
                }
                self.sql("(");
                for (i, c) in conds.iter().enumerate() {
                    if i > 0 {
                        self.sql(joiner);
                    }
                    self.cond(c, r);
                }
                self.sql(")");
            }
            Cond::Not(inner) => {
                self.sql("NOT (");
                self.cond(inner, r);
                self.sql(")");
            }
            Cond::Field(Field::IsRoot, test) => {
                let root = matches!(
                    test,
                    Test::Cmp(Op::Eq, Lit::Bool(true)) | Test::Cmp(Op::Neq, Lit::Bool(false))
                );
                self.sql(&format!(
                    "{r}.parent_run_id IS {}NULL",
                    if root { "" } else { "NOT " }
                ));
            }
            Cond::Field(field, test) => {
                let expr = self.field(*field, r);
                let text = matches!(test, Test::Cmp(_, Lit::Text(_)));
                self.scalar_test(&expr, test, text);
            }
            Cond::HasTag(tag) => {
                match self.dialect {
                    Dialect::Sqlite => self.sql(&format!(
                        "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_type({r}.tags) = 'array' \
                         THEN {r}.tags END) WHERE type = 'text' AND value = "
                    )),
                    Dialect::Postgres => self.sql(&format!(
                        "COALESCE(jsonb_typeof({tags}) = 'array' AND jsonb_exists({tags}, ",
                        tags = jsonb(&format!("{r}.tags"))
                    )),
                }
                self.bind(&Lit::Text(tag.clone()));
                self.sql(match self.dialect {
                    Dialect::Sqlite => ")",
                    Dialect::Postgres => "), FALSE)",
                });
            }
            Cond::Search { field, needle } => {
                let fields = match field {
                    Some(f) => vec![*f],
                    None => vec![Field::Name, Field::Inputs, Field::Outputs, Field::Error],
                };
                self.sql("(");
                for (i, f) in fields.into_iter().enumerate() {
                    if i > 0 {
                        self.sql(" OR ");
                    }
                    let expr = self.field(f, r);
                    match self.dialect {
                        // Both lower only ASCII letters: SQLite's lower() always, PostgreSQL's
                        // under the "C" collation. The needle was lowered the same way.
                        Dialect::Sqlite => {
                            self.sql(&format!("instr(lower(COALESCE({expr}, '')), "))
                        }
                        Dialect::Postgres => self.sql(&format!(
                            "strpos(lower(COALESCE({expr}, '') COLLATE \"C\"), "
                        )),
                    }
                    self.bind(&Lit::Text(needle.clone()));
                    self.sql(") > 0");
                }
                self.sql(")");
            }
            Cond::Entry {
                family,
                tests,
                exists,
            } => {
                self.sql(if *exists { "EXISTS (" } else { "NOT EXISTS (" });
                let e = self.alias("e");
                let source = self.entry_source(*family, r, &e);
                self.sql(&source);
                for (attr, test) in tests {
                    self.sql(" AND ");
                    self.entry_test(*family, *attr, test, &e);
                }
                self.sql(")");
            }
        }
    }

    /// `SELECT 1 FROM <entries of the run> WHERE 1=1`, the entries named `e`.
    fn entry_source(&self, family: Family, r: &str, e: &str) -> String {
        if family == Family::Feedback {
            return format!(
                "SELECT 1 FROM feedback {e} WHERE {e}.workspace_id = {r}.workspace_id \
                 AND {e}.run_id = {r}.id"
            );
        }
        let (column, path) = match family {
            Family::Metadata => ("extra", Some("metadata")),
            Family::Inputs => ("inputs", None),
            _ => ("outputs", None),
        };
        match (self.dialect, path) {
            (Dialect::Sqlite, Some(key)) => format!(
                "SELECT 1 FROM json_each(CASE WHEN json_type({r}.{column}, '$.{key}') = 'object' \
                 THEN {r}.{column} END, '$.{key}') {e} WHERE 1=1"
            ),
            (Dialect::Sqlite, None) => format!(
                "SELECT 1 FROM json_each(CASE WHEN json_type({r}.{column}) = 'object' \
                 THEN {r}.{column} END) {e} WHERE 1=1"
            ),
            (Dialect::Postgres, Some(key)) => format!(
                "SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof({doc} -> '{key}') \
                 = 'object' THEN {doc} -> '{key}' END) {e}(key, value) WHERE 1=1",
                doc = jsonb(&format!("{r}.{column}"))
            ),
            (Dialect::Postgres, None) => format!(
                "SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof({doc}) = 'object' \
                 THEN {doc} END) {e}(key, value) WHERE 1=1",
                doc = jsonb(&format!("{r}.{column}"))
            ),
        }
    }

    fn entry_test(&mut self, family: Family, attr: EntryAttr, test: &Test, e: &str) {
        match (family, attr) {
            (_, EntryAttr::Key) => {
                let text = matches!(test, Test::Cmp(_, Lit::Text(_)));
                self.scalar_test(&format!("{e}.key"), test, text)
            }
            (Family::Feedback, EntryAttr::Score) => {
                self.scalar_test(&format!("{e}.score"), test, false)
            }
            (Family::Feedback, EntryAttr::Source) => {
                let text = matches!(test, Test::Cmp(_, Lit::Text(_)));
                self.scalar_test(&format!("{e}.source_type"), test, text)
            }
            (Family::Feedback, _) => {
                let json = match self.dialect {
                    Dialect::Sqlite => format!("COALESCE({e}.value, 'null')"),
                    Dialect::Postgres => {
                        format!("COALESCE({}, 'null'::jsonb)", jsonb(&format!("{e}.value")))
                    }
                };
                self.json_test(&Json::Document(json), test);
            }
            _ => self.json_test(&Json::Row(e.to_string()), test),
        }
    }

    /// SQL for a run attribute of row alias `r`; NULL when the run has none.
    fn field(&self, field: Field, r: &str) -> String {
        let column = |c: &str| format!("{r}.{c}");
        match field {
            Field::Id => column("id"),
            Field::Name => column("name"),
            Field::RunType => column("run_type"),
            Field::Error => column("error"),
            Field::TraceId => column("trace_id"),
            Field::ParentRunId => column("parent_run_id"),
            Field::SessionId => column("session_id"),
            Field::ReferenceExampleId => column("reference_example_id"),
            Field::Inputs => column("inputs"),
            Field::Outputs => column("outputs"),
            Field::StartTime => column("start_time"),
            Field::EndTime => column("end_time"),
            Field::FirstTokenTime => column("first_token_time"),
            Field::PromptTokens => column("prompt_tokens"),
            Field::CompletionTokens => column("completion_tokens"),
            Field::TotalTokens => column("total_tokens"),
            Field::PromptCost => column("prompt_cost"),
            Field::CompletionCost => column("completion_cost"),
            Field::TotalCost => column("total_cost"),
            Field::Status => format!(
                "(CASE WHEN {r}.error IS NOT NULL THEN 'error' \
                 WHEN {r}.end_time IS NOT NULL THEN 'success' ELSE 'pending' END)"
            ),
            Field::Latency => {
                format!("CAST({r}.end_time - {r}.start_time AS DOUBLE PRECISION)")
            }
            Field::ThreadId => {
                let branches: String = THREAD_KEYS
                    .iter()
                    .map(|key| match self.dialect {
                        Dialect::Sqlite => format!(
                            " WHEN json_type({r}.extra, '$.metadata.{key}') = 'text' \
                             THEN json_extract({r}.extra, '$.metadata.{key}')"
                        ),
                        Dialect::Postgres => format!(
                            " WHEN jsonb_typeof({extra} -> 'metadata' -> '{key}') = 'string' \
                             THEN {extra} -> 'metadata' ->> '{key}'",
                            extra = jsonb(&format!("{r}.extra"))
                        ),
                    })
                    .collect();
                format!("(CASE{branches} END)")
            }
            Field::IsRoot => unreachable!("is_root is compiled on its own"),
        }
    }

    /// A test on a nullable SQL value.
    fn scalar_test(&mut self, expr: &str, test: &Test, text: bool) {
        match test {
            Test::Cmp(Op::Eq, Lit::Null) => self.sql(&format!("{expr} IS NULL")),
            Test::Cmp(Op::Neq, Lit::Null) => self.sql(&format!("{expr} IS NOT NULL")),
            Test::Cmp(Op::Neq, lit) => {
                self.sql(&format!("({expr} IS NULL OR {expr} <> "));
                self.bind(lit);
                self.sql(")");
            }
            Test::Cmp(op, lit) => {
                self.sql(&format!(
                    "({expr} IS NOT NULL AND {} {} ",
                    self.ordered(expr, text, *op),
                    sql_op(*op)
                ));
                self.bind(lit);
                self.sql(")");
            }
            Test::In(items) => {
                if items.is_empty() {
                    self.sql("1=0");
                    return;
                }
                self.sql(&format!("({expr} IS NOT NULL AND {expr} IN ("));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.sql(", ");
                    }
                    self.bind(item);
                }
                self.sql("))");
            }
            Test::Like(pattern) => {
                self.sql(&format!("({expr} IS NOT NULL AND "));
                self.like(expr, pattern);
                self.sql(")");
            }
        }
    }

    /// Text ordered byte by byte on both backends (PostgreSQL's default collation may not).
    fn ordered(&self, expr: &str, text: bool, op: Op) -> String {
        if text && self.dialect == Dialect::Postgres && !matches!(op, Op::Eq | Op::Neq) {
            format!("{expr} COLLATE \"C\"")
        } else {
            expr.to_string()
        }
    }

    fn like(&mut self, expr: &str, pattern: &str) {
        match self.dialect {
            // GLOB is case-sensitive, as LIKE is on PostgreSQL; its own wildcards are escaped.
            Dialect::Sqlite => {
                self.sql(&format!("{expr} GLOB "));
                self.bind(&Lit::Text(glob_pattern(pattern)));
            }
            Dialect::Postgres => {
                self.sql(&format!("{expr} LIKE "));
                self.bind(&Lit::Text(pattern.to_string()));
                self.sql(" ESCAPE ''");
            }
        }
    }

    /// A test on a JSON value; missing values are JSON null, so the result is never NULL.
    fn json_test(&mut self, json: &Json, test: &Test) {
        match test {
            Test::Cmp(Op::Neq, lit) => {
                self.sql("NOT ");
                self.json_test(json, &Test::Cmp(Op::Eq, lit.clone()));
            }
            Test::In(items) => {
                if items.is_empty() {
                    self.sql("1=0");
                    return;
                }
                self.sql("(");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.sql(" OR ");
                    }
                    self.json_test(json, &Test::Cmp(Op::Eq, item.clone()));
                }
                self.sql(")");
            }
            Test::Like(pattern) => {
                let (kind, text) = self.json_parts(json, JsonType::Text);
                self.sql(&format!("({kind} AND "));
                self.like(&text, pattern);
                self.sql(")");
            }
            Test::Cmp(_, Lit::Null) => {
                let (kind, _) = self.json_parts(json, JsonType::Null);
                self.sql(&kind);
            }
            Test::Cmp(_, Lit::Bool(b)) => {
                let (kind, _) = self.json_parts(json, JsonType::Bool(*b));
                self.sql(&kind);
            }
            Test::Cmp(op, lit) => {
                let text = matches!(lit, Lit::Text(_));
                let wanted = if text {
                    JsonType::Text
                } else {
                    JsonType::Number
                };
                let (kind, value) = self.json_parts(json, wanted);
                let value = self.ordered(&value, text, *op);
                self.sql(&format!("({kind} AND {value} {} ", sql_op(*op)));
                self.bind(lit);
                self.sql(")");
            }
        }
    }

    /// For a JSON value: the condition "it has this type", and the SQL scalar holding it once
    /// it has.
    fn json_parts(&self, json: &Json, wanted: JsonType) -> (String, String) {
        match self.dialect {
            Dialect::Sqlite => {
                let (kind, value) = match json {
                    Json::Row(e) => (format!("{e}.type"), format!("{e}.value")),
                    Json::Document(doc) => (
                        format!("json_type({doc})"),
                        format!("json_extract({doc}, '$')"),
                    ),
                };
                let test = match wanted {
                    JsonType::Number => format!("{kind} IN ('integer', 'real')"),
                    JsonType::Text => format!("{kind} = 'text'"),
                    JsonType::Null => format!("{kind} = 'null'"),
                    JsonType::Bool(b) => format!("{kind} = '{b}'"),
                };
                (test, value)
            }
            Dialect::Postgres => {
                let doc = match json {
                    Json::Row(e) => format!("{e}.value"),
                    Json::Document(doc) => doc.clone(),
                };
                let test = match wanted {
                    JsonType::Number => format!("jsonb_typeof({doc}) = 'number'"),
                    JsonType::Text => format!("jsonb_typeof({doc}) = 'string'"),
                    JsonType::Null => format!("jsonb_typeof({doc}) = 'null'"),
                    JsonType::Bool(b) => format!("{doc} = '{b}'::jsonb"),
                };
                let value = match wanted {
                    // The CASE keeps the cast away from values that are not numbers.
                    JsonType::Number => format!(
                        "(CASE WHEN jsonb_typeof({doc}) = 'number' THEN ({doc} #>> '{{}}')::float8 END)"
                    ),
                    _ => format!("({doc} #>> '{{}}')"),
                };
                (test, value)
            }
        }
    }
}

/// Where a JSON value sits: a row of json_each/jsonb_each (named by its alias), or a whole
/// document (JSON text on SQLite, jsonb on PostgreSQL).
enum Json {
    Row(String),
    Document(String),
}

#[derive(Clone, Copy)]
enum JsonType {
    Text,
    Number,
    Null,
    Bool(bool),
}

/// A JSON text column as jsonb on PostgreSQL; NULL for the documents jsonb refuses (a `\u0000`
/// escape is valid JSON but not valid jsonb), so that one such run cannot fail a whole query.
fn jsonb(column: &str) -> String {
    format!("(CASE WHEN strpos({column}, '\\u0000') = 0 THEN {column}::jsonb END)")
}

fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Neq => "<>",
        Op::Gt => ">",
        Op::Gte => ">=",
        Op::Lt => "<",
        Op::Lte => "<=",
    }
}

/// A LIKE pattern (`%`, `_`, no escape) as a GLOB pattern with the same meaning.
fn glob_pattern(like: &str) -> String {
    let mut out = String::with_capacity(like.len());
    for c in like.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_keeps_like_meaning() {
        assert_eq!(glob_pattern("%a_b*?[c]%"), "*a?b[*][?][[]c]*");
    }
}
