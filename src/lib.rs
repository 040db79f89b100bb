//! Loopsmith: a self-hosted, LangSmith-compatible server.

pub mod api;
pub mod app;
pub mod config;
pub mod dataset_files;
pub mod db;
pub mod error;
pub mod filter;
pub mod ingest;
pub mod json_match;
pub mod rule_worker;
pub mod rules;
pub mod schema_check;
pub mod time;
