#!/bin/sh
# tests/run.sh — the whole suite: unit tests (sanitizer build), the
# bad-input corpus, then every end-to-end script.  Prints each result and
# ends with one line "N passed, N failed"; exits 1 if anything failed.
#   --e2e-only   skip the unit tests (used by `make valgrind`)
set -u
cd "$(dirname "$0")/.." || exit 2
TOP=$(pwd)
e2e_only=0
[ "${1:-}" = "--e2e-only" ] && e2e_only=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_part() {
	# $1: label; rest: command.  Its TAP lines are counted.
	label=$1
	shift
	"$@" >"$log.part" 2>&1
	status=$?
	sed "s|^|[$label] |" "$log.part" | grep -E '^\[[^]]*\] (ok|not ok|#)' || true
	cat "$log.part" >>"$log"
	if [ $status -ne 0 ] && ! grep -q '^not ok' "$log.part"; then
		echo "[$label] not ok - the script itself exited $status"
		echo "not ok - $label exited $status" >>"$log"
	fi
	rm -f "$log.part"
}

if [ $e2e_only = 0 ] && [ -x build/asan/unit ]; then
	run_part unit env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/unit
fi
run_part bad sh tests/bad/run.sh
# a script that hangs fails (exit 124) rather than hold the suite: 20
# minutes each, an hour under a wrapper such as valgrind
limit=${RUNBOOK_TEST_LIMIT:-$([ -n "${RUNBOOK_WRAP:-}" ] && echo 3600 || echo 1200)}
for t in tests/e2e/t[0-9]*.sh; do
	[ -e "$t" ] || continue
	run_part "$(basename "$t" .sh)" timeout -k 30 "$limit" sh "$t"
done

passed=$(grep -c '^ok' "$log")
failed=$(grep -c '^not ok' "$log")
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
