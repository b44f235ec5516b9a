#!/usr/bin/env bash
# PostgreSQL 15 from the Debian package, for the connector's own state store tests, on 127.0.0.1:
#   - a private cluster (initdb under the state dir), never the Debian default cluster and never
#     Zabbix's private cluster (zabbix.sh, port 15432): its own data dir, socket dir and port,
#   - a role and a database for the tests (each test makes and drops a schema of its own in it).
#
#   postgres.sh install|start|stop|restart|status|env
#
# Environment (all optional):
#   ITSM_PG_STATE_DIR  state/log dir                       (default /tmp/svc/postgres)
#   ITSM_PG_PORT       port on 127.0.0.1                   (default 15433)
#   ITSM_PG_DB         database                            (default itsm_test)
#   ITSM_PG_USER       role                                (default itsm)
#   ITSM_PG_PASSWORD   role's password                     (default itsm-test)
# After start, $ITSM_PG_STATE_DIR/postgres.env holds ITSM_TEST_PG_URL (the URL the tests use);
# "env" prints it, for scripts/test.sh to export. Throwaway test data: fsync is off.
set -euo pipefail
SVC_NAME=postgres
HERE=$(dirname "$(readlink -f "$0")")
. "$HERE/lib.sh"

STATE=${ITSM_PG_STATE_DIR:-$SVC_BASE_DEFAULT/postgres}
PG_PORT=${ITSM_PG_PORT:-15433}
DB_NAME=${ITSM_PG_DB:-itsm_test}
DB_USER=${ITSM_PG_USER:-itsm}
DB_PASS=${ITSM_PG_PASSWORD:-itsm-test}
PGBIN=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
PGDATA=$STATE/data
RUN=$STATE/run
ENVFILE=$STATE/postgres.env

cmd_install() {
  need_root
  apt_ensure postgresql
  log "installed: postgresql $(dpkg-query -W -f='${Version}' postgresql)"
}

pg() { runuser -u postgres -- "$PGBIN/$1" "${@:2}"; }
psql_su() { runuser -u postgres -- "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PG_PORT" -U postgres "$@"; }

# the URL the tests connect with (the password is test data, not a secret)
url() { printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$DB_USER" "$DB_PASS" "$PG_PORT" "$DB_NAME"; }

running() { [ -n "$PGBIN" ] && [ -s "$PGDATA/postmaster.pid" ] && pg pg_ctl -D "$PGDATA" status >/dev/null 2>&1; }

cmd_start() {
  need_root
  [ -n "$PGBIN" ] || die "not installed; run: $0 install"
  local t0=$SECONDS
  mkdir -p "$STATE/log" "$RUN"
  chown postgres:postgres "$STATE" "$RUN"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    log "initdb $PGDATA"
    mkdir -p "$PGDATA"; chown postgres:postgres "$PGDATA"
    pg initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
       --auth-local=trust --auth-host=scram-sha-256 >>"$STATE/log/setup.log" 2>&1
    cat >> "$PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$RUN'
max_connections = 100
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi
  if running; then
    log "postgresql already running"
  else
    port_busy "$PG_PORT" && die "port $PG_PORT on 127.0.0.1 is already in use"
    touch "$STATE/log/postgresql.log"; chown postgres "$STATE/log/postgresql.log"
    pg pg_ctl -D "$PGDATA" -l "$STATE/log/postgresql.log" -w -t 60 start >/dev/null
  fi
  # role and database: created when missing, the password (re)set every start (idempotent)
  psql_su -d postgres <<EOF
SELECT format('CREATE ROLE %I LOGIN', '$DB_USER') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
ALTER ROLE "$DB_USER" LOGIN PASSWORD '$DB_PASS';
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' TEMPLATE template0', '$DB_NAME', '$DB_USER')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
EOF
  url | sed 's/^/ITSM_TEST_PG_URL=/' > "$ENVFILE.tmp" && mv "$ENVFILE.tmp" "$ENVFILE"
  log "up after $((SECONDS - t0))s"
  cmd_status
}

cmd_stop() {
  if running; then
    pg pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  log "stopped"
}

cmd_status() {
  local pgpid=""
  [ -s "$PGDATA/postmaster.pid" ] && pgpid=$(head -1 "$PGDATA/postmaster.pid")
  if [ -n "$pgpid" ] && kill -0 "$pgpid" 2>/dev/null; then
    echo "postgresql: running pid=$pgpid mem=$(mem_mb "$pgpid")MiB(PSS) port=$PG_PORT"
    echo "env file: $ENVFILE"; [ -s "$ENVFILE" ] && cat "$ENVFILE"
    return 0
  fi
  echo "postgresql: stopped"
  return 3
}

# env: the line scripts/test.sh exports; fails when the server is not up
cmd_env() {
  running || die "not running; run: $0 start"
  echo "ITSM_TEST_PG_URL=$(url)"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 install|start|stop|restart|status|env" >&2; exit 2 ;;
esac
