#!/usr/bin/env bash
# Load on loopback against a release `memlayer serve` (the same client as
# the CI test engine/cli/tests/serve.rs, at benchmark size):
#   1. 16 clients, 5,000 mixed requests (add infer=false, search, get,
#      update, delete): requests/s, p50/p95/p99 per route, errors, lost writes;
#   2. `memlayer verify` after a graceful stop;
#   3. load again, SIGKILL the server after 5 s, restart: lost acknowledged
#      adds and `verify` (a partial batch would show up as a problem).
# usage: bash benches/load/serve_load.sh [CLIENTS] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
CLIENTS=${1:-16}
REQUESTS=${2:-5000}
cargo build --release -q -p memlayer-cli
BIN=target/release/memlayer
LOAD=engine/cli/tests/load.py
DIR=$(mktemp -d)
trap 'kill -9 ${PID:-0} 2>/dev/null || true; rm -rf "$DIR"' EXIT
export MEMLAYER_LOG=warn

start() {
  "$BIN" --db "$DIR/m.redb" serve --port 0 > "$DIR/out" &
  PID=$!
  for _ in $(seq 100); do [ -s "$DIR/out" ] && break; sleep 0.1; done
  URL=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['url'])" "$DIR/out")
}

start
echo "::: $CLIENTS clients, $REQUESTS requests against $URL (pid $PID)"
python3 "$LOAD" run "$URL" --acked "$DIR/acked" --clients "$CLIENTS" --requests "$REQUESTS"
python3 "$LOAD" verify "$URL" --acked "$DIR/acked"
kill -TERM "$PID"; wait "$PID" || true
"$BIN" --db "$DIR/m.redb" verify --json

start
echo "::: load again, SIGKILL after 5 s"
python3 "$LOAD" run "$URL" --acked "$DIR/acked2" --clients "$CLIENTS" --requests 1000000 \
  --no-deletes --until-down &
LP=$!
sleep 5
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
wait "$LP" || true
"$BIN" --db "$DIR/m.redb" verify --json
start
python3 "$LOAD" verify "$URL" --acked "$DIR/acked2"
kill -TERM "$PID"; wait "$PID" || true
