//! Rows as stored. Ids are UUID text, times epoch microseconds, documents JSON text.

use diesel::prelude::*;

use super::schema::{
    annotation_queue_runs, annotation_queues, comparative_experiments, dataset_tags,
    dataset_versions, datasets, example_attachments, example_revisions, feedback, feedback_configs,
    feedback_tokens, rule_webhook_deliveries, run_attachments, run_metadata, run_rule_applications,
    run_rules, runs, sessions, workspaces,
};

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug, PartialEq)]
#[diesel(table_name = sessions, treat_none_as_null = true)]
pub struct SessionRow {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub extra: Option<String>,
    pub reference_dataset_id: Option<String>,
    pub default_dataset_id: Option<String>,
    pub trace_tier: Option<String>,
    pub created_at: i64,
}

/// A run's merged state. Every field but the keys may still be unknown (a patch can arrive
/// before its post).
#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug, Default, PartialEq)]
#[diesel(table_name = runs, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct RunRow {
    pub workspace_id: String,
    pub id: String,
    pub session_id: Option<String>,
    pub trace_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub dotted_order: Option<String>,
    pub name: Option<String>,
    pub run_type: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub inputs: Option<String>,
    pub outputs: Option<String>,
    pub error: Option<String>,
    pub extra: Option<String>,
    pub serialized: Option<String>,
    pub events: Option<String>,
    pub tags: Option<String>,
    pub reference_example_id: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub prompt_cost: Option<f64>,
    pub completion_cost: Option<f64>,
    pub total_cost: Option<f64>,
    pub prompt_token_details: Option<String>,
    pub completion_token_details: Option<String>,
    pub first_token_time: Option<i64>,
    pub inserted_at: i64,
    pub updated_at: i64,
}

/// One key of a run's metadata, for indexed filtering (see `filter::runs::index_value`).
#[derive(Queryable, Selectable, Insertable, Clone, Debug, PartialEq, Eq, Hash)]
#[diesel(table_name = run_metadata)]
pub struct RunMetadataRow {
    pub workspace_id: String,
    pub run_id: String,
    pub key: String,
    pub value: String,
    /// The run's, so the index lists a key's runs in time order.
    pub start_time: i64,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = run_attachments, treat_none_as_default_value = false)]
pub struct AttachmentRow {
    pub workspace_id: String,
    pub run_id: String,
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
    pub created_at: i64,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug)]
#[diesel(table_name = feedback, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct FeedbackRow {
    pub id: String,
    pub workspace_id: String,
    pub run_id: Option<String>,
    pub trace_id: Option<String>,
    pub session_id: Option<String>,
    pub key: String,
    pub score: Option<f64>,
    pub value: Option<String>,
    pub comment: Option<String>,
    pub correction: Option<String>,
    pub feedback_source: Option<String>,
    pub feedback_config: Option<String>,
    pub feedback_group_id: Option<String>,
    pub extra: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
    pub comparative_experiment_id: Option<String>,
    pub source_type: String,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = feedback_tokens, treat_none_as_default_value = false)]
pub struct FeedbackTokenRow {
    pub id: String,
    pub workspace_id: String,
    pub run_id: String,
    pub feedback_key: String,
    pub feedback_config: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug)]
#[diesel(table_name = feedback_configs, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct FeedbackConfigRow {
    pub workspace_id: String,
    pub feedback_key: String,
    pub feedback_config: String,
    pub is_lower_score_better: Option<bool>,
    pub modified_at: i64,
    pub deleted: bool,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug)]
#[diesel(table_name = datasets, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct DatasetRow {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub data_type: String,
    pub inputs_schema: Option<String>,
    pub outputs_schema: Option<String>,
    pub transformations: Option<String>,
    pub metadata: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = dataset_versions)]
pub struct DatasetVersionRow {
    pub dataset_id: String,
    pub as_of: i64,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = dataset_tags)]
