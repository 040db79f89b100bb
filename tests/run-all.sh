#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests (SQLite, and PostgreSQL when
# LOOPSMITH_TEST_POSTGRES_URL is set or a local server answers on 127.0.0.1:5432), the Python
# suite with the official langsmith SDK, and the Node suite with the official JS SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ -z "${LOOPSMITH_TEST_POSTGRES_URL:-}" ] && command -v pg_isready >/dev/null 2>&1 \
    && pg_isready -q -h 127.0.0.1 -p 5432; then
  export LOOPSMITH_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"
fi
if [ -n "${LOOPSMITH_TEST_POSTGRES_URL:-}" ]; then
  echo "== PostgreSQL tests enabled: ${LOOPSMITH_TEST_POSTGRES_URL%%@*}@..."
else
  echo "== PostgreSQL tests skipped: LOOPSMITH_TEST_POSTGRES_URL is not set"
fi

echo "== cargo build"
cargo build --locked --bins
export LOOPSMITH_BIN="$root/target/debug/loopsmith"

echo "== cargo test"
cargo test --locked --all-targets -- --test-threads=4

echo "== Python SDK suite"
req="$root/tests/python/requirements.txt"
venv="$root/target/py-venv-$(sha256sum "$req" | cut -c1-12)"
if [ ! -x "$venv/bin/pytest" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
fi
"$venv/bin/pytest" -q -p no:cacheprovider "$root/tests/python"

echo "== Node SDK suite"
node_dir="$root/tests/node"
lock_hash=$(sha256sum "$node_dir/package-lock.json" | cut -c1-12)
if [ "$(cat "$node_dir/node_modules/.lock-hash" 2>/dev/null)" != "$lock_hash" ]; then
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" > "$node_dir/node_modules/.lock-hash"
fi
"$root/tests/node/run-against-server.sh"
echo "== all tests passed"
