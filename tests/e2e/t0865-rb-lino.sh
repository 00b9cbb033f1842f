#!/bin/sh
# t0865 — runbooks/lino-upgrade.yml against a sandbox Lino site
# (tests/sandbox/lino-upgrade.sh: a fake manage.py whose database is a
# file, make_snapshot.sh, pull.sh bringing 24.3.0 with a changed database
# structure; systemctl/service are the shims):
#  1. a clean run: services stopped then started, a fresh and valid
#     snapshot (and its copy on the operator's machine), the new version,
#     the database restored into the new structure and its data problem
#     fixed, static files and indexes of the new version; with the same
#     structure restore.py is skipped (restore=auto), restore=always forces it
#  2. failures at critical steps, each followed by a verified rollback:
#     restore.py ends "Abandoned with 3 unsaved objects" (the seed's hint is
#     shown; old environment, database, static files and services back);
#     a make_snapshot.sh that leaves an old snapshot.zip (the timestamp
#     check catches it; nothing upgraded); the operator's "no" at the end
#     (the pause, then `runbook rollback`): all the way back after a complete
#     upgrade
#  3. a kill in the middle of restore.py (the database flushed), then
#     `runbook resume`: restore.py runs again and the run finishes
#  4. `runbook plan` and `plan --check` change nothing (digest before/after);
#     --check runs the probes only
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

RB=$TOP/runbooks/lino-upgrade.yml
S=$RUNBOOK_STATE_DIR

rb lint "$RB"
expect_rc 0 "lino-upgrade lints"
err_has "1 file: 0 errors, 0 warnings"

# fresh: a new sandbox (and an empty state dir); sets P (the project)
fresh() {
	rm -rf "$T/sb" "$S"
	sandbox lino-upgrade
	P=$SB/usr/local/lino/lino_local/mysite
}
unit() { cat "$SHIM_STATE/units/$1" 2>/dev/null; }
is() { check "$1" test "$2" = "$3"; }
units_up() {
	check "$1: apache2, supervisor and nginx active" \
		test "$(unit apache2) $(unit supervisor) $(unit nginx)" = "active active active"
}
# the state a rollback must give back: database, environment, static files
before() {
	db0=$(md5sum <"$P/default.db")
	env0=$(digest "$P/env")
	static0=$(digest "$P/static_root")
}
same_as_before() {
	is "$1: the database is the snapshot's again" "$(md5sum <"$P/default.db")" "$db0"
	is "$1: the previous environment is back" "$(digest "$P/env")" "$env0"
	is "$1: the previous static files are back" "$(digest "$P/static_root")" "$static0"
	is "$1: the code is 24.1.0" "$(cat "$P/env/lino/VERSION")" 24.1.0
	units_up "$1"
}
# line NUMBER of the first call in calls.log containing TEXT
at() { grep -nF -- "$1" "$SHIM_STATE/calls.log" | head -n 1 | cut -d: -f1; }
before_call() { check "$3" test "$(at "$1")" -lt "$(at "$2")"; }
jstatus() {
	"$RUNBOOK" status "$1" --format json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])'
}

# --- 1. a clean run ------------------------------------------------------------
fresh
before
rb run "$RB" --inventory "$INV" --yes -p elastic=yes
expect_rc 0 "clean run succeeds"
id=$(run_id)
is "runbook status: succeeded" "$(jstatus "$id")" succeeded
before_call "systemctl stop apache2" "manage.py dump2py snapshot" "apache2 stopped before the snapshot"
before_call "systemctl stop supervisor" "manage.py dump2py snapshot" "supervisor stopped before the snapshot"
before_call "manage.py dump2py snapshot" "manage.py check" "the snapshot is made before pull.sh"
called "manage.py dump2py -os $P/runbook-$id/t"
out_has "structure: changed"
called "manage.py run snapshot/restore.py --noinput"
out_has "Done manage.py run snapshot/restore.py"
called "manage.py install --noinput"
called "manage.py buildindexes"
called "manage.py collectstatic --noinput"
called "manage.py checkdata -f"
before_call "manage.py checkdata -f" "systemctl start apache2" "apache2 started after the upgrade"
before_call "systemctl start apache2" "systemctl restart nginx" "nginx restarted after apache2"
before_call "systemctl restart nginx" "systemctl start supervisor" "supervisor started last"
units_up "after the run"
is "the new version is installed" "$(cat "$P/env/lino/VERSION")" 24.3.0
is "the database has the new structure" "$(head -n 1 "$P/default.db")" "schema B"
check "the database kept its rows" test "$(grep -c '|' "$P/default.db")" = 5
check "checkdata -f fixed the broken ticket" sh -c '! grep -q BROKEN "$1"' _ "$P/default.db"
check "the new static files are collected" test -f "$P/static_root/dashboard.js"
is "the indexes are the new structure's" "$(cat "$P/index.txt")" "schema B"
check "snapshot.zip is a valid zip" python3 -m zipfile -t "$P/snapshot.zip"
check "the snapshot holds the old structure" grep -q "SCHEMA = 'A'" "$P/snapshot/restore.py"
check "a copy of the snapshot on the operator's machine" test -s "$S/runs/$id/snapshot.tar.gz"
check "its manifest" test -s "$S/runs/$id/snapshot.tar.gz.manifest.json"
out_has "remove that folder once you are sure"
is "the previous environment is kept for a manual way back" \
	"$(cat "$P/runbook-$id/env/lino/VERSION" 2>/dev/null)" 24.1.0
rb archive verify "$S/runs/$id/snapshot.tar.gz"
expect_rc 0 "the copy verifies against its manifest"

