-- Run metadata as rows, so filters on a metadata key (and value) start from an index instead
-- of reading every run's JSON. value: 's:<text>', 'b:true', 'b:false', 'z' (null), 'o' (other:
-- numbers, objects, arrays; matched by key only). start_time is the run's: the index lists the
-- runs of one key and value newest first, so a page of the newest matches reads few rows.
CREATE TABLE run_metadata (
    workspace_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key, value, start_time, run_id)
);
-- No foreign key and no index by run: each would cost ingest a look-up or a write per row.
-- Ingest replaces a run's rows by their full key; deleting a project deletes its runs' rows.
INSERT INTO run_metadata (workspace_id, run_id, key, value, start_time)
SELECT r.workspace_id, r.id, m.key,
       CASE jsonb_typeof(m.value) WHEN 'string' THEN 's:' || (m.value #>> '{}')
            WHEN 'boolean' THEN 'b:' || (m.value #>> '{}') WHEN 'null' THEN 'z' ELSE 'o' END,
       COALESCE(r.start_time, 0)
FROM runs r,
     -- jsonb refuses the \u0000 escape that JSON allows: such documents are skipped.
     jsonb_each(CASE WHEN strpos(r.extra, '\u0000') > 0 THEN NULL
                     WHEN jsonb_typeof(r.extra::jsonb -> 'metadata') = 'object'
                     THEN r.extra::jsonb -> 'metadata' END) m
ON CONFLICT DO NOTHING;

-- Feedback filters (key, score) find their runs from the index.
CREATE INDEX feedback_key_score ON feedback (workspace_id, key, score, run_id);
