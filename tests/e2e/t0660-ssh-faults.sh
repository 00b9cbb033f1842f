#!/bin/sh
# t0660 — SSH faults.  The connection dropped in the middle of a step
# (every sshd process of the connection killed, the server still
# listening, the step's command living on as an orphan): runbook exits 1
# at once (no hang), says the connection was lost and to resume, the
# journal and `runbook status` show the step interrupted; `runbook
# resume` reconnects and settles the step by its check — waiting for the
# orphan when it still runs, seeing its result when it has finished, and
# running the step again when its check fails — and finishes the run,
# without running again what was done.  A host that is down at the start:
# exit 5 and nothing ran, not even a local first step; `plan --check` on
# it: exit 5.  The SFTP subsystem dying in the middle of a run does not
# leave runbook hanging.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start web 127.0.0.2 || sshd_skip_all "sshd did not start"
sshd_pin web
inv=$T/inv.yml
sshd_inventory "$inv" web
D=$T/d
mkdir -p "$D"
now() { date +%s; }
# finish_within SECS: finish, with a shorter limit (rc "hung", killed)
finish_within() {
	_i=0
	while ! gone "$bgpid" && [ $_i -lt $(($1 * 20)) ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	if gone "$bgpid"; then finish; else
		kill -KILL "$bgpid" 2>/dev/null
		wait "$bgpid" 2>/dev/null
		rc=hung
	fi
}

# each run gets its own folder: {{ dir }}; SECS: the step's length (a
# unique sleep, so that its orphan can be found with pgrep -f)
rbk=$(file drop.yml <<'EOF2'
runbook: ssh-drop
target: web
params:
  dir: { required: true }
  secs: { required: true, pattern: '[0-9.]+' }
steps:
  - id: first
    run: echo once >> {{ dir }}/first
  - id: long
    run: echo run >> {{ dir }}/long-runs; sleep {{ secs }}; touch {{ dir }}/DONE
    check: test -e {{ dir }}/DONE
  - id: later
    run: echo once >> {{ dir }}/later
EOF2
)

# drop NAME SECS: runs the runbook in $D/NAME, cuts the connection once
# the long step's command runs; sets $rc, $rid and $took (seconds from the
# cut to runbook's exit)
drop() {
	mkdir -p "$D/$1"
	start run "$rbk" --inventory "$inv" -p dir="$D/$1" -p secs="$2"
	wait_for "$D/$1/long-runs"
	_w=0
	while ! pgrep -f "sleep $2" >/dev/null && [ $_w -lt 100 ]; do
		sleep 0.05
		_w=$((_w + 1))
	done
	_t0=$(now)
	sshd_cut web
	finish
	took=$(($(now) - _t0))
	rid=$(run_id)
}

# --- 1. the drop, then a resume while the orphan still runs ------------------
drop a 4.31
expect_rc 1 "a dropped connection during a step: exit 1"
check "runbook exited promptly after the drop (${took}s)" test "$took" -le 3
check "the output says the connection was lost" grep -qi 'lost the connection' "$out"
check "the output says to resume" grep -q "runbook resume $rid" "$out"
check "the step is reported interrupted" grep -Eq '^ *interrupted .*long' "$out"
check "the step after did not run" test ! -e "$D/a/later"
check "the journal says the step was interrupted" \
	grep -Eq '"event":"step_end","step":"long",[^}]*"status":"interrupted"' "$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl"
check "the orphaned command still runs on the host" pgrep -f 'sleep 4\.31'
rb status "$rid"
check "status shows the step interrupted" grep -Eq 'long .*interrupted' "$out"
check "status says what resume does next (the check decides)" grep -qi 'check' "$out"

t0=$(now)
rb resume "$rid"
t1=$(now)
expect_rc 0 "resume (server still listening) reconnects and finishes"
check "resume waited for the orphan, whose check then passed: the step did not run again" \
	test "$(cat "$D/a/long-runs" 2>/dev/null)" = run
check "the orphan finished its work" test -e "$D/a/DONE"
check "the step after ran once" test "$(cat "$D/a/later" 2>/dev/null)" = once
check "the step before was not run again" test "$(cat "$D/a/first" 2>/dev/null)" = once
check "resume took about the orphan's remaining time, not a timeout ($((t1 - t0))s)" test $((t1 - t0)) -le 8
check "the orphan is gone" sshd_gone 'sleep 4\.31' 5
rb status "$rid"
check "status: the run succeeded" grep -Eq 'state +succeeded' "$out"
check "status: the interrupted step is done" grep -Eq '^ *2 +long .* ok ' "$out"

# --- 2. the orphan has finished before the resume -----------------------------
drop b 1.32
expect_rc 1 "a second drop: exit 1"
wait_for "$D/b/DONE"
rb resume "$rid"
expect_rc 0 "resume after the orphan finished"
check "its check passed: the step did not run again" test "$(cat "$D/b/long-runs" 2>/dev/null)" = run
check "the step after ran once" test "$(cat "$D/b/later" 2>/dev/null)" = once

# --- 3. the orphan died: the check fails, the step runs again ------------------
drop c 4.33
expect_rc 1 "a third drop: exit 1"
pkill -KILL -f 'sleep 4\.33'
sshd_gone 'sleep 4\.33' 5
rb resume "$rid"
expect_rc 0 "resume when the orphan died without finishing"
check "its check failed: the step ran again (twice in all)" test "$(grep -c run "$D/c/long-runs" 2>/dev/null)" = 2
check "the step finished this time" test -e "$D/c/DONE"
check "the step after ran once" test "$(cat "$D/c/later" 2>/dev/null)" = once
check "the step before was not run again" test "$(cat "$D/c/first" 2>/dev/null)" = once

# --- 4. the SFTP subsystem dies in the middle of a run ---------------------------
# (the session stays up: only the sftp-server process of the connection
# is killed; whatever runbook makes of it, it must end in bounded time)
rbk2=$(file sftpdie.yml <<'EOF2'
runbook: ssh-sftp-dies
target: web
params:
  dir: { required: true }
steps:
  - id: w1
    write: { path: "{{ dir }}/w1", content: "one\n" }
  - id: wait
    run: echo started > {{ dir }}/sftp-started; sleep 2.34
  - id: w2
    write: { path: "{{ dir }}/w2", content: "two\n" }
  - id: last
    run: touch {{ dir }}/sftp-last
EOF2
)
start run "$rbk2" --inventory "$inv" -p dir="$D"
wait_for "$D/sftp-started"
lp=$(cat "$T/ssh/web.pid")
for p in $(pgrep -f 'sshd: .*internal-sftp'); do
	# only this test's server's sftp processes: descendants of its listener
	pp=$p
	while [ "$pp" -gt 1 ] && [ "$pp" != "$lp" ]; do pp=$(ps -o ppid= -p "$pp" | tr -d ' '); done
	[ "$pp" = "$lp" ] && kill -KILL "$p"
done
# (the step after it is a 1-line write: 15 s is generous)
finish_within 15
check "the SFTP subsystem killed mid-run: runbook ends within 15 s, no hang (exit $rc)" test "$rc" != hung
check "... with a clear outcome: done, or failed/interrupted naming the host" \
	sh -c 'test "$1" = 0 || grep -Eq "(failed|interrupted).*(web|127\.0\.0\.2)" "$2"' _ "$rc" "$out"

# --- 5. a host that is down at the start -----------------------------------------
rbk3=$(file down.yml <<'EOF2'
runbook: ssh-down
target: web
params:
  dir: { required: true }
steps:
  - id: local-first
    on: local
    run: touch {{ dir }}/local-marker
  - id: remote
    run: touch {{ dir }}/remote-marker
preconditions:
  - name: reads
    run: "true"
EOF2
)
sshd_stop web
t0=$(now)
rb run "$rbk3" --inventory "$inv" -p dir="$D"
t1=$(now)
expect_rc 5 "a host that is down at the start: exit 5"
check "nothing ran, not even the local first step" test ! -e "$D/local-marker" -a ! -e "$D/remote-marker"
err_has "cannot be reached"
check "the message names the host" grep -q "web" "$err"
check "it failed fast (a refused connection, $((t1 - t0))s)" test $((t1 - t0)) -le 5
rb plan "$rbk3" --inventory "$inv" -p dir="$D" --check
expect_rc 5 "plan --check on a host that is down: exit 5"
check "plan --check: the message says the host cannot be reached" grep -q "cannot be reached" "$err"
check "plan --check ran nothing" test ! -e "$D/local-marker" -a ! -e "$D/remote-marker"
rb plan "$rbk3" --inventory "$inv" -p dir="$D"
expect_rc 0 "plain plan does not connect: exit 0 with the host down"
