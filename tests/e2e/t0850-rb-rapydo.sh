#!/bin/sh
# t0850 — the RAPyDo runbooks (runbooks/rapydo-*.yml) against the sandbox of
# tests/sandbox/rapydo.sh: a real git project (tags v1.0 and v1.1), the fake
# controller tests/shims/rapydo, the docker and crontab shims.
#   rapydo-upgrade:    plan --check changes nothing; clean run (v1.1 checked
#                      out, controller 0.6.7, stack up on PostgreSQL 11.4);
#                      the fallbacks of a controller older than 0.6.6 (rapydo
#                      version + install --git VERSION; pip3); PostgreSQL 10
#                      data → the diagnose names the remedy → rollback (v1.0
#                      on master, controller 0.6.6, stack up on 10.7, data
#                      kept); -p sessions_db=reset fixes it on the spot (after
#                      a confirm), and a failure after that brings v1.0 back
#                      on a new database; kill during rapydo start + resume
#   rapydo-production: plan; clean run (mode: production, proxy up); a
#                      failure → .projectrc byte-identical, debug stack back;
#                      a .projectrc without mode line is restored as it was
#   rapydo-ssl:        preconditions; plan; clean run (certificate for the
#                      hostname, the seed's crontab entry next to the existing
#                      one); idempotent; the entry works from cron's bare
#                      environment; a failed request removes exactly the
#                      entry it added (and no crontab stays none)
#   rapydo-reset-sql:  plan; the confirm without --yes pauses (exit 4) with nothing
#                      destroyed; resume --yes resets (PostgreSQL 11 data,
#                      restapi init); a failed volume rm rolls back
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

P=$T/sb/srv/myproject
C=$T/sb/shim/containers
V=$T/sb/shim/volumes

# fresh [CONTROLLER]: a new sandbox (the controller installed at v1.0)
fresh() {
	rm -rf "$T/sb"
	if [ -n "${1:-}" ]; then RAPYDO_FROM=$1; export RAPYDO_FROM; fi
	sandbox rapydo
	unset RAPYDO_FROM
	V10=$(git -C "$P" rev-parse 'v1.0^{commit}')
	V11=$(git -C "$SB/git/myproject.git" rev-parse 'v1.1^{commit}')
}
# in the project's folder, as the operator
prj() { (cd "$P" && "$@"); }
head_at() { test "$(git -C "$P" rev-parse HEAD)" = "$1"; }
on_master() { test "$(git -C "$P" symbolic-ref -q --short HEAD)" = master; }
controller_is() { test "$(cat "$SHIM_STATE/rapydo/version")" = "$1"; }
running() { test "$(cat "$C/$1/state" 2>/dev/null)" = running; }
absent() { test ! -e "$C/$1/state"; }
image_is() { test "$(cat "$C/$1/image" 2>/dev/null)" = "$2"; }
# state_is RUN STATE: runbook status --format json says so
state_is() {
	"$RUNBOOK" status "$1" --format json 2>/dev/null |
		python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["state"] != sys.argv[1])' "$2"
}
# before_after LINE1 LINE2: LINE1 is logged in calls.log before LINE2
before_after() {
	a=$(grep -nxF -- "$1" "$SHIM_STATE/calls.log" | head -n 1 | cut -d: -f1)
	b=$(grep -nxF -- "$2" "$SHIM_STATE/calls.log" | tail -n 1 | cut -d: -f1)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}
ncalls() { grep -cxF -- "$1" "$SHIM_STATE/calls.log"; }

for rbk in upgrade production ssl reset-sql; do
	rb lint "$TOP/runbooks/rapydo-$rbk.yml"
	expect_rc 0 "lint rapydo-$rbk"
	check "lint rapydo-$rbk: no warning" grep -q ' 0 warnings' "$err"
done

## rapydo-upgrade ###########################################################

