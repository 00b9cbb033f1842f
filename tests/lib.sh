# tests/lib.sh — sourced by every end-to-end test (tests/e2e/tNNNN-*.sh).
#
# Each test script prints TAP-style lines, "ok N - what" or
# "not ok N - what", and exits 0; tests/run.sh counts them.  Helpers:
#   rb ARGS...           run build/runbook; sets $rc, and $out/$err (files)
#   check "what" CMD...  one assertion: passes when CMD exits 0
#   expect_rc N "what"   the last rb exited N
#   out_has TEXT / err_has TEXT / out_lacks TEXT / err_lacks TEXT
#   gone PID / group_gone PGID   a process (group) has ended
#   free_port [ADDR]     a free TCP port on ADDR (default 127.0.0.1)
#   wait_for FILE [TEXT] up to ~20 s for FILE to be non-empty, or to hold
#                        TEXT (a wait, not a timing assertion)
#   start ARGS / finish  the binary in the background ($bgpid), then its
#                        exit code in $rc ("hung" after ~30 s)
#   run_id               the run id on the first line of the last output
#   plain_binary         neither wrapped (valgrind) nor sanitized: memory
#                        bounds apply
# Every script gets its own sandbox $T (removed at exit) and state dir.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
RUNBOOK=${RUNBOOK:-$TOP/build/runbook}
T=$(mktemp -d "${TMPDIR:-/tmp}/rbtest.XXXXXX")
trap 'rm -rf "$T"' EXIT
export RUNBOOK_STATE_DIR="$T/state"
export NO_COLOR=1
unset RUNBOOK_PATH
out="$T/.out"
err="$T/.err"
rc=0
_n=0

rb() {
	# RUNBOOK_WRAP (e.g. valgrind) wraps every run of the binary.
	${RUNBOOK_WRAP:-} "$RUNBOOK" "$@" >"$out" 2>"$err" </dev/null
	rc=$?
	return 0
}

# The same with stdin left to the caller (for prompts through a pipe).
rb_stdin() {
	${RUNBOOK_WRAP:-} "$RUNBOOK" "$@" >"$out" 2>"$err"
	rc=$?
	return 0
}

_report() {
	_n=$((_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_n - $2"
	else
		echo "not ok $_n - $2"
		if [ -s "$out" ]; then sed 's/^/#   out: /' "$out" | head -40; fi
		if [ -s "$err" ]; then sed 's/^/#   err: /' "$err" | head -20; fi
	fi
}

check() {
	what=$1
	shift
	if "$@" >/dev/null 2>&1; then _report 0 "$what"; else _report 1 "$what"; fi
}

expect_rc() {
	if [ "$rc" = "$1" ]; then _report 0 "$2"; else _report 1 "$2 (exit $rc, wanted $1)"; fi
}

out_has() { check "stdout has: $1" grep -qF -- "$1" "$out"; }
err_has() { check "stderr has: $1" grep -qF -- "$1" "$err"; }
out_lacks() { check "stdout lacks: $1" sh -c '! grep -qF -- "$1" "$2"' _ "$1" "$out"; }
err_lacks() { check "stderr lacks: $1" sh -c '! grep -qF -- "$1" "$2"' _ "$1" "$err"; }

# gone PID: no such process, or only a zombie waiting for its reaper (this
# container's PID 1 may not reap orphans, so a zombie counts as gone).
gone() {
	[ -n "$1" ] || return 1
	[ -r "/proc/$1/stat" ] || return 0
	sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}

# group_gone PGID: no live process is left in process group PGID.
group_gone() {
	[ -n "$1" ] || return 1
	_g=$1
	for s in /proc/[0-9]*/stat; do
		f=$(sed 's/^.*) //' "$s" 2>/dev/null) || continue
		set -- $f
		[ "$1" != Z ] && [ "$3" = "$_g" ] && return 1
	done
	return 0
}

# Writes stdin to $T/NAME and prints the path.
file() {
	mkdir -p "$(dirname "$T/$1")"
	cat >"$T/$1"
	printf '%s\n' "$T/$1"
}

# free_port [ADDR]: a TCP port free on ADDR (default 127.0.0.1) — best
# effort: the kernel picks one, which may be taken by the time it is used
free_port() {
	python3 -c 'import socket,sys
s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1]); s.close()' "${1:-127.0.0.1}"
}

# wait_for FILE [TEXT]: up to ~20 s for FILE to be non-empty (or to hold
# TEXT) — a limit for a hung binary, not a timing assertion
wait_for() {
	_i=0
	while [ $_i -lt 400 ]; do
		if [ $# -gt 1 ]; then grep -qF -- "$2" "$1" 2>/dev/null && return 0
		else [ -s "$1" ] && return 0; fi
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

# start ARGS: the binary in the background (no terminal); sets $bgpid
start() {
	RUNBOOK_KILL_GRACE=300ms ${RUNBOOK_WRAP:-} "$RUNBOOK" "$@" >"$out" 2>"$err" </dev/null &
	bgpid=$!
}

# finish: waits for $bgpid (at most ~30 s, then kills it); sets $rc
finish() {
	_i=0
	while ! gone "$bgpid" && [ $_i -lt 600 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	if ! gone "$bgpid"; then
		kill -KILL "$bgpid" 2>/dev/null
		wait "$bgpid"
		rc=hung
		return 0
	fi
	wait "$bgpid"
	rc=$?
}

# plain_binary: the binary runs as users get it, neither under a wrapper
# (valgrind) nor sanitized: only then does a memory bound mean something
# (decided once, here: a test may wrap one command in /usr/bin/time)
case "$RUNBOOK" in */asan/*) _plain=no ;; *) _plain=${RUNBOOK_WRAP:+no} ;; esac
plain_binary() { [ "${_plain:-yes}" = yes ]; }

# run_id: the run id named on the first line of the last rb's output
run_id() {
	sed -n '1s/.* run \([^ ]*\) on .*/\1/p' "$out"
}
