#!/bin/sh
# t0410 — runbook resume: which run it picks (the latest unfinished, an
# id, a prefix, a runbook name; never a live or succeeded one); done
# steps are not run again but their rc/output/captures come back; a
# failed step is retried; interrupted steps (SIGKILL: started, never
# ended; SIGINT: ended "interrupted") are settled by their check, by
# --rerun-interrupted or by the operator on a terminal, and refused
# without one; a command that outlived a killed runbook is waited for; a
# paused confirm asks again; passed preconditions are not run again;
# changed runbook/module/inventory are refused unless --use-current;
# params keep their recorded values and secrets are read again; a resumed
# run appends to the same journal and can be interrupted and resumed
# again.  Every effect is a line appended to a file, counted.
. "$(dirname "$0")/../lib.sh"

S=$RUNBOOK_STATE_DIR
# commands left waiting by a failed assertion are ended with the script
cleanup() {
	for f in "$T"/*/pid "$T"/*/pid2 "$T"/*/pid3 "$T"/sel/delta-pid; do
		[ -s "$f" ] && kill -KILL -"$(cat "$f")" 2>/dev/null
	done
	[ -n "${bgpid:-}" ] && kill -KILL "$bgpid" 2>/dev/null
	rm -rf "$T"
	return 0
}
trap cleanup EXIT

# n_of FILE LINE: how many lines of FILE are exactly LINE (0 without FILE)
n_of() {
	if [ -e "$1" ]; then grep -cxF -- "$2" "$1"; else echo 0; fi
}
# count_is N FILE LINE "what": LINE is in FILE exactly N times
count_is() {
	check "$4" test "$(n_of "$2" "$3")" = "$1"
}
# jcount ID EVENT: how many EVENT records the journal of run ID holds
jcount() {
	grep -c "\"event\":\"$2\"" "$S/runs/$1/journal.jsonl" 2>/dev/null || true
}
# kill_group FILE: SIGKILL the process group whose leader's pid is in
# FILE, and wait until even its zombies are reaped (resume counts a group
# with zombies as still running)
kill_group() {
	[ -s "$1" ] || return 0
	kill -KILL -"$(cat "$1")" 2>/dev/null
	i=0
	while kill -0 -"$(cat "$1")" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
}
have_tty=0
if command -v script >/dev/null 2>&1 && command -v mkfifo >/dev/null 2>&1 &&
	script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	have_tty=1
fi
# on_tty ANSWER ARGS...: runbook ARGS on a pseudo-terminal, ANSWER typed
# once the prompt TEXT ($prompt) is on the screen; sets $rc
on_tty() {
	ans=$1
	shift
	cmd="'$RUNBOOK'"
	for a in "$@"; do cmd="$cmd '$a'"; done
	rm -f "$T/tty-rc" "$T/tty-in"
	mkfifo "$T/tty-in"
	script -qec "$cmd; echo \$? > '$T/tty-rc'" /dev/null <"$T/tty-in" >"$out" 2>&1 &
	spid=$!
	exec 3>"$T/tty-in"
	if wait_for "$out" "$prompt"; then
		printf '%s\n' "$ans" >&3
	fi
	exec 3>&-
	i=0
	while [ ! -s "$T/tty-rc" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	if [ ! -s "$T/tty-rc" ]; then
		kill -KILL "$spid" 2>/dev/null
	fi
	wait "$spid"
	rc=$(cat "$T/tty-rc" 2>/dev/null || echo hung)
	: >"$err"
}
skip() {
	_n=$((_n + 1))
	echo "ok $_n - # SKIP $1"
}

# --- nothing to resume --------------------------------------------------------

rb resume
expect_rc 2 "no run at all: nothing to resume (exit 2)"
err_has "no unfinished run to resume"

# --- done steps come back, a failed step is retried, finally at the end --------

mkdir -p "$T/b"
rbk=$(file basic.yml <<'EOF2'
runbook: basic
params:
  dir: { required: true }
steps:
  - id: one
    run: echo one >> {{ dir }}/log; echo "version 1.5"; echo warn-one >&2
    capture: { ver: 'version (\S+)' }
  - id: allowed
    run: echo allowed >> {{ dir }}/log; exit 3
    allow_failure: true
  - id: skipme
    when: ver == "9.9"
    run: echo skipme >> {{ dir }}/log
  - id: gate
    run: echo gate >> {{ dir }}/log; test -e {{ dir }}/flag
  - id: uses
    run: echo "ver={{ ver }} out={{ steps.one.stdout }} err={{ steps.one.stderr }} rc={{ steps.allowed.rc }} skiprc=[{{ steps.skipme.rc }}]" >> {{ dir }}/used
  - id: cond
    when: steps.one.rc == 0 and steps.allowed.rc == 3 and ver == "1.5"
    run: echo cond >> {{ dir }}/log
finally:
  - id: fin
    run: echo fin >> {{ dir }}/fin
EOF2
)
rb run "$rbk" -p dir="$T/b"
expect_rc 1 "basic: the first run fails at 'gate'"
basic=$(run_id)
check "basic: a run id is shown" test -n "$basic"
count_is 1 "$T/b/fin" fin "basic: finally ran at the end of the failed run"
touch "$T/b/flag"
rb resume "$basic"
expect_rc 0 "basic: resume by full id succeeds (exit 0)"
out_has "resuming run $basic"
count_is 1 "$T/b/log" one "basic: the ok step is not run again"
count_is 1 "$T/b/log" allowed "basic: the 'failed (allowed)' step is not run again"
count_is 0 "$T/b/log" skipme "basic: the skipped step stays skipped"
count_is 2 "$T/b/log" gate "basic: the failed step is retried"
count_is 1 "$T/b/log" cond "basic: 'when' sees the restored steps.ID.rc and capture"
check "basic: restored capture, stdout, stderr, rc, and an empty rc for the skipped step" \
	test "$(cat "$T/b/used" 2>/dev/null)" = "ver=1.5 out=version 1.5 err=warn-one rc=3 skiprc=[]"
check "basic: the ok step is shown done earlier" grep -Eq '\] one .*\(done earlier\)' "$out"
check "basic: the allowed failure is shown done earlier" grep -Eq '\] allowed .*failed \(allowed\).*\(done earlier\)' "$out"
check "basic: the skipped step is shown skipped earlier" grep -Eq '\] skipme .*skipped.*skipped earlier' "$out"
check "basic: the summary keeps the earlier statuses" grep -Eq '^ *failed \(allowed\) .*allowed' "$out"
count_is 2 "$T/b/fin" fin "basic: finally runs again at the end of the resumed run"
check "basic: still one run folder" test "$(ls "$S/runs" | grep -c '^basic-')" = 1
check "basic: the journal has one run_start" test "$(jcount "$basic" run_start)" = 1
check "basic: the resume appended a resume record to the same journal" test "$(jcount "$basic" resume)" = 1
check "basic: and a second run_end" test "$(jcount "$basic" run_end)" = 2
check "basic: the retried step's log says who resumed it" grep -q '^# resumed by' "$S/runs/$basic/logs/04-gate.log"
rb resume "$basic"
expect_rc 2 "basic: a succeeded run is refused (exit 2)"
err_has "already succeeded"
count_is 2 "$T/b/log" gate "basic: ... and nothing ran"
rb resume
expect_rc 2 "basic: no unfinished run left (exit 2)"
err_has "no unfinished run to resume"

# a resumed step that fails again: exit 1
rm -f "$T/b/flag"
rb run "$rbk" -p dir="$T/b"
b2=$(run_id)
rb resume "$b2"
expect_rc 1 "basic: a retried step that fails again: exit 1"
check "basic: ... the run stays resumable" sh -c '"$1" resume "$2" >/dev/null 2>&1 </dev/null; test $? = 1' _ "$RUNBOOK" "$b2"

# --- which run ----------------------------------------------------------------

SEL=$T/selstate
mkdir -p "$T/sel"
for name in alpha beta gamma; do
	file "$name.yml" >/dev/null <<EOF2
runbook: $name
params:
  dir: { required: true }
steps:
  - id: s
    run: echo {{ run.id }} >> {{ dir }}/runs; test -e {{ dir }}/$name-ok
EOF2
done
touch "$T/sel/gamma-ok"
rb --state-dir "$SEL" run "$T/alpha.yml" -p dir="$T/sel"
alpha1=$(run_id)
rb --state-dir "$SEL" run "$T/alpha.yml" -p dir="$T/sel"
alpha2=$(run_id)
rb --state-dir "$SEL" run "$T/beta.yml" -p dir="$T/sel"
beta=$(run_id)
rb --state-dir "$SEL" run "$T/gamma.yml" -p dir="$T/sel"
expect_rc 0 "which: the newest run (gamma) succeeded"
gamma=$(run_id)
touch "$T/sel/beta-ok"
rb --state-dir "$SEL" resume
expect_rc 0 "which: resume without RUN succeeds"
out_has "resuming run $beta"
count_is 2 "$T/sel/runs" "$beta" "which: the default is the newest unfinished run (beta, not the succeeded gamma)"
count_is 1 "$T/sel/runs" "$gamma" "which: the succeeded run did not run again"
rb --state-dir "$SEL" resume gamma
expect_rc 2 "which: a runbook name whose newest run succeeded: refused"
err_has "run $gamma already succeeded"
rb --state-dir "$SEL" resume alpha-
expect_rc 2 "which: an ambiguous prefix is refused"
err_has "'alpha-' matches 2 runs"
rb --state-dir "$SEL" resume nosuch
expect_rc 2 "which: an unknown run is refused"
err_has "no run 'nosuch'"
# the shortest prefix of alpha1 that names only it
pfx=$alpha1
n=${#alpha1}
while [ "$n" -gt 1 ]; do
	q=$(printf '%s' "$alpha1" | cut -c1-$((n - 1)))
	[ "$(ls "$SEL/runs" | grep -c "^$q")" = 1 ] || break
	pfx=$q
	n=$((n - 1))
done
rb --state-dir "$SEL" resume "$pfx"
expect_rc 1 "which: a unique prefix ($pfx) names a run"
out_has "resuming run $alpha1"
count_is 2 "$T/sel/runs" "$alpha1" "which: ... and that run ran again"
# a live run: never the default, refused by id
rbk=$(file delta.yml <<'EOF2'
runbook: delta
params:
  dir: { required: true }
hosts:
  box: { transport: local }
target: box
steps:
  - id: wait
    run: echo {{ run.id }} >> {{ dir }}/runs; echo $$ > {{ dir }}/delta-pid; while [ ! -e {{ dir }}/delta-go ]; do sleep 0.05; done
EOF2
)
"$RUNBOOK" --state-dir "$SEL" run "$rbk" -p dir="$T/sel" >"$T/delta.out" 2>&1 </dev/null &
dpid=$!
if wait_for "$T/sel/delta-pid"; then
	delta=$(sed -n '1s/.* run \([^ ]*\) on .*/\1/p' "$T/delta.out")
	rb --state-dir "$SEL" resume "$delta"
	expect_rc 2 "which: a run that is still going is refused"
	err_has "is still running"
	touch "$T/sel/alpha-ok"
	rb --state-dir "$SEL" resume
	expect_rc 0 "which: the default skips the live run"
	out_has "resuming run $alpha2"
else
	_report 1 "which: the live run started"
fi
touch "$T/sel/delta-go"
wait "$dpid"
check "which: the live run ended ok" test $? = 0
rb --state-dir "$SEL" resume
expect_rc 0 "which: the next default is the last unfinished run"
out_has "resuming run $alpha1"
rb --state-dir "$SEL" resume
expect_rc 2 "which: then nothing is left"
err_has "no unfinished run"
count_is 1 "$T/sel/runs" "$delta" "which: the live run was never run by a resume"
count_is 1 "$T/sel/runs" "$gamma" "which: the succeeded run was never run by a resume"

# a runbook name: its newest run.  Runs of 'eps' are made until two in a
# row start in the same second (run ids have a one-second clock) with the
# newer id sorting before the older one, so that the name must be resolved
# by start time, not by the id's text.
EPS=$T/epsstate
file eps.yml >/dev/null <<'EOF2'
runbook: eps
params:
  dir: { required: true }
steps:
  - id: s
    run: echo {{ run.id }} >> {{ dir }}/eps; test -e {{ dir }}/eps-ok
EOF2
prev=
newest=
k=0
while [ $k -lt 40 ]; do
	rb --state-dir "$EPS" run "$T/eps.yml" -p dir="$T/sel"
	newest=$(run_id)
	if [ -n "$prev" ] && [ "${prev%-*}" = "${newest%-*}" ] &&
		[ "$(printf '%s\n%s\n' "$prev" "$newest" | LC_ALL=C sort | head -n 1)" = "$newest" ]; then
		break
	fi
	prev=$newest
	k=$((k + 1))
done
rb --state-dir "$EPS" resume eps
expect_rc 1 "which: a runbook name resumes a run (still failing: exit 1)"
check "which: the runbook name resumes its newest run ($newest, started after $prev)" \
	grep -qF "resuming run $newest" "$out"
count_is 2 "$T/sel/eps" "$newest" "which: ... the newest run is the one that ran again"

# --- interrupted steps with a check -------------------------------------------

rbk=$(file killcheck.yml <<'EOF2'
runbook: killcheck
params:
  dir: { required: true }
steps:
  - id: before
    run: echo before >> {{ dir }}/log
  - id: work
    run: |
      echo work >> {{ dir }}/log
      echo $$ > {{ dir }}/pid
      while [ ! -e {{ dir }}/go ]; do sleep 0.05; done
      touch {{ dir }}/effect
    check: test -e {{ dir }}/effect
  - id: after
    run: echo after >> {{ dir }}/log
finally:
  - id: fin
    run: echo fin >> {{ dir }}/log
EOF2
)
# 1. SIGKILL: the command outlives runbook; resume waits for it, then its
#    check passes: done without running again
mkdir -p "$T/k1"
start run "$rbk" -p dir="$T/k1"
if wait_for "$T/k1/pid"; then
	kill -KILL "$bgpid"
	finish
	expect_rc 137 "kill/check: runbook killed with SIGKILL"
	k1=$(run_id)
	check "kill/check: the step's command is still running" test ! -z "$(cat "$T/k1/pid")" -a -d "/proc/$(cat "$T/k1/pid")"
	start resume "$k1"
	if wait_for "$out" "waiting for it to end"; then
		_report 0 "kill/check: resume says it waits for the earlier command"
		check "kill/check: resume is still waiting" test -d "/proc/$bgpid"
		check "kill/check: nothing ran while it waited" test "$(n_of "$T/k1/log" after)" = 0 -a ! -e "$T/k1/effect"
		touch "$T/k1/go"
	else
		_report 1 "kill/check: resume says it waits for the earlier command"
		touch "$T/k1/go"
	fi
	finish
	expect_rc 0 "kill/check: the resume succeeds once the command ended"
	out_has "its check passes: done, not run again"
	check "kill/check: shown settled by its check" grep -Eq '\] work .*ok.*settled by its check' "$out"
	count_is 1 "$T/k1/log" work "kill/check: the interrupted step ran exactly once"
	count_is 1 "$T/k1/log" before "kill/check: the step before ran once"
	count_is 1 "$T/k1/log" after "kill/check: the step after ran once"
	count_is 1 "$T/k1/log" fin "kill/check: finally ran once (not when killed)"
	check "kill/check: the journal records how it was settled" grep -q '"settled":"check"' "$S/runs/$k1/journal.jsonl"
else
	kill -KILL "$bgpid" 2>/dev/null
	_report 1 "kill/check: the step started"
fi

# 2. SIGKILL of runbook and of the command before its effect: the check
#    fails, the step runs again
mkdir -p "$T/k2"
start run "$rbk" -p dir="$T/k2"
if wait_for "$T/k2/pid"; then
	kill -KILL "$bgpid"
	finish
	kill_group "$T/k2/pid"
	k2=$(run_id)
	touch "$T/k2/go"
	rb resume "$k2"
	expect_rc 0 "kill/check fails: the resume succeeds"
	out_has "its check fails"
	out_lacks "waiting for it to end"
	count_is 2 "$T/k2/log" work "kill/check fails: the step ran again"
	count_is 1 "$T/k2/log" before "kill/check fails: the step before ran once"
	count_is 1 "$T/k2/log" after "kill/check fails: the step after ran once"
	check "kill/check fails: the effect is there" test -e "$T/k2/effect"
else
	kill -KILL "$bgpid" 2>/dev/null
	_report 1 "kill/check fails: the step started"
fi

# 3. a step settled by its check is done: later steps see its rc (the
#    journal records rc 0) and the capture it made before SIGINT (recorded
#    in its "interrupted" step_end)
mkdir -p "$T/k3"
rbk=$(file settled.yml <<'EOF2'
runbook: settled
params:
  dir: { required: true }
steps:
  - id: work
    run: |
      echo "version 2.0"
      echo $$ > {{ dir }}/pid
      while [ ! -e {{ dir }}/go ]; do sleep 0.05; done
    capture: { ver: 'version (\S+)' }
    check: test -e {{ dir }}/effect
  - id: byrc
    when: steps.work.rc == 0
    run: echo byrc >> {{ dir }}/log
  - id: bycap
    run: echo "ver={{ ver }}" >> {{ dir }}/log
EOF2
)
start run "$rbk" -p dir="$T/k3"
if wait_for "$T/k3/pid" && wait_for "$out" "version 2.0"; then
	kill -INT "$bgpid"
	finish
	expect_rc 130 "settled: the run is interrupted by SIGINT"
	k3=$(run_id)
	kill_group "$T/k3/pid"
	check "settled: the capture was journaled with the interrupted step" \
		grep -q '"status":"interrupted".*"captures":{"ver":"2.0"}' "$S/runs/$k3/journal.jsonl"
	touch "$T/k3/effect"
	rb resume "$k3"
	expect_rc 0 "settled: the resume after a check-settled step succeeds"
	out_has "settled by its check"
	count_is 1 "$T/k3/log" byrc "settled: 'when: steps.work.rc == 0' holds for a step settled as done"
	count_is 1 "$T/k3/log" "ver=2.0" "settled: its capture comes back for later templates"
	rb resume "$k3"
	check "settled: the run is not stuck: resumed once more, it is finished" \
		grep -Eq 'already succeeded|succeeded' "$out" "$err"
else
	kill -KILL "$bgpid" 2>/dev/null
	finish
	_report 1 "settled: the step started"
fi

# --- interrupted steps without a check -----------------------------------------

rbk=$(file nocheck.yml <<'EOF2'
runbook: nocheck
params:
  dir: { required: true }
steps:
  - id: before
    run: echo before >> {{ dir }}/log
  - id: blind
    run: |
      echo blind >> {{ dir }}/log
      echo $$ > {{ dir }}/pid
      while [ ! -e {{ dir }}/go ]; do sleep 0.05; done
  - id: after
    run: echo after >> {{ dir }}/log
finally:
  - id: fin
    run: echo fin >> {{ dir }}/log
EOF2
)
# interrupt NAME SIG: a run of nocheck in $T/NAME stopped by SIG while
# 'blind' runs; its command's group is gone afterwards; sets $rid
interrupt() {
	mkdir -p "$T/$1"
	start run "$rbk" -p dir="$T/$1"
	if wait_for "$T/$1/pid"; then
		kill -"$2" "$bgpid"
		finish
		kill_group "$T/$1/pid"
	else
		kill -KILL "$bgpid" 2>/dev/null
		finish
	fi
	rid=$(run_id)
	touch "$T/$1/go"
}

# SIGKILL (started, never ended): refused without a terminal
interrupt n1 KILL
lines_before=$(wc -l <"$S/runs/$rid/journal.jsonl")
rb resume "$rid"
expect_rc 2 "no check, SIGKILL: resume without a terminal is refused (exit 2)"
err_has "step 2 (blind)"
err_has "--rerun-interrupted"
count_is 1 "$T/n1/log" blind "no check, SIGKILL: refused before anything ran"
count_is 0 "$T/n1/log" after "no check, SIGKILL: ... no later step"
check "no check, SIGKILL: ... nothing was journaled" test "$(wc -l <"$S/runs/$rid/journal.jsonl")" = "$lines_before"
rb resume "$rid" --rerun-interrupted
expect_rc 0 "no check, SIGKILL: --rerun-interrupted runs it again"
out_has "running it again (--rerun-interrupted)"
count_is 2 "$T/n1/log" blind "no check, SIGKILL: the step ran twice in all"
count_is 1 "$T/n1/log" before "no check, SIGKILL: the step before ran once"
count_is 1 "$T/n1/log" after "no check, SIGKILL: the step after ran once"
count_is 1 "$T/n1/log" fin "no check, SIGKILL: finally ran once"

# SIGINT (ended "interrupted"): exit 130, no finally, refused the same way
interrupt n2 INT
expect_rc 130 "no check, SIGINT: exit 130"
count_is 0 "$T/n2/log" fin "no check, SIGINT: finally did not run on the interrupted run"
rb resume "$rid"
expect_rc 2 "no check, SIGINT: resume without a terminal is refused"
err_has "step 2 (blind)"
count_is 1 "$T/n2/log" blind "no check, SIGINT: refused before anything ran"

if [ $have_tty = 1 ]; then
	prompt="take it as done [d]"
	# "s": stop here (paused), nothing runs
	on_tty s resume "$rid"
	expect_rc 4 "on a terminal, 's' stops the resume (exit 4)"
	out_has "Run it again [r], take it as done [d], or stop here [s]?"
	count_is 1 "$T/n2/log" blind "'s': the interrupted step did not run"
	count_is 0 "$T/n2/log" after "'s': no later step ran"
	count_is 0 "$T/n2/log" fin "'s': finally did not run"
	# "d": taken as done, not run
	on_tty d resume "$rid"
	expect_rc 0 "on a terminal, 'd' takes the step as done (exit 0)"
	check "'d': shown taken as done" grep -Eq '\] blind .*ok.*taken as done' "$out"
	count_is 1 "$T/n2/log" blind "'d': the interrupted step did not run again"
	count_is 1 "$T/n2/log" after "'d': the step after ran once"
	count_is 1 "$T/n2/log" fin "'d': finally ran once"
	check "'d': the journal says the operator settled it" grep -q '"settled":"operator"' "$S/runs/$rid/journal.jsonl"
	# "r": run it again
	interrupt n3 KILL
	on_tty r resume "$rid"
	expect_rc 0 "on a terminal, 'r' runs the step again (exit 0)"
	count_is 2 "$T/n3/log" blind "'r': the step ran again"
	count_is 1 "$T/n3/log" after "'r': the step after ran once"
else
	skip "no script(1)/mkfifo for a pseudo-terminal"
fi

# --- a resume interrupted, and resumed again ----------------------------------

mkdir -p "$T/c"
rbk=$(file chain.yml <<'EOF2'
runbook: chain
params:
  dir: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ dir }}/log
  - id: s2
    run: |
      echo s2 >> {{ dir }}/log
      echo $$ > {{ dir }}/pid2
      while [ ! -e {{ dir }}/go2 ]; do sleep 0.05; done
      touch {{ dir }}/effect2
    check: test -e {{ dir }}/effect2
  - id: s3
    run: |
      echo s3 >> {{ dir }}/log
      echo $$ > {{ dir }}/pid3
      while [ ! -e {{ dir }}/go3 ]; do sleep 0.05; done
      touch {{ dir }}/effect3
    check: test -e {{ dir }}/effect3
  - id: s4
    run: echo s4 >> {{ dir }}/log
