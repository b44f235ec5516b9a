#!/usr/bin/env bash
# Run the connector's main job on its embedded default: the bundled night of metro alerts is
# replayed into a local SQLite helpdesk and the resulting tickets are printed. No server, no
# network beyond the package index for the first install.
#
#   scripts/demo.sh
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
. scripts/services/lib.sh
VENV=${ITSM_VENV:-.venv}
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "python3-venv is missing; installing it (as root, or through sudo)" >&2
  SVC_NAME=python SVC_APT_UPDATE=1 as_root bash -c '. scripts/services/lib.sh && apt_ensure python3-venv'
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -e .
exec "$VENV/bin/itsm-connector" demo "$@"
