#!/bin/sh
# tests/demo/toy.sh — the first demo: a toy service upgraded by
# runbooks/demo-upgrade.yml (run by t0950; `sh tests/demo/toy.sh` to watch).
#
# Builds a throw-away sandbox with a toy service (release 1.0, a `current`
# symlink, start/stop/status/health scripts), starts it, upgrades it to 2.0
# with the demo-upgrade runbook, shows the result, then stops the service
# and removes the sandbox.  KEEP=1 keeps the sandbox (and the run's logs)
# for a look around; the toy service is stopped either way.
# Exits with the runbook's exit code.
set -u
cd "$(dirname "$0")/../.." || exit 2
RUNBOOK=${RUNBOOK:-build/runbook}
[ -x "$RUNBOOK" ] || { echo "demo: $RUNBOOK is missing: run 'make' first" >&2; exit 2; }

sandbox=$(mktemp -d "${TMPDIR:-/tmp}/runbook-demo.XXXXXX") || exit 2
cleanup() {
	"$sandbox/bin/stop" >/dev/null 2>&1
	if [ "${KEEP:-0}" = 1 ]; then
		echo "demo: kept $sandbox (stop the service with $sandbox/bin/stop if you start it again)"
	else
		rm -rf "$sandbox"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
else
	say() { printf '\n### %s\n' "$*"; }
fi

# --- the toy service ------------------------------------------------------
mkdir -p "$sandbox/releases/1.0" "$sandbox/bin" "$sandbox/run" "$sandbox/logs"

# The "server": announces its version and pid, reads its config, becomes
# ready after a moment (so the runbook has to wait), runs until TERM.
cat >"$sandbox/releases/1.0/server.sh" <<'EOF'
#!/bin/sh
root=$1
here=$(cd -P "$(dirname "$0")" && pwd -P)
version=$(cat "$here/VERSION")
log() { echo "$(date +%T) [$version] $*"; }
echo $$ >"$root/run/server.pid"
echo "$version" >"$root/run/version"
trap 'rm -f "$root/run/server.pid" "$root/run/ready"; log "stopping"; exit 0' TERM INT
log "starting, pid $$"
workers=$(sed -n 's/^workers=//p' "$here/config")
if [ -n "$workers" ] && [ "${version%%.*}" -ge 2 ]; then
	log "WARN config key 'workers' is deprecated, use 'threads'"
fi
sleep 1
touch "$root/run/ready"
log "ready, $workers workers"
while :; do sleep 1 & wait $!; done
EOF
echo 1.0 >"$sandbox/releases/1.0/VERSION"
echo workers=4 >"$sandbox/releases/1.0/config"
chmod +x "$sandbox/releases/1.0/server.sh"
ln -s releases/1.0 "$sandbox/current"

cat >"$sandbox/bin/start" <<'EOF'
#!/bin/sh
# Starts the release that `current` points to, in the background.
root=$(cd "$(dirname "$0")/.." && pwd)
pid=$(cat "$root/run/server.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
	echo "already running (pid $pid)"
	exit 0
fi
[ -f "$root/logs/server.log" ] && mv "$root/logs/server.log" "$root/logs/server.log.1"
nohup "$root/current/server.sh" "$root" >"$root/logs/server.log" 2>&1 </dev/null &
echo "started $(readlink "$root/current") (pid $!)"
EOF
cat >"$sandbox/bin/stop" <<'EOF'
#!/bin/sh
# Stops the server and waits until it is gone.
root=$(cd "$(dirname "$0")/.." && pwd)
pid=$(cat "$root/run/server.pid" 2>/dev/null)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
	echo "not running"
	exit 0
fi
kill "$pid"
# gone: the server removes its pid file on the way out (an exited process
# may linger as a zombie for a moment, and kill -0 still sees that)
i=0
while [ -e "$root/run/server.pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ -e "$root/run/server.pid" ] && kill -0 "$pid" 2>/dev/null; then
	echo "pid $pid did not stop" >&2
	exit 1
fi
echo "stopped (pid $pid)"
EOF
cat >"$sandbox/bin/status" <<'EOF'
#!/bin/sh
# Exit 0 and "running version X (pid N)" when the server runs, else 3.
root=$(cd "$(dirname "$0")/.." && pwd)
pid=$(cat "$root/run/server.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
	echo "running version $(cat "$root/run/version") (pid $pid)"
	exit 0
fi
echo "stopped"
exit 3
EOF
cat >"$sandbox/bin/health" <<'EOF'
#!/bin/sh
# What a load balancer would poll: "status: ok" once the server is ready.
root=$(cd "$(dirname "$0")/.." && pwd)
pid=$(cat "$root/run/server.pid" 2>/dev/null)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
	echo "status: down"
	exit 1
fi
if [ ! -e "$root/run/ready" ]; then
	echo "status: starting"
	exit 1
fi
echo "status: ok version $(cat "$root/run/version")"
EOF
chmod +x "$sandbox/bin/"*

"$sandbox/bin/start" >/dev/null
i=0
until "$sandbox/bin/health" >/dev/null 2>&1 || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done

say "a sandbox with a toy service: $sandbox"
echo "current -> $(readlink "$sandbox/current")"
"$sandbox/bin/status"

# --- the upgrade ------------------------------------------------------------
# By name: `demo-upgrade` is found in ./runbooks.  The run's state goes to
# the sandbox so that the demo leaves nothing behind.
cmd="runbook run demo-upgrade -p sandbox=$sandbox -p to=2.0 --yes"
say "$cmd"
$RUNBOOK --state-dir "$sandbox/state" run demo-upgrade -p sandbox="$sandbox" -p to=2.0 --yes
code=$?

# --- the result -------------------------------------------------------------
say "afterwards (runbook exited $code)"
echo "current -> $(readlink "$sandbox/current")"
"$sandbox/bin/status"
echo "history.log: $(cat "$sandbox/history.log" 2>/dev/null)"
logs=$(ls -d "$sandbox"/state/runs/*/logs 2>/dev/null | head -n 1)
if [ -n "$logs" ]; then
	say "one step log: $(basename "$(ls "$logs"/*wait-healthy* | head -n 1)")"
	cat "$logs"/*wait-healthy*
fi
exit $code