# the same structure: restore.py is not needed (restore=auto) ...
fresh
cp "$P/env/lino/SCHEMA" "$SB/upstream/lino/SCHEMA"
rb run "$RB" --inventory "$INV" --yes
expect_rc 0 "run with an unchanged structure succeeds"
out_has "structure: same"
not_called "manage.py run snapshot/restore.py"
not_called "manage.py buildindexes"
is "the new version is installed" "$(cat "$P/env/lino/VERSION")" 24.3.0
units_up "after the run without restore"
# ... unless restore=always
fresh
cp "$P/env/lino/SCHEMA" "$SB/upstream/lino/SCHEMA"
rb run "$RB" --inventory "$INV" --yes -p restore=always -p install=no -p collectstatic=no
expect_rc 0 "restore=always runs restore.py anyway"
called "manage.py run snapshot/restore.py --noinput"
not_called "manage.py install"
not_called "manage.py collectstatic"

# --- 2. failures and rollbacks ------------------------------------------------
# restore.py cannot save 3 objects: the new version needs a migrator
fresh
before
mkdir -p "$SHIM_STATE/lino"
echo 3 >"$SHIM_STATE/lino/unsaved"
rb run "$RB" --inventory "$INV" --yes -p elastic=yes
expect_rc 1 "restore.py abandoning objects fails the run"
id=$(run_id)
out_has "Abandoned with 3 unsaved objects"
out_has "hint: restore.py could not save 3 objects: the new version needs a data migrator for them. Ask the application developer"
out_has "rolled back"
is "runbook status: rolled back" "$(jstatus "$id")" "rolled back"
same_as_before "after the rollback"
check "the old code restored the snapshot" grep -q "restore.py exit status 0" "$P/runbook-$id/restore-back.log"
is "the indexes were rebuilt for the old structure" "$(cat "$P/index.txt")" "schema A"
check "nginx restarted after the static files went back" test "$(grep -c 'systemctl try-restart nginx' "$SHIM_STATE/calls.log")" = 1
not_called "manage.py checkdata"
not_called "systemctl start nginx"

# a make_snapshot.sh that does not make a snapshot: snapshot.zip is old
fresh
before
(cd "$P" && . env/bin/activate && python manage.py dump2py snapshot >/dev/null && zip -qr snapshot.zip snapshot)
touch -d '2 days ago' "$P/snapshot.zip"
printf '#!/bin/sh\necho "Snapshot done."\n' >"$P/make_snapshot.sh"
: >"$SHIM_STATE/calls.log"
rb run "$RB" --inventory "$INV" --yes
expect_rc 1 "an old snapshot.zip fails the snapshot step"
check "the log says why" grep -rq "snapshot.zip is older than this run" "$S/runs/$(run_id)/logs"
not_called "manage.py check"
same_as_before "after the stale snapshot"
check "pull.sh never ran: no copy of the environment" sh -c '! ls -d "$1"/runbook-* 2>/dev/null' _ "$P"

# the operator says no at the end (no terminal: the run pauses), then rolls back
fresh
before
rb run "$RB" --inventory "$INV" -p elastic=yes
expect_rc 4 "the sign-in confirmation pauses the run"
id=$(run_id)
is "the new version runs while paused" "$(cat "$P/env/lino/VERSION")" 24.3.0
rb rollback "$id" --yes
expect_rc 0 "runbook rollback after a complete upgrade"
same_as_before "after the rollback of a complete upgrade"
is "the indexes are the old structure's" "$(cat "$P/index.txt")" "schema A"
check "the database rows are the snapshot's (the fix of checkdata -f undone too)" grep -q "|BROKEN|" "$P/default.db"

# --- 3. kill in the middle of restore.py, then resume --------------------------
fresh
inject "hang manage.py*run*snapshot/restore.py*"
run_until_hang run "$RB" --inventory "$INV" --yes
expect_rc 137 "killed in the middle of restore.py"
is "the database was flushed when it died" "$(cat "$P/default.db")" "schema B"
uninject
rb resume --yes
expect_rc 0 "resume finishes the upgrade"
out_has "restore the snapshot with the new code"
check "restore.py ran again" test "$(grep -c 'manage.py run snapshot/restore.py' "$SHIM_STATE/calls.log")" = 2
check "the snapshot was made once" test "$(grep -c 'manage.py dump2py snapshot' "$SHIM_STATE/calls.log")" = 1
check "pull.sh ran once (one copy of the environment)" test "$(ls -d "$P"/runbook-* | wc -l)" = 1
is "the database is whole again" "$(grep -c '|' "$P/default.db")" 5
is "the database has the new structure" "$(head -n 1 "$P/default.db")" "schema B"
units_up "after resume"
rb status
check "runbook status: the run succeeded" grep -q "lino-upgrade .*succeeded" "$out"

# --- 4. plan and plan --check change nothing ---------------------------------
fresh
d0=$(digest "$SB")
rb plan "$RB" --inventory "$INV" -p elastic=yes
expect_rc 0 "plan"
out_has "if it fails, undone (newest first)"
check "plan runs nothing" test ! -s "$SHIM_STATE/calls.log"
rb plan "$RB" --inventory "$INV" -p elastic=yes --check
expect_rc 0 "plan --check: preconditions and probes pass"
called "systemctl is-active apache2"
called "systemctl is-active supervisor"
out_has "lino==24.1.0"
out_has "not checked (reads 'steps.schema-dump.rc'"
not_called "systemctl stop"
not_called "manage.py"
check "plan --check made no snapshot" test ! -e "$P/snapshot.zip"
is "plan and plan --check changed nothing" "$(digest "$SB")" "$d0"
