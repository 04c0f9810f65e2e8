#!/usr/bin/env bash
# Sets up a fresh Debian machine (scripts/setup.sh), builds the playground and serves it on
# http://127.0.0.1:8080 (Trunk, offline: nothing is downloaded; the data comes from web/data).
# Extra arguments go to `trunk serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fetch --quiet
echo "convplay: building, then serving the playground on http://127.0.0.1:8080 (Ctrl-C stops)"
exec trunk serve --offline --release --no-autoreload "$@"
