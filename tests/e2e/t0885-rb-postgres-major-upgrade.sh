#!/bin/sh
# t0885 — runbooks/postgres-major-upgrade.yml against real PostgreSQL
# servers on 127.0.0.1 (sandbox: tests/sandbox/postgres-major-upgrade.sh).
# Test machines have one PostgreSQL version (15 on Debian 12), so the
# "upgrade" is 15 -> 15 between two data folders: real initdb, pg_upgrade
# --check, pg_upgrade, pg_dumpall + psql, pg_ctl and the port switch.
#   plan and plan --check change nothing; a precondition (new data folder
#   not empty) refuses with nothing changed; a clean run with each method
#   (the data is in the new cluster, on the old port); faults played by the
#   sandbox's pg_upgrade wrapper: rows lost in the new cluster (the
#   verification fails) and a failing pg_upgrade, each rolled back (the old
#   cluster runs on its port with its data, the new one is gone); a kill
#   during pg_upgrade, then resume.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

# the newest PostgreSQL installed ($PG_BIN: 15 on Debian 12); the servers
# are stopped whatever happens
pg_need pg_upgrade
PG="$T/sb/pg"
pg_stop_at_exit "$PG/old" "$PG/new"

OLD=$(free_port)
TMP=$(free_port)
while [ "$TMP" = "$OLD" ]; do TMP=$(free_port); done
PG_OLD_PORT=$OLD
export PG_OLD_PORT PG_BIN
sandbox postgres-major-upgrade
RB="$TOP/runbooks/postgres-major-upgrade.yml"
set -- --inventory "$INV" -p old_port="$OLD" -p temp_port="$TMP"

