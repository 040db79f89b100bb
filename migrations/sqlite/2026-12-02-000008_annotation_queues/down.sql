DROP TABLE annotation_queue_runs;
DROP TABLE annotation_queues;