fresh
d0=$(digest "$SB")
rb plan rapydo-upgrade --inventory "$INV" -p to=v1.1 --check
expect_rc 0 "upgrade: plan --check"
out_has "auto: yes"
out_has "\$ rapydo install --git auto"
check "upgrade: plan --check changed nothing" test "$d0" = "$(digest "$SB")"
not_called "rapydo remove"

rb run rapydo-upgrade --inventory "$INV" -p to=v1.1
expect_rc 0 "upgrade: clean run"
id=$(run_id)
check "upgrade: v1.1 is checked out" head_at "$V11"
check "upgrade: the controller is 0.6.7" controller_is 0.6.7
check "upgrade: backend runs" running myproject_backend_1
check "upgrade: postgres runs" running myproject_postgres_1
check "upgrade: on PostgreSQL 11.4" image_is myproject_postgres_1 postgres:11.4
check "upgrade: the backend of 0.6.7" image_is myproject_backend_1 rapydo/backend:0.6.7
check "upgrade: the submodules were initialized for 0.6.7" test "$(cat "$P/submodules/.initialized")" = 0.6.7
check "upgrade: the images were rebuilt" test -f "$SHIM_STATE/rapydo/images/myproject-0.6.7"
called "rapydo install --git auto"
called "rapydo update --rebuild"
not_called "pip3"
check "upgrade: the stack was removed before the checkout" \
	before_after "rapydo remove" "rapydo install --git auto"
check "upgrade: init, update, start in the seed's order" sh -c \
	'grep -xE "rapydo (init|update --rebuild|start)" "$1" | cut -d" " -f2 | tr "\n" " " |
		grep -qx "init update start "' \
	_ "$SHIM_STATE/calls.log"
check "upgrade: status says succeeded" state_is "$id" succeeded

# a controller older than 0.6.6: rapydo version, then install --git VERSION
fresh 0.6.5
rb run rapydo-upgrade --inventory "$INV" -p to=v1.1 -p update_main=no
expect_rc 0 "upgrade from controller 0.6.5: fallback install --git VERSION"
out_has "auto: no"
called "rapydo install --git 0.6.7"
not_called "rapydo install --git auto"
called "rapydo update -i main --rebuild"
check "fallback: the controller is 0.6.7" controller_is 0.6.7
check "fallback: v1.1 is checked out" head_at "$V11"
check "fallback: postgres runs" running myproject_postgres_1

# the other fallback: pip3 install --upgrade, then --git auto
fresh 0.6.5
rb run rapydo-upgrade --inventory "$INV" -p to=v1.1 -p fallback=pip
expect_rc 0 "upgrade from controller 0.6.5: fallback pip3"
called "pip3 install --upgrade rapydo-controller"
check "pip: install --git auto after pip3" \
	before_after "pip3 install --upgrade rapydo-controller" "rapydo install --git auto"
check "pip: the controller is 0.6.7 (not pip's 0.7.0)" controller_is 0.6.7
check "pip: backend runs" running myproject_backend_1

# PostgreSQL 10 data: postgres 11.4 stops, the hint names the remedy, and
# everything goes back to v1.0
fresh
echo 10 >"$V/myproject_sqldata/PG_VERSION"
rb run rapydo-upgrade --inventory "$INV" -p to=v1.1
expect_rc 1 "upgrade onto PostgreSQL 10 data: fails"
id=$(run_id)
out_has "database files are incompatible with server"
out_has "hint: the database in volume myproject_sqldata was created by PostgreSQL 10 and v1.1 runs \
PostgreSQL 11.4"
out_has "-p sessions_db=reset (the steps of runbook rapydo-reset-sql"
out_has "(runbook postgres-major-upgrade; https://www.postgresql.org/docs/11/upgrading.html)"
out_has "failed at wait-up; rolled back"
check "rollback: v1.0 is checked out again" head_at "$V10"
check "rollback: on branch master again" on_master
check "rollback: the controller is 0.6.6 again" controller_is 0.6.6
called "rapydo install --git 0.6.6"
check "rollback: the submodules are back on 0.6.6" test "$(cat "$P/submodules/.initialized")" = 0.6.6
check "rollback: backend runs" running myproject_backend_1
check "rollback: postgres runs" running myproject_postgres_1
check "rollback: on PostgreSQL 10.7" image_is myproject_postgres_1 postgres:10.7
check "rollback: the data is untouched" test "$(cat "$V/myproject_sqldata/PG_VERSION")" = 10
check "rollback: the data folder is still there" test -d "$V/myproject_sqldata/base"
check "rollback: status says rolled back" state_is "$id" "rolled back"
check "rollback: the work tree is clean" test -z "$(git -C "$P" status --porcelain)"