q() { psql -X -At -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "$3" 2>/dev/null; }
status_of() { as_pg "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; echo $?; }
# the state a run must leave when it rolled back, or never started
serving() { test "$(q "$OLD" postgres 'show data_directory')" = "$1"; }
rows() { q "$OLD" "$1" "select count(*) from $2"; }
old_is_back() {
	check "$1: the old cluster serves port $OLD" serving "$PG/old"
	check "$1: with its data (shop.orders 1000, crm sales.leads 123)" \
		test "$(rows shop orders)/$(rows crm sales.leads)" = 1000/123
	check "$1: no new cluster" test ! -e "$PG/new"
	check "$1: nothing on the temporary port" sh -c '! pg_isready -q -h 127.0.0.1 -p "$1"' _ "$TMP"
}
# back to the sandbox's start: the new cluster gone, the old one running
reset() {
	[ -f "$PG/new/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG/new" -m fast -w stop >/dev/null
	rm -rf "$PG/new" "$PG/fault"
	[ "$(status_of "$PG/old")" = 0 ] || pg_start "$PG/old" "$PG/log/old.log"
}
fault() { echo "$1" >"$PG/fault"; }

# --- plan, plan --check: nothing changes ---------------------------------------
rb plan "$RB" "$@"
expect_rc 0 "plan"
out_has "pg_upgrade --check -b '$PG/bin-old' -B '$PG/bin-new'"
rb plan "$RB" "$@" --check
expect_rc 0 "plan --check: the preconditions and probes pass"
out_has "version_num=${PG_MAJ}00"
out_has "collate=C.UTF-8"
out_has "compare databases, tables and row counts @db … not checked (reads 'run.id'"
old_is_back "plan"
check "plan: no backup, no work folder" test -z "$(ls -A "$PG/backup")$(ls -A "$PG/work")"

# --- a precondition: the new data folder holds files -----------------------------
mkdir -p "$PG/new" && touch "$PG/new/stray"
rb run "$RB" "$@" --yes
expect_rc 5 "a new data folder that is not empty: refused"
out_has "drop the empty cluster the package made (pg_dropcluster 16 main --stop)"
check "the folder is left as it was" test -e "$PG/new/stray"
rm -rf "$PG/new"
old_is_back "refused"
check "refused: no backup" test -z "$(ls -A "$PG/backup")"

# the state a successful run must leave
upgraded() {
	check "$1: the new cluster serves port $OLD" serving "$PG/new"
	check "$1: shop.orders 1000, customers 50, crm sales.leads 123 there" \
		test "$(rows shop orders)/$(rows shop customers)/$(rows crm sales.leads)" = 1000/50/123
	check "$1: the role app, owner of shop, came along" \
		test "$(q "$OLD" shop "select datdba::regrole from pg_database where datname = 'shop'")" = app
	check "$1: the sequence came along" \
		test "$(q "$OLD" shop "select last_value || '/' || is_called from invoice_no")" = 1000/false
	check "$1: the new cluster has data checksums, like the old one" \
		test "$(q "$OLD" postgres 'show data_checksums')" = on
	check "$1: its port is the old one in its configuration" \
		test "$(as_pg "$PG/bin-new/postgres" -C port -D "$PG/new")" = "$OLD"
	check "$1: the old cluster is stopped" test "$(status_of "$PG/old")" = 3
	check "$1: nothing on the temporary port" sh -c '! pg_isready -q -h 127.0.0.1 -p "$1"' _ "$TMP"
	w="$PG/work/$2"
	check "$1: the row counts before and after are equal (and not empty)" \
		sh -c 'test -s "$1/old-counts.txt" && cmp -s "$1/old-counts.txt" "$1/new-counts.txt"' _ "$w"
	check "$1: the counts list each database and table" \
		grep -qxF "$(printf 'shop\tpublic.orders\t1000')" "$w/new-counts.txt"
	f="$PG/backup/pg_dumpall-$2.sql"
	check "$1: the backup is complete" grep -q 'PostgreSQL database cluster dump complete' "$f"
	check "$1: the backup holds shop's rows and is private (0600)" \
		sh -c 'grep -q "^COPY public.orders" "$1" && test "$(stat -c %a "$1")" = 600' _ "$f"
}

# --- a clean run: pg_upgrade ---------------------------------------------------------
rb run "$RB" "$@" --yes
expect_rc 0 "method=upgrade: the run succeeds"
run=$(run_id)
out_has "Clusters are compatible"
out_has "Upgrade Complete"
out_has "the same 4 databases and 3 tables, the same row counts"
out_has "vacuumdb --all --analyze-in-stages"
upgraded "upgrade" "$run"
check "upgrade: pg_upgrade left delete_old_cluster.sh" test -f "$PG/work/$run/delete_old_cluster.sh"
rb status "$run"
check "upgrade: status says succeeded" grep -q '^  state     succeeded' "$out"

# --- a clean run: dump and load ----------------------------------------------------------
reset
rb run "$RB" "$@" -p method=dump --yes
expect_rc 0 "method=dump: the run succeeds"
run=$(run_id)
out_has "load the backup (psql -f) @db … ok"
check "dump: pg_upgrade did not run" \
	grep -q 'pg_upgrade --check against the live old cluster @db … skipped' "$out"
upgraded "dump" "$run"
check "dump: no delete_old_cluster.sh" test ! -e "$PG/work/$run/delete_old_cluster.sh"

# --- a failure at the verification: rows lost in the new cluster -> rollback -------------------
reset
fault lose-rows
rb run "$RB" "$@" --yes
expect_rc 1 "rows lost in the new cluster: the run fails"
run=$(run_id)
out_has "the new cluster differs from the old one"
out_has "$(printf '+shop\tpublic.orders\t900')"
out_has "start the old cluster again, on its port"
old_is_back "lost rows"
check "lost rows: no delete_old_cluster.sh left behind" test ! -e "$PG/work/$run/delete_old_cluster.sh"
check "lost rows: the backup is kept" test -s "$PG/backup/pg_dumpall-$run.sql"
rb status "$run"
check "lost rows: status says rolled back" grep -q '^  state     rolled back' "$out"

# --- a failure of pg_upgrade itself (after it wrote the new cluster) -> rollback ------------
reset
fault fail
rb run "$RB" "$@" --yes
expect_rc 1 "a failing pg_upgrade: the run fails"
out_has "pg_upgrade: injected failure"
old_is_back "failed pg_upgrade"

# --- a kill during pg_upgrade, then resume -------------------------------------------------
reset
fault hang
run_until_hang run "$RB" "$@" --yes
expect_rc 137 "killed during pg_upgrade"
run=$(run_id)
check "killed: the old cluster is stopped, the new one not started" \
	test "$(status_of "$PG/old")/$(status_of "$PG/new")" = 3/3
rm -f "$PG/fault"
rb resume "$run" --yes
expect_rc 0 "resume: the run completes"
out_has "pg_upgrade was interrupted; its check passes: done, not run again"
upgraded "resumed" "$run"
