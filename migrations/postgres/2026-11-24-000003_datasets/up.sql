CREATE TABLE datasets (
    id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    data_type TEXT NOT NULL,
    inputs_schema TEXT,
    outputs_schema TEXT,
    transformations TEXT,
    metadata TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
);

-- Every write to a dataset's examples is one version, named by its time.
CREATE TABLE dataset_versions (
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    as_of BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, as_of)
);

CREATE TABLE dataset_tags (
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    as_of BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, tag)
);

-- Examples as revisions: a revision holds from valid_from until valid_to (NULL: still current).
-- Reading "as of" a version picks the revisions that held then; a delete only closes one.
CREATE TABLE example_revisions (
    example_id TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_to BIGINT,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    inputs TEXT NOT NULL,
    outputs TEXT,
    metadata TEXT,
    source_run_id TEXT,
    -- metadata.dataset_split as ",train,test," so splits filter with a portable LIKE.
    splits TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (example_id, valid_from)
);
CREATE INDEX example_revisions_dataset ON example_revisions (dataset_id, valid_to, created_at);
CREATE INDEX example_revisions_current ON example_revisions (example_id, valid_to);
