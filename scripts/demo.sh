#!/usr/bin/env bash
# The demo: installs what is missing, then runs a simulated office fleet (InfluxDB, 24 simulated
# printers and copiers, the collector and its web UI). Ctrl-C stops everything it started.
# Extra arguments go to `fleetwatch demo` (e.g. --minutes 5).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec .venv/bin/fleetwatch demo --config config/demo.yaml "$@"
