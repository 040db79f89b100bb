#!/usr/bin/env bash
# Runs the Node suite against a freshly started server: on SQLite, and on PostgreSQL when
# LOOPSMITH_TEST_POSTGRES_URL is set. Needs LOOPSMITH_BIN (the built server) and node_modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${LOOPSMITH_BIN:?set LOOPSMITH_BIN to the loopsmith binary}
work=$(mktemp -d)
server_pid=""
pg_db=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  if [ -n "$pg_db" ]; then
    psql "$LOOPSMITH_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_suite() {
  local database_url=$1 label=$2 port
  port=$(free_port)
  LOOPSMITH_BIND="127.0.0.1:$port" LOOPSMITH_DATABASE_URL="$database_url" RUST_LOG=warn \
    "$bin" >"$work/server-$label.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server-$label.log"; exit 1; }
    sleep 0.1
  done
  echo "-- node suite on $label"
  if ! (cd "$here" && LOOPSMITH_URL="http://127.0.0.1:$port" npm test --silent); then
    echo "server log:"; cat "$work/server-$label.log"; exit 1
  fi
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

run_suite "sqlite://$work/node.db" sqlite
if [ -n "${LOOPSMITH_TEST_POSTGRES_URL:-}" ]; then
  pg_db="loopsmith_node_$(date +%s)_$$"
  psql "$LOOPSMITH_TEST_POSTGRES_URL" -qc "CREATE DATABASE $pg_db" >/dev/null
  run_suite "${LOOPSMITH_TEST_POSTGRES_URL%/*}/$pg_db" postgres
fi
