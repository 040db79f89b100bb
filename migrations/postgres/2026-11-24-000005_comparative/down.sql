DROP INDEX feedback_comparative;
DROP TABLE comparative_experiments;