# the same, with -p sessions_db=reset: the database is made again on 11
fresh
echo 10 >"$V/myproject_sqldata/PG_VERSION"
rb run rapydo-upgrade --inventory "$INV" -p to=v1.1 -p sessions_db=reset
expect_rc 4 "sessions_db=reset: the destruction waits for a confirm"
id=$(run_id)
check "reset: paused with nothing destroyed" test -d "$V/myproject_sqldata/base"
rb resume "$id" --yes
expect_rc 0 "sessions_db=reset: resume --yes completes the upgrade"
check "reset: the new database is PostgreSQL 11's" test "$(cat "$V/myproject_sqldata/PG_VERSION")" = 11
check "reset: the old data is gone" test ! -e "$V/myproject_sqldata/base"
check "reset: restapi init ran" test -f "$V/myproject_sqldata/restapi-initialized"
check "reset: postgres runs" running myproject_postgres_1
check "reset: v1.1 is checked out" head_at "$V11"

# a failure after the reset: the previous version comes back on a new
# database of its own (the old data is gone: the rollback says so)
fresh
echo 10 >"$V/myproject_sqldata/PG_VERSION"
rb run rapydo-upgrade --inventory "$INV" -p to=v1.1 -p sessions_db=reset
id=$(run_id)
inject "failonce docker*ps*-a*"
rb resume "$id" --yes
expect_rc 1 "reset then a failure: rolled back"
out_has "The old database of myproject was destroyed and cannot come back"
check "reset rollback: v1.0 is checked out" head_at "$V10"
check "reset rollback: the controller is 0.6.6" controller_is 0.6.6
check "reset rollback: a new database of PostgreSQL 10" test "$(cat "$V/myproject_sqldata/PG_VERSION")" = 10
check "reset rollback: (not the old one)" test ! -e "$V/myproject_sqldata/base"
check "reset rollback: postgres runs on 10.7" image_is myproject_postgres_1 postgres:10.7
check "reset rollback: postgres runs" running myproject_postgres_1
check "reset rollback: backend runs" running myproject_backend_1
uninject

# kill during rapydo start, then resume
fresh
inject "hang rapydo*start"
run_until_hang run rapydo-upgrade --inventory "$INV" -p to=v1.1
check "kill: runbook was killed" test "$rc" = 137
id=$(run_id)
check "kill: the new stack is not up" absent myproject_backend_1
uninject
rb resume "$id"
expect_rc 0 "kill: resume completes the upgrade"
check "kill: rapydo start ran again (twice in all)" test "$(ncalls "rapydo start")" = 2
check "kill: remove was not run again" test "$(ncalls "rapydo remove")" = 1
check "kill: v1.1 is checked out" head_at "$V11"
check "kill: the controller is 0.6.7" controller_is 0.6.7
check "kill: backend runs" running myproject_backend_1
check "kill: postgres runs on 11.4" image_is myproject_postgres_1 postgres:11.4
check "kill: status says succeeded" state_is "$id" succeeded

## rapydo-production ########################################################

fresh
cp "$P/.projectrc" "$T/projectrc.before"
d0=$(digest "$SB")
rb plan rapydo-production --inventory "$INV" --check
expect_rc 0 "production: plan --check"
out_has "mode line: mode: debug"
check "production: plan --check changed nothing" test "$d0" = "$(digest "$SB")"

