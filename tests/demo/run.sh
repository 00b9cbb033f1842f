#!/bin/sh
# tests/demo/run.sh — what `make demo` runs: the Pryv.io upgrade of
# runbooks/pryv-upgrade.yml (the seed procedure "Mise à jour plateforme
# pryv.addmin.com") on a sandbox that plays the Pryv.io server, the whole
# story of a maintenance window in one command:
#
#   1. the day before: `runbook plan --check` previews the run, reading
#      the server (nothing changes);
#   2. the window: the new core never gets healthy — the run fails and
#      rolls back, newest first, to the running 1.5 ("in case of failure");
#   3. the fix: the run again, which upgrades to 1.6.
#
# The sandbox is tests/sandbox/pryv.sh's: /var/pryv -> /var/pryv1.5 and
# the release 1.6 unpacked beside it, under a temporary folder, with the
# commands a test machine cannot have (docker, docker-compose, mongodump,
# mongorestore) replaced by the shims of tests/shims, which keep the
# containers' and the database's state in the sandbox.  The runbook is the
# real one; only the inventory (tests/sandbox/pryv.yml) points it there.
# KEEP=1 keeps the sandbox and the runs' logs.  Exits with the last run's
# exit code.
set -u
cd "$(dirname "$0")/../.." || exit 2
TOP=$(pwd)
RUNBOOK=${RUNBOOK:-build/runbook}
case $RUNBOOK in /*) ;; *) RUNBOOK=$TOP/$RUNBOOK ;; esac
[ -x "$RUNBOOK" ] || { echo "demo: $RUNBOOK is missing: run 'make' first" >&2; exit 2; }

SB=$(mktemp -d "${TMPDIR:-/tmp}/runbook-demo.XXXXXX") || exit 2
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then echo "demo: kept $SB"; else rm -rf "$SB"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
else
	say() { printf '\n### %s\n' "$*"; }
fi

sh tests/sandbox/pryv.sh "$SB" || { echo "demo: the sandbox could not be built" >&2; exit 2; }
INV=$SB/inventory.yml
sed -e "s|@SB@|$SB|g" -e "s|@TOP@|$TOP|g" tests/sandbox/pryv.yml >"$INV"
export SHIM_STATE="$SB/shim"
docker() { PATH="$TOP/tests/shims:$PATH" command docker "$@"; }
state() {
	echo "/var/pryv -> $(readlink "$SB/var/pryv" | sed "s|^$SB||")"
	docker ps --format '{{.Names}} {{.Status}}' | sed 's/^/  container /'
	for c in "$SB"/var/pryv/pryv/mongodb/data/pryv-node/*.json; do
		echo "  pryv-node.$(basename "$c" .json): $(wc -l <"$c") documents"
	done
}
rb() {
	echo "\$ runbook $*"
	"$RUNBOOK" --state-dir "$SB/state" "$@" --inventory "$INV" -p to=1.6 -p date=2021-06-02
}

say "a Pryv.io 1.5 server (sandbox $SB)"
state

say "the day before: what would the upgrade do? (reads the server, changes nothing)"
# the checks it ran, then the plan's last line (the plan itself lists
# every command of the 32 steps: runbook plan pryv-upgrade ... to read it)
rb plan pryv-upgrade --check >"$SB/plan.txt"
code=$?
sed -n '1,/ — plan for target /p' "$SB/plan.txt" | sed '$d'
echo "[... the plan of every step, in $SB/plan.txt (KEEP=1 keeps it) ...]"
tail -n 1 "$SB/plan.txt"
echo "(runbook plan exited $code)"

say "the window: the new core does not get healthy (injected), so the run rolls back"
echo "1 unhealthy" >"$SB/shim/containers/pryvio_core/healthcheck"
rb run pryv-upgrade -p health_timeout=2
say "after the rollback (runbook exited $?)"
state

say "the core fixed: the upgrade again"
echo "1 healthy" >"$SB/shim/containers/pryvio_core/healthcheck"
rb run pryv-upgrade
code=$?
say "afterwards (runbook exited $code)"
state
say "the runs: runbook status"
"$RUNBOOK" --state-dir "$SB/state" status
exit $code
