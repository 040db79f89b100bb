-- A shared dataset can be read, without an API key, by whoever holds its token.
CREATE TABLE dataset_shares (
    dataset_id TEXT PRIMARY KEY NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    share_token TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
