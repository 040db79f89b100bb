DROP TABLE feedback;
DROP TABLE run_attachments;
DROP TABLE runs;
DROP TABLE sessions;
DROP TABLE workspaces;
