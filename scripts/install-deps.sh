#!/usr/bin/env bash
# Installs everything Fleetwatch's demo and tests need on a fresh Debian machine (run as root):
# Debian packages (InfluxDB 1.x, net-snmp tools and snmpd, prometheus-snmp-exporter, victoria-metrics) and a
# virtualenv in .venv with the project and its test dependencies. Idempotent and quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(influxdb snmp snmpd prometheus-snmp-exporter victoria-metrics chromium prometheus-node-exporter)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.fleetwatch-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "install-deps: pip install -e .[test]" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 \
    | grep -v "^WARNING: Location" || true
  echo "$want" > "$stamp"
fi
