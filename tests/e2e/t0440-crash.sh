#!/bin/sh
# t0440 — the crash test.  A runbook of 10 steps, each appending its name
# to a file and with a check, is killed with SIGKILL at random moments,
# then resumed — and the resumes are killed at random moments too — until
# a resume finishes.  Every time, every step's line must be in the file
# exactly once, in order: a step whose runbook process died is either
# settled by its check (its effect is there) or run again (it is not).
# Rounds go on until CRASH_KILLS (default 60) kills have landed.  The moments
# come from /dev/urandom and are printed on failure to replay them.
. "$(dirname "$0")/../lib.sh"

# rounds go on until CRASH_KILLS kills have landed (and at least 20 rounds)
want_kills=${CRASH_KILLS:-60}
rbk=$(file crash.yml <<'EOF2'
runbook: crash
params:
  out: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ out }}
    check: grep -qx s1 {{ out }}
  - id: s2
    run: sleep 0.005; echo s2 >> {{ out }}; sleep 0.01
    check: grep -qx s2 {{ out }}
  - id: s3
    run: echo s3 >> {{ out }}; sleep 0.015
    check: grep -qx s3 {{ out }}
  - group: middle
    steps:
      - id: s4
        run: sleep 0.015; echo s4 >> {{ out }}
        check: grep -qx s4 {{ out }}
      - id: s5
        run: echo s5 >> {{ out }}
        check: grep -qx s5 {{ out }}
  - id: s6
    run: sleep 0.005; echo s6 >> {{ out }}; sleep 0.01
    check: grep -qx s6 {{ out }}
  - id: s7
    run: echo s7 >> {{ out }}
    check: grep -qx s7 {{ out }}
    retry: { attempts: 2, delay: 10ms }
  - id: s8
    run: sleep 0.005; echo s8 >> {{ out }}
    check: grep -qx s8 {{ out }}
  - id: s9
    run: echo s9 >> {{ out }}; sleep 0.01
    check: grep -qx s9 {{ out }}
finally:
  - id: s10
    run: echo s10 >> {{ out }}
    check: grep -qx s10 {{ out }}
EOF2
)
printf 's1\ns2\ns3\ns4\ns5\ns6\ns7\ns8\ns9\ns10\n' >"$T/want"

# a random delay in ms, 0..$1
rnd() { echo $(( $(od -An -N2 -tu2 /dev/urandom) % ($1 + 1) )); }
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# start_killed MAXMS CMD...: runs the binary and kills it after a random
# delay of up to MAXMS; counts the kills that landed (exit 137)
start_killed() {
	d=$(rnd "$1")
	shift
	"$RUNBOOK" "$@" >>"$T/log.$i" 2>&1 </dev/null &
	p=$!
	sleep "$(ms "$d")"
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	rc=$?
	[ $rc = 137 ] && kills=$((kills + 1))
	moments="$moments $1@${d}ms:$rc"
}

# the state of the newest run in this round's state folder, or "none"
newest() {
	s=$("$RUNBOOK" status --format json 2>/dev/null |
		sed -n 's/^{"runs":\[{"run":"[^"]*","state":"\([^"]*\)".*/\1/p')
	echo "${s:-none}"
}

kills=0
bad=0
resumes=0
i=0
while { [ $kills -lt "$want_kills" ] || [ $i -lt 20 ]; } && [ $i -lt 300 ]; do
	i=$((i + 1))
	export RUNBOOK_STATE_DIR="$T/state$i"
	o="$T/out$i"
	: >"$o"
	moments=""
	start_killed 150 run "$rbk" -p out="$o"
	n=0
	while [ $n -lt 10 ]; do
		n=$((n + 1))
		case $(newest) in
		succeeded) break ;;
		none | unreadable)
			# killed before its run_start record was durable: nothing
			# may have run, and a new run starts from scratch
			if [ -s "$o" ]; then
				echo "# round $i: effects without a recorded run"
				bad=$((bad + 1))
			fi
			start_killed 150 run "$rbk" -p out="$o"
			continue ;;
		esac
		resumes=$((resumes + 1))
		if [ $n -le 2 ]; then
			start_killed 80 resume
		else
			"$RUNBOOK" resume >>"$T/log.$i" 2>&1 </dev/null
			moments="$moments resume:$?"
		fi
	done
	if ! cmp -s "$o" "$T/want" || [ "$(newest)" != succeeded ]; then
		bad=$((bad + 1))
		echo "# round $i: effects differ from one line per step, or the run did not end (moments:$moments)"
		diff "$T/want" "$o" | sed 's/^/#   /' | head -12
		sed 's/^/#   log: /' "$T/log.$i" | tail -30
	fi
