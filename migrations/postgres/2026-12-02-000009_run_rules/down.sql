DROP TABLE run_rules;
