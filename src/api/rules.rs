//! Run rules (`/runs/rules`): a filter over a project's runs (or a dataset's experiments), a
//! sampling rate and actions (add to a dataset, to an annotation queue, webhooks). Every field
//! of LangSmith's schema is accepted, stored and returned. Acted on by the rule worker
//! (`crate::rule_worker`): the filters, sampling, `add_to_dataset_id` (+
//! `add_to_dataset_prefer_correction`), `add_to_annotation_queue_id`, `webhooks`,
//! `backfill_from` (at creation, as in LangSmith), `is_enabled`. Stored and reported only:
//! `evaluators`, `code_evaluators`, `evaluator_id`, `evaluator_version`, `alerts`, `spend_limit`,
//! `extend_only`, `transient`, `use_corrections_dataset`, `num_few_shot_examples`,
//! `include_extended_stats`, `group_by`, `create_alignment_queue`, `tracer_session_issue_id`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{QueryParams, optional_time};
use super::runs::compile_filter;
use super::{State, Workspace};
use crate::db::models::RunRuleRow;
use crate::db::run_rules::{self as store, RuleFilter};
use crate::db::{DbConnection, rule_work, write_transaction};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::rules::backfill_progress;
use crate::time::{format_micros, now_micros};

/// Fields stored as given and returned, not acted on.
const STORED_ONLY: [&str; 14] = [
    "evaluators",
    "code_evaluators",
    "evaluator_id",
    "evaluator_version",
    "alerts",
    "spend_limit",
    "extend_only",
    "transient",
    "use_corrections_dataset",
    "num_few_shot_examples",
    "include_extended_stats",
    "group_by",
    "create_alignment_queue",
    "tracer_session_issue_id",
];

/// A rule as created or replaced (LangSmith's `RunRulesCreateSchema`; PATCH takes the whole
/// rule too, as LangSmith's does). The fields in the module doc that are only stored ride along
/// in `rest`.
#[derive(Deserialize, ToSchema)]
pub struct RuleBody {
    pub display_name: Option<String>,
    pub sampling_rate: Option<f64>,
    pub session_id: Option<Uuid>,
    pub dataset_id: Option<Uuid>,
    pub is_enabled: Option<bool>,
    pub filter: Option<String>,
    pub trace_filter: Option<String>,
    pub tree_filter: Option<String>,
    pub backfill_from: Option<String>,
    pub add_to_dataset_id: Option<Uuid>,
    pub add_to_dataset_prefer_correction: Option<bool>,
    pub add_to_annotation_queue_id: Option<Uuid>,
    /// `[{url, headers?}]`
    #[schema(value_type = Option<Vec<Object>>)]
    pub webhooks: Option<Vec<Value>>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub rest: Map<String, Value>,
}

impl RuleBody {
    /// Checks everything a client can get wrong and builds the row (`id`, times set by caller).
    fn to_row(
        &self,
        conn: &mut DbConnection,
        workspace_id: &str,
        id: &str,
        created_at: i64,
    ) -> ApiResult<RunRuleRow> {
        let display_name = self
            .display_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::unprocessable("display_name is required"))?;
        let sampling_rate = self
            .sampling_rate
            .ok_or_else(|| ApiError::unprocessable("sampling_rate is required"))?;
        if !(0.0..=1.0).contains(&sampling_rate) {
            return Err(ApiError::unprocessable(format!(
                "sampling_rate must be between 0 and 1, got {sampling_rate}"
            )));
        }
        if self.session_id.is_some() == self.dataset_id.is_some() {
            return Err(ApiError::unprocessable(
                "exactly one of session_id and dataset_id must be set",
            ));
        }
        for (field, text) in [
            ("filter", &self.filter),
            ("trace_filter", &self.trace_filter),
            ("tree_filter", &self.tree_filter),
        ] {
            compile_filter(field, text.as_deref())?;
        }
        let backfill_from = optional_time("backfill_from", self.backfill_from.as_deref())?;
        let webhooks = self
            .webhooks
            .as_ref()
            .map(|hooks| check_webhooks(hooks))
            .transpose()?;
        // Everything a rule points at must exist in the same workspace.
        let text = |id: Option<Uuid>| id.map(|u| u.to_string());
        if let Some(session) = text(self.session_id)
            && crate::db::sessions::find(conn, workspace_id, &session)?.is_none()
        {
            return Err(ApiError::not_found(format!(
                "session_id: project {session} not found"
            )));
        }
        for (field, dataset) in [
            ("dataset_id", text(self.dataset_id)),
            ("add_to_dataset_id", text(self.add_to_dataset_id)),
        ] {
            if let Some(dataset) = dataset
                && crate::db::datasets::find(conn, workspace_id, &dataset)?.is_none()
            {
                return Err(ApiError::not_found(format!(
                    "{field}: dataset {dataset} not found"
                )));
            }
        }
        if let Some(queue) = text(self.add_to_annotation_queue_id)
            && crate::db::annotation_queues::find(conn, workspace_id, &queue)?.is_none()
        {
            return Err(ApiError::not_found(format!(
                "add_to_annotation_queue_id: annotation queue {queue} not found"
            )));
        }
        let settings: Map<String, Value> = self
            .rest
            .iter()
            .filter(|(k, _)| STORED_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let empty_to_none = |t: &Option<String>| t.clone().filter(|t| !t.trim().is_empty());
        Ok(RunRuleRow {
            id: id.to_string(),
            workspace_id: workspace_id.to_string(),
            display_name,
            session_id: text(self.session_id),
            dataset_id: text(self.dataset_id),
            is_enabled: self.is_enabled.unwrap_or(true),
            sampling_rate,
            filter: empty_to_none(&self.filter),
            trace_filter: empty_to_none(&self.trace_filter),
            tree_filter: empty_to_none(&self.tree_filter),
            backfill_from,
            add_to_dataset_id: text(self.add_to_dataset_id),
            add_to_dataset_prefer_correction: self
                .add_to_dataset_prefer_correction
                .unwrap_or(false),
            add_to_annotation_queue_id: text(self.add_to_annotation_queue_id),
            webhooks: webhooks.map(|w| Value::Array(w).to_string()),
            settings: Value::Object(settings).to_string(),
            created_at,
            updated_at: now_micros(),
        })
    }
}