finally:
  - id: fin
    run: echo fin >> {{ dir }}/log
EOF2
)
start run "$rbk" -p dir="$T/c"
wait_for "$T/c/pid2"
kill -KILL "$bgpid"
finish
kill_group "$T/c/pid2"
ch=$(run_id)
touch "$T/c/go2"
start resume "$ch"
if wait_for "$T/c/pid3"; then
	kill -INT "$bgpid"
	finish
else
	kill -KILL "$bgpid" 2>/dev/null
	finish
fi
expect_rc 130 "chain: the resumed run interrupted by SIGINT exits 130"
out_has "summary: interrupted"
count_is 0 "$T/c/log" fin "chain: finally does not run on the interrupted resume"
count_is 0 "$T/c/log" s4 "chain: the step after did not run"
touch "$T/c/go3"
rb resume "$ch"
expect_rc 0 "chain: resumed again, it succeeds"
count_is 1 "$T/c/log" s1 "chain: s1 ran once"
count_is 2 "$T/c/log" s2 "chain: s2 ran once per interruption (killed, then again)"
count_is 2 "$T/c/log" s3 "chain: s3 ran twice (interrupted, then again)"
count_is 1 "$T/c/log" s4 "chain: s4 ran once"
count_is 1 "$T/c/log" fin "chain: finally ran once, at the very end"
check "chain: s2 is done earlier in the second resume" grep -Eq '\] s2 .*\(done earlier\)' "$out"
check "chain: one journal with two resume records" test "$(jcount "$ch" resume)" = 2
check "chain: ... and one run_start" test "$(jcount "$ch" run_start)" = 1

