#!/bin/sh
# tests/fuzz/run.sh SECONDS TARGET... — what `make fuzz` runs.
#
# Each target (build/fuzz/TARGET, built by `make fuzz-build`) runs for
# SECONDS with libFuzzer, from its working corpus build/fuzz/corpus/TARGET
# (kept between runs), seeded from the repository: the shipped runbooks
# and modules, the bad-input corpus, the `when` expressions and commands
# they hold, journals and manifests made by build/runbook on the spot.
# A crash, leak or oracle failure is saved in build/fuzz/crashes/ and
# fails the run (exit 1); add it to the regression inputs in
# tests/fuzz/regress/TARGET/ once fixed.  Prints per target: executions,
# coverage (edges) and corpus size, from libFuzzer's last status line.
# FUZZ_JOBS=N runs N targets at a time.
set -u
cd "$(dirname "$0")/../.." || exit 2
TOP=$(pwd)
secs=${1:-60}
shift
[ $# -gt 0 ] || set -- expr journal load manifest template
B=build/fuzz
mkdir -p "$B/crashes"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT

# seed_lines DIR PREFIX: each line of stdin as a file of DIR
seed_lines() {
	mkdir -p "$1"
	_i=0
	while IFS= read -r _l; do
		_i=$((_i + 1))
		printf '%s' "$_l" >"$1/$2$_i"
	done
}

# --- seeds ------------------------------------------------------------------
mkdir -p "$seeds/load" "$seeds/expr" "$seeds/template" "$seeds/journal" "$seeds/manifest"
cp runbooks/*.yml stdlib/*.yml tests/bad/*.yml "$seeds/load/" 2>/dev/null
sed -n 's/^ *\(- \)\{0,1\}when: *//p' runbooks/*.yml stdlib/*.yml | sort -u | seed_lines "$seeds/expr" w
printf '%s\n' 'a == "b" and not (c != 1 or d =~ "^x+$")' 'steps.x.rc != 0' '1 < 2 <= 3' | seed_lines "$seeds/expr" h
# a template (a one-line command), a NUL, a value full of shell syntax
sed -n 's/^ *\(- \)\{0,1\}\(run\|check\|undo\): *\(.*{{.*\)$/\3/p' runbooks/*.yml stdlib/*.yml | sort -u | head -300 |
	while IFS= read -r l; do
		n=$((${n:-0} + 1))
		printf '%s\000%s' "$l" "it's \$HOME; \`id\` \"\\\" \$(rm -rf /)" >"$seeds/template/t$n"
	done
cp tests/bad/*.yml "$seeds/template/" 2>/dev/null
# journals and a manifest, made by the real binary
if [ -x build/runbook ]; then
	w=$seeds/work
	mkdir -p "$w/tree/sub"
	echo hello >"$w/tree/a"
	ln -s a "$w/tree/link"
	cat >"$w/j.yml" <<EOF
runbook: fuzz-seed
params:
  pw: { secret: true, default: s3cret }
steps:
  - id: one
    run: echo "one {{ pw }}"
    capture: { word: '^(\S+)' }
    undo: echo undo
  - id: snap
    archive: { path: $w/tree, to: $w/out/tree.tar.gz }
  - id: two
    run: "false"
EOF
	RUNBOOK_STATE_DIR=$w/state build/runbook run "$w/j.yml" >/dev/null 2>&1
	RUNBOOK_STATE_DIR=$w/state build/runbook run "$w/j.yml" --dry-run >/dev/null 2>&1
	i=0
	for j in "$w"/state/runs/*/journal.jsonl; do
		[ -f "$j" ] || continue
		i=$((i + 1))
		cp "$j" "$seeds/journal/j$i"
	done
	cp "$w"/out/*.manifest.json "$seeds/manifest/" 2>/dev/null
fi
for t in expr journal load manifest template; do
	[ -d "tests/fuzz/regress/$t" ] && cp tests/fuzz/regress/$t/* "$seeds/$t/" 2>/dev/null
done

# --- runs -------------------------------------------------------------------
# fuzz_one TARGET: one run; its line of the table in $B/TARGET.result,
# exit 1 on a finding
fuzz_one() {
	t=$1
	if [ ! -x "$B/$t" ]; then
		printf '%-10s %12s %10s %8s %8s  %s\n' "$t" - - - - "MISSING: make fuzz-build" >"$B/$t.result"
		return 1
	fi
	mkdir -p "$B/corpus/$t"
	log=$B/$t.log
	FUZZ_STDLIB=$TOP/stdlib "$B/$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
		-artifact_prefix="$B/crashes/$t-" -print_final_stats=1 \
		"$B/corpus/$t" "$seeds/$t" >"$log" 2>&1
	rc=$?
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(printf '%s\n' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	corp=$(printf '%s\n' "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
	res=ok
	[ $rc -eq 0 ] || res="FAILED (exit $rc): see $log and $B/crashes/"
	printf '%-10s %12s %10s %8s %8s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${corp:-?}" "$res" >"$B/$t.result"
	[ $rc -eq 0 ]
}

# FUZZ_JOBS targets at a time (each still runs SECONDS): the CI's smoke
# runs them all at once
jobs=${FUZZ_JOBS:-1}
failed=0
running=0
pids=
for t in "$@"; do
	rm -f "$B/$t.result"
	fuzz_one "$t" &
	pids="$pids $!"
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		for p in $pids; do wait "$p" || failed=1; done
		pids=
		running=0
	fi
done
for p in $pids; do wait "$p" || failed=1; done
printf '%-10s %12s %10s %8s %8s  %s\n' target executions exec/s edges corpus result
for t in "$@"; do cat "$B/$t.result"; done
exit $failed