rb run rapydo-production --inventory "$INV"
expect_rc 0 "production: clean run"
check "production: .projectrc says mode: production" grep -qx 'mode: production' "$P/.projectrc"
check "production: .projectrc has no mode: debug left" \
	sh -c '! grep -q "^mode: debug" "$1"' _ "$P/.projectrc"
called "rapydo --mode production start"
check "production: the proxy runs" running myproject_proxy_1
check "production: backend runs" running myproject_backend_1
out_has "myproject_proxy_1 rapydo/proxy:0.6.6 Up"

# a failed production start: .projectrc and the debug stack come back
fresh
cp "$P/.projectrc" "$T/projectrc.before"
inject "failonce rapydo*--mode*production*start"
rb run rapydo-production --inventory "$INV"
expect_rc 1 "production: the start fails"
out_has "rolled back"
check "production rollback: .projectrc is byte-identical" cmp "$T/projectrc.before" "$P/.projectrc"
check "production rollback: no proxy" absent myproject_proxy_1
check "production rollback: backend runs again" running myproject_backend_1
check "production rollback: postgres runs again" running myproject_postgres_1

# a .projectrc without a mode line, and a failure after the start
fresh
sed -i '/^mode:/d' "$P/.projectrc"
prj rapydo start >/dev/null
cp "$P/.projectrc" "$T/projectrc.before"
uninject
inject "fail docker*ps*proxy*--format*"
rb run rapydo-production --inventory "$INV"
expect_rc 1 "production without a mode line: the proxy check fails"
called "rapydo --mode production start"
check "no mode line: .projectrc is byte-identical (no mode line)" cmp "$T/projectrc.before" "$P/.projectrc"
check "no mode line: no proxy" absent myproject_proxy_1
check "no mode line: backend runs again" running myproject_backend_1
uninject

## rapydo-ssl ###############################################################

fresh
rb run rapydo-ssl --inventory "$INV"
expect_rc 5 "ssl in debug mode: preconditions refuse"
out_has "switch first (runbook rapydo-production)"
out_has "the proxy container does not run"
not_called "crontab"
# production mode, as rapydo-production leaves it
sed -i 's/^mode: debug$/mode: production/' "$P/.projectrc"
prj rapydo remove >/dev/null
prj rapydo start >/dev/null
mkdir -p "$SHIM_STATE/crontabs"
CT=$SHIM_STATE/crontabs/$(id -un)
printf '%s\n' "30 2 * * * /usr/local/bin/backup >/dev/null" >"$CT"
cp "$CT" "$T/crontab.before"
CRONLINE="0 0 * * 1 cd $P && COMPOSE_INTERACTIVE_NO_CLI=1 $TOP/tests/shims/rapydo ssl-certificate"
CRONLINE="$CRONLINE --no-tty > $SB/home/cron.log 2>&1"
CERT=$V/myproject_ssl_certs/real/fullchain1.pem
d0=$(digest "$SB")
rb plan rapydo-ssl --inventory "$INV" --check
expect_rc 0 "ssl: plan --check"
out_has "no certificate yet"
check "ssl: plan --check changed nothing" test "$d0" = "$(digest "$SB")"

rb run rapydo-ssl --inventory "$INV"
expect_rc 0 "ssl: clean run"
called "rapydo ssl-certificate --no-tty"
check "ssl: the certificate exists" test -s "$CERT"
check "ssl: it is for the hostname" \
	sh -c 'openssl x509 -in "$1" -noout -subject | grep -q "CN *= *myproject.example.org"' _ "$CERT"
check "ssl: it lasts more than 30 days" openssl x509 -in "$CERT" -noout -checkend 2592000
check "ssl: the crontab has the seed's entry" grep -qxF -- "$CRONLINE" "$CT"
check "ssl: the other entry is kept, first" test "$(head -n 1 "$CT")" = "$(cat "$T/crontab.before")"
check "ssl: the crontab has two lines" test "$(wc -l <"$CT")" = 2
out_has "Hostname myproject.example.org does match certificate"