# --- confirm ------------------------------------------------------------------

mkdir -p "$T/cf"
rbk=$(file confirm.yml <<'EOF2'
runbook: gate
params:
  dir: { required: true }
steps:
  - id: before
    run: echo before >> {{ dir }}/log
  - id: ask
    confirm: "Switch the traffic?"
  - id: after
    run: echo after >> {{ dir }}/log
finally:
  - id: fin
    run: echo fin >> {{ dir }}/log
EOF2
)
rb run "$rbk" -p dir="$T/cf"
expect_rc 4 "confirm: no terminal, no --yes: paused (exit 4)"
cf=$(run_id)
rb resume "$cf"
expect_rc 4 "confirm: resume asks again and pauses again (exit 4)"
err_has "confirmation needed: Switch the traffic?"
count_is 0 "$T/cf/log" after "confirm: nothing after the confirm ran"
rb resume "$cf" --yes
expect_rc 0 "confirm: resume --yes approves"
out_has "approved by --yes"
count_is 1 "$T/cf/log" before "confirm: the step before ran once"
count_is 1 "$T/cf/log" after "confirm: the step after ran once"
count_is 1 "$T/cf/log" fin "confirm: finally ran once, at the end"
if [ $have_tty = 1 ]; then
	mkdir -p "$T/cf2"
	rb run "$rbk" -p dir="$T/cf2"
	cf2=$(run_id)
	prompt="Continue? [y/N]"
	on_tty y resume "$cf2"
	expect_rc 0 "confirm: on a terminal the resume asks, 'y' approves"
	out_has "Switch the traffic?"
	count_is 1 "$T/cf2/log" before "confirm (tty): the step before ran once"
	count_is 1 "$T/cf2/log" after "confirm (tty): the step after ran once"
