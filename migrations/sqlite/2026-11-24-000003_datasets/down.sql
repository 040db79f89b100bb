DROP TABLE example_revisions;
DROP TABLE dataset_tags;
DROP TABLE dataset_versions;
DROP TABLE datasets;
