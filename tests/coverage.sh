#!/bin/sh
# tests/coverage.sh — what `make coverage` runs: the unit tests and every
# end-to-end test against the --coverage build (build/cov/), then line
# coverage per file of interp/ and in all, from gcov (sorted, least
# covered first), into build/cov/coverage.txt too.  The suite's own
# "N passed, N failed" line is printed first: coverage of a red suite
# means little.
set -u
cd "$(dirname "$0")/.." || exit 2
C=build/cov
find "$C/obj" -name '*.gcda' -delete 2>/dev/null
"$C/unit" >/dev/null 2>&1
RUNBOOK=$(pwd)/$C/runbook RUNBOOK_FAULTY=$(pwd)/$C/runbook sh tests/run.sh --e2e-only | tail -n 1
report=$C/coverage.txt
top=$(pwd)
(
	cd "$C/obj" || exit 2
	for src in "$top"/interp/*.c; do
		gcov -n -o . "$src" 2>/dev/null | awk -v f="$(basename "$src")" '
			/^File / { cur = $2; gsub(/\x27/, "", cur) }
			/^Lines executed:/ && cur ~ ("interp/" f "$") {
				split($2, a, ":"); pct = a[2]; sub(/%/, "", pct); n = $4
				printf "%-18s %6.1f%% of %5d lines\n", f, pct, n
				exit
			}'
	done
) | sort -k2 -n >"$report"
cat "$report"
awk '{ sub(/%/, "", $2); hit += $2 * $4 / 100; all += $4 }
	END { printf "interp/ in all:    %6.1f%% of %5d lines\n", 100 * hit / all, all }' "$report" | tee -a "$report"
