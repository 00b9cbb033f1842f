#!/bin/sh
# t0835 — stdlib/postgres.yml against a real PostgreSQL 15 server on
# 127.0.0.1 (initdb in the test's folder, a free port, stopped at exit).
# Every action: what it does (checked in the server), what it refuses
# (nothing changed), what a rollback does with it, and its probes under
# plan --check; a password passed as a secret never reaches the run's files.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

# the newest PostgreSQL installed ($PG_BIN: 15 on Debian 12), stopped at exit
pg_need postgres
D="$T/pg"
pg_stop_at_exit "$D/data"
# (sleeper: a session the drop-db test holds open)
sleeper=
trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; sandbox_cleanup; rm -rf "$T"' EXIT
PORT=$(free_port)
DEAD=$(free_port)
while [ "$DEAD" = "$PORT" ]; do DEAD=$(free_port); done

# the server: postgres may connect from 127.0.0.1 without a password, any
# other role needs its password (scram)
mkdir -p "$D/run" "$D/out"
chown -R postgres "$D"
chmod 777 "$D/out"
pg_init "$D/data" "$PORT" "$D/run" --auth-local=trust --auth-host=scram-sha-256 ||
	{ echo "Bail out! initdb failed"; exit 1; }
sed -i '/^# TYPE/a host all postgres 127.0.0.1/32 trust' "$D/data/pg_hba.conf"
pg_start "$D/data" "$D/log" || { echo "Bail out! the server did not start"; exit 1; }
q() { psql -X -At -h 127.0.0.1 -p "$PORT" -U postgres -d "${2:-postgres}" -c "$1" 2>/dev/null; }
q "create role app login password 'app-pw'; create role reader login password 'pw-s3cret-7f3a'"
q "create database shop owner app"
q "create table items (id int primary key, name text);
	insert into items select i, 'item ' || i from generate_series(1, 250) i" shop
exists() { test "$(q "select count(*) from pg_database where datname = '$1'")" = 1; }
absent() { test "$(q "select count(*) from pg_database where datname = '$1'")" = 0; }
owner_of() { q "select pg_get_userbyid(datdba) from pg_database where datname = '$1'"; }
rows() { q "select count(*) from $1" "$2"; }

# a runbook that calls ACTION with WITH (one line of YAML flow mapping
# entries); host/port are added; a final step fails when FAIL=1 (rollback)
mk() {
	cat >"$T/$1.yml" <<EOF
runbook: $1
params:
  fail: { default: "0" }
  pw: { secret: true, env: PG_PW }
steps:
  - id: call
    uses: postgres.$2
    with: { host: 127.0.0.1, port: "$PORT", $3 }
  - id: after
    run: test {{ fail }} = 0
    check: "true"
    undo: "true"
EOF
	echo "$T/$1.yml"
}

# --- version, ready -----------------------------------------------------------------
rb run "$(mk version version 'user: postgres')"
expect_rc 0 "version: runs"
out_has "server_version_num=${PG_MAJ}0"
out_has "major=$PG_MAJ"
check "version: the last step prints one line for callers" \
	grep -Eq "PostgreSQL $PG_MAJ\\.[0-9]+: server_version_num=${PG_MAJ}0[0-9]+ major=$PG_MAJ\$" "$out"
rb status "$(run_id)"
check "version: the captures are recorded" \
	grep -Eq "server_version_num=${PG_MAJ}0[0-9]+ major=$PG_MAJ server_version=$PG_MAJ\\." "$out"

PG_PW=pw-s3cret-7f3a rb run "$(mk version-pw version 'user: reader, password: "{{ pw }}"')"
expect_rc 0 "version: a role with a password (secret, through PGPASSWORD)"
check "the password is nowhere in the run's files" \
	sh -c '! grep -rq pw-s3cret-7f3a "$1"' _ "$RUNBOOK_STATE_DIR"
out_lacks "pw-s3cret-7f3a"
PG_PW=wrong rb run "$T/version-pw.yml"
expect_rc 1 "version: a wrong password fails"
out_has "the server refused the password of 'reader'"

rb run "$(mk ready ready 'timeout: "5"')"
expect_rc 0 "ready: the server answers"
out_has "127.0.0.1:$PORT - accepting connections"
sed -i "s/port: \"$PORT\"/port: \"$DEAD\"/" "$(mk ready-dead ready 'timeout: "1"')"
rb run "$T/ready-dead.yml"
expect_rc 1 "ready: nothing on the port: fails after the timeout"
out_has "the server did not answer within 1s"