/// Webhooks are `{url, headers?}` with an http(s) URL and string headers.
fn check_webhooks(hooks: &[Value]) -> ApiResult<Vec<Value>> {
    hooks
        .iter()
        .enumerate()
        .map(|(i, hook)| {
            let url = hook.get("url").and_then(Value::as_str).unwrap_or_default();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ApiError::unprocessable(format!(
                    "webhooks[{i}].url must be an http(s) URL"
                )));
            }
            let headers = hook.get("headers").cloned().unwrap_or(Value::Null);
            let headers_ok = match &headers {
                Value::Null => true,
                Value::Object(map) => map.values().all(Value::is_string),
                _ => false,
            };
            if !headers_ok {
                return Err(ApiError::unprocessable(format!(
                    "webhooks[{i}].headers must map names to strings"
                )));
            }
            Ok(json!({"url": url, "headers": headers}))
        })
        .collect()
}

/// The rule as LangSmith's `RunRulesSchema`, with the names of what it points at.
fn present(conn: &mut DbConnection, row: RunRuleRow) -> ApiResult<Value> {
    let ws = row.workspace_id.clone();
    let session_name = match &row.session_id {
        Some(id) => crate::db::sessions::find(conn, &ws, id)?.map(|s| s.name),
        None => None,
    };
    let mut dataset_name = |id: &Option<String>| -> ApiResult<Option<String>> {
        Ok(match id {
            Some(id) => crate::db::datasets::find(conn, &ws, id)?.map(|d| d.name),
            None => None,
        })
    };
    let dataset = dataset_name(&row.dataset_id)?;
    let add_to_dataset = dataset_name(&row.add_to_dataset_id)?;
    let queue_name = match &row.add_to_annotation_queue_id {
        Some(id) => crate::db::annotation_queues::find(conn, &ws, id)?.map(|q| q.name),
        None => None,
    };
    let mut out: Map<String, Value> = serde_json::from_str(&row.settings).unwrap_or_default();
    let webhooks: Value = row
        .webhooks
        .as_deref()
        .and_then(|w| serde_json::from_str(w).ok())
        .unwrap_or(Value::Null);
    let evaluator_version = out.remove("evaluator_version").unwrap_or(json!(1));
    let state = rule_work::rule_state(conn, &row.id)?;
    let core = json!({
        "id": row.id,
        "tenant_id": row.workspace_id,
        "display_name": row.display_name,
        "session_id": row.session_id,
        "session_name": session_name,
        "dataset_id": row.dataset_id,
        "dataset_name": dataset,
        "is_enabled": row.is_enabled,
        "sampling_rate": row.sampling_rate,
        "filter": row.filter,
        "trace_filter": row.trace_filter,
        "tree_filter": row.tree_filter,
        "backfill_from": row.backfill_from.map(format_micros),
        "add_to_dataset_id": row.add_to_dataset_id,
        "add_to_dataset_name": add_to_dataset,
        "add_to_dataset_prefer_correction": row.add_to_dataset_prefer_correction,
        "add_to_annotation_queue_id": row.add_to_annotation_queue_id,
        "add_to_annotation_queue_name": queue_name,
        "webhooks": webhooks,
        "evaluator_version": evaluator_version,
        "created_at": format_micros(row.created_at),
        "updated_at": format_micros(row.updated_at),
        "backfill_status": state.backfill_status,
        "backfill_progress": backfill_progress(
            state.backfill_status.as_deref(),
            state.backfill_evaluated,
            state.backfill_total,
        ),
        "backfill_completed_at": state.backfill_completed_at.map(format_micros),
        "backfill_error": Value::Null,
        "disabled_reason": state.disabled_reason,
    });
    if let Value::Object(core) = core {
        out.extend(core);
    }
    Ok(Value::Object(out))
}

