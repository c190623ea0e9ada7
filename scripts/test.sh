#!/usr/bin/env bash
# The whole test suite: installs what is missing, then lint, types, the layer contracts and pytest
# (which starts real snmpsim, influxd and victoria-metrics processes on loopback ports). Extra args
# go to pytest, e.g. `scripts/test.sh -m "not service"` for the quick loop without real services.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "== ruff" && .venv/bin/ruff check .
echo "== mypy (strict)" && .venv/bin/mypy
echo "== import contracts (pyproject [tool.importlinter])" && PYTHONPATH="$PWD" .venv/bin/lint-imports
echo "== pytest" && exec .venv/bin/python -m pytest "$@"