# --- create-db ------------------------------------------------------------------------
rb run "$(mk create create-db 'db: crm_integration, owner: app, must_match: ".*_integration"')"
expect_rc 0 "create-db: creates"
check "create-db: the database exists, owned by app" test "$(owner_of crm_integration)" = app
rb run "$T/create.yml"
expect_rc 1 "create-db: an existing database is refused"
out_has "crm_integration exists; drop it first"
check "create-db: a rollback after a refusal keeps the existing database" exists crm_integration
rb run "$(mk create-guard create-db 'db: crm_production, must_match: ".*_integration"')"
expect_rc 1 "create-db: a name that does not match the guard is refused"
out_has "the database name must match .*_integration (whole name)"
check "create-db: refused: not created" absent crm_production
rb run "$(mk create-undo create-db 'db: tmp_undo, owner: app')" -p fail=1
expect_rc 1 "create-db: a later failure rolls back"
out_has "drop the database this step created"
check "create-db: the undo dropped the database it created" absent tmp_undo
rb run "$(mk create-role create-db 'db: tmp_role, owner: nobody_here')"
expect_rc 1 "create-db: an unknown owner fails"
out_has "create the role nobody_here first"

# --- dump -------------------------------------------------------------------------------
rb run "$(mk dump dump "db: shop, to: \"$D/out/shop.dump\"")" -p fail=1
expect_rc 1 "dump: runs (then a failure rolls back)"
toc() { pg_restore -l "$D/out/shop.dump" | grep -q "$1"; }
check "dump: the file is a custom-format dump of shop" toc "dbname: shop"
check "dump: it holds the table's data" toc "TABLE DATA public items"
check "dump: no partial file is left" test ! -e "$D/out/shop.dump.partial"
out_has "the dump $D/out/shop.dump is kept"
check "dump: the rollback kept it" test -s "$D/out/shop.dump"
sum=$(md5sum <"$D/out/shop.dump")
rb run "$T/dump.yml"
expect_rc 1 "dump: an existing file is refused"
out_has "$D/out/shop.dump exists: move it away or choose another file"
check "dump: refused: the file is untouched" test "$(md5sum <"$D/out/shop.dump")" = "$sum"
rb run "$(mk dump-nodb dump "db: no_such_db, to: \"$D/out/nodb.dump\"")"
expect_rc 1 "dump: a missing database fails"
out_has "there is no database no_such_db on this server"
check "dump: no file for it" test ! -e "$D/out/nodb.dump"

# --- restore -------------------------------------------------------------------------------
cat >"$T/copy.yml" <<EOF
runbook: copy
params:
  fail: { default: "0" }
steps:
  - id: mk
    uses: postgres.create-db
    with: { host: 127.0.0.1, port: "$PORT", db: shop_copy, owner: app }
  - id: restore
    uses: postgres.restore
    with: { host: 127.0.0.1, port: "$PORT", db: shop_copy, from: "$D/out/shop.dump" }
  - id: after
    run: test {{ fail }} = 0
    check: "true"
    undo: "true"
EOF
rb plan "$T/copy.yml" --check
expect_rc 0 "plan --check: create-db + restore of a database the run makes (nothing probed too early)"
check "plan --check: nothing created" absent shop_copy
rb run "$T/copy.yml" -p fail=1
expect_rc 1 "restore into a new database, then a failure: rolled back"
out_has "the restore into shop_copy is not undone"
check "restore: the rollback dropped the new database (create-db's undo)" absent shop_copy
rb run "$T/copy.yml"
expect_rc 0 "restore: create-db + restore"
check "restore: the rows are there" test "$(rows items shop_copy)" = 250
q 'delete from items where id > 100' shop_copy
rb run "$(mk restore-busy restore "db: shop_copy, from: \"$D/out/shop.dump\"")"
expect_rc 1 "restore: a database that holds tables is refused"
out_has "nothing was changed: restoring over 1 tables would mix two states"
check "restore: refused: the database is untouched" test "$(rows items shop_copy)" = 100
rb run "$(mk restore-clean restore "db: shop_copy, from: \"$D/out/shop.dump\", clean: \"true\"")"
expect_rc 0 "restore: clean=true replaces the dump's objects"
check "restore: clean: the rows of the dump are back" test "$(rows items shop_copy)" = 250
rb run "$(mk restore-nodb restore "db: nowhere, from: \"$D/out/shop.dump\"")"
expect_rc 1 "restore: a missing database fails"
out_has "create the database nowhere first (postgres.create-db)"
echo "not a dump" >"$D/out/junk.dump"
rb run "$(mk restore-junk restore "db: shop_copy, from: \"$D/out/junk.dump\", clean: \"true\"")"
expect_rc 1 "restore: a file that is not a dump fails"
out_has "is not a custom-format dump"

