#!/bin/sh
# tests/valgrind-e2e.sh — what `make valgrind` runs: the end-to-end suite
# with every runbook process under valgrind memcheck.  Each process
# writes its report to build/valgrind/PID.log (-q: nothing when clean)
# and exits 99 on an error or a definite or indirect leak; any report
# fails the run, also where a test does not look at the exit code.
set -u
cd "$(dirname "$0")/.." || exit 2
L=$(pwd)/build/valgrind
rm -rf "$L"
mkdir -p "$L"
RUNBOOK_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --log-file=$L/%p.log" \
	sh tests/run.sh --e2e-only
rc=$?
reports=$(find "$L" -name '*.log' -size +0 | sort)
n=$(ls "$L" | wc -l)
if [ -n "$reports" ]; then
	echo "valgrind reports: $(echo "$reports" | wc -l) of $n processes, in $L/:"
	for f in $reports; do echo "$f: $(grep -m 1 -E 'Invalid|uninitialised|lost|Mismatched|overlap' "$f")"; done
	exit 1
fi
echo "valgrind: $n processes, no report"
exit $rc
