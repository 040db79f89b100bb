-- Pairwise (comparative) experiments: several experiments on one dataset, judged side by side.
CREATE TABLE comparative_experiments (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT,
    description TEXT,
    reference_dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    experiment_ids TEXT NOT NULL,
    extra TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX feedback_comparative ON feedback (workspace_id, comparative_experiment_id);
