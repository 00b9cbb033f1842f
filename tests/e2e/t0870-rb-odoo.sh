#!/bin/sh
# t0870 — runbooks/odoo-upgrade.yml against tests/sandbox/odoo-upgrade.sh:
# real git repositories (the project and the platform project, each a bare
# origin + the operator's clone; the project's origin "builds" an image when
# a tag is pushed), a real PostgreSQL (socket only) reached through the
# docker shim's `docker exec … psql`, shims for invoke and rancher-compose,
# and a fake Odoo status page on 127.0.0.1 that answers from the stacks'
# state.
#   - a clean run on integration with recreate_db=yes: release 10.2.0
#     committed, tagged, pushed; the platform's compose file committed and
#     pushed; the database recreated empty; the stack runs 10.2.0
#   - a clean run on prod (patch): 10.1.1; no database is touched (calls.log,
#     and the databases keep their rows); recreate_db=yes on prod is refused
#   - a database name that contains the client's name is refused before
#     anything runs (a precondition: exit 5); bad params: exit 2
#   - a failure injected at the stack upgrade: everything is rolled back (no
#     tag anywhere, masters back, files back, the stack still on 10.1.0)
#   - a new version that never gets healthy: the rollback deploys 10.1.0
#     again and waits for it
#   - a kill during the upgrade, then resume: the run completes, nothing is
#     done twice
#   - plan --check changes nothing
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"
RBK="$TOP/runbooks/odoo-upgrade.yml"
IMG=camptocamp/fluxdock_odoo
DBI=mighty_pinguin_l337_integration
DBP=mighty_pinguin_l337

# --- a real PostgreSQL, socket only (it refuses to run as root) ---------------
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/rbpg.XXXXXX")
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	runuser -u postgres -- pg_ctl -D "$pgdir/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$pgdir" "$T"
}
trap cleanup EXIT
mkdir -p "$pgdir/sock"
chown -R postgres "$pgdir"
runuser -u postgres -- initdb -D "$pgdir/data" -A trust -U postgres >"$pgdir/initdb.log" 2>&1 ||
	{ echo "Bail out! initdb failed"; cat "$pgdir/initdb.log"; exit 1; }
runuser -u postgres -- pg_ctl -D "$pgdir/data" -l "$pgdir/log" -w \
	-o "-c listen_addresses='' -k $pgdir/sock" start >/dev/null 2>&1 ||
	{ echo "Bail out! PostgreSQL did not start"; cat "$pgdir/log"; exit 1; }
pg() { psql -h "$pgdir/sock" -U postgres -X -q -At -v ON_ERROR_STOP=1 "$@" 2>&1; }
pg -c "CREATE ROLE $DBI LOGIN" -c "CREATE ROLE $DBP LOGIN" >/dev/null

# --- the fake Odoo status pages: /STACK/monitoring/status ---------------------
cat >"$T/health.py" <<'EOF'
import os, sys
sys.path.insert(0, sys.argv[3])
import httpd
portfile, state = sys.argv[1], sys.argv[2]
def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default
class H(httpd.Handler):
    def do_GET(self):
        d = os.path.join(state, "rancher", self.path.split("/")[1])
        st, image = read(d + "/state"), read(d + "/image")
        if not st:
            return self.answer(404, "no such stack\n")
        if st != "active":
            return self.answer(502, "Bad Gateway\n")
        warm = int(read(d + "/warmup", "0") or 0)
        if warm > 0:
            with open(d + "/warmup", "w") as f:
                f.write(str(warm - 1))
            return self.answer(503, "Odoo is starting\n")
        if image in read(os.path.join(state, "unhealthy")).split():
            return self.answer(500, '{"status": 0}\n')
        return self.answer(200, '{"status": 1}\n')
httpd.serve(H, portfile)
EOF
python3 "$T/health.py" "$T/port" "$T/sb/shim" "$TOP/tests" &
srv_pid=$!
wait_for "$T/port" || { echo "Bail out! the health server did not start"; exit 1; }
hport=$(cat "$T/port")

