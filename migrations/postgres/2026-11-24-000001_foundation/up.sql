-- Times are microseconds since the Unix epoch (UTC); ids are lowercase hyphenated UUID text;
-- JSON documents are stored as text. The same column types on both backends keep one diesel schema.

CREATE TABLE workspaces (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    extra TEXT,
    reference_dataset_id TEXT,
    default_dataset_id TEXT,
    trace_tier TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE runs (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
    trace_id TEXT,
    parent_run_id TEXT,
    dotted_order TEXT,
    name TEXT,
    run_type TEXT,
    start_time BIGINT,
    end_time BIGINT,
    inputs TEXT,
    outputs TEXT,
    error TEXT,
    extra TEXT,
    serialized TEXT,
    events TEXT,
    tags TEXT,
    reference_example_id TEXT,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    total_tokens BIGINT,
    prompt_cost DOUBLE PRECISION,
    completion_cost DOUBLE PRECISION,
    total_cost DOUBLE PRECISION,
    prompt_token_details TEXT,
    completion_token_details TEXT,
    first_token_time BIGINT,
    inserted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX runs_session_start ON runs (workspace_id, session_id, start_time, id);
CREATE INDEX runs_trace ON runs (workspace_id, trace_id, dotted_order);
CREATE INDEX runs_parent ON runs (workspace_id, parent_run_id);

CREATE TABLE run_attachments (
    workspace_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, run_id, name),
    FOREIGN KEY (workspace_id, run_id) REFERENCES runs (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE feedback (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id TEXT,
    trace_id TEXT,
    session_id TEXT,
    key TEXT NOT NULL,
    score DOUBLE PRECISION,
    value TEXT,
    comment TEXT,
    correction TEXT,
    feedback_source TEXT,
    feedback_config TEXT,
    feedback_group_id TEXT,
    extra TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX feedback_run ON feedback (workspace_id, run_id);
CREATE INDEX feedback_session_key ON feedback (workspace_id, session_id, key);
