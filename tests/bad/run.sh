#!/bin/sh
# tests/bad/run.sh — the bad-input corpus.  Each NNN-name.yml is a runbook
# that must be refused: `runbook run` exits 2, prints exactly NNN-name.err
# on stderr (paths shown relative to tests/bad), and runs nothing (each
# file's steps would create $MARK).  An optional NNN-name.args holds extra
# arguments (e.g. -p values), one per line.
set -u
cd "$(dirname "$0")" || exit 2
RUNBOOK=${RUNBOOK:-../../build/runbook}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export RUNBOOK_STATE_DIR="$T/state" NO_COLOR=1 MARK="$T/mark"
unset RUNBOOK_PATH
n=0
for f in [0-9]*.yml; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	base=${f%.yml}
	set --
	if [ -f "$base.args" ]; then
		while IFS= read -r a; do set -- "$@" "$a"; done <"$base.args"
	fi
	rm -f "$MARK"
	${RUNBOOK_WRAP:-} "$RUNBOOK" run "$f" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ $rc -ne 2 ]; then
		echo "not ok $n - $base: exit $rc, wanted 2"
		sed 's/^/#   /' "$T/err" | head -5
	elif [ -e "$MARK" ]; then
		echo "not ok $n - $base: something ran"
	elif ! diff -u "$base.err" "$T/err" >"$T/diff" 2>&1; then
		echo "not ok $n - $base: unexpected error text"
		sed 's/^/#   /' "$T/diff" | head -20
	else
		echo "ok $n - $base"
	fi
done
