#!/bin/sh
# t0610 — timeouts and SIGINT over SSH: a remote step that outlives its
# timeout fails ("timed out") within a few seconds, and none of its
# remote processes is left — the shell's command, background children
# in its process group, and a child that ignores SIGTERM (killed after
# RUNBOOK_KILL_GRACE).  The steps after it do not run.  SIGINT during a
# remote step: exit 130, the remote command is gone, the step is
# journaled interrupted, and `runbook resume` settles it by its check and
# finishes the run.  Each step's sleeps carry a unique duration (61.5 …)
# so that pgrep -f finds exactly them.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start web 127.0.0.2 || sshd_skip_all "sshd did not start"
sshd_pin web
inv=$T/inv.yml
sshd_inventory "$inv" web
D=$T/d
mkdir -p "$D"
export RUNBOOK_KILL_GRACE=1s
now() { date +%s; }

# --- 1. timeout on a plain remote sleep ------------------------------------
rbk=$(file timeout.yml <<'EOF2'
runbook: ssh-timeout
target: web
params:
  dir: { required: true }
steps:
  - id: slow
    timeout: 1s
    run: echo $$ > {{ dir }}/pid; sleep 61.5
  - id: after
    run: touch {{ dir }}/after
EOF2
)
t0=$(now)
rb run "$rbk" --inventory "$inv" -p dir="$D"
t1=$(now)
expect_rc 1 "a remote step that outlives its timeout fails the run"
out_has "timed out"
check "the step started on the host" test -s "$D/pid"
check "it ended within a few seconds (1s timeout + 1s grace)" test $((t1 - t0)) -le 5
check "the remote sleep is gone within a few seconds" sshd_gone 'sleep 61\.5' 5
check "the remote step's shell is gone" gone "$(cat "$D/pid" 2>/dev/null)"
check "the step after the timeout did not run" test ! -e "$D/after"

# --- 2. timeout on a command with background children ----------------------
# family: a background child in the step's process group; stubborn: also
# a child that ignores SIGTERM, so only the SIGKILL after the grace ends it
rbk=$(file family.yml <<'EOF2'
runbook: ssh-timeout-family
target: web
params:
  dir: { required: true }
  which: { choices: [family, stubborn] }
steps:
  - id: family
    when: which == "family"
    timeout: 1s
    run: sleep 62.5 & sleep 64.5; wait
  - id: stubborn
    when: which == "stubborn"
    timeout: 1s
    run: (trap '' TERM; exec sleep 63.5) & sleep 66.5; wait
  - id: after
    run: touch {{ dir }}/after2
EOF2
)
t0=$(now)
rb run "$rbk" --inventory "$inv" -p dir="$D" -p which=family
t1=$(now)
expect_rc 1 "a remote step with a background child times out"
out_has "timed out"
check "it ended within a few seconds (1s timeout + 1s grace)" test $((t1 - t0)) -le 5
check "the remote foreground sleep is gone" sshd_gone 'sleep 64\.5' 5
check "the remote background child is gone" sshd_gone 'sleep 62\.5' 5
check "the step after the timeout did not run" test ! -e "$D/after2"

t0=$(now)
rb run "$rbk" --inventory "$inv" -p dir="$D" -p which=stubborn
t1=$(now)
expect_rc 1 "a remote step with a child that ignores SIGTERM times out"
out_has "timed out"
check "it ended within a few seconds (1s timeout + 1s grace, then SIGKILL)" test $((t1 - t0)) -le 5
check "the remote foreground sleep is gone" sshd_gone 'sleep 66\.5' 5
check "the remote child that ignores SIGTERM is gone (SIGKILL after the grace)" sshd_gone 'sleep 63\.5' 5
check "the step after the timeout did not run" test ! -e "$D/after2"

# --- 3. SIGINT during a remote step, then resume ---------------------------
rbk=$(file int.yml <<'EOF2'
runbook: ssh-int
target: web
params:
  dir: { required: true }
steps:
  - id: first
    run: echo once >> {{ dir }}/first
  - id: long
    run: |
      if [ -e {{ dir }}/second ]; then touch {{ dir }}/done
      else echo started > {{ dir }}/second; sleep 65.5; fi
    check: test -e {{ dir }}/done
  - id: later
    run: touch {{ dir }}/later
EOF2
)
${RUNBOOK_WRAP:-} "$RUNBOOK" run "$rbk" --inventory "$inv" -p dir="$D" >"$out" 2>"$err" </dev/null &
bgpid=$!
# once the remote sleep runs, SIGINT
if wait_for "$D/second"; then
	_w=0
	while ! pgrep -f 'sleep 65\.5' >/dev/null && [ $_w -lt 100 ]; do
		sleep 0.05
		_w=$((_w + 1))
	done
	kill -INT "$bgpid"
fi
finish
expect_rc 130 "SIGINT during a remote step: exit 130"
rid=$(run_id)
check "the remote sleep is gone" sshd_gone 'sleep 65\.5' 5
check "the step after did not run" test ! -e "$D/later"
check "the step is reported interrupted" grep -Eq '^ *interrupted .*long' "$out"
check "the step is journaled interrupted" \
	grep -Eq '"event":"step_end","step":"long",[^}]*"status":"interrupted"' "$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl"
rb status "$rid"
check "status shows the step interrupted" grep -Eq 'long .*interrupted' "$out"
rb resume "$rid"
expect_rc 0 "runbook resume finishes the run over SSH"
check "resume ran the interrupted step again (its check failed)" test -e "$D/done"
check "resume ran the step after it" test -e "$D/later"
check "the step done before was not run again" test "$(cat "$D/first" 2>/dev/null)" = once