# --- row-counts ------------------------------------------------------------------------------
rb run "$(mk counts row-counts "to: \"$D/out/counts.txt\"")"
expect_rc 0 "row-counts: writes the counts"
counted() { grep -qx "$(printf '%s\t%s\t%s' "$@")" "$D/out/counts.txt"; }
check "row-counts: a line per table: shop public.items 250" counted shop public.items 250
check "row-counts: a line per database: shop_copy" counted shop_copy - -
check "row-counts: a line per database: crm_integration" counted crm_integration - -
rb run "$T/counts.yml"
expect_rc 1 "row-counts: an existing file is refused"

# --- drop-db ------------------------------------------------------------------------------------
rb plan "$(mk drop-guard drop-db 'db: shop, must_match: ".*_integration"')" --check
expect_rc 1 "drop-db: plan --check shows the guard's refusal"
out_has "the database name must match .*_integration (whole name)"
rb run "$T/drop-guard.yml"
expect_rc 1 "drop-db: a name outside the guard is refused"
check "drop-db: refused: shop is still there" exists shop
rb run "$(mk drop-any drop-db 'db: shop, must_match: ".*"')"
expect_rc 1 "drop-db: a guard that matches any name is refused"
out_has "guards nothing"
rb run "$(mk drop-tpl drop-db 'db: template1, must_match: "template.*"')"
expect_rc 1 "drop-db: template1 is never dropped"
check "drop-db: template1 is there" exists template1
rb run "$(mk drop-missing drop-db 'db: gone_integration, must_match: ".*_integration"')"
expect_rc 1 "drop-db: a missing database fails"
out_has "nothing to drop: check the name"
rb run "$(mk drop-ifexists drop-db 'db: gone_integration, must_match: ".*_integration", if_exists: "true"')"
expect_rc 0 "drop-db: if_exists=true accepts a missing database"
out_has "no database gone_integration: nothing to drop"

# the integration reset of the seeds: drop, then create again
cat >"$T/reset.yml" <<EOF
runbook: reset
steps:
  - id: drop
    uses: postgres.drop-db
    with: { host: 127.0.0.1, port: "$PORT", db: crm_integration, must_match: ".*_integration" }
  - id: create
    uses: postgres.create-db
    with: { host: 127.0.0.1, port: "$PORT", db: crm_integration, owner: app, must_match: ".*_integration" }
EOF
q 'create table t (a int)' crm_integration
rb plan "$T/reset.yml" --check
expect_rc 0 "plan --check: drop then create the same database"
tables_t() { q "select count(*) from pg_tables where tablename = 't'" crm_integration; }
check "plan --check: the database was not touched" test "$(tables_t)" = 1
rb run "$T/reset.yml"
expect_rc 0 "drop then create: runs"
check "drop then create: a new, empty database owned by app" \
	test "$(tables_t)/$(owner_of crm_integration)" = 0/app

# a session holds the database: refused, then force=true
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d crm_integration -c 'select pg_sleep(60)' >/dev/null 2>&1 &
sleeper=$!
i=0
while [ "$(q "select count(*) from pg_stat_activity where datname = 'crm_integration'")" != 1 ] &&
	[ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
rb run "$(mk drop-busy drop-db 'db: crm_integration, must_match: ".*_integration"')"
expect_rc 1 "drop-db: a database with sessions is refused by the server"
out_has "sessions are connected to crm_integration: stop the application first, or pass force"
check "drop-db: still there" exists crm_integration
rb run "$(mk drop-force drop-db 'db: crm_integration, must_match: ".*_integration", force: "true"')" -p fail=1
expect_rc 1 "drop-db: force=true drops it (then a failure rolls back)"
check "drop-db: the database is gone" absent crm_integration
out_has "Dropping database crm_integration (if it exists) — a rollback cannot bring it back"
out_has "database crm_integration stays dropped: a rollback cannot bring it back"
check "drop-db: the session was ended" sh -c 'sleep 0.2; ! kill -0 "$1" 2>/dev/null' _ "$sleeper"
sleeper=