# fresh: a new sandbox, both inventories, both databases with two rows each
fresh() {
	rm -rf "$T/sb" "$T/state"
	sandbox odoo-upgrade
	ln -s "$pgdir/sock" "$SB/pgsock"
	for e in integration prod; do
		sed -e "s|@SB@|$SB|g" -e "s|@TOP@|$TOP|g" -e "s|@HTTPPORT@|$hport|g" \
			"$TOP/tests/sandbox/odoo-$e.yml" >"$SB/$e.yml"
	done
	INVI="$SB/integration.yml" INVP="$SB/prod.yml"
	for db in $DBI $DBP; do
		pg -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db OWNER $db" >/dev/null
		pg -d $db -c "CREATE TABLE res_partner (id int)" -c "INSERT INTO res_partner VALUES (1), (2)" >/dev/null
	done
	P="$SB/work/fluxdock" PF="$SB/work/platform" ST="$SB/shim/rancher"
	p0=$(git -C "$P" rev-parse HEAD) pf0=$(git -C "$PF" rev-parse HEAD)
}
rev() { git -C "$1" rev-parse -q --verify "$2" 2>/dev/null; }
image_in() { awk '$1 == "image:" { print $2; exit }' "$1"; }
rows() { pg -d "$1" -c "select count(*) from res_partner"; }
stack_is() { test "$(cat "$ST/$1/image")" = "$IMG:$2" && test "$(cat "$ST/$1/state")" = active; }
# what the sandbox holds, but git's index (a status refreshes it) and calls.log
state_digest() { digest "$SB" | grep -v '/\.git/index '; }

# --- 1. integration, the database recreated ---------------------------------
fresh
rb run "$RBK" --inventory "$INVI" -p recreate_db=yes --yes
expect_rc 0 "integration: a clean run with recreate_db=yes"
out_has "summary: succeeded"
check "the release is 10.2.0" test "$(cat "$P/odoo/VERSION")" = 10.2.0
check "it is committed as 'Release 10.2.0'" test "$(git -C "$P" log -1 --format=%s)" = "Release 10.2.0"
check "the release commit holds the bumped compose file" \
	sh -c 'git -C "$1" show HEAD:rancher/integration/docker-compose.yml | grep -q "fluxdock_odoo:10.2.0"' _ "$P"
check "HISTORY.rst has the release's section" grep -q '^10\.2\.0 (' "$P/HISTORY.rst"
check "the work tree is clean" test -z "$(git -C "$P" status --porcelain)"
check "the tag is annotated" test "$(git -C "$P" cat-file -t refs/tags/10.2.0)" = tag
check "the tag's message has the HISTORY section" \
	sh -c 'git -C "$1" tag -l --format="%(contents)" 10.2.0 | grep -q "Invoice layout with the new logo"' _ "$P"
check "the origin has the tag" test "$(rev "$SB/git/fluxdock.git" refs/tags/10.2.0)" = "$(rev "$P" refs/tags/10.2.0)"
check "the origin's master is the release" test "$(rev "$SB/git/fluxdock.git" master)" = "$(rev "$P" HEAD)"
check "Travis built the image" grep -qx "$IMG:10.2.0" "$SB/shim/registry"
check "the platform's integration compose file says 10.2.0" \
	test "$(image_in "$PF/fluxdock-odoo-integration/docker-compose.yml")" = "$IMG:10.2.0"
check "the prod compose file is untouched" test "$(image_in "$PF/fluxdock-odoo-prod/docker-compose.yml")" = "$IMG:10.1.0"
check "the platform commit" test "$(git -C "$PF" log -1 --format=%s)" = "fluxdock-odoo-integration: upgrade to 10.2.0"
check "the platform's origin has it" test "$(rev "$SB/git/platform.git" master)" = "$(rev "$PF" HEAD)"
check "the integration stack runs 10.2.0" stack_is fluxdock-odoo-integration 10.2.0
check "deployed once by the run" test "$(cat "$ST/fluxdock-odoo-integration/deploys")" = 2
check "the prod stack is untouched" stack_is fluxdock-odoo-prod 10.1.0
check "the integration database exists, owned by its role" \
	test "$(pg -c "select pg_get_userbyid(datdba) from pg_database where datname = '$DBI'")" = $DBI
check "the integration database is empty (recreated)" \
	test "$(pg -d $DBI -c "select count(*) from pg_tables where tablename = 'res_partner'")" = 0
check "the prod database keeps its rows" test "$(rows $DBP)" = 2
called "invoke release.bump --feature"
called "psql -U postgres -X -v ON_ERROR_STOP=1 -c DROP DATABASE $DBI"
called "CREATE DATABASE $DBI OWNER $DBI"
called "rancher-compose -p fluxdock-odoo-integration stop odoo"
called "rancher-compose -p fluxdock-odoo-integration up --pull --recreate --confirm-upgrade -d"
not_called "fluxdock-odoo-prod"
out_has "odoo/migration.yml has a section for 10.2.0"
id1=$(run_id)
rb status "$id1"
out_has "succeeded"

