-- Annotation queues: runs waiting for human review, with a rubric.
CREATE TABLE annotation_queues (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    rubric_instructions TEXT,
    -- JSON array of {feedback_key, description, value_descriptions, score_descriptions, ...}
    rubric_items TEXT,
    default_dataset TEXT,
    num_reviewers_per_item BIGINT NOT NULL DEFAULT 1,
    enable_reservations BOOLEAN NOT NULL DEFAULT TRUE,
    reservation_minutes BIGINT,
    metadata TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX annotation_queues_workspace ON annotation_queues (workspace_id, created_at);

-- A run in a queue (LangSmith's queue_run_id is this id). One entry per run and queue.
CREATE TABLE annotation_queue_runs (
    id TEXT PRIMARY KEY NOT NULL,
    queue_id TEXT NOT NULL REFERENCES annotation_queues(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    last_reviewed_time BIGINT,
    completed BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (queue_id, run_id)
);
CREATE INDEX annotation_queue_runs_order ON annotation_queue_runs (queue_id, added_at, id);
