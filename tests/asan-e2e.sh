#!/bin/sh
# tests/asan-e2e.sh — what `make asan-e2e` runs: the end-to-end suite
# against build/asan/runbook (ASan+UBSan, with the fault hooks for
# t0960), each sanitizer report written to build/asan/logs/.  Any error
# or leak report fails the run: a test can pass while the sanitizer
# complains on a stderr it does not read.
# ASan's warning that it does not fully follow swapcontext (co.c's tasks,
# for `parallel` steps) is a notice, not a report.
set -u
cd "$(dirname "$0")/.." || exit 2
TOP=$(pwd)
L=$TOP/build/asan/logs
rm -rf "$L"
mkdir -p "$L"
RUNBOOK=$TOP/build/asan/runbook RUNBOOK_FAULTY=$TOP/build/asan/runbook \
	ASAN_OPTIONS=detect_leaks=1:log_path=$L/asan \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$L/ubsan \
	sh tests/run.sh --e2e-only
rc=$?
reports=$(grep -lE 'ERROR|runtime error|LeakSanitizer|SUMMARY' "$L"/* 2>/dev/null)
if [ -n "$reports" ]; then
	echo "sanitizer reports: $(echo "$reports" | wc -l), in $L/:"
	for f in $reports; do grep -m 1 -E 'ERROR|runtime error|SUMMARY' "$f"; done
	exit 1
fi
echo "sanitizers: no report ($(ls "$L" | wc -l) processes noted only the swapcontext warning)"
exit $rc
