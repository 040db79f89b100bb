#!/usr/bin/env bash
# Ingest benchmark: builds loopsmith and loopsmith-bench in release mode, starts the server on a
# fresh SQLite file (and on a fresh PostgreSQL database when LOOPSMITH_TEST_POSTGRES_URL is set,
# e.g. postgres://postgres@127.0.0.1:5432/postgres), drives POST /runs/multipart at a few
# concurrencies, plain and zstd, and prints a summary table.
#
# Everything targets 127.0.0.1 only, every step has a time limit, and the script ends by itself.
# Knobs (environment): BENCH_BATCHES (default 500 batches of BENCH_RUNS_PER_BATCH=100 runs),
# BENCH_CONCURRENCIES (default "4 16"), BENCH_TIMEOUT (seconds per bench run, default 600).
# Exit status: non-zero when any durability check failed or a server did not come up.
set -euo pipefail
cd "$(dirname "$0")/.."

batches=${BENCH_BATCHES:-500}
runs_per_batch=${BENCH_RUNS_PER_BATCH:-100}
concurrencies=${BENCH_CONCURRENCIES:-"4 16"}
bench_timeout=${BENCH_TIMEOUT:-600}

echo "building (release)..."
cargo build --release --bin loopsmith -p loopsmith -p loopsmith-bench 2>&1 | tail -n 3
server=target/release/loopsmith
bench=target/release/loopsmith-bench

work=$(mktemp -d -t loopsmith-bench.XXXXXX)
results="$work/results.txt"
: >"$results"
pid=""
pg_db=""
status=0

pg_admin() { # runs one statement on the maintenance database named by LOOPSMITH_TEST_POSTGRES_URL
  timeout 60 psql "$LOOPSMITH_TEST_POSTGRES_URL" -v ON_ERROR_STOP=1 -qAtc "$1"
}
stop_server() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
}
cleanup() {
  stop_server
  if [ -n "$pg_db" ]; then pg_admin "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

clk_tck=$(getconf CLK_TCK)
server_cpu_ticks() { # user + system CPU of the server process so far, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_backend LABEL DATABASE_URL
bench_backend() {
  local label=$1 database_url=$2 port url log
  port=$(free_port)
  url="http://127.0.0.1:$port"
  log="$work/$label.log"
  LOOPSMITH_BIND="127.0.0.1:$port" LOOPSMITH_DATABASE_URL="$database_url" RUST_LOG=warn \
    "$server" >"$log" 2>&1 &
  pid=$!
  local ready=""
  for _ in $(seq 1 300); do # 30 s
    if curl -fsS --max-time 2 "$url/readyz" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    echo "!! $label: server did not become ready; its log:"
    tail -n 30 "$log"
    stop_server
    status=1
    return
  fi
  # Warm-up (own project, not reported): first connections, prepared statements, file growth.
  timeout 120 "$bench" --url "$url" --batches 10 --runs-per-batch "$runs_per_batch" --concurrency 4 >/dev/null 2>&1 || true
  local c z out
  for c in $concurrencies; do
    for z in "" "--zstd"; do
      echo
      echo "== $label concurrency=$c ${z:-plain}"
      out="$work/out.txt"
      local load1 cpu_before cpu_after
      load1=$(cut -d' ' -f1 /proc/loadavg)
      cpu_before=$(server_cpu_ticks)
      # shellcheck disable=SC2086
      if ! timeout "$bench_timeout" "$bench" --url "$url" --batches "$batches" \
        --runs-per-batch "$runs_per_batch" --concurrency "$c" $z >"$out" 2>&1; then
        status=1
      fi
      cpu_after=$(server_cpu_ticks)
      local cpu_s
      cpu_s=$(awk -v a="$cpu_before" -v b="$cpu_after" -v hz="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / hz }')
      grep -v '^RESULT ' "$out" || true
      echo "  server_cpu_s=$cpu_s load1_before=$load1"
      if grep -q '^RESULT ' "$out"; then
        sed -n "s/^RESULT \(.*\)$/backend=$label \1 server_cpu_s=$cpu_s load1=$load1/p" "$out" >>"$results"
      else
        echo "backend=$label concurrency=$c zstd=$([ -n "$z" ] && echo true || echo false) durability=NO-RESULT" >>"$results"
        status=1
      fi
    done
  done
  local rss
  rss=$(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status" 2>/dev/null || echo "?")
  stop_server
  echo
  echo "-- $label server: peak RSS $rss; log lines: $(wc -l <"$log") (WARN: $(grep -c 'WARN' "$log" || true), ERROR: $(grep -c 'ERROR' "$log" || true))"
  if [ -s "$log" ]; then
    echo "-- $label server log (last 15 lines):"
    tail -n 15 "$log"
  fi
}

bench_backend sqlite "sqlite://$work/bench.db"
if [ -f "$work/bench.db" ]; then
  echo "-- sqlite database file: $(du -h "$work/bench.db" | cut -f1)"
fi

if [ -n "${LOOPSMITH_TEST_POSTGRES_URL:-}" ]; then
  pg_db="loopsmith_bench_$$_$(date +%s)"
  if pg_admin "CREATE DATABASE $pg_db" >/dev/null; then
    base=${LOOPSMITH_TEST_POSTGRES_URL%%\?*}
    query=${LOOPSMITH_TEST_POSTGRES_URL#"$base"}
    bench_backend postgres "${base%/*}/$pg_db$query"
    echo "-- postgres database size: $(pg_admin "SELECT pg_size_pretty(pg_database_size('$pg_db'))" 2>/dev/null || echo '?')"
    pg_admin "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null || true
    pg_db=""
  else
    echo "!! could not create database $pg_db on LOOPSMITH_TEST_POSTGRES_URL"
    status=1
  fi
else
  echo
  echo "(LOOPSMITH_TEST_POSTGRES_URL not set: PostgreSQL skipped)"
fi

echo
echo "== summary: $batches batches x $runs_per_batch runs per configuration (latencies in ms;"
echo "   srv_cpu = server user+system CPU seconds during the run; load1 = load average just before it)"
awk '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return "-"
  }
  function per_cpu(   runs, cpu) {
    runs = field("runs"); cpu = field("server_cpu_s")
    return (cpu + 0 > 0 && field("durability") == "PASS") ? sprintf("%.0f", runs / cpu) : "-"
  }
  BEGIN { printf "%-9s %5s %5s %8s %8s %8s %8s %8s %8s %8s %8s %12s %6s %-12s %s\n", "backend", "conc", "zstd", "runs/s", "req/s", "p50", "p90", "p99", "max", "seconds", "srv_cpu", "runs/cpu_s", "load1", "non_2xx", "durability" }
  { printf "%-9s %5s %5s %8s %8s %8s %8s %8s %8s %8s %8s %12s %6s %-12s %s\n", field("backend"), field("concurrency"), field("zstd"), field("runs_per_s"), field("requests_per_s"), field("p50_ms"), field("p90_ms"), field("p99_ms"), field("max_ms"), field("seconds"), field("server_cpu_s"), per_cpu(), field("load1"), field("non_2xx"), field("durability") }
' "$results"
exit $status
