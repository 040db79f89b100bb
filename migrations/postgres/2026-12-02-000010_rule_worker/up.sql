-- The rule worker's state. Everything it does is coordinated through these tables, so that
-- several replicas (and a restart after a crash) share the work without doing any of it twice.

-- Traces a rule may now match: one of their runs ended or got feedback. `version` grows with
-- every new event so that a worker removes the row only if nothing arrived while it worked.
CREATE TABLE rule_pending_traces (
    trace_id TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    queued_at BIGINT NOT NULL
);
CREATE INDEX rule_pending_traces_queued ON rule_pending_traces (queued_at);

-- One row per (rule, run) the rule matched: the exactly-once guard and the rule's log.
-- `outcomes` is JSON {action: {outcome, payload}} for the queue and dataset actions.
CREATE TABLE run_rule_applications (
    rule_id TEXT NOT NULL REFERENCES run_rules(id) ON DELETE CASCADE,
    run_id TEXT NOT NULL,
    session_id TEXT,
    run_name TEXT,
    run_type TEXT,
    run_start_time BIGINT,
    run_end_time BIGINT,
    thread_id TEXT,
    applied_at BIGINT NOT NULL,
    backfill BOOLEAN NOT NULL,
    outcomes TEXT NOT NULL,
    PRIMARY KEY (rule_id, run_id)
);
CREATE INDEX run_rule_applications_log ON run_rule_applications (rule_id, applied_at, run_id);

-- A webhook call owed for an application, retried with backoff; kept as its log.
-- status: pending, success or error.
CREATE TABLE rule_webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    rule_id TEXT NOT NULL REFERENCES run_rules(id) ON DELETE CASCADE,
    run_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    url TEXT NOT NULL,
    -- JSON object of header names to values
    headers TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    response_status BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX rule_webhook_deliveries_due ON rule_webhook_deliveries (status, next_attempt_at);
CREATE INDEX rule_webhook_deliveries_run ON rule_webhook_deliveries (rule_id, run_id);

-- Backfill progress, kept on the rule: status running / done (NULL: no backfill), the last
-- run evaluated (start time, id) and how many of how many.
ALTER TABLE run_rules ADD COLUMN backfill_status TEXT;
ALTER TABLE run_rules ADD COLUMN backfill_cursor_time BIGINT;
ALTER TABLE run_rules ADD COLUMN backfill_cursor_id TEXT;
ALTER TABLE run_rules ADD COLUMN backfill_evaluated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run_rules ADD COLUMN backfill_total BIGINT;
ALTER TABLE run_rules ADD COLUMN backfill_completed_at BIGINT;
-- Why the server turned the rule off (its dataset or queue was deleted), if it did.
ALTER TABLE run_rules ADD COLUMN disabled_reason TEXT;
