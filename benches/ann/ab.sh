#!/usr/bin/env bash
# A/B timing of two ann-bench builds on one saved graph, so a change to the
# search loop is measured without rebuilding (or re-randomising) the index.
#
#   benches/ann/ab.sh DATASET GRAPH_FILE "EF EF ..." ROUNDS BIN_A BIN_B ...
#
# DATASET is a directory name under ~/.cache/memlayer/bench-data (from
# benches/ann/prepare.py); GRAPH_FILE is built and saved by the first run
# (`ann-bench worker --cache`). Builds alternate round by round; prints one
# line per (round, binary, ef): recall, QPS, p50 µs. Single thread.
set -euo pipefail
D="${MEMLAYER_BENCH_DATA:-$HOME/.cache/memlayer/bench-data}"
ds=$1; cache=$2; efs=$3; rounds=$4; shift 4
for r in $(seq 1 "$rounds"); do
  for b in "$@"; do
    cmds="build"; for e in $efs; do cmds="$cmds
search $e 10"; done
    printf '%s\nquit\n' "$cmds" | "$b" worker --engine ours --data "$D/$ds" --cache "$cache" 2>/dev/null |
      python3 -c "
import sys, json
for l in sys.stdin:
    j = json.loads(l)
    if j.get('event') == 'search':
        print('$ds', '$(basename "$b")', 'round $r', 'ef', j['ef'], 'recall %.4f' % j['recall'], 'qps %.0f' % j['qps'], 'p50 %.0f' % j['p50_us'])
"
  done
done
