-- Files of one example revision; a new revision carries over the files it keeps.
CREATE TABLE example_attachments (
    example_id TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (example_id, valid_from, name),
    FOREIGN KEY (example_id, valid_from) REFERENCES example_revisions (example_id, valid_from) ON DELETE CASCADE
);
