#!/usr/bin/env bash
# Python-side overhead, one run: builds the release wheel and peer-ops,
# installs the wheel into a fresh venv and runs overhead.py.
#   bash benches/python/overhead.sh [overhead.py args, e.g. --rounds 2]
set -euo pipefail
cd "$(dirname "$0")/../.."
WHEEL=$(scripts/build-wheel)
cargo build --release -p memlayer-tests --bin peer-ops
VENV=target/python-bench-venv
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "$WHEEL"
"$VENV/bin/python" benches/python/overhead.py --peer-ops target/release/peer-ops "$@"