# --- 2. prod: a patch release, no database step ------------------------------
fresh
rb run "$RBK" --inventory "$INVP" -p bump=patch --yes
expect_rc 0 "prod: a clean run (patch)"
check "the release is 10.1.1" test "$(cat "$P/odoo/VERSION")" = 10.1.1
check "the origin has the tag 10.1.1" test -n "$(rev "$SB/git/fluxdock.git" refs/tags/10.1.1)"
check "the prod compose file says 10.1.1" test "$(image_in "$PF/fluxdock-odoo-prod/docker-compose.yml")" = "$IMG:10.1.1"
check "the prod stack runs 10.1.1" stack_is fluxdock-odoo-prod 10.1.1
check "the integration stack is untouched" stack_is fluxdock-odoo-integration 10.1.0
not_called "DROP DATABASE"
not_called "CREATE DATABASE"
not_called "docker exec"
not_called "stop odoo"
check "the prod database keeps its rows" test "$(rows $DBP)" = 2
check "the integration database keeps its rows" test "$(rows $DBI)" = 2
out_has "recreate the integration database … skipped"

# prod with recreate_db=yes: refused before anything runs
fresh
before=$(state_digest)
rb run "$RBK" --inventory "$INVP" -p recreate_db=yes --yes
expect_rc 5 "prod: recreate_db=yes is refused by a precondition"
out_has "a production database is never dropped"
check "nothing ran" test ! -s "$SB/shim/calls.log"
check "nothing changed" test "$(state_digest)" = "$before"
check "the prod database keeps its rows" test "$(rows $DBP)" = 2

# --- 3. guards on the database name ----------------------------------------
rb run "$RBK" --inventory "$INVI" -p db_name=fluxdock_integration -p recreate_db=yes --yes
expect_rc 5 "a database name that contains the client's name is refused"
out_has "fluxdock_integration contains the client's name (fluxdock)"
rb run "$RBK" --inventory "$INVI" -p client=Mighty-Pinguin --yes
expect_rc 5 "a part of the client's name in the database name is refused too"
out_has "contains the client's name (Mighty-Pinguin)"
rb run "$RBK" --inventory "$INVI" -p db_name=flux_dock_x_integration --yes
expect_rc 5 "the client's name split by separators in the database name is refused too"
out_has "flux_dock_x_integration contains the client's name (fluxdock)"
rb run "$RBK" --inventory "$INVI" -p db_name=mighty_pinguin_l337 -p recreate_db=yes --yes
expect_rc 5 "an integration run on a database without _integration is refused"
out_has "does not fit env=integration"
rb run "$RBK" --inventory "$INVP" -p db_name=$DBI --yes
expect_rc 5 "a prod run on an _integration database is refused"
check "nothing ran" test ! -s "$SB/shim/calls.log"
check "nothing changed" test "$(state_digest)" = "$before"
rb run "$RBK" --inventory "$INVI" -p db_name='Bad;Name' -p env=staging --yes
expect_rc 2 "bad params are refused (exit 2)"
err_has "'Bad;Name' does not match the pattern"
err_has "staging"
check "nothing ran" test ! -s "$SB/shim/calls.log"
check "the databases keep their rows" test "$(rows $DBI):$(rows $DBP)" = 2:2

# --- 4. a failure at the stack upgrade: rolled back ---------------------------
fresh
history0=$(md5sum <"$P/HISTORY.rst")
inject "failonce rancher-compose*up*--pull*"
rb run "$RBK" --inventory "$INVI" --yes
expect_rc 1 "integration: a failure at the upgrade"
out_has "rolled back"
check "the project's HEAD is back" test "$(rev "$P" HEAD)" = "$p0"
check "odoo/VERSION is back to 10.1.0" test "$(cat "$P/odoo/VERSION")" = 10.1.0
check "HISTORY.rst is back" test "$(md5sum <"$P/HISTORY.rst")" = "$history0"
check "the project's work tree is clean" test -z "$(git -C "$P" status --porcelain)"
check "no local tag" test -z "$(rev "$P" refs/tags/10.2.0)"
check "no tag on the origin" test -z "$(rev "$SB/git/fluxdock.git" refs/tags/10.2.0)"
check "the origin's master is back" test "$(rev "$SB/git/fluxdock.git" master)" = "$p0"
check "the compose file is back to 10.1.0" \
	test "$(image_in "$PF/fluxdock-odoo-integration/docker-compose.yml")" = "$IMG:10.1.0"
