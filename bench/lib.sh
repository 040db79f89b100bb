# Shared by the bench scripts: builds the release binaries, and runs a given bench function
# against a fresh server on SQLite and, when LOOPSMITH_TEST_POSTGRES_URL is set, PostgreSQL.
# Everything stays on 127.0.0.1 and is cleaned up on exit. Usage: source it, then
# `bench_all <function>`; the function gets the label and the server URL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked --bins -p loopsmith -p loopsmith-bench >/dev/null
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

# Starts a server on the database URL, runs "$bench label url", stops the server.
bench_backend() {
  local bench=$1 label=$2 database_url=$3
  LOOPSMITH_BIND="127.0.0.1:$port" LOOPSMITH_DATABASE_URL="$database_url" RUST_LOG=warn \
    target/release/loopsmith >"$work/$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "$url/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  "$bench" "$label" "$url"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

bench_all() {
  local bench=$1
  bench_backend "$bench" sqlite "sqlite://$work/bench.db"
  if [ -n "${LOOPSMITH_TEST_POSTGRES_URL:-}" ]; then
    pg_db="loopsmith_bench_$$"
    psql "$LOOPSMITH_TEST_POSTGRES_URL" -qc "CREATE DATABASE $pg_db" >/dev/null
    bench_backend "$bench" postgres "${LOOPSMITH_TEST_POSTGRES_URL%/*}/$pg_db"
  fi
}
