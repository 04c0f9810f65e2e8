#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs the lecture's experiment in its quick form (under 3
# minutes on 2 cores): cnn-flatten vs cnn-gap, tested on centred and shifted digits.
# Extra arguments go to `convplay shift-experiment` (e.g. --epochs 8 without --quick: see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p convplay-cli
if [ $# -eq 0 ]; then set -- --quick; fi
./target/release/convplay shift-experiment "$@"