check "the platform's HEAD is back" test "$(rev "$PF" HEAD)" = "$pf0"
check "the platform's origin is back" test "$(rev "$SB/git/platform.git" master)" = "$pf0"
check "the platform's work tree is clean" test -z "$(git -C "$PF" status --porcelain)"
check "the stack still runs 10.1.0" stack_is fluxdock-odoo-integration 10.1.0
check "it was not deployed again" test "$(cat "$ST/fluxdock-odoo-integration/deploys")" = 1
out_has "runs $IMG:10.1.0: nothing to deploy again"
check "the database was not touched" test "$(rows $DBI)" = 2

# --- 5. the new version never gets healthy: the previous one comes back -------
fresh
echo "$IMG:10.2.0" >"$SB/shim/unhealthy"
rb run "$RBK" --inventory "$INVI" -p recreate_db=yes -p health_timeout=3 --yes
expect_rc 1 "integration: the new version never answers"
out_has "did not answer as expected within 3 s"
check "the stack runs 10.1.0 again" stack_is fluxdock-odoo-integration 10.1.0
check "deployed twice: the upgrade, then the previous version" \
	test "$(cat "$ST/fluxdock-odoo-integration/deploys")" = 3
called "rancher-compose -p fluxdock-odoo-integration start odoo"
check "the compose file is back to 10.1.0" \
	test "$(image_in "$PF/fluxdock-odoo-integration/docker-compose.yml")" = "$IMG:10.1.0"
check "the platform's origin is back" test "$(rev "$SB/git/platform.git" master)" = "$pf0"
check "no tag on the origin" test -z "$(rev "$SB/git/fluxdock.git" refs/tags/10.2.0)"
out_has "stays dropped"
check "the recreated database stays (empty)" \
	test "$(pg -c "select count(*) from pg_database where datname = '$DBI'")" = 1

# --- 6. killed during the upgrade, then resumed --------------------------------
fresh
inject "hang rancher-compose*up*--pull*"
run_until_hang --wait 60 run "$RBK" --inventory "$INVI" --yes
expect_rc 137 "integration: killed during the stack upgrade"
id6=$(run_id)
uninject
check "the stack was not upgraded yet" stack_is fluxdock-odoo-integration 10.1.0
rb resume "$id6" --yes
expect_rc 0 "resume completes the run"
check "the stack runs 10.2.0" stack_is fluxdock-odoo-integration 10.2.0
check "the origin has the tag" test -n "$(rev "$SB/git/fluxdock.git" refs/tags/10.2.0)"
check "the bump ran once" test "$(grep -c '^invoke release.bump' "$SB/shim/calls.log")" = 1
check "one tag, one release commit" test "$(git -C "$P" rev-list --count "$p0..HEAD")" = 1
check "one platform commit" test "$(git -C "$PF" rev-list --count "$pf0..HEAD")" = 1
rb status "$id6"
out_has "succeeded"

# --- 7. plan changes nothing -------------------------------------------------
fresh
before=$(state_digest)
rb plan "$RBK" --inventory "$INVI" -p recreate_db=yes --check
expect_rc 0 "plan --check: the preconditions and probes pass"
out_has "DROP DATABASE $DBI"
out_has "up --pull --recreate --confirm-upgrade -d"
check "plan --check changed nothing" test "$(state_digest)" = "$before"
not_called "invoke"
not_called "rancher-compose"
check "the databases keep their rows" test "$(rows $DBI):$(rows $DBP)" = 2:2
rb plan "$RBK" --inventory "$INVP"
expect_rc 0 "plan: prod"
check "plan changed nothing" test "$(state_digest)" = "$before"

# --- the runbook and its example inventories ---------------------------------
"$RUNBOOK" lint --strict "$RBK" >"$out" 2>"$err"
rc=$?
expect_rc 0 "lint --strict runbooks/odoo-upgrade.yml"
for e in integration prod; do
	rb plan "$RBK" --inventory "$TOP/runbooks/inventories/odoo-$e.yml"
	expect_rc 0 "the example inventory odoo-$e.yml plans"
done
