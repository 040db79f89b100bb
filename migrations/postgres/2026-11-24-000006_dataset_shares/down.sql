DROP TABLE dataset_shares;
