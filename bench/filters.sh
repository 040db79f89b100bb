#!/usr/bin/env bash
# Filter benchmark: a fresh release server on SQLite (and PostgreSQL when
# LOOPSMITH_TEST_POSTGRES_URL is set), seeded with BENCH_RUNS runs (default 1,000,000) and
# feedback, then a fixed set of filters timed by loopsmith-filter-bench.
source "$(dirname "$0")/lib.sh"

filters() {
  local label=$1 url=$2
  echo "== $label"
  target/release/loopsmith-filter-bench --url "$url" --runs "${BENCH_RUNS:-1000000}" \
    --iterations "${BENCH_ITERATIONS:-30}"
}

bench_all filters
