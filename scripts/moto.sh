#!/usr/bin/env bash
# Installs moto's server (a pinned version, from PyPI, into a venv under the
# build directory) and starts it on a free loopback port. Meant to be
# sourced: exports RELCTL_TEST_MOTO_URL and stops the server when the
# sourcing shell exits.
set -euo pipefail

MOTO_VERSION=5.2.5
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${CARGO_TARGET_DIR:-$root/target}/moto-venv"

if ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "installing moto $MOTO_VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
# A real JUnit parser, for the tests of relctl's JUnit reports.
JUNITPARSER_VERSION=3.2.0
if ! "$venv/bin/python" -c "import junitparser, sys; sys.exit(junitparser.version != '$JUNITPARSER_VERSION')" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "junitparser==$JUNITPARSER_VERSION"
fi
# An independent JSON Schema validator and a YAML reader, for the tests of
# `relctl schema` (tests/support/schema_check.py).
JSONSCHEMA_VERSION=4.26.0
PYYAML_VERSION=6.0.4
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('jsonschema') != '$JSONSCHEMA_VERSION' or m.version('PyYAML') != '$PYYAML_VERSION')" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "jsonschema==$JSONSCHEMA_VERSION" "PyYAML==$PYYAML_VERSION"
fi
export RELCTL_TEST_PYTHON="$venv/bin/python"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Services moto creates report their tasks running and the rollout COMPLETED
# (moto never moves a rollout along; rollouts are tested against tests/support/ecs.rs).
# S3 lists at most 3 keys a page (AWS: 1,000), so every listing relctl makes
# in the tests goes through its continuation-token loop.
MOTO_S3_DEFAULT_MAX_KEYS=3 MOTO_ECS_SERVICE_RUNNING=1 "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/relctl-moto-$port.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 200); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then break; fi
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto_server exited; see ${TMPDIR:-/tmp}/relctl-moto-$port.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" || { echo "moto_server did not start on port $port" >&2; exit 1; }
export RELCTL_TEST_MOTO_URL="http://127.0.0.1:$port"
echo "moto $MOTO_VERSION on $RELCTL_TEST_MOTO_URL" >&2
