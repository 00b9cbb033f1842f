#!/bin/sh
# tests/bench/run.sh — `make bench` (never part of `make test`).
#
#  (a) per-step overhead: a runbook of 200 `run: "true"` steps against the
#      same work done by a shell loop (`sh -c true` 200 times).  The
#      difference divided by 200 is what runbook itself costs per step
#      (planning, journal records with their fdatasync, log files, ui),
#      and apart, what the journal's two fdatasyncs per step cost here.
#      Timed with hyperfine when present, else a loop of timed runs.
#  (b) memory: one step printing 200 MiB of output with an `expect:
#      stdout` pattern that only the very last line matches; the peak RSS
#      of the runbook process tree must stay flat.
#  (c) undos: 200 steps each with `undo: "true"` and a last step that
#      fails, so that the 200 undos run newest first, against 400 plain
#      steps — the same number of commands, journal records and logs.
#      The difference per undo is what an undo costs beyond a step (the
#      rollback's bookkeeping); and the same 200 steps run to the end
#      against 200 plain steps: what keeping each step's undo values
#      costs.
#  (d) archives: tests/bench/archive.sh — runbook's archive and extract
#      steps on a generated 1 GiB tree of mixed files against `tar -cf - |
#      zstd -T0` and `tar -czf` (and their extractions); it prints its own
#      table (time, MB/s, sizes, ratios) and fails `make bench` when a
#      method fails or runbook is slower than tar with the same compressor
#      (its target).  ~6 minutes on 2 CPUs; BENCH_ARCHIVE_MIB=N for a
#      smaller tree.
#  (e) SSH: tests/bench/ssh.sh, run last — 100 trivial steps on a loopback
#      sshd with ssh (a connection per step, and a ControlMaster),
#      ansible-playbook (pipelining on and off) and runbook; it prints
#      its own table, has no target, and skips with one line when sshd,
#      ssh or ansible-playbook is missing.  It fails `make bench` only
#      when a method it times fails.
#
# Targets: overhead beyond the journal's two fdatasyncs < 0.3 ms/step, an
# undo < 0.1 ms more than a step, peak RSS < 16 MiB.  Prints a table and
# exits 1 when a target is missed.  Tunables: BENCH_RUNS (timed runs per
# command, default 20), BENCH_MIB (output size, default 200), RUNBOOK;
# BENCH_TIMER=loop and BENCH_RSS=python force the fallbacks.
set -u
cd "$(dirname "$0")/../.." || exit 2
TOP=$(pwd)
RUNBOOK=${RUNBOOK:-$TOP/build/runbook}
STEPS=200
RUNS=${BENCH_RUNS:-20}
MIB=${BENCH_MIB:-200}

if [ ! -x "$RUNBOOK" ]; then
	echo "bench: $RUNBOOK is missing: run make first" >&2
	exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
	sh tests/deps.sh bench || exit 2
fi
if ! command -v hyperfine >/dev/null 2>&1; then
	sh tests/deps.sh bench >/dev/null 2>&1 ||
		echo "bench: hyperfine unavailable: timing with a loop of runs instead" >&2
fi

# Work under build/ — on the checkout's disk, not a tmpfs — so that the
# journal's fdatasync costs what it costs on a real state dir.
W=$TOP/build/bench
rm -rf "$W"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT INT TERM
STATE=$W/state

# --- (a) per-step overhead --------------------------------------------------
{
	echo "runbook: bench-steps"
	echo "description: $STEPS trivial steps, to measure the cost of a step"
	echo "steps:"
	i=1
	while [ $i -le $STEPS ]; do
		printf '  - id: s%d\n    run: "true"\n' $i
		i=$((i + 1))
	done
} >"$W/steps.yml"

rb_cmd="$RUNBOOK --state-dir $STATE run -q $W/steps.yml"
sh_cmd="sh -c 'for i in \$(seq $STEPS); do sh -c true; done'"

