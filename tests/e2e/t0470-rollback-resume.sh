#!/bin/sh
# t0470 — resuming a rollback.  A rollback cut short by SIGKILL or SIGINT
# goes on at `runbook resume`, never the forward run: undos that ended are
# not run again, the undo that was interrupted is settled by its check
# (pass: done; fail: run again), and without a check the resume refuses
# unless --rerun-interrupted.  A run killed after its failed step but
# before (or just after) its rollback record rolls back on resume, without
# retrying the failed step.  Undos render with the values their step saw,
# also in a new process with another environment.  status shows the undos.
# Every effect is a line appended to a log, compared whole: order, counts,
# and that nothing forward ran again.
. "$(dirname "$0")/../lib.sh"

# commands left waiting by a failed assertion are ended with the script
cleanup() {
	for f in "$T"/*/pid; do
		[ -s "$f" ] && kill -KILL -"$(cat "$f")" 2>/dev/null
	done
	[ -n "${bgpid:-}" ] && kill -KILL "$bgpid" 2>/dev/null
	rm -rf "$T"
	return 0
}
trap cleanup EXIT

# kill_group FILE: SIGKILL the process group whose leader's pid is in
# FILE, and wait until it is gone (resume waits for a live group)
kill_group() {
	[ -s "$1" ] || return 0
	kill -KILL -"$(cat "$1")" 2>/dev/null
	i=0
	while kill -0 -"$(cat "$1")" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
}
# state_of: the state of the newest run in the current state folder
state_of() {
	"$RUNBOOK" status --format json 2>/dev/null </dev/null |
		sed -n 's/^{"runs":\[{"run":"[^"]*","state":"\([^"]*\)".*/\1/p'
}
# scenario NAME: a fresh state folder and work folder $d for NAME
scenario() {
	export RUNBOOK_STATE_DIR="$T/state-$1"
	d=$T/$1
	mkdir -p "$d"
	bgpid=
}
# log_is "what" LINE...: $d/log holds exactly these lines
log_is() {
	what=$1
	shift
	printf '%s\n' "$@" >"$T/.want"
	if cmp -s "$T/.want" "$d/log"; then
		_report 0 "$what"
	else
		_report 1 "$what"
		diff "$T/.want" "$d/log" 2>&1 | sed 's/^/#   /' | head -20
	fi
}
# lines FILE: how many lines FILE has (0 without FILE)
lines() {
	if [ -e "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}
# journal: the journal of the newest run in the current state folder
journal() {
	ls -t "$RUNBOOK_STATE_DIR"/runs/*/journal.jsonl 2>/dev/null | head -n 1
}

# The runbook of most scenarios.  s2's undo counts its starts in tries,
# writes its pid, then waits for the file go.  Its effect (the line
# undo-s2 in the log) comes before the wait when the file "early" is in
# the folder, after it otherwise.  Its check looks for that effect.
rbk=$(file gated.yml <<'EOF2'
runbook: gated
params:
  dir: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ dir }}/log
    undo: echo undo-s1 >> {{ dir }}/log
  - id: s2
    run: echo s2 >> {{ dir }}/log
    undo:
      id: s2-undo
      run: |
        echo try >> {{ dir }}/tries
        if [ -e {{ dir }}/early ]; then echo undo-s2 >> {{ dir }}/log; fi
        (trap '' TERM; exec sleep 301) &
        echo $! > {{ dir }}/stubborn
        echo $$ > {{ dir }}/pid
        while [ ! -e {{ dir }}/go ]; do sleep 0.05; done
        kill -KILL $(cat {{ dir }}/stubborn) 2>/dev/null
        if [ ! -e {{ dir }}/early ]; then echo undo-s2 >> {{ dir }}/log; fi
      check: grep -qx undo-s2 {{ dir }}/log
  - id: s3
    run: echo s3 >> {{ dir }}/log
    undo: echo undo-s3 >> {{ dir }}/log
  - id: bad
    run: echo bad >> {{ dir }}/log; exit 1
finally:
  - id: fin
    run: echo fin >> {{ dir }}/log
EOF2
)
full="s1 s2 s3 bad undo-s3 undo-s2 undo-s1 fin"

# --- 1. SIGKILL during an undo whose effect is there: its check passes ------

scenario k1
touch "$d/early"
start run "$rbk" -p dir="$d"
if wait_for "$d/pid"; then
	kill -KILL "$bgpid"
	finish
	expect_rc 137 "kill/check passes: runbook killed during the rollback"
	k1=$(run_id)
	check "kill/check passes: status says 'rollback interrupted'" test "$(state_of)" = "rollback interrupted"
	rb status "$k1"
	out_has "state     rollback interrupted"
	check "kill/check passes: status names the undo that was interrupted" \
		grep -q "^next: go on with the rollback .*the undo s2-undo of s2 was interrupted" "$out"
	check "kill/check passes: the undo's command outlived runbook" test -d "/proc/$(cat "$d/pid")"
	start resume
	if wait_for "$out" "still running"; then
		_report 0 "kill/check passes: resume waits for the undo's command that outlived runbook"
		check "kill/check passes: nothing else ran while it waited" test "$(lines "$d/log")" = 6
		touch "$d/go"
	else
		_report 1 "kill/check passes: resume waits for the undo's command that outlived runbook"
		touch "$d/go"
	fi
	finish
	expect_rc 1 "kill/check passes: the resumed rollback ends: exit 1 (a step failed, rolled back)"
	out_has "resuming the rollback of run $k1"
	out_has "its check passes: done, not run again"
	check "kill/check passes: the interrupted undo is shown settled by its check" \
		grep -q "s2-undo .*ok.*(settled by its check)" "$out"
	check "kill/check passes: the undo done before the kill is shown undone earlier" \
		grep -Eq '^s3 .*undone \(earlier\)' "$out"
	out_has "summary: failed at bad; rolled back"
	# shellcheck disable=SC2086
	log_is "kill/check passes: forward steps once, undos once newest first, then finally" $full
	check "kill/check passes: the interrupted undo's command ran once" test "$(lines "$d/tries")" = 1
	check "kill/check passes: final state 'rolled back'" test "$(state_of)" = "rolled back"
	check "kill/check passes: the journal says how the undo was settled" \
		sh -c 'grep "\"event\":\"undo_end\",\"step\":\"s2-undo\"" "$1" | grep -q "\"settled\":\"check\""' _ "$(journal)"
	check "kill/check passes: one phase record starts the rollback, one resume continues it" \
		test "$(grep -c '"event":"phase","phase":"rollback"' "$(journal)")" = 2 -a \
		"$(grep -c '"event":"resume"' "$(journal)")" = 1
	check "kill/check passes: the continued rollback says so" \
		grep -q '"event":"phase","phase":"rollback".*"continued":true' "$(journal)"
	check "kill/check passes: one rollback_end, status done" \
		test "$(grep -c '"event":"rollback_end","status":"done"' "$(journal)")" = 1

	# --- 6. status after the resumed rollback ---
	rb status "$k1"
	expect_rc 0 "status: exit 0"
	out_has "state     rolled back"
	for s in s1 s2 s3; do
		check "status: step $s shows UNDO 'undone'" grep -Eq "^  [0-9]+ +$s +local +ok +undone " "$out"
	done
	check "status: the failed step has no UNDO" grep -Eq '^  4 +bad +local +failed +1 ' "$out"
	check "status: a rollback section after the failure of bad, done" grep -q '^  rollback  after the failure of bad; done' "$out"
	check "status: the rollback section lists the undos newest first" \
		test "$(sed -n '/^  rollback /,/^$/p' "$out" | awk '$1 ~ /undo/ {print $1 "/" $3 "/" $4}' | tr '\n' ' ')" = \
		"s3.undo/ok/s3 s2-undo/ok/s2 s1.undo/ok/s1 "
	out_has "next: nothing: the run was rolled back"
	rb status "$k1" --format json
	check "status json: state rolled back, rollback done" grep -q '"state":"rolled back".*"rollback":{"state":"done"' "$out"
	check "status json: undo of each completed step is 'undone'" \
		test "$(grep -o '"id":"s[123]","title":"[^"]*","number":[0-9],"phase":"steps","host":"local","state":"ok","undo":"undone"' "$out" | wc -l)" = 3
	check "status json: the undos, newest first" \
		test "$(grep -o '"undos":\[.*\]' "$out" | grep -o '"id":"[^"]*"' | tr '\n' ' ')" = \
		'"id":"s3.undo" "id":"s2-undo" "id":"s1.undo" '
	rb resume
	expect_rc 2 "a rolled-back run is not resumed again (exit 2)"
	err_has "no unfinished run to resume"
	rb resume "$k1"
	expect_rc 2 "... not even by its id"
	# shellcheck disable=SC2086
	log_is "... and nothing ran" $full
else
	kill -KILL "$bgpid" 2>/dev/null
	finish
	_report 1 "kill/check passes: the rollback reached s2's undo"
fi

# --- 1b. SIGKILL of runbook and of the undo before its effect: the check ---
#     fails, the undo runs again; that resume killed too, and resumed again

scenario k2
start run "$rbk" -p dir="$d"
if wait_for "$d/pid"; then
	kill -KILL "$bgpid"
	finish
	kill_group "$d/pid"
	k2=$(run_id)
	check "kill/check fails: status says 'rollback interrupted'" test "$(state_of)" = "rollback interrupted"
	rm -f "$d/pid"
	start resume
	if wait_for "$d/pid"; then
		check "kill/check fails: the resume runs the undo again" test "$(lines "$d/tries")" = 2
		kill -KILL "$bgpid"
		finish
		expect_rc 137 "kill/check fails: the resume killed during the same undo"
		kill_group "$d/pid"
	else
		kill -KILL "$bgpid" 2>/dev/null
		finish
		_report 1 "kill/check fails: the resume runs the undo again"
	fi
	check "kill/check fails: still 'rollback interrupted'" test "$(state_of)" = "rollback interrupted"
	touch "$d/go"
	rb resume
	expect_rc 1 "kill/check fails: resumed again, the rollback ends (exit 1)"
	out_has "resuming the rollback of run $k2"
	out_has "its check fails"
	out_lacks "still running"
	log_is "kill/check fails: forward steps once, every undo effect once, newest first" $full
	check "kill/check fails: the undo's command ran three times (run, two resumes)" test "$(lines "$d/tries")" = 3
	check "kill/check fails: final state 'rolled back'" test "$(state_of)" = "rolled back"
else
	kill -KILL "$bgpid" 2>/dev/null
	finish
	_report 1 "kill/check fails: the rollback reached s2's undo"
fi

# --- 2. an interrupted undo without a check ---------------------------------

nck=$(file nocheck.yml <<'EOF2'
runbook: nocheck
params:
  dir: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ dir }}/log
    undo: echo undo-s1 >> {{ dir }}/log
  - id: s2
    run: echo s2 >> {{ dir }}/log
    undo:
      - id: blind-undo
        run: |
          echo try >> {{ dir }}/tries
          echo $$ > {{ dir }}/pid
          while [ ! -e {{ dir }}/go ]; do sleep 0.05; done
          echo undo-s2 >> {{ dir }}/log
  - id: s3
    run: echo s3 >> {{ dir }}/log
    undo: echo undo-s3 >> {{ dir }}/log
  - id: bad
    run: echo bad >> {{ dir }}/log; exit 1
finally:
  - id: fin
    run: echo fin >> {{ dir }}/log
EOF2
)
for sig in KILL INT; do
	scenario "n$sig"
	start run "$nck" -p dir="$d"
	if wait_for "$d/pid"; then
		kill -"$sig" "$bgpid"
		finish
		kill_group "$d/pid"
		nid=$(run_id)
		check "no check, SIG$sig: status says 'rollback interrupted'" test "$(state_of)" = "rollback interrupted"
		touch "$d/go"
		jl=$(lines "$(journal)")
		rb resume
		expect_rc 2 "no check, SIG$sig: resume without a terminal refuses (exit 2)"
		err_has "undo blind-undo of s2"
		err_has "--rerun-interrupted"
		check "no check, SIG$sig: nothing ran" test "$(lines "$d/tries")" = 1 -a "$(lines "$d/log")" = 5
		check "no check, SIG$sig: nothing was journaled" test "$(lines "$(journal)")" = "$jl"
		check "no check, SIG$sig: still 'rollback interrupted'" test "$(state_of)" = "rollback interrupted"
		rb resume --rerun-interrupted
		expect_rc 1 "no check, SIG$sig: --rerun-interrupted goes on with the rollback (exit 1)"
		out_has "resuming the rollback of run $nid"
		out_has "running it again (--rerun-interrupted)"
		check "no check, SIG$sig: the undo ran again" test "$(lines "$d/tries")" = 2
		# shellcheck disable=SC2086
		log_is "no check, SIG$sig: forward steps once, undos once newest first, finally" $full
		check "no check, SIG$sig: final state 'rolled back'" test "$(state_of)" = "rolled back"
	else
		kill -KILL "$bgpid" 2>/dev/null
		finish
		_report 1 "no check, SIG$sig: the rollback reached s2's undo"
	fi
done

# --- 3. SIGINT during a rollback ------------------------------------------------

for how in early late; do
	scenario "i$how"
	[ $how = early ] && touch "$d/early"
	start run "$rbk" -p dir="$d" --events "$d/ev.jsonl"
	if wait_for "$d/pid"; then
		kill -INT "$bgpid"
		finish
		expect_rc 130 "SIGINT ($how effect): exit 130"
		iid=$(run_id)
		out_has "interrupted during the rollback"
		check "SIGINT ($how effect): the undo is shown interrupted" grep -q 's2-undo .*interrupted' "$out"
		pg=$(cat "$d/pid")
		check "SIGINT ($how effect): the journal names the undo's process group" \
			sh -c 'grep "\"event\":\"undo_pid\",\"step\":\"s2-undo\"" "$1" | grep -q "\"pgid\":$2,"' _ "$(journal)" "$pg"
		check "SIGINT ($how effect): the undo is journaled undo_end, status interrupted" \
			sh -c 'grep "\"event\":\"undo_end\",\"step\":\"s2-undo\"" "$1" | grep -q "\"of\":\"s2\",\"for\":\"local\",\"status\":\"interrupted\""' _ "$(journal)"
		check "SIGINT ($how effect): the undo's shell is gone" gone "$pg"
		check "SIGINT ($how effect): its child that ignores SIGTERM is gone" gone "$(cat "$d/stubborn")"
		check "SIGINT ($how effect): no live process is left in its process group" group_gone "$pg"
		check "SIGINT ($how effect): no rollback_end, no finally" \
			test "$(grep -c '"event":"rollback_end"' "$(journal)")" = 0 -a "$(grep -c '^fin$' "$d/log")" = 0
		check "SIGINT ($how effect): the older undo did not run" test "$(grep -c '^undo-s1$' "$d/log")" = 0
		check "SIGINT ($how effect): status says 'rollback interrupted'" test "$(state_of)" = "rollback interrupted"
		touch "$d/go"
		rb resume
		expect_rc 1 "SIGINT ($how effect): resume finishes the rollback (exit 1)"
		out_has "resuming the rollback of run $iid"
		if [ $how = early ]; then
			out_has "its check passes: done, not run again"
			check "SIGINT (early effect): the undo was not run again" test "$(lines "$d/tries")" = 1
		else
			out_has "its check fails"
			check "SIGINT (late effect): the undo ran again" test "$(lines "$d/tries")" = 2
		fi
		# shellcheck disable=SC2086
		log_is "SIGINT ($how effect): forward steps once, undos once newest first, finally" $full
		check "SIGINT ($how effect): final state 'rolled back'" test "$(state_of)" = "rolled back"
	else
		kill -KILL "$bgpid" 2>/dev/null
		finish
		_report 1 "SIGINT ($how effect): the rollback reached s2's undo"
	fi
done

# --- 4. the values of the step's time, in a new process ----------------------

vrb=$(file values.yml <<'EOF2'
runbook: values
params:
  dir: { required: true }
  color: { default: red }
steps:
  - id: make
    run: echo "version $(cat {{ dir }}/gen)"; echo make >> {{ dir }}/log
    capture: { ver: 'version (\S+)' }
    env: { WHO: "who-{{ env.RB_T0470_X }}" }
    undo:
      run: echo "undo-make ver={{ ver }} x={{ env.RB_T0470_X }} color={{ color }} who=$WHO out={{ steps.make.stdout }}" >> {{ dir }}/log
  - id: slow
    run: echo slow >> {{ dir }}/log
    undo:
      run: |
        echo "undo-slow x={{ env.RB_T0470_X }}" >> {{ dir }}/log
        echo $$ > {{ dir }}/pid
        while [ ! -e {{ dir }}/go ]; do sleep 0.05; done
      check: grep -q '^undo-slow' {{ dir }}/log
  - id: bad
    run: exit 1
EOF2
)
scenario values
echo 1.5 >"$d/gen"
export RB_T0470_X=first
start run "$vrb" -p dir="$d"
if wait_for "$d/pid"; then
	kill -KILL "$bgpid"
	finish
	kill_group "$d/pid"
	check "values: the step_end keeps what the undo reads (undo_values)" \
		sh -c 'grep "\"event\":\"step_end\",\"step\":\"make\"" "$1" | grep -q "\"undo_values\":{.*\"env.RB_T0470_X\":\"first\""' _ "$(journal)"
	echo 9.9 >"$d/gen"
	export RB_T0470_X=second
	rb resume
	expect_rc 1 "values: the resumed rollback ends (exit 1)"
	log_is "values: the undo in the new process uses the values its step saw" \
		make slow "undo-slow x=first" "undo-make ver=1.5 x=first color=red who=who-first out=version 1.5"
else
	kill -KILL "$bgpid" 2>/dev/null
	finish
	_report 1 "values: the rollback reached slow's undo"
fi
unset RB_T0470_X

# --- 5. killed between the failed step and the rollback ---------------------
# The kill is put where it is wanted by cutting a finished run's journal
# back to that record (a kill there leaves exactly that journal), and the
# log back to what had happened by then.

# cut_after PATTERN: the newest journal, cut after its first record that
# matches PATTERN
cut_after() {
	j=$(journal)
	n=$(grep -n -- "$1" "$j" | head -n 1 | cut -d: -f1)
	[ -n "$n" ] || return 1
	head -n "$n" "$j" >"$j.cut" && mv "$j.cut" "$j"
}
fast=$(file fast.yml <<'EOF2'
runbook: fast
params:
  dir: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ dir }}/log
    undo: echo undo-s1 >> {{ dir }}/log
  - id: s2
    run: echo s2 >> {{ dir }}/log
    undo:
      - id: s2-undo-a
        run: echo undo-s2-a >> {{ dir }}/log
      - id: s2-undo-b
        run: echo undo-s2-b >> {{ dir }}/log
  - id: s3
    run: echo s3 >> {{ dir }}/log
    undo: echo undo-s3 >> {{ dir }}/log
  - id: bad
    run: echo bad >> {{ dir }}/log; exit 1
finally:
  - id: fin
    run: echo fin >> {{ dir }}/log
EOF2
)
# cut NAME PATTERN LINES...: a run of fast, its journal cut after the
# record PATTERN and its log back to LINES
cut_run() {
	scenario "$1"
	name=$1
	pat=$2
	shift 2
	rb run "$fast" -p dir="$d"
	cid=$(run_id)
	if cut_after "$pat"; then
		printf '%s\n' "$@" >"$d/log"
		return 0
	fi
	_report 1 "$name: the journal has the record $pat"
	return 1
}
after="undo-s3 undo-s2-a undo-s2-b undo-s1 fin"
if cut_run cutfail '"event":"step_end","step":"bad"' s1 s2 s3 bad; then
	check "killed after the failed step: status 'interrupted' (no rollback record yet)" test "$(state_of)" = interrupted
	rb resume
	expect_rc 1 "killed after the failed step: resume rolls back (exit 1)"
	out_has "resuming the rollback of run $cid"
	out_lacks "] bad"
	# shellcheck disable=SC2086
	log_is "killed after the failed step: the failed step is not retried, nothing forward runs, all undone" \
		s1 s2 s3 bad $after
	check "killed after the failed step: final state 'rolled back'" test "$(state_of)" = "rolled back"
	check "killed after the failed step: the rollback's trigger is the failure" \
		grep -q '"event":"phase","phase":"rollback","trigger":"failure"' "$(journal)"
fi
if cut_run cutphase '"event":"phase","phase":"rollback"' s1 s2 s3 bad; then
	check "killed at the rollback record: status 'rollback interrupted'" test "$(state_of)" = "rollback interrupted"
	rb resume
	expect_rc 1 "killed at the rollback record: resume goes on with the rollback (exit 1)"
	# shellcheck disable=SC2086
	log_is "killed at the rollback record: nothing forward runs, all undone once" s1 s2 s3 bad $after
fi
if cut_run cutmid '"event":"undo_end","step":"s2-undo-a"' s1 s2 s3 bad undo-s3 undo-s2-a; then
	rb resume
	expect_rc 1 "killed between two steps of one undo: resume goes on (exit 1)"
	log_is "killed between two steps of one undo: only the undo steps not ended run" \
		s1 s2 s3 bad undo-s3 undo-s2-a undo-s2-b undo-s1 fin
	check "killed between two steps of one undo: final state 'rolled back'" test "$(state_of)" = "rolled back"
fi
if cut_run cutfin '"event":"rollback_end"' s1 s2 s3 bad $after; then
	# killed after the rollback ended, before finally
	sed -i '$d' "$d/log"
	rb resume
	expect_rc 1 "killed after the rollback ended: resume runs finally only (exit 1)"
	out_has "rollback: finished earlier"
	# shellcheck disable=SC2086
	log_is "killed after the rollback ended: no undo again, finally once" s1 s2 s3 bad $after
	check "killed after the rollback ended: final state 'rolled back'" test "$(state_of)" = "rolled back"
fi
# SIGINT in finally, after the rollback ended: resume finishes finally
frb=$(file finint.yml <<'EOF2'
runbook: finint
params:
  dir: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ dir }}/log
    undo: echo undo-s1 >> {{ dir }}/log
  - id: bad
    run: echo bad >> {{ dir }}/log; exit 1
finally:
  - id: fin
    run: |
      echo $$ > {{ dir }}/pid
      while [ ! -e {{ dir }}/go ]; do sleep 0.05; done
      echo fin >> {{ dir }}/log
    check: grep -qx fin {{ dir }}/log
EOF2
)
scenario finint
start run "$frb" -p dir="$d"
if wait_for "$d/pid"; then
	kill -INT "$bgpid"
	finish
	expect_rc 130 "SIGINT in finally after the rollback: exit 130"
	touch "$d/go"
	rb resume
	expect_rc 1 "SIGINT in finally after the rollback: resume finishes finally (exit 1)"
	log_is "SIGINT in finally after the rollback: no undo again, finally once" s1 bad undo-s1 fin
	check "SIGINT in finally after the rollback: final state 'rolled back'" test "$(state_of)" = "rolled back"
else
	kill -KILL "$bgpid" 2>/dev/null
	finish
	_report 1 "SIGINT in finally after the rollback: finally started"
fi

# nothing to undo: a killed failed run is resumed forward (the failed step
# is retried)
noundo=$(file noundo.yml <<'EOF2'
runbook: noundo
params:
  dir: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ dir }}/log
  - id: bad
    run: echo bad >> {{ dir }}/log; test -e {{ dir }}/ok
EOF2
)
scenario noundo
rb run "$noundo" -p dir="$d"
expect_rc 1 "nothing to undo: the run fails (exit 1)"
if cut_after '"event":"step_end","step":"bad"'; then
	touch "$d/ok"
	rb resume
	expect_rc 0 "nothing to undo: resume retries the failed step (exit 0)"
	log_is "nothing to undo: the failed step ran again, the done one did not" s1 bad bad
	check "nothing to undo: no rollback record" sh -c '! grep -q "\"phase\":\"rollback\"" "$1"' _ "$(journal)"
else
	_report 1 "nothing to undo: the journal has the failed step's record"
fi

# --- a rollback that failed is resumed ------------------------------------------

frb=$(file failing.yml <<'EOF2'
runbook: failing
params:
  dir: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ dir }}/log
    undo: echo undo-s1 >> {{ dir }}/log
  - id: s2
    run: echo s2 >> {{ dir }}/log
    undo:
      id: s2-undo
      run: test -e {{ dir }}/fixed && echo undo-s2 >> {{ dir }}/log
  - id: s3
    run: echo s3 >> {{ dir }}/log
    undo: echo undo-s3 >> {{ dir }}/log
  - id: bad
    run: echo bad >> {{ dir }}/log; exit 1
EOF2
)
scenario failed
rb run "$frb" -p dir="$d"
expect_rc 3 "failed undo: exit 3"
check "failed undo: status 'rollback failed'" test "$(state_of)" = "rollback failed"
touch "$d/fixed"
rb resume
expect_rc 1 "failed undo: resume retries the undo and goes on (exit 1)"
out_has "resuming the rollback of run"
log_is "failed undo: nothing forward again, the failed undo and the rest once" s1 s2 s3 bad undo-s3 undo-s2 undo-s1
check "failed undo: final state 'rolled back'" test "$(state_of)" = "rolled back"
