#!/usr/bin/env bash
# Redmine 5.0.x from the Debian package, SQLite backend, served by thin on
# 127.0.0.1. Uses the Debian multi-instance support (REDMINE_INSTANCE) so the
# database, logs and config of the test instance live under the state dir.
#
#   redmine.sh install|start|stop|restart|status|selftest|fields|reset
#
# "fields" (a separate step; "start" never runs it) creates every issue custom
# field itsm-connector uses, and the Problem and Change trackers, idempotently: the Ruby comes from
# "$ITSM_PYTHON -m connector.integrations.redmine.setup --rails-script" and runs under
# "rails runner". ITSM_PYTHON (default python3) must have the package installed.
#
# Environment (all optional):
#   REDMINE_STATE_DIR   state/log dir        (default /tmp/svc/redmine)
#   REDMINE_PORT        HTTP port            (default 18080)
#   REDMINE_INSTANCE    Debian instance name (default ctest)
#   REDMINE_ADMIN_PASSWORD  admin password   (default Admin-Pass-1)
#   REDMINE_PROJECT     project identifier   (default ctest)
# After start, $REDMINE_STATE_DIR/redmine.env holds URL, API key, IDs.
set -euo pipefail
SVC_NAME=redmine
. "$(dirname "$(readlink -f "$0")")/lib.sh"

STATE=${REDMINE_STATE_DIR:-$SVC_BASE_DEFAULT/redmine}
PORT=${REDMINE_PORT:-18080}
INST=${REDMINE_INSTANCE:-ctest}
ADMIN_PW=${REDMINE_ADMIN_PASSWORD:-Admin-Pass-1}
PROJECT=${REDMINE_PROJECT:-ctest}
APP=/usr/share/redmine
PIDFILE=$STATE/run/redmine.pid
ENVFILE=$STATE/redmine.env
URL=http://127.0.0.1:$PORT
export REDMINE_INSTANCE=$INST RAILS_ENV=production

cmd_install() {
  need_root
  # Answers for the package's debconf questions (dbconfig-common + SQLite),
  # so nothing prompts. The package then migrates its own "default" instance.
  # debconf-set-selections can refuse (after a purge it finds stale dummy
  # templates); the noninteractive defaults give the same answers, so a
  # failure here is only logged.
  debconf-set-selections <<'EOF' 2>/dev/null || log "note: debconf refused the preseed; using noninteractive defaults"
redmine redmine/current-instances string default
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
redmine redmine/instances/default/default-language select en
EOF
  # After an earlier purge, ucf still remembers the generated database.yml;
  # dbconfig then "does not replace the deleted file" and the package's
  # migration fails. Forget that stale record first.
  if [ ! -e /etc/redmine/default/database.yml ] &&
     grep -qs ' /etc/redmine/default/database.yml$' /var/lib/ucf/hashfile; then
    ucf --purge /etc/redmine/default/database.yml
  fi
  # thin: the packaged Gemfile picks it up when present; without some app
  # server, "rails server" fails with 'Could not find server ""'.
  apt_ensure redmine redmine-sqlite thin curl sqlite3
  if ! grep -q '^    thin ' /var/lib/redmine/Gemfile.lock 2>/dev/null; then
    log "regenerating Gemfile.lock so that it includes thin"
    (cd "$APP" && rm -f /var/lib/redmine/Gemfile.lock && bundle install --local --quiet 2>/dev/null)
    chown www-data:www-data /var/lib/redmine/Gemfile.lock
  fi
  log "installed: redmine $(dpkg-query -W -f='${Version}' redmine)"
}

prepare_instance() {
  local d=$STATE/instance
  mkdir -p "$d/config" "$d/log" "$d/files" "$d/tmp" "$d/public/plugin_assets" \
           "$STATE/db" "$STATE/run" "$STATE/log"
  # /usr/share/redmine/instances -> /var/lib/redmine; point our instance there.
  ln -sfnT "$d" "/var/lib/redmine/$INST"
  cat > "$d/config/database.yml" <<EOF
production:
  adapter: sqlite3
  database: $STATE/db/redmine.sqlite3
  pool: 10
  timeout: 10000
  encoding: utf8
EOF
  # Outgoing notification mails go to files, never to an SMTP server.
  mkdir -p "$STATE/outbox"
  cat > "$d/config/configuration.yml" <<EOF
production:
  email_delivery:
    delivery_method: :file
    file_settings:
      location: $STATE/outbox
EOF
  [ -s "$d/config/secret_key.txt" ] || ruby -rsecurerandom -e 'puts SecureRandom.hex(32)' > "$d/config/secret_key.txt"
}