else
	skip "no script(1) for a pseudo-terminal"
fi

# --- preconditions ------------------------------------------------------------

mkdir -p "$T/p"
rbk=$(file pre.yml <<'EOF2'
runbook: pre
params:
  dir: { required: true }
preconditions:
  - name: ready
    run: echo pre >> {{ dir }}/pre; test -e {{ dir }}/pre-ok
steps:
  - id: work
    run: echo work >> {{ dir }}/log; test -e {{ dir }}/work-ok
EOF2
)
rb run "$rbk" -p dir="$T/p"
expect_rc 5 "pre: a failed precondition: exit 5"
pr=$(run_id)
touch "$T/p/pre-ok"
rb resume "$pr"
expect_rc 1 "pre: resume checks the failed preconditions again; then the step fails"
count_is 2 "$T/p/pre" pre "pre: a precondition that failed runs again"
count_is 1 "$T/p/log" work "pre: the step ran"
touch "$T/p/work-ok"
rb resume "$pr"
expect_rc 0 "pre: resumed again, it succeeds"
out_has "preconditions: passed when the run started"
count_is 2 "$T/p/pre" pre "pre: preconditions that passed are not run again"
count_is 2 "$T/p/log" work "pre: the failed step was retried"

# --- changed files ------------------------------------------------------------