#[utoipa::path(
    tag = "rules",
    request_body = RuleBody,
    responses(
        (status = 200, description = "The new rule (RunRulesSchema)", body = Object),
        (status = 400, description = "A filter that does not parse", body = ErrorBody),
        (status = 404, description = "A project, dataset or queue it names is not in this workspace", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)
    )
)]
#[post("/runs/rules")]
pub async fn create_rule(
    state: State,
    workspace: Workspace,
    body: web::Json<RuleBody>,
) -> ApiResult<HttpResponse> {
    let id = body
        .rest
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(Uuid::now_v7)
        .to_string();
    let out = state
        .db
        .run(move |conn| {
            let row = body.to_row(conn, &workspace.id(), &id, now_micros())?;
            if store::exists_anywhere(conn, &row.id)? {
                return Err(ApiError::conflict(format!("rule {id} already exists")));
            }
            write_transaction(conn, |conn| {
                store::insert(conn, &row)?;
                if row.backfill_from.is_some() {
                    rule_work::start_backfill(conn, &row.id)?;
                }
                Ok::<_, ApiError>(())
            })?;
            present(conn, row)
        })
        .await?;
    state.rule_worker.wake();
    Ok(HttpResponse::Ok().json(out))
}

/// Checks a rule without storing it: the same answers as create (4xx naming the field), or
/// `[]` when it is valid (LangSmith returns evaluator dry-run results here; there are none).
#[utoipa::path(
    tag = "rules",
    request_body = RuleBody,
    responses(
        (status = 200, description = "Valid", body = [Object]),
        (status = 400, description = "A filter that does not parse", body = ErrorBody),
        (status = 404, description = "A project, dataset or queue it names is not in this workspace", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)
    )
)]
#[post("/runs/rules/validate")]
pub async fn validate_rule(
    state: State,
    workspace: Workspace,
    body: web::Json<RuleBody>,
) -> ApiResult<HttpResponse> {
    state
        .db
        .run(move |conn| {
            body.to_row(
                conn,
                &workspace.id(),
                &Uuid::nil().to_string(),
                now_micros(),
            )
            .map(|_| ())
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!([])))
}