seed() {
  # One Rails boot does all the setup; prints KEY=VALUE lines for the env file.
  cat > "$STATE/run/seed.rb" <<'RUBY'
Setting.rest_api_enabled = '1'
Setting.host_name = ENV['SEED_HOST']
admin = User.find_by_login('admin')
admin.password = admin.password_confirmation = ENV['SEED_ADMIN_PW']
admin.must_change_passwd = false
admin.save!
key = admin.api_key
project = Project.find_by_identifier(ENV['SEED_PROJECT']) ||
  Project.create!(name: 'Connector Test', identifier: ENV['SEED_PROJECT'], is_public: true)
project.trackers = Tracker.sorted.to_a if project.trackers.empty?
cf = IssueCustomField.find_by_name('External ID') ||
  IssueCustomField.create!(name: 'External ID', field_format: 'string', is_for_all: true,
                           is_filter: true, searchable: true, visible: true,
                           trackers: Tracker.sorted.to_a)
puts "REDMINE_API_KEY=#{key}"
puts "REDMINE_PROJECT_ID=#{project.id}"
puts "REDMINE_CF_EXTERNAL_ID=#{cf.id}"
puts "REDMINE_TRACKER_IDS=#{Tracker.sorted.map { |t| "#{t.id}:#{t.name.tr(' ', '_')}" }.join(',')}"
puts "REDMINE_STATUS_IDS=#{IssueStatus.sorted.map { |s| "#{s.id}:#{s.name.tr(' ', '_')}" }.join(',')}"
puts "REDMINE_CLOSED_STATUS_IDS=#{IssueStatus.where(is_closed: true).sorted.map(&:id).join(',')}"
puts "REDMINE_PRIORITY_IDS=#{IssuePriority.active.map { |p| "#{p.id}:#{p.name.tr(' ', '_')}" }.join(',')}"
RUBY
  local out
  out=$(cd "$APP" && SEED_HOST="127.0.0.1:$PORT" SEED_ADMIN_PW="$ADMIN_PW" SEED_PROJECT="$PROJECT" \
        ruby bin/rails runner "$STATE/run/seed.rb" 2>>"$STATE/log/setup.log" | grep '^REDMINE_' || true)
  echo "$out" | grep -q '^REDMINE_API_KEY=.' || return 1
  echo "$out" | grep -q '^REDMINE_TRACKER_IDS=.' || return 1
  {
    echo "REDMINE_URL=$URL"
    echo "REDMINE_ADMIN_USER=admin"
    echo "REDMINE_ADMIN_PASSWORD=$ADMIN_PW"
    echo "REDMINE_PROJECT=$PROJECT"
    echo "REDMINE_OUTBOX=$STATE/outbox"
    echo "$out"
  } > "$ENVFILE.tmp"
  mv "$ENVFILE.tmp" "$ENVFILE"
}

cmd_start() {
  need_root
  [ -d "$APP" ] || die "redmine not installed; run: $0 install"
  if pid_alive "$PIDFILE"; then log "already running (pid $(cat "$PIDFILE"))"; cmd_status; return 0; fi
  port_busy "$PORT" && die "port $PORT on 127.0.0.1 is already in use"
  local t0=$SECONDS
  prepare_instance
  if [ ! -s "$STATE/db/redmine.sqlite3" ] || [ ! -f "$STATE/db/.migrated" ]; then
    log "creating database (migrate + default data, REDMINE_LANG=en)"
    # Two processes: run in one, load_default_data sees stale column info.
    (cd "$APP" && ruby bin/rake db:migrate >>"$STATE/log/setup.log" 2>&1) \
      || die "db:migrate failed, see $STATE/log/setup.log"
    (cd "$APP" && ruby bin/rake redmine:load_default_data REDMINE_LANG=en 2>&1 \
       | tee -a "$STATE/log/setup.log" | grep -q 'Default configuration data loaded') \
      || die "load_default_data failed, see $STATE/log/setup.log"
    touch "$STATE/db/.migrated"
    rm -f "$ENVFILE"
  fi
  if [ ! -s "$ENVFILE" ]; then
    log "seeding settings, admin API key, project, custom field"
    seed || die "seeding failed, see $STATE/log/setup.log"
  fi
  log "starting thin on $URL"
  rm -f "$STATE/run/rails.pid"
  (cd "$APP" && spawn "$PIDFILE" "$STATE/log/server.log" \
      ruby bin/rails server -e production -b 127.0.0.1 -p "$PORT" -P "$STATE/run/rails.pid")
  wait_http "$URL/login" 90 '^200$' || die "no HTTP answer on $URL, see $STATE/log/server.log"
  log "up after $((SECONDS - t0))s"
  cmd_status
}

cmd_stop() {
  stop_pidfile "$PIDFILE" 20
  rm -f "$STATE/run/rails.pid"
  log "stopped"
}

cmd_status() {
  if pid_alive "$PIDFILE"; then
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/login" || true)
    echo "redmine: running pid=$(cat "$PIDFILE") http=$code mem=$(mem_mb "$(cat "$PIDFILE")")MiB(PSS) url=$URL"
    echo "env file: $ENVFILE"
    [ -s "$ENVFILE" ] && cat "$ENVFILE"
    return 0
  fi
  echo "redmine: stopped"
  return 3
}