pub struct DatasetTagRow {
    pub dataset_id: String,
    pub tag: String,
    pub as_of: i64,
}

/// One state of an example, holding from `valid_from` until `valid_to` (`None`: current).
#[derive(Queryable, Selectable, Insertable, Clone, Debug, PartialEq)]
#[diesel(table_name = example_revisions, treat_none_as_default_value = false)]
pub struct ExampleRevisionRow {
    pub example_id: String,
    pub valid_from: i64,
    pub valid_to: Option<i64>,
    pub workspace_id: String,
    pub dataset_id: String,
    pub inputs: String,
    pub outputs: Option<String>,
    pub metadata: Option<String>,
    pub source_run_id: Option<String>,
    pub splits: String,
    pub created_at: i64,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = example_attachments)]
pub struct ExampleAttachmentRow {
    pub example_id: String,
    pub valid_from: i64,
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = comparative_experiments, treat_none_as_default_value = false)]
pub struct ComparativeExperimentRow {
    pub id: String,
    pub workspace_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub reference_dataset_id: String,
    /// JSON array of project ids.
    pub experiment_ids: String,
    pub extra: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug)]
#[diesel(table_name = annotation_queues, treat_none_as_null = true)]
pub struct AnnotationQueueRow {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub rubric_instructions: Option<String>,
    pub rubric_items: Option<String>,
    pub default_dataset: Option<String>,
    pub num_reviewers_per_item: i64,
    pub enable_reservations: bool,
    pub reservation_minutes: Option<i64>,
    pub metadata: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A run in an annotation queue.
#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug)]
#[diesel(table_name = annotation_queue_runs, treat_none_as_null = true)]
pub struct QueueRunRow {
    pub id: String,
    pub queue_id: String,
    pub workspace_id: String,
    pub run_id: String,
    pub added_at: i64,
    pub last_reviewed_time: Option<i64>,
    pub completed: bool,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone, Debug)]
#[diesel(table_name = run_rules, treat_none_as_null = true)]
pub struct RunRuleRow {
    pub id: String,
    pub workspace_id: String,
    pub display_name: String,
    pub session_id: Option<String>,
    pub dataset_id: Option<String>,
    pub is_enabled: bool,
    pub sampling_rate: f64,
    pub filter: Option<String>,
    pub trace_filter: Option<String>,
    pub tree_filter: Option<String>,
    pub backfill_from: Option<i64>,
    pub add_to_dataset_id: Option<String>,
    pub add_to_dataset_prefer_correction: bool,
    pub add_to_annotation_queue_id: Option<String>,
    pub webhooks: Option<String>,
    pub settings: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A rule's backfill and the server's own view of it (not set by clients).
#[derive(Queryable, Selectable, Clone, Debug, Default)]
#[diesel(table_name = run_rules)]
pub struct RuleStateRow {
    pub backfill_status: Option<String>,
    pub backfill_cursor_time: Option<i64>,
    pub backfill_cursor_id: Option<String>,
    pub backfill_evaluated: i64,
    pub backfill_total: Option<i64>,
    pub backfill_completed_at: Option<i64>,
    pub disabled_reason: Option<String>,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = run_rule_applications)]
pub struct RuleApplicationRow {
    pub rule_id: String,
    pub run_id: String,
    pub session_id: Option<String>,
    pub run_name: Option<String>,
    pub run_type: Option<String>,
    pub run_start_time: Option<i64>,
    pub run_end_time: Option<i64>,
    pub thread_id: Option<String>,
    pub applied_at: i64,
    pub backfill: bool,
    pub outcomes: String,
}

#[derive(Queryable, Selectable, Insertable, Clone, Debug)]
#[diesel(table_name = rule_webhook_deliveries)]
pub struct WebhookDeliveryRow {
    pub id: String,
    pub rule_id: String,
    pub run_id: String,
    pub workspace_id: String,
    pub url: String,
    pub headers: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub response_status: Option<i64>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}