rb run rapydo-ssl --inventory "$INV"
expect_rc 0 "ssl: a second run (renewal)"
out_has "cron: present"
out_has "Renewing the certificate for myproject.example.org"
check "ssl: the entry is there once" test "$(grep -cxF -- "$CRONLINE" "$CT")" = 1

# the entry, as cron runs it: no terminal, a bare environment
job=$(grep -F ssl-certificate "$CT" | cut -d' ' -f6-)
env -i HOME="$SB/home" SHIM_STATE="$SHIM_STATE" PATH=/usr/bin:/bin sh -c "$job" </dev/null
check "ssl: the crontab entry works from cron's environment" test $? = 0
check "ssl: the entry wrote its log" grep -q "Renewing the certificate" "$SB/home/cron.log"

# a failed request removes the entry this run added, and only it
cp "$T/crontab.before" "$CT"
inject "fail rapydo*ssl-certificate*"
rb run rapydo-ssl --inventory "$INV"
expect_rc 1 "ssl: the request fails"
out_has "rolled back"
check "ssl rollback: the crontab is as before" cmp "$T/crontab.before" "$CT"
rm -f "$CT"
rb run rapydo-ssl --inventory "$INV"
expect_rc 1 "ssl without a crontab: the request fails"
check "ssl rollback: still no crontab" test ! -e "$CT"
printf '%s\n' "$CRONLINE" >"$CT"
rb run rapydo-ssl --inventory "$INV"
expect_rc 1 "ssl with the entry already there: the request fails"
check "ssl rollback: an entry that was there before is kept" grep -qxF -- "$CRONLINE" "$CT"
uninject

## rapydo-reset-sql #########################################################

# the situation of the seed's known issue: v1.1 on PostgreSQL 11.4, data of 10
fresh
echo 10 >"$V/myproject_sqldata/PG_VERSION"
prj sh -c 'rapydo remove && git fetch -q && git checkout -q v1.1 && rapydo install --git auto &&
	rapydo init && rapydo start' >/dev/null 2>&1
check "reset-sql setup: postgres stopped on the old data" \
	test "$(cat "$C/myproject_postgres_1/state")" = exited
rm -f "$SHIM_STATE/calls.log"
d0=$(digest "$SB")
rb plan rapydo-reset-sql --inventory "$INV" --check
expect_rc 0 "reset-sql: plan --check"
out_has "volume: myproject_sqldata"
check "reset-sql: plan --check changed nothing" test "$d0" = "$(digest "$SB")"
rb run rapydo-reset-sql --inventory "$INV"
expect_rc 4 "reset-sql without --yes: paused at the confirm"
id=$(run_id)
out_has "Destroy the volume myproject_sqldata"
check "reset-sql paused: nothing changed" test "$d0" = "$(digest "$SB")"
not_called "docker volume rm"
not_called "rapydo remove"

rb resume "$id" --yes
expect_rc 0 "reset-sql: resume --yes"
called "docker volume rm myproject_sqldata"
called "rapydo shell backend --command restapi init"
check "reset-sql: the database is new (PostgreSQL 11)" test "$(cat "$V/myproject_sqldata/PG_VERSION")" = 11
check "reset-sql: the old data is gone" test ! -e "$V/myproject_sqldata/base"
check "reset-sql: restapi init ran" test -f "$V/myproject_sqldata/restapi-initialized"
check "reset-sql: postgres runs" running myproject_postgres_1
check "reset-sql: backend runs" running myproject_backend_1
check "reset-sql: status says succeeded" state_is "$id" succeeded

# a failed volume rm: the stack comes back, the data is untouched
fresh
inject "fail docker*volume*rm*"
rb run rapydo-reset-sql --inventory "$INV" --yes
expect_rc 1 "reset-sql: the volume rm fails"
out_has "rolled back"
check "reset-sql rollback: the data is untouched" test -d "$V/myproject_sqldata/base"
check "reset-sql rollback: backend runs again" running myproject_backend_1
check "reset-sql rollback: postgres runs again" running myproject_postgres_1
uninject