cmd_selftest() {
  # Walk the REST API with curl: create, update, note, relation, filters.
  [ -s "$ENVFILE" ] || die "no env file; start first"
  set -a; . "$ENVFILE"; set +a
  local H=(-s -f -H "X-Redmine-API-Key: $REDMINE_API_KEY" -H 'Content-Type: application/json')
  local tag="selftest-$(date +%s)-$$" a b
  a=$(curl "${H[@]}" -X POST "$REDMINE_URL/issues.json" -d "{\"issue\":{\"project_id\":$REDMINE_PROJECT_ID,\"subject\":\"[$tag] disk full on web01\",\"description\":\"from selftest\",\"custom_fields\":[{\"id\":$REDMINE_CF_EXTERNAL_ID,\"value\":\"$tag-A\"}]}}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["issue"]["id"])')
  b=$(curl "${H[@]}" -X POST "$REDMINE_URL/issues.json" -d "{\"issue\":{\"project_id\":$REDMINE_PROJECT_ID,\"subject\":\"[$tag] disk full on web01 (again)\",\"custom_fields\":[{\"id\":$REDMINE_CF_EXTERNAL_ID,\"value\":\"$tag-B\"}]}}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["issue"]["id"])')
  echo "created issues #$a and #$b"
  curl "${H[@]}" -X PUT "$REDMINE_URL/issues/$a.json" -d '{"issue":{"priority_id":4,"notes":"acknowledged by selftest"}}' -o /dev/null -w 'update+note -> HTTP %{http_code}\n'
  curl "${H[@]}" -X POST "$REDMINE_URL/issues/$b/relations.json" -d "{\"relation\":{\"issue_to_id\":$a,\"relation_type\":\"duplicates\"}}" -w '\n'
  echo "journals of #$a:"; curl "${H[@]}" "$REDMINE_URL/issues/$a.json?include=journals,relations" \
    | python3 -c 'import json,sys; i=json.load(sys.stdin)["issue"]; print(" notes:", [j["notes"] for j in i["journals"]]); print(" relations:", i.get("relations")); print(" priority:", i["priority"])'
  echo "filter cf_$REDMINE_CF_EXTERNAL_ID=$tag-A:"; curl "${H[@]}" "$REDMINE_URL/issues.json?project_id=$REDMINE_PROJECT_ID&status_id=*&cf_$REDMINE_CF_EXTERNAL_ID=$tag-A" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ", d["total_count"], [i["id"] for i in d["issues"]])'
  echo "filter subject~$tag:"; curl "${H[@]}" -G "$REDMINE_URL/issues.json" --data-urlencode "subject=~$tag" --data-urlencode "status_id=*" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ", d["total_count"], [i["id"] for i in d["issues"]])'
  echo "selftest OK"
}

cmd_fields() {
  need_root
  [ -d "$APP" ] || die "redmine not installed; run: $0 install"
  [ -f "$STATE/db/.migrated" ] || die "no database yet; run: $0 start"
  local py=${ITSM_PYTHON:-python3} script=$STATE/run/fields.rb out
  mkdir -p "$STATE/run" "$STATE/log"
  "$py" -m connector.integrations.redmine.setup --rails-script > "$script.tmp" \
    || die "cannot generate the custom-field script with $py (is itsm-connector installed for it? set ITSM_PYTHON)"
  mv "$script.tmp" "$script"
  log "creating the connector's custom fields (rails runner $script)"
  out=$(cd "$APP" && ruby bin/rails runner "$script" 2>>"$STATE/log/setup.log") \
    || die "rails runner failed, see $STATE/log/setup.log"
  printf '%s\n' "$out"
  log "custom fields: $(printf '%s\n' "$out" | grep -c '^created') created, $(printf '%s\n' "$out" | grep -c '^exists') already there"
  cmd_trackers
}

# The trackers of problem records and change requests (issue 13; backend.links in the
# connector config): created when missing, with the first tracker's default status, fields and
# workflow, so people can move their issues through the same statuses. Idempotent.
cmd_trackers() {
  local script=$STATE/run/trackers.rb out
  cat > "$script" <<'RUBY'
source = Tracker.sorted.first
%w[Problem Change].each do |name|
  if Tracker.find_by(name: name)
    puts "exists tracker #{name}"
    next
  end
  tracker = Tracker.new(name: name, default_status: source.default_status)
  tracker.core_fields = source.core_fields
  tracker.custom_field_ids = source.custom_field_ids
  tracker.save!
  WorkflowRule.copy(source, nil, tracker, nil)
  puts "created tracker #{name}"
end
RUBY
  out=$(cd "$APP" && ruby bin/rails runner "$script" 2>>"$STATE/log/setup.log") \
    || die "rails runner (trackers) failed, see $STATE/log/setup.log"
  printf '%s\n' "$out"
}

cmd_reset() {
  cmd_stop
  rm -rf "$STATE"
  rm -f "/var/lib/redmine/$INST"
  log "state removed ($STATE)"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  selftest) cmd_selftest ;;
  fields) cmd_fields ;;
  reset) cmd_reset ;;
  *) echo "usage: $0 install|start|stop|restart|status|selftest|fields|reset" >&2; exit 2 ;;
esac