# A dry run first: a broken build must not be timed.
if ! $RUNBOOK --state-dir "$STATE" run -q "$W/steps.yml" >"$W/check.out" 2>&1; then
	echo "bench: the $STEPS-step runbook failed:" >&2
	sed 's/^/  /' "$W/check.out" >&2
	exit 1
fi

if [ "${BENCH_TIMER:-}" != loop ] && command -v hyperfine >/dev/null 2>&1; then
	tool=hyperfine
	hyperfine -N --style basic --warmup 3 --runs "$RUNS" \
		--prepare "rm -rf $STATE" \
		--export-json "$W/steps.json" \
		-n runbook "$rb_cmd" -n shell "$sh_cmd" >"$W/hyperfine.out" 2>&1 || {
		cat "$W/hyperfine.out" >&2
		exit 1
	}
	python3 - "$W/steps.json" >"$W/times" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
for name in ("runbook", "shell"):
    print(name, r[name]["mean"] * 1000, r[name]["stddev"] * 1000)
EOF
else
	tool="loop of $RUNS runs"
	python3 - "$RUNS" "$STATE" "$RUNBOOK" "$W/steps.yml" "$STEPS" >"$W/times" <<'EOF'
import shutil, statistics, subprocess, sys, time
runs, state, rb, yml, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
cmds = {
    "runbook": [rb, "--state-dir", state, "run", "-q", yml],
    "shell": ["sh", "-c", "for i in $(seq %s); do sh -c true; done" % steps],
}
for name, argv in cmds.items():
    samples = []
    for i in range(runs + 3):
        shutil.rmtree(state, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if i >= 3:  # warm-up runs are not counted
            samples.append((time.perf_counter() - t) * 1000)
    print(name, statistics.mean(samples), statistics.stdev(samples))
EOF
fi
rb_mean=$(awk '$1 == "runbook" { print $2 }' "$W/times")
rb_sd=$(awk '$1 == "runbook" { print $3 }' "$W/times")
sh_mean=$(awk '$1 == "shell" { print $2 }' "$W/times")
sh_sd=$(awk '$1 == "shell" { print $3 }' "$W/times")
per_step=$(awk -v a="$rb_mean" -v b="$sh_mean" -v n="$STEPS" 'BEGIN { printf "%.3f", (a - b) / n }')

# --- (a') the journal's share --------------------------------------------------
# Every step costs two synced journal records (step_start, step_end).  What
# two fdatasyncs of a record-sized append cost on this disk, measured the
# same way in the same folder; and the journal's bytes per step.
python3 - "$W/sync-probe" "$STEPS" >"$W/sync" <<'EOF'
import os, sys, time
path, steps = sys.argv[1], int(sys.argv[2])
rec = b'{"seq":1,"time":"2026-11-21T19:04:55.123Z","event":"step_start","step":"s1","host":"local","attempt":1,"number":1,"crc":"0badc0de"}\n'
samples = []
for run in range(5):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    t = time.perf_counter()
    for i in range(2 * steps):
        os.write(fd, rec)
        os.fdatasync(fd)
    samples.append((time.perf_counter() - t) * 1000 / steps)
    os.close(fd)
samples.sort()
print("%.3f" % samples[len(samples) // 2])
EOF
sync_ms=$(cat "$W/sync")
rm -rf "$STATE"
$rb_cmd >/dev/null 2>&1
jbytes=$(cat "$STATE"/runs/*/journal.jsonl 2>/dev/null | wc -c)
jper=$(awk -v b="$jbytes" -v n="$STEPS" 'BEGIN { printf "%d", b / n }')
beyond=$(awk -v a="$per_step" -v b="$sync_ms" 'BEGIN { printf "%.3f", a - b }')

# --- (b) memory under a flood of output -------------------------------------
rm -rf "$STATE"
cat >"$W/flood.yml" <<EOF
runbook: bench-memory
description: one step printing $MIB MiB, matched line by line
steps:
  - id: flood
    run: |
      head -c $((MIB * 1048576)) /dev/zero | tr '\\0' x | fold -w 100
      echo   # fold leaves the last line open
      echo ALL-DONE
    expect: { stdout: '^ALL-DONE\$' }
EOF
cat >"$W/tiny.yml" <<'EOF'
runbook: bench-tiny
steps:
  - id: one
    run: echo hello
    expect: { stdout: '^hello$' }
EOF
# Peak RSS in KiB.  With GNU time: ru_maxrss of the runbook process tree
# (runbook, its sh, head, tr, fold).  Otherwise python3 samples the
# runbook process's VmHWM from /proc: ru_maxrss of RUSAGE_CHILDREN would
# count python's own image (a child keeps its parent's high-water mark
# across exec), so it is only the last resort.
# Prints: exit-status peak-KiB seconds.
rss_tool="python3 /proc VmHWM"
if [ "${BENCH_RSS:-}" != python ] && [ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1; then
	rss_tool="/usr/bin/time -v"
fi
rss() {
	if [ "${BENCH_RSS:-}" != python ] && [ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1; then
		start=$(date +%s.%N)
		/usr/bin/time -v -o "$W/time.out" "$@" >/dev/null 2>&1
		st=$?
		end=$(date +%s.%N)
		kib=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$W/time.out")
		echo "$st $kib $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
		return
	fi
	python3 - "$@" <<'EOF'
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
hwm = 0
while p.poll() is None:
    try:
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.002)
el = time.perf_counter() - t
if hwm == 0:
    hwm = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(p.returncode, hwm, "%.2f" % el)
EOF
}
set -- $(rss "$RUNBOOK" --state-dir "$STATE" run -q "$W/tiny.yml")
tiny_rc=$1 tiny_kib=$2
rm -rf "$STATE"
set -- $(rss "$RUNBOOK" --state-dir "$STATE" run -q "$W/flood.yml")
flood_rc=$1 flood_kib=$2 flood_s=$3
log_bytes=$(cat "$STATE"/runs/*/logs/*flood*.log 2>/dev/null | wc -c)

# --- (c) undos --------------------------------------------------------------
{
	echo "runbook: bench-undo"
	echo "description: $STEPS steps with an undo each"
	echo "params:"
	echo "  fail: { default: \"no\" }"
	echo "steps:"
	i=1
	while [ $i -le $STEPS ]; do
		printf '  - id: s%d\n    run: "true"\n    undo: "true"\n' $i
		i=$((i + 1))
	done
	printf '  - id: last\n    run: test {{ fail }} = no\n'
} >"$W/undo.yml"
{
	echo "runbook: bench-double"
	echo "steps:"
	i=1
	while [ $i -le $((2 * STEPS)) ]; do
		printf '  - id: s%d\n    run: "true"\n' $i
		i=$((i + 1))
	done
} >"$W/double.yml"
python3 - "$RUNS" "$STATE" "$RUNBOOK" "$W" >"$W/undo-times" <<'EOF'
import shutil, statistics, subprocess, sys, time
runs, state, rb, w = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
cases = (("plain", [w + "/steps.yml"], 0), ("kept", [w + "/undo.yml"], 0),
         ("double", [w + "/double.yml"], 0), ("rollback", [w + "/undo.yml", "-p", "fail=yes"], 1))
samples = {name: [] for name, _, _ in cases}
for i in range(runs + 2):  # interleaved, so that drift hits every case alike
    for name, args, want in cases:
        shutil.rmtree(state, ignore_errors=True)
        t = time.perf_counter()
        rc = subprocess.run([rb, "--state-dir", state, "run", "-q"] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        if rc != want:
            sys.exit("bench-undo %s: exit %d, wanted %d" % (name, rc, want))
        if i >= 2:
            samples[name].append((time.perf_counter() - t) * 1000)
for name, _, _ in cases:
    print(name, statistics.mean(samples[name]), statistics.stdev(samples[name]))
EOF
undo_st=$?
t_plain=$(awk '$1 == "plain" { print $2 }' "$W/undo-times")
t_kept=$(awk '$1 == "kept" { print $2 }' "$W/undo-times")
t_double=$(awk '$1 == "double" { print $2 }' "$W/undo-times")
t_rb=$(awk '$1 == "rollback" { print $2 }' "$W/undo-times")
per_undo=$(awk -v a="$t_rb" -v b="$t_double" -v n="$STEPS" 'BEGIN { printf "%.3f", (a - b) / n }')
per_kept=$(awk -v a="$t_kept" -v b="$t_plain" -v n="$STEPS" 'BEGIN { printf "%.3f", (a - b) / n }')

# --- the table ---------------------------------------------------------------
status=0
verdict() { # value target → PASS / MISS
	if awk -v v="$1" -v t="$2" 'BEGIN { exit !(v < t) }'; then echo PASS; else
		echo MISS
		status=1
	fi
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# The journal's fdatasyncs are the price of resumability, and depend on
# the disk: the target is on what runbook adds beyond them.
v_step=$(verdict "$beyond" 0.3)
[ "$v_step" = MISS ] && status=1
flood_mib=$(mib "$flood_kib")
if [ "$flood_rc" = 0 ]; then
	v_mem=$(verdict "$flood_mib" 16)
else
	v_mem="MISS (exit $flood_rc)"
fi
case $v_mem in MISS*) status=1 ;; esac
if [ "$undo_st" = 0 ]; then
	v_undo=$(verdict "$per_undo" 0.1)
else
	v_undo="MISS (the undo runbook failed)"
	status=1
fi
[ "$tiny_rc" = 0 ] || status=1

echo "runbook benchmarks ($(uname -sm), timing: $tool, peak RSS: $rss_tool)"
printf '%-44s %18s %12s %s\n' "measure" "result" "target" ""
printf '%-44s %18s %12s %s\n' "runbook: $STEPS steps of run: \"true\" (mean)" \
	"$(printf '%.1f +- %.1f ms' "$rb_mean" "$rb_sd")" "" ""
printf '%-44s %18s %12s %s\n' "sh loop: $STEPS x sh -c true (mean)" \
	"$(printf '%.1f +- %.1f ms' "$sh_mean" "$sh_sd")" "" ""
printf '%-44s %18s %12s %s\n' "per-step overhead ((runbook - sh) / $STEPS)" "$per_step ms" "" ""
printf '%-44s %18s %12s %s\n' "  2 journal fdatasyncs (same disk, bare loop)" "$sync_ms ms" "" ""
printf '%-44s %18s %12s %s\n' "  overhead beyond the journal's syncs" "$beyond ms" "< 0.3 ms" "$v_step"
printf '%-44s %18s %12s %s\n' "  journal size per step" "$jper bytes" "" ""
printf '%-44s %18s %12s %s\n' "$STEPS steps + their $STEPS undos (mean)" "$(printf '%.1f ms' "$t_rb")" "" ""
printf '%-44s %18s %12s %s\n' "  $((2 * STEPS)) plain steps (mean)" "$(printf '%.1f ms' "$t_double")" "" ""
printf '%-44s %18s %12s %s\n' "  an undo's cost beyond a step's" "$per_undo ms" "< 0.1 ms" "$v_undo"
printf '%-44s %18s %12s %s\n' "  keeping a step's undo values" "$per_kept ms" "" ""
printf '%-44s %18s %12s %s\n' "peak RSS, 1 step printing $MIB MiB + expect" "$flood_mib MiB" "< 16 MiB" "$v_mem"
printf '%-44s %18s %12s %s\n' "  (same, a step printing one line)" "$(mib "$tiny_kib") MiB" "" \
	"$([ "$tiny_rc" = 0 ] || echo "FAILED (exit $tiny_rc)")"
printf '%-44s %18s %12s %s\n' "  flood: wall time, bytes in the step log" "${flood_s} s" "" \
	"$(awk -v b="$log_bytes" 'BEGIN { printf "%.1f MiB logged", b / 1048576 }')"

# --- (d) archives ---------------------------------------------------------------
echo
RUNBOOK=$RUNBOOK sh tests/bench/archive.sh || status=1

# --- (e) SSH -------------------------------------------------------------------
echo
RUNBOOK=$RUNBOOK sh tests/bench/ssh.sh || status=1
exit $status