mkdir -p "$T/chg/modules" "$T/g"
rbk=$(file chg/rb.yml <<'EOF2'
runbook: chg
use: [helper]
params:
  dir: { required: true }
  region: { required: true }
  invpw: { secret: true, required: true }
steps:
  - id: a
    run: echo a >> {{ dir }}/log
  - id: done2
    run: echo done2 >> {{ dir }}/log
  - id: b
    run: echo b >> {{ dir }}/log; echo {{ invpw }} >> {{ dir }}/invpw; test -e {{ dir }}/b-ok
  - id: gone
    run: echo gone >> {{ dir }}/log
  - id: mod
    uses: helper.put
    with: { dir: "{{ dir }}" }
EOF2
)
mod=$(file chg/modules/helper.yml <<'EOF2'
module: helper
actions:
  put:
    params: { dir: { required: true } }
    steps:
      - id: write
        run: echo mod >> {{ dir }}/log
EOF2
)
inv=$(file chg/inv.yml <<'EOF2'
vars: { region: eu-west, invpw: Inv3ntoryPw }
EOF2
)
cp "$rbk" "$T/rb.orig"
cp "$mod" "$T/mod.orig"
cp "$inv" "$T/inv.orig"
rb run "$rbk" -p dir="$T/g" --inventory "$inv"
expect_rc 1 "changed: the first run fails at 'b'"
cg=$(run_id)
check "changed: the inventory's secret reached the step" test "$(cat "$T/g/invpw")" = Inv3ntoryPw
rb resume "$cg" --inventory "$inv"
expect_rc 2 "changed: resume takes no --inventory"
echo "# edited" >>"$mod"
rb resume "$cg"
expect_rc 2 "changed: a changed module is refused (exit 2)"
check "changed: ... naming the module's file" grep -q 'module .*chg/modules/helper.yml changed since the run started' "$err"
err_has "--use-current"
cp "$T/mod.orig" "$mod"
echo "# edited" >>"$inv"
rb resume "$cg"
expect_rc 2 "changed: a changed inventory is refused (exit 2)"
check "changed: ... naming the inventory" grep -q 'inventory .*chg/inv.yml changed since the run started' "$err"
cp "$T/inv.orig" "$inv"
cat >"$rbk" <<'EOF2'
runbook: chg
use: [helper]
params:
  dir: { required: true }
  region: { required: true }
  invpw: { secret: true, required: true }
