DROP TABLE feedback_configs;
DROP TABLE feedback_tokens;
DROP INDEX feedback_created;
ALTER TABLE feedback DROP COLUMN source_type;
ALTER TABLE feedback DROP COLUMN comparative_experiment_id;
