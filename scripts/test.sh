#!/usr/bin/env bash
# Run every test, real servers included, on a fresh Debian 12 machine. It apt-installs Redmine,
# Zabbix, PostgreSQL and Dovecot and starts them on 127.0.0.1 (PostgreSQL twice: Zabbix's private
# cluster, and the connector's own for the state store tests): as root directly, as a normal user
# through sudo (only those steps; the venv and the tests run as the user who called it).
#
#   scripts/test.sh [pytest args...]
#
# Steps: python venv (.venv) with the package and its test deps; ruff; mypy --strict; lint-imports; the test
# servers (scripts/services/*.sh install + start, idempotent); pytest (state on SQLite files); then
# tests/unit, tests/contract, tests/conformance and the integration tests marked both_states once more
# with the state on PostgreSQL
# (ITSM_TEST_STATE_URL, from scripts/services/postgres.sh env). Exits non-zero on any failure. ITSM_SKIP_SERVERS=1 skips the real-server tests (for a quick local loop only).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
. scripts/services/lib.sh
VENV=${ITSM_VENV:-.venv}

step() { printf '\n=== %s\n' "$*"; }

step "python environment ($VENV)"
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  SVC_NAME=python SVC_APT_UPDATE=1 as_root bash -c '. scripts/services/lib.sh && apt_ensure python3-venv'
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]'

step "ruff"
"$VENV/bin/ruff" check .
step "mypy --strict"
"$VENV/bin/mypy"
step "import layers (.importlinter)"
"$VENV/bin/lint-imports"

if [ "${ITSM_SKIP_SERVERS:-0}" != 1 ]; then
  step "test servers"
  # headless Chromium and a CJK font for the report page test (tests/integration/test_report_browser.py)
  SVC_NAME=chromium as_root bash -c '. scripts/services/lib.sh && apt_ensure chromium chromium-driver fonts-wqy-microhei'
  as_root bash scripts/services/redmine.sh install
  as_root bash scripts/services/zabbix.sh install
  as_root bash scripts/services/imap.sh install
  as_root bash scripts/services/postgres.sh install
  as_root bash scripts/services/redmine.sh start
  ITSM_PYTHON="$(readlink -f "$VENV")/bin/python" as_root bash scripts/services/redmine.sh fields
  as_root bash scripts/services/zabbix.sh start
  as_root bash scripts/services/imap.sh start
  as_root bash scripts/services/postgres.sh start
fi

if [ "${ITSM_SKIP_SERVERS:-0}" != 1 ]; then
  pg_env=$(as_root bash scripts/services/postgres.sh env) || die "the PostgreSQL test server is not up (scripts/services/postgres.sh start)"
  # ITSM_TEST_PG_URL=postgresql://…: the two-daemon integration test shares it (a schema of its own)
  export "${pg_env?}"
fi

step "pytest"
export ITSM_PYTHON="$VENV/bin/python"
"$VENV/bin/pytest" -q -p no:cacheprovider "$@"

if [ "${ITSM_SKIP_SERVERS:-0}" != 1 ]; then
  step "pytest, state on PostgreSQL (tests/unit tests/contract tests/conformance, integration tests marked both_states)"
  ITSM_TEST_STATE_URL=$ITSM_TEST_PG_URL "$VENV/bin/pytest" -q -p no:cacheprovider tests/unit tests/contract tests/conformance
  ITSM_TEST_STATE_URL=$ITSM_TEST_PG_URL "$VENV/bin/pytest" -q -p no:cacheprovider -m both_states tests/integration
fi
