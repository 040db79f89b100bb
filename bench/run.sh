#!/usr/bin/env bash
# Ingest benchmark: a fresh release server on SQLite (and PostgreSQL when
# LOOPSMITH_TEST_POSTGRES_URL is set), driven by loopsmith-bench.
source "$(dirname "$0")/lib.sh"

ingest() {
  local label=$1 url=$2
  for args in "--concurrency 4" "--concurrency 16" "--concurrency 16 --zstd"; do
    echo "== $label $args (batches of 100 runs)"
    # shellcheck disable=SC2086
    target/release/loopsmith-bench --url "$url" --batches "${BENCH_BATCHES:-500}" $args
  done
}

bench_all ingest
