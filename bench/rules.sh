#!/usr/bin/env bash
# Rule benchmark: a fresh release server on SQLite (and PostgreSQL when
# LOOPSMITH_TEST_POSTGRES_URL is set); loopsmith-rules-bench measures feedback → example latency
# (BENCH_RULE_RUNS thumbs-ups, default 1,000, at BENCH_RULE_RATE per second, default 20) and
# backfill throughput over BENCH_BACKFILL_RUNS runs (default 100,000).
source "$(dirname "$0")/lib.sh"

rules() {
  local label=$1 url=$2
  echo "== $label"
  target/release/loopsmith-rules-bench --url "$url" --runs "${BENCH_RULE_RUNS:-1000}" \
    --rate "${BENCH_RULE_RATE:-20}" --backfill-runs "${BENCH_BACKFILL_RUNS:-100000}"
}

bench_all rules