done
echo "# $i rounds, $kills SIGKILLs landed (runs and resumes), $resumes resumes"
check "every step's effect exactly once, every run finished, after $kills kills in $i rounds" test "$bad" = 0
check "at least $want_kills kills landed" test "$kills" -ge "$want_kills"

# The window between a command's start and its step_pid record: runbook is
# killed there, so the journal never names the command's process group.
# Resume must still find the command (it carries RUNBOOK_RUN_ID and
# RUNBOOK_STEP_ID in its environment) and wait for it before the check.
export RUNBOOK_STATE_DIR="$T/state-window"
w=$(file window.yml <<'EOF2'
runbook: window
params:
  dir: { required: true }
steps:
  - id: slow
    run: |
      echo "$RUNBOOK_RUN_ID $RUNBOOK_STEP_ID" > {{ dir }}/w-env
      sleep 1
      echo slow >> {{ dir }}/w-out
    check: grep -qx slow {{ dir }}/w-out
EOF2
)
"$RUNBOOK" run "$w" -p dir="$T" >"$out" 2>"$err" </dev/null &
p=$!
k=0
while [ ! -s "$T/w-env" ] && [ $k -lt 200 ]; do sleep 0.05; k=$((k + 1)); done
kill -9 "$p"
wait "$p" 2>/dev/null
j=$(ls "$T"/state-window/runs/*/journal.jsonl)
# cut the step_pid record off, as if the kill had come just before it
python3 - "$j" <<'EOF2'
import sys
p = sys.argv[1]
lines = open(p, 'rb').read().split(b'\n')[:-1]
assert b'"event":"step_pid"' in lines[-1], lines[-1]
open(p, 'wb').write(b'\n'.join(lines[:-1]) + b'\n')
EOF2
check "the command sees its run and step ids" grep -q "^window-.* slow$" "$T/w-env"
rb resume
expect_rc 0 "resume after a kill before the step_pid record"
# (under valgrind, resume starts after the one-second command has ended)
plain_binary && out_has "still running"
check "the command that outlived runbook ran once, and was not run again" test "$(cat "$T/w-out")" = slow

# --- the rollback crash test ---------------------------------------------------
# A runbook of 6 steps that succeed (s4 and s5 in a group whose own undo
# of two steps replaces theirs) and a 7th that fails; each appends its
# name to a file and has a check, each undo appends "undo-NAME" to a
# second file and has a check that looks for that line; finally appends
# "fin" to the second file.  Killed at random moments — the run, then the
# resumes — until the rollback has ended: every forward effect must be
# there exactly once (nothing runs forward again once the rollback
# began), every undo effect exactly once, newest first, then fin, and the
# run "rolled back".  Rounds go on until CRASH_ROLLBACK_KILLS (default
# 30) kills have landed during the rollback (the run's state after the
# kill is "rollback interrupted").
want_rb_kills=${CRASH_ROLLBACK_KILLS:-30}
rrb=$(file crash-rollback.yml <<'EOF2'
runbook: crash-rollback
params:
  out: { required: true }
  undo: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ out }}
    check: grep -qx s1 {{ out }}
    undo:
      run: echo undo-s1 >> {{ undo }}
      check: grep -qx undo-s1 {{ undo }}
  - id: s2
    run: echo s2 >> {{ out }}; sleep 0.005
    check: grep -qx s2 {{ out }}
    undo:
      run: sleep 0.005; echo undo-s2 >> {{ undo }}; sleep 0.01
      check: grep -qx undo-s2 {{ undo }}
  - id: s3
    run: sleep 0.005; echo s3 >> {{ out }}
    check: grep -qx s3 {{ out }}
    undo:
      run: echo undo-s3 >> {{ undo }}; sleep 0.015
      check: grep -qx undo-s3 {{ undo }}
  - group: middle
    undo:
      - id: middle-undo-1
        run: sleep 0.01; echo undo-middle-1 >> {{ undo }}
        check: grep -qx undo-middle-1 {{ undo }}
      - id: middle-undo-2
        run: echo undo-middle-2 >> {{ undo }}; sleep 0.01
        check: grep -qx undo-middle-2 {{ undo }}
    steps:
      - id: s4
        run: echo s4 >> {{ out }}
        check: grep -qx s4 {{ out }}
        undo:
          run: echo undo-s4 >> {{ undo }}
          check: grep -qx undo-s4 {{ undo }}
      - id: s5
        run: echo s5 >> {{ out }}; sleep 0.005
        check: grep -qx s5 {{ out }}
        undo:
          run: echo undo-s5 >> {{ undo }}
          check: grep -qx undo-s5 {{ undo }}
  - id: s6
    run: echo s6 >> {{ out }}
    check: grep -qx s6 {{ out }}
    undo:
      run: sleep 0.01; echo undo-s6 >> {{ undo }}; sleep 0.005
      check: grep -qx undo-s6 {{ undo }}
      retry: { attempts: 2, delay: 10ms }
  - id: s7
    run: sleep 0.005; exit 1
    check: "false"
finally:
  - id: fin
    run: echo fin >> {{ undo }}
    check: grep -qx fin {{ undo }}
EOF2
)
printf 's1\ns2\ns3\ns4\ns5\ns6\n' >"$T/want-fwd"
printf 'undo-s6\nundo-middle-1\nundo-middle-2\nundo-s3\nundo-s2\nundo-s1\nfin\n' >"$T/want-undo"

kills=0
rb_kills=0
bad=0
resumes=0
r=0
while { [ $rb_kills -lt "$want_rb_kills" ] || [ $r -lt 10 ]; } && [ $r -lt 300 ]; do
	r=$((r + 1))
	i=rb$r # names the round's log for start_killed
	export RUNBOOK_STATE_DIR="$T/state-rb$r"
	o="$T/out-rb$r"
	u="$T/undo-rb$r"
	: >"$o"
	: >"$u"
	moments=""
	start_killed 200 run "$rrb" -p out="$o" -p undo="$u"
	n=0
	while :; do
		s=$(newest)
		[ "$rc" = 137 ] && moments="$moments[$s]"
		[ "$rc" = 137 ] && [ "$s" = "rollback interrupted" ] && rb_kills=$((rb_kills + 1))
		n=$((n + 1))
		[ $n -le 10 ] || break
		case $s in
		succeeded | "rolled back") break ;;
		none | unreadable)
			if [ -s "$o" ]; then
				echo "# rollback round $r: effects without a recorded run"
				bad=$((bad + 1))
			fi
			start_killed 200 run "$rrb" -p out="$o" -p undo="$u"
			continue ;;
		esac
		resumes=$((resumes + 1))
		if [ $n -le 3 ]; then
			start_killed 100 resume
		else
			"$RUNBOOK" resume >>"$T/log.$i" 2>&1 </dev/null
			rc=$?
			moments="$moments resume:$rc"
		fi
	done
	if ! cmp -s "$o" "$T/want-fwd" || ! cmp -s "$u" "$T/want-undo" || [ "$(newest)" != "rolled back" ]; then
		bad=$((bad + 1))
		echo "# rollback round $r: effects differ from one line per step and per undo, newest first, or the run did not end rolled back ($(newest)) (moments:$moments)"
		diff "$T/want-fwd" "$o" | sed 's/^/#   forward: /' | head -12
		diff "$T/want-undo" "$u" | sed 's/^/#   undo: /' | head -12
		sed 's/^/#   log: /' "$T/log.$i" | tail -30
	fi
done
echo "# rollback: $r rounds, $kills SIGKILLs landed, $rb_kills of them during the rollback, $resumes resumes"
check "rollback: every forward and undo effect exactly once, undos newest first, every run rolled back, after $rb_kills kills during the rollback in $r rounds" test "$bad" = 0
check "rollback: at least $want_rb_kills kills landed during the rollback" test "$rb_kills" -ge "$want_rb_kills"
