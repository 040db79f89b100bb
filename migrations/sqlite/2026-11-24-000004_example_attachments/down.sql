DROP TABLE example_attachments;