steps:
  - id: a
    run: echo a-new >> {{ dir }}/log
  - id: inserted
    run: echo inserted >> {{ dir }}/log
  - id: b
    run: echo b-new >> {{ dir }}/log; echo {{ invpw }} >> {{ dir }}/invpw
  - id: mod
    uses: helper.put
    with: { dir: "{{ dir }}" }
EOF2
rb resume "$cg"
expect_rc 2 "changed: a changed runbook is refused (exit 2)"
check "changed: ... naming the runbook's file" grep -q 'runbook .*chg/rb.yml changed since the run started' "$err"
count_is 1 "$T/g/log" b "changed: nothing ran while refused"
count_is 0 "$T/g/log" b-new "changed: ... not the new text either"
rb resume "$cg" --use-current
expect_rc 0 "changed: --use-current continues with the new text"
err_has "step 'inserted' is new"
err_has "step 'done2' was removed (it was ok)"
err_has "step 'gone' was removed"
count_is 1 "$T/g/log" a "changed: a done step (same id) is not run again"
count_is 0 "$T/g/log" a-new "changed: ... not even its new text"
count_is 1 "$T/g/log" done2 "changed: the removed done step did not run again"
count_is 1 "$T/g/log" inserted "changed: the new step ran"
count_is 1 "$T/g/log" b-new "changed: the failed step was retried with its new text"
count_is 0 "$T/g/log" gone "changed: the removed step never ran"
count_is 1 "$T/g/log" mod "changed: the module step ran once"
check "changed: the inventory's secret was read again" test "$(sed -n 2p "$T/g/invpw")" = Inv3ntoryPw
check "changed: the inventory's secret is not in the run folder" sh -c '! grep -rq Inv3ntoryPw "$1"' _ "$S/runs/$cg"
check "changed: the old runbook copy is kept" sh -c 'ls "$1"/runbook.yml.before-resume-*' _ "$S/runs/$cg"

