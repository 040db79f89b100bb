#!/usr/bin/env bash
# Filter benchmark: starts a release server on a fresh SQLite file (and on a fresh PostgreSQL
# database when LOOPSMITH_TEST_POSTGRES_URL is set), seeds BENCH_RUNS runs (default 1,000,000)
# with feedback, and times a fixed set of filters with loopsmith-filter-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin loopsmith -p loopsmith -p loopsmith-bench >/dev/null
work=$(mktemp -d)
pid=""
pg_db=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$pg_db" ] && psql "$LOOPSMITH_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"

bench_backend() {
  local label=$1 database_url=$2
  LOOPSMITH_BIND="127.0.0.1:$port" LOOPSMITH_DATABASE_URL="$database_url" RUST_LOG=warn \
    target/release/loopsmith >"$work/$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "$url/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "== $label"
  target/release/loopsmith-filter-bench --url "$url" --runs "${BENCH_RUNS:-1000000}" \
    --iterations "${BENCH_ITERATIONS:-30}"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

bench_backend sqlite "sqlite://$work/bench.db"
if [ -n "${LOOPSMITH_TEST_POSTGRES_URL:-}" ]; then
  pg_db="loopsmith_filter_bench_$$"
  psql "$LOOPSMITH_TEST_POSTGRES_URL" -qc "CREATE DATABASE $pg_db" >/dev/null
  bench_backend postgres "${LOOPSMITH_TEST_POSTGRES_URL%/*}/$pg_db"
fi