/// Lists rules: `id` (repeated), `session_id`, `dataset_id`, `type` (`session` or `dataset`),
/// `name_contains`.
#[utoipa::path(
    tag = "rules",
    params(
        ("id" = Option<Vec<Uuid>>, Query, description = "Rule ids"),
        ("session_id" = Option<Uuid>, Query, description = "Rules of this project"),
        ("dataset_id" = Option<Uuid>, Query, description = "Rules of this dataset"),
        ("type" = Option<String>, Query, description = "session or dataset"),
        ("name_contains" = Option<String>, Query, description = "Display name substring")
    ),
    responses(
        (status = 200, description = "Rules", body = [Object]),
        (status = 422, description = "Bad parameter", body = ErrorBody)
    )
)]
#[get("/runs/rules")]
pub async fn list_rules(
    state: State,
    workspace: Workspace,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = QueryParams::parse(req.query_string());
    let one = |key: &str| -> ApiResult<Option<String>> {
        Ok(params.uuids(key)?.first().map(Uuid::to_string))
    };
    let filter = RuleFilter {
        ids: params.uuids("id")?.iter().map(Uuid::to_string).collect(),
        session_id: one("session_id")?,
        dataset_id: one("dataset_id")?,
        on_session: match params.string("type").as_deref() {
            None => None,
            Some("session") => Some(true),
            Some("dataset") => Some(false),
            Some(other) => {
                return Err(ApiError::unprocessable(format!(
                    "type must be session or dataset, got {other:?}"
                )));
            }
        },
        name_contains: params.string("name_contains"),
    };
    let out = state
        .db
        .run(move |conn| {
            store::list(conn, &workspace.id(), &filter)?
                .into_iter()
                .map(|row| present(conn, row))
                .collect::<ApiResult<Vec<_>>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Replaces a rule (LangSmith's PATCH takes the whole rule: `display_name` and `sampling_rate`
/// are required).
#[utoipa::path(
    tag = "rules",
    params(("rule_id" = Uuid, Path, description = "Rule id")),
    request_body = RuleBody,
    responses(
        (status = 200, description = "The rule", body = Object),
        (status = 400, description = "A filter that does not parse", body = ErrorBody),
        (status = 404, description = "No such rule, or what it names is missing", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)
    )
)]
#[patch("/runs/rules/{rule_id}")]
pub async fn update_rule(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
    body: web::Json<RuleBody>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let out = state
        .db
        .run(move |conn| {
            let ws = workspace.id();
            let old = store::find(conn, &ws, &id.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("rule {id} not found")))?;
            let mut row = body.to_row(conn, &ws, &old.id, old.created_at)?;
            // As in LangSmith, backfill_from counts only when the rule is created.
            row.backfill_from = old.backfill_from;
            write_transaction(conn, |conn| {
                store::update(conn, &row)?;
                if row.is_enabled {
                    rule_work::clear_disabled_reason(conn, &row.id)?;
                }
                Ok::<_, ApiError>(())
            })?;
            present(conn, row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "rules",
    params(("rule_id" = Uuid, Path, description = "Rule id")),
    responses(
        (status = 200, description = "Deleted"),
        (status = 404, description = "No such rule", body = ErrorBody)
    )
)]
#[delete("/runs/rules/{rule_id}")]
pub async fn delete_rule(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    super::delete_by_id(state, workspace, path.into_inner(), "rule", store::delete).await
}

/// Runs the rule now. Rules are evaluated as runs end and feedback arrives, so this only wakes
/// the worker (work queued by another replica is then picked up at once, not at the next poll).
#[utoipa::path(
    tag = "rules",
    params(("rule_id" = Uuid, Path, description = "Rule id")),
    responses(
        (status = 200, description = "The rule", body = Object),
        (status = 404, description = "No such rule", body = ErrorBody)
    )
)]
#[post("/runs/rules/{rule_id}/trigger")]
pub async fn trigger_rule(
    state: State,
    workspace: Workspace,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let out = state
        .db
        .run(move |conn| {
            let row = store::find(conn, &workspace.id(), &id.to_string())?
                .ok_or_else(|| ApiError::not_found(format!("rule {id} not found")))?;
            present(conn, row)
        })
        .await?;
    state.rule_worker.wake();
    Ok(HttpResponse::Ok().json(out))
}

/// LangSmith's `TriggerRulesRequest`.
#[derive(Deserialize, ToSchema)]
pub struct TriggerRules {
    pub rule_ids: Option<Vec<Uuid>>,
    /// Every rule of this dataset.
    pub dataset_id: Option<Uuid>,
}

/// Runs several rules now (see `trigger_rule`); answers the ids of the rules triggered.
#[utoipa::path(
    tag = "rules",
    request_body = TriggerRules,
    responses(
        (status = 200, description = "{rule_ids: [...]}", body = Object),
        (status = 404, description = "A rule id is not in this workspace", body = ErrorBody),
        (status = 422, description = "Neither rule_ids nor dataset_id", body = ErrorBody)
    )
)]
#[post("/runs/rules/trigger")]
pub async fn trigger_rules(
    state: State,
    workspace: Workspace,
    body: web::Json<TriggerRules>,
) -> ApiResult<HttpResponse> {
    let TriggerRules {
        rule_ids,
        dataset_id,
    } = body.into_inner();
    if rule_ids.is_none() && dataset_id.is_none() {
        return Err(ApiError::unprocessable(
            "give rule_ids or dataset_id: which rules to trigger",
        ));
    }
    let ids = state
        .db
        .run(move |conn| {
            let ws = workspace.id();
            let wanted: Vec<String> = rule_ids.iter().flatten().map(Uuid::to_string).collect();
            let mut found: Vec<String> = Vec::new();
            if !wanted.is_empty() {
                let filter = RuleFilter {
                    ids: wanted.clone(),
                    ..RuleFilter::default()
                };
                found = store::list(conn, &ws, &filter)?
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                if let Some(missing) = wanted.iter().find(|id| !found.contains(id)) {
                    return Err(ApiError::not_found(format!("rule {missing} not found")));
                }
            }
            if let Some(dataset) = dataset_id {
                let filter = RuleFilter {
                    dataset_id: Some(dataset.to_string()),
                    ..RuleFilter::default()
                };
                found.extend(store::list(conn, &ws, &filter)?.into_iter().map(|r| r.id));
            }
            Ok(found)
        })
        .await?;
    state.rule_worker.wake();
    Ok(HttpResponse::Ok().json(json!({ "rule_ids": ids })))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(validate_rule)
        .service(trigger_rules)
        .service(trigger_rule)
        .service(create_rule)
        .service(list_rules)
        .service(update_rule)
        .service(delete_rule);
}
