#!/bin/sh
# t0240 — SIGINT and SIGTERM: the runbook stops with exit 130, the running
# step's whole process group is gone (also a child that ignores SIGTERM,
# killed after the grace), later steps and finally do not run (the run is
# resumable), the step is reported "interrupted".  Also a signal during a
# retry delay.
. "$(dirname "$0")/../lib.sh"
# start ARGS: the runbook in the background; sets $rbpid
start() {
	RUNBOOK_KILL_GRACE=300ms ${RUNBOOK_WRAP:-} "$RUNBOOK" "$@" >"$out" 2>"$err" </dev/null &
	rbpid=$!
}
finish() {
	wait "$rbpid"
	rc=$?
}

rbk=$(file sig.yml <<'EOF2'
runbook: sig
params:
  dir: { required: true }
steps:
  - id: first
    run: touch {{ dir }}/first
  - id: long
    run: |
      sleep 300 &
      echo $! > {{ dir }}/bg
      (trap '' TERM; exec sleep 301) &
      echo $! > {{ dir }}/stubborn
      echo $$ > {{ dir }}/pid
      wait
  - id: later
    run: touch {{ dir }}/later
finally:
  - run: touch {{ dir }}/finally
EOF2
)

last_event() {
	python3 -c 'import json,sys; o=[json.loads(l) for l in open(sys.argv[1])][-1]; print(o["event"], o.get("exit"))' "$1"
}
for sig in INT TERM; do
	rm -f "$T/pid" "$T/bg" "$T/stubborn" "$T/later" "$T/finally" "$T/ev.jsonl"
	start run "$rbk" -p dir="$T" --events "$T/ev.jsonl"
	if wait_for "$T/pid"; then
		kill -"$sig" "$rbpid"
		finish
	else
		kill -KILL "$rbpid" 2>/dev/null
		finish
		rc=timeout
	fi
	expect_rc 130 "SIG$sig: exit 130"
	pg=$(cat "$T/pid" 2>/dev/null)
	check "SIG$sig: the step's shell is gone" gone "$pg"
	check "SIG$sig: its background child is gone" gone "$(cat "$T/bg" 2>/dev/null)"
	check "SIG$sig: its child that ignores SIGTERM is gone" gone "$(cat "$T/stubborn" 2>/dev/null)"
	check "SIG$sig: no live process is left in its process group" group_gone "$pg"
	check "SIG$sig: later steps did not run" test ! -e "$T/later"
	check "SIG$sig: finally did not run (the run is resumable)" test ! -e "$T/finally"
	check "SIG$sig: the step is reported interrupted" grep -Eq '^ *interrupted .*long' "$out"
	check "SIG$sig: the step before is reported ok" grep -Eq '^ *ok .*first' "$out"
	out_has "summary: interrupted"
	check "SIG$sig: the events end with run_end, exit 130" test "$(last_event "$T/ev.jsonl")" = "run_end 130"
done

# a signal while waiting between two attempts
rbk=$(file sigretry.yml <<'EOF2'
runbook: sig-retry
params:
  dir: { required: true }
steps:
  - id: flaky
    retry: { attempts: 5, delay: 5m }
    run: echo try >> {{ dir }}/tries; exit 1
  - id: later
    run: touch {{ dir }}/later
EOF2
)
rm -f "$T/later"
start run "$rbk" -p dir="$T"
if wait_for "$T/tries"; then
	# the retry note is printed once the first attempt has ended
	i=0
	while ! grep -q "again in" "$out" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	kill -INT "$rbpid"
	finish
else
	kill -KILL "$rbpid" 2>/dev/null
	finish
	rc=timeout
fi
expect_rc 130 "SIGINT during a retry delay: exit 130"
check "no further attempt was made" test "$(wc -l <"$T/tries")" -eq 1
check "later steps did not run" test ! -e "$T/later"
out_has "interrupted while waiting to retry"

# a signal during the preconditions: exit 130, no step, no finally
rbk=$(file sigpre.yml <<'EOF2'
runbook: sig-pre
params:
  dir: { required: true }
preconditions:
  - name: slow check
    run: echo $$ > {{ dir }}/prepid; sleep 300
steps:
  - id: work
    run: touch {{ dir }}/work
finally:
  - run: touch {{ dir }}/prefinally
EOF2
)
start run "$rbk" -p dir="$T"
if wait_for "$T/prepid"; then
	kill -TERM "$rbpid"
	finish
else
	kill -KILL "$rbpid" 2>/dev/null
	finish
	rc=timeout
fi
expect_rc 130 "a signal during the preconditions: exit 130"
check "the precondition's process group is gone" group_gone "$(cat "$T/prepid" 2>/dev/null)"
check "no step ran" test ! -e "$T/work"
check "finally did not run" test ! -e "$T/prefinally"

# a signal while a confirmation waits for its answer on a terminal
if command -v script >/dev/null 2>&1 && command -v mkfifo >/dev/null 2>&1 &&
	script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	rbk=$(file sigconfirm.yml <<'EOF2'
runbook: sig-confirm
params:
  dir: { required: true }
steps:
  - id: who
    run: echo $PPID > {{ dir }}/rbpid
  - id: gate
    confirm: Go on?
  - id: after
    run: touch {{ dir }}/after-confirm
EOF2
)
	mkfifo "$T/answer"
	script -qec "'$RUNBOOK' run '$rbk' -p 'dir=$T'; echo \$? > '$T/confirm-rc'" /dev/null <"$T/answer" >"$out" 2>&1 &
	spid=$!
	exec 3>"$T/answer" # keeps the terminal's input open: the prompt waits
	if wait_for "$T/rbpid"; then
		i=0
		while ! grep -q "Continue?" "$out" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		kill -INT "$(cat "$T/rbpid")"
	fi
	exec 3>&-
	wait "$spid"
	rc=$(cat "$T/confirm-rc" 2>/dev/null || echo none)
	expect_rc 130 "a signal at a confirmation prompt: exit 130"
	check "the step after the confirmation did not run" test ! -e "$T/after-confirm"
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP no script(1)/mkfifo for a pseudo-terminal"
fi
