DROP INDEX feedback_key_score;
DROP TABLE run_metadata;
