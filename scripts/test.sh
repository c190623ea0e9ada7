#!/usr/bin/env bash
# The whole test suite: installs what is missing, then lint, types and pytest (which starts real
# snmpsim, influxd and victoria-metrics processes on loopback ports). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "== ruff" && .venv/bin/ruff check .
echo "== mypy (strict)" && .venv/bin/mypy
echo "== pytest" && exec .venv/bin/python -m pytest "$@"
