# tests/lib.sh — sourced by every end-to-end test (tests/e2e/tNNNN-*.sh).
#
# Each test script prints TAP-style lines, "ok N - what" or
# "not ok N - what", and exits 0; tests/run.sh counts them.  Helpers:
#   rb ARGS...           run build/runbook; sets $rc, and $out/$err (files)
#   check "what" CMD...  one assertion: passes when CMD exits 0
#   expect_rc N "what"   the last rb exited N
#   out_has TEXT / err_has TEXT / out_lacks TEXT / err_lacks TEXT
#   gone PID / group_gone PGID   a process (group) has ended
#   wait_for FILE        up to ~20 s for FILE to be non-empty (a wait, not
#                        a timing assertion)
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

wait_for() {
	_i=0
	while [ ! -s "$1" ] && [ $_i -lt 400 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	[ -s "$1" ]
}
