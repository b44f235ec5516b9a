#!/usr/bin/env bash
# Run the connector's main job on its embedded default: the bundled night of metro alerts is
# replayed into a local SQLite helpdesk and the resulting tickets are printed. No server, no
# network beyond the package index for the first install.
#
#   scripts/demo.sh
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
VENV=${ITSM_VENV:-.venv}
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "python3-venv is missing; installing it (needs root)" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e .
exec "$VENV/bin/itsm-connector" demo "$@"
