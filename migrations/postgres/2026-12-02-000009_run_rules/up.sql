-- Run rules ("automations"): runs of a project (or a dataset's experiments) that match the
-- filters, sampled, go to a dataset, an annotation queue or webhooks.
CREATE TABLE run_rules (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    session_id TEXT,
    dataset_id TEXT,
    is_enabled BOOLEAN NOT NULL,
    sampling_rate DOUBLE PRECISION NOT NULL,
    filter TEXT,
    trace_filter TEXT,
    tree_filter TEXT,
    backfill_from BIGINT,
    add_to_dataset_id TEXT,
    add_to_dataset_prefer_correction BOOLEAN NOT NULL,
    add_to_annotation_queue_id TEXT,
    -- JSON array of {url, headers}
    webhooks TEXT,
    -- JSON object of the schema's other fields (evaluators, alerts, spend_limit...): stored and
    -- returned as given.
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX run_rules_workspace ON run_rules (workspace_id, created_at);