# --- params -------------------------------------------------------------------

mkdir -p "$T/prm"
rbk=$(file prm.yml <<'EOF2'
runbook: prm
params:
  dir: { required: true }
  color: { default: red }
  region: { env: RB_T0410_REGION, default: none }
  envpw: { secret: true, required: true, env: RB_T0410_ENVPW }
  clipw: { secret: true, required: true }
  filepw: { secret: true, required: true }
steps:
  - id: first
    run: echo first >> {{ dir }}/log
  - id: show
    run: echo "color={{ color }} region={{ region }} env={{ envpw }} cli={{ clipw }} file={{ filepw }}" >> {{ dir }}/seen; test -e {{ dir }}/ok
EOF2
)
pf=$(file pf.yml <<'EOF2'
color: blue
filepw: FileOne
EOF2
)
export RB_T0410_REGION=eu RB_T0410_ENVPW=EnvOne
rb run "$rbk" -p dir="$T/prm" -p clipw=CliOne --params "$pf"
expect_rc 1 "params: the first run fails at 'show'"
pm=$(run_id)
check "params: the first run saw its values" test "$(cat "$T/prm/seen")" = "color=blue region=eu env=EnvOne cli=CliOne file=FileOne"
rb resume "$pm" -p color=green -p clipw=CliTwo
expect_rc 2 "params: -p of a non-secret param on resume is refused"
err_has "params keep the values the run started with; only secret params are given again"
rb resume "$pm" -p nosuch=1 -p clipw=CliTwo
expect_rc 2 "params: -p of an unknown param on resume is refused"
err_has "the run has no such param"
rb resume "$pm"
expect_rc 2 "params: a secret given with -p must be given again (no terminal)"
err_has "secret param 'clipw' was given with -p when the run started and is not recorded"
err_has "runbook resume $pm -p clipw=..."
unset RB_T0410_ENVPW
rb resume "$pm" -p clipw=CliTwo
expect_rc 2 "params: a secret from the environment must be there again"
count_is 1 "$T/prm/log" first "params: nothing ran while refused"
printf 'color: yellow\nfilepw: FileTwo\n' >"$pf"
export RB_T0410_REGION=us RB_T0410_ENVPW=EnvTwo
touch "$T/prm/ok"
rb resume "$pm" -p clipw=CliTwo
expect_rc 0 "params: resume with the secret given again"
check "params: recorded values kept, secrets read again (env, -p, params file)" \
	test "$(sed -n 2p "$T/prm/seen")" = "color=blue region=eu env=EnvTwo cli=CliTwo file=FileTwo"
count_is 1 "$T/prm/log" first "params: the done step did not run again"
check "params: no secret is in the run folder" sh -c '! grep -rqE "EnvOne|CliOne|FileOne|EnvTwo|CliTwo|FileTwo" "$1"' _ "$S/runs/$pm"
if [ $have_tty = 1 ]; then
	rm -f "$T/prm/ok" "$T/prm/seen"
	printf 'color: blue\nfilepw: FileOne\n' >"$pf"
	rb run "$rbk" -p dir="$T/prm" -p clipw=CliOne --params "$pf"
	pm2=$(run_id)
	touch "$T/prm/ok"
	prompt="secret param 'clipw'"
	on_tty CliTty resume "$pm2"
	expect_rc 0 "params: on a terminal a -p secret is asked for"
	out_has "secret param 'clipw' (given with -p when the run started):"
	check "params: the typed secret reached the step" \
		test "$(sed -n 2p "$T/prm/seen")" = "color=blue region=us env=EnvTwo cli=CliTty file=FileOne"
else
	skip "no script(1) for a pseudo-terminal"
fi
unset RB_T0410_REGION RB_T0410_ENVPW
