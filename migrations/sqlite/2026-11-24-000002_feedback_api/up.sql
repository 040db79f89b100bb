ALTER TABLE feedback ADD COLUMN comparative_experiment_id TEXT;
-- feedback_source.type, kept apart so listings can filter on it without JSON functions.
ALTER TABLE feedback ADD COLUMN source_type TEXT NOT NULL DEFAULT 'api';
CREATE INDEX feedback_created ON feedback (workspace_id, created_at, id);

-- Presigned feedback tokens: anyone holding the URL may add feedback for one run and key.
CREATE TABLE feedback_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id TEXT NOT NULL,
    feedback_key TEXT NOT NULL,
    feedback_config TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX feedback_tokens_run ON feedback_tokens (workspace_id, run_id);

CREATE TABLE feedback_configs (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    feedback_key TEXT NOT NULL,
    feedback_config TEXT NOT NULL,
    is_lower_score_better BOOLEAN,
    modified_at BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (workspace_id, feedback_key)
);
