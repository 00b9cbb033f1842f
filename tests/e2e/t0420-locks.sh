#!/bin/sh
# t0420 — per-target locks (STATE/locks/HOST.lock, flock'ed while the run
# lives, naming its holder as JSON): a second run or resume on a locked
# target is refused with exit 2, naming the holder, and runs nothing;
# --lock-wait waits (one "waiting" line) and proceeds when the lock is
# released, or gives up; a lock left by a SIGKILLed run is stale and taken
# over with a warning; released locks are emptied; `runbook lock` shows
# locked / stale / not locked, --break clears a stale record (refused when the
# holder still runs); with an inventory a group locks, and shows, each of
# its hosts.
. "$(dirname "$0")/../lib.sh"

locks="$RUNBOOK_STATE_DIR/locks"
me="$(id -un)@$(uname -n)"

# wait_grep TEXT FILE: up to ~20 s for FILE to contain TEXT
wait_grep() {
	i=0
	while ! grep -qF -- "$1" "$2" 2>/dev/null && [ $i -lt 400 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	grep -qF -- "$1" "$2"
}
# bg NAME ARGS: the runbook in the background, output in $T/NAME.out and
# $T/NAME.err; prints nothing, sets $bgpid
bg() {
	_name=$1
	shift
	${RUNBOOK_WRAP:-} "$RUNBOOK" "$@" >"$T/$_name.out" 2>"$T/$_name.err" </dev/null &
	bgpid=$!
}
# json FILE EXPR: evaluates a python expression over the JSON in FILE (as j)
json() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# hold: takes the target's lock and keeps it until $dir/TAG.go exists
# (the wait gives up by itself after ~30 s so nothing outlives a failure)
hold=$(file hold.yml <<'EOF2'
runbook: hold
params:
  dir: { required: true }
  tag: { required: true }
steps:
  - id: begin
    run: echo $PPID > {{ dir }}/{{ tag }}.started
  - id: wait
    run: |
      i=0
      while [ ! -e {{ dir }}/{{ tag }}.go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
      touch {{ dir }}/{{ tag }}.done
EOF2
)
other=$(file other.yml <<'EOF2'
runbook: other
params:
  dir: { required: true }
steps:
  - id: mark
    run: echo "{{ host.name }}" >> {{ dir }}/other-ran
EOF2
)
gate=$(file gate.yml <<'EOF2'
runbook: gate
params:
  dir: { required: true }
steps:
  - id: before
    run: touch {{ dir }}/gate-before
  - id: ask
    confirm: Go on?
  - id: after
    run: touch {{ dir }}/gate-after
EOF2
)

# a run paused at its confirmation: resumed below while the target is locked
rb run "$gate" -p dir="$T"
expect_rc 4 "setup: a run paused at a confirmation"
gate_id=$(ls "$RUNBOOK_STATE_DIR/runs" | grep '^gate-')
check "setup: a released lock is an empty file" test -e "$locks/local.lock" -a ! -s "$locks/local.lock"
rb lock local
expect_rc 0 "lock on a free target: exit 0"
check "lock on a free target: 'HOST: not locked'" test "$(cat "$out")" = "local: not locked"

# --- a run holds the lock; a second run and a resume are refused ---------------
bg hold run "$hold" -p dir="$T" -p tag=a
holdpid=$bgpid
if wait_for "$T/a.started"; then started=yes; else started=no; fi
check "the holding run started" test $started = yes
pid=$(cat "$T/a.started" 2>/dev/null)
hold_id=$(ls "$RUNBOOK_STATE_DIR/runs" | grep '^hold-' | head -1)
check "the lock file is locks/local.lock, holding JSON" json "$locks/local.lock" 'j["run"]'
check "the lock names the run and runbook" test "$(json "$locks/local.lock" 'j["run"]+" "+j["runbook"]')" = "$hold_id hold"
check "the lock names the user, machine and pid" test "$(json "$locks/local.lock" 'j["user"]+"@"+j["machine"]+" "+str(j["pid"])')" = "$me $pid"
since=$(json "$locks/local.lock" 'j["started"]' 2>/dev/null)
check "the lock says since when" test -n "$since"
check "the lock file is 0600" test "$(stat -c %a "$locks/local.lock")" = 600
holder="$me pid $pid, run $hold_id (hold), since $since"

rb run "$other" -p dir="$T"
expect_rc 2 "a second run on a locked target: exit 2"
err_has "target 'local' is locked by $holder"
err_has "--lock-wait"
check "nothing of the second runbook ran" test ! -e "$T/other-ran"
check "the refused run left no run folder" sh -c '! ls -d "$1"/runs/other-* 2>/dev/null' _ "$RUNBOOK_STATE_DIR"

rb run "$other" -p dir="$T" --target local
expect_rc 2 "--target local (the default, spelled out) is the same lock"

rb lock local
expect_rc 0 "lock on a held target: exit 0"
check "lock: 'HOST: locked by' and the holder" test "$(cat "$out")" = "local: locked by $holder"

rb resume "$gate_id" --yes
expect_rc 2 "a resume on a locked target: exit 2"
err_has "target 'local' is locked by $holder"
check "nothing more of the resumed run ran" test ! -e "$T/gate-after"
rb status "$gate_id" --format json
check "the refused resume left the run paused" test "$(json "$out" 'j["state"]')" = paused

rb resume --yes
expect_rc 2 "resume without a run id (the paused one) on a locked target: exit 2"
err_has "is locked by $holder"
check "nothing more of the resumed run ran" test ! -e "$T/gate-after"

rb resume "$hold_id" --yes
expect_rc 2 "resuming the run that holds the lock: exit 2"
err_has "run $hold_id is still running ($holder)"

# --lock-wait that gives up
rb run "$other" -p dir="$T" --lock-wait 600ms
expect_rc 2 "--lock-wait that runs out: exit 2"
check "it said it was waiting, once" test "$(grep -c "waiting for the lock on 'local', held by $holder" "$err")" = 1
err_has "target 'local' is locked by $holder (gave up waiting)"
check "nothing of the waiting runbook ran" test ! -e "$T/other-ran"

# --lock-wait that gets the lock: a run and a resume both wait
bg wait1 run "$other" -p dir="$T" --lock-wait 60s
w1=$bgpid
bg wait2 resume "$gate_id" --yes --lock-wait 60s
w2=$bgpid
check "the waiting run says so" wait_grep "waiting for the lock on 'local', held by $holder" "$T/wait1.err"
check "the waiting resume says so" wait_grep "waiting for the lock on 'local', held by $holder" "$T/wait2.err"
check "nothing ran while waiting" test ! -e "$T/other-ran" -a ! -e "$T/gate-after"
touch "$T/a.go"
wait "$holdpid"
rc=$?
expect_rc 0 "the holding run ends normally"
wait "$w1"
rc=$?
expect_rc 0 "the waiting run proceeds once the lock is released"
check "the waiting run ran its step" test -s "$T/other-ran"
check "the waiting run said 'waiting' once" test "$(grep -c 'waiting for the lock' "$T/wait1.err")" = 1
wait "$w2"
rc=$?
expect_rc 0 "the waiting resume proceeds once the lock is released"
check "the waiting resume ran the rest of its run" test -e "$T/gate-after"
check "a resume waiting for a run or a run waiting for a resume: each said 'waiting' once" \
	test "$(grep -c 'waiting for the lock' "$T/wait2.err")" = 1
check "the lock is emptied on release (file kept, empty)" test -e "$locks/local.lock" -a ! -s "$locks/local.lock"
rb lock local
check "then: 'local: not locked'" test "$(cat "$out")" = "local: not locked"

# --- a run killed with SIGKILL leaves a stale lock --------------------------------
rm -f "$T/other-ran"
bg killed run "$hold" -p dir="$T" -p tag=k
kpid=$bgpid
if wait_for "$T/k.started"; then
	kill -KILL "$kpid"
fi
wait "$kpid"
touch "$T/k.go" # lets the orphaned step end
kid=$(ls "$RUNBOOK_STATE_DIR/runs" | grep '^hold-' | grep -v "^$hold_id\$" | head -1)
kpid=$(cat "$T/k.started" 2>/dev/null)
check "the killed run's lock still names it" test "$(json "$locks/local.lock" 'j["run"]+" "+str(j["pid"])')" = "$kid $kpid"
ksince=$(json "$locks/local.lock" 'j["started"]' 2>/dev/null)
kholder="$me pid $kpid, run $kid (hold), since $ksince"
rb lock local
expect_rc 0 "lock on a stale lock: exit 0"
out_has "local: stale lock"
out_has "$kholder"
out_lacks "locked by"

rb run "$other" -p dir="$T"
expect_rc 0 "a run takes over a stale lock"
err_has "warning: took over the stale lock on 'local' left by $kholder"
check "the run ran" test -s "$T/other-ran"
check "then the lock is empty again" test -e "$locks/local.lock" -a ! -s "$locks/local.lock"
rb lock local
check "and 'local: not locked'" test "$(cat "$out")" = "local: not locked"
rb run "$other" -p dir="$T"
err_lacks "stale"

# --- runbook lock --break ----------------------------------------------------------
# a stale record written by hand: a holder named, nobody holding the flock
printf '{"run":"ghost-20200101-000000-abcd","runbook":"ghost","user":"nobody","machine":"elsewhere","pid":4242,"started":"2020-01-01T00:00:00+0000"}\n' >"$locks/local.lock"
ghost="nobody@elsewhere pid 4242, run ghost-20200101-000000-abcd (ghost), since 2020-01-01T00:00:00+0000"
rb lock local
check "lock: a hand-written unlocked record is stale" test "$(cat "$out")" = "local: stale lock (its process is gone; the next run takes it over), left by $ghost"
rb lock local --break
expect_rc 0 "--break on a stale lock: exit 0"
check "--break says what it broke" test "$(cat "$out")" = "local: lock broken (it was left by $ghost)"
check "--break empties the record (the file stays: never unlinked under a waiter)" test -e "$locks/local.lock" -a ! -s "$locks/local.lock"
err_lacks "warning"
rb lock local --break
expect_rc 0 "--break on a free target: exit 0"
out_has "local: not locked"
out_lacks "broken"

bg held run "$hold" -p dir="$T" -p tag=b
bpid=$bgpid
wait_for "$T/b.started"
b_id=$(json "$locks/local.lock" 'j["run"]' 2>/dev/null)
rb lock local --break
expect_rc 2 "--break on a live lock is refused: exit 2"
err_has "is held by $me pid $(cat "$T/b.started" 2>/dev/null), run $b_id (hold)"
err_has "a process that is still running: a lock cannot be broken under it; stop that process"
check "--break left the live lock in place" test -s "$locks/local.lock"
rm -f "$T/other-ran"
rb run "$other" -p dir="$T"
expect_rc 2 "the live lock still excludes another run"
check "that run did not run" test ! -e "$T/other-ran"
touch "$T/b.go"
wait "$bpid"
rc=$?
expect_rc 0 "the run whose lock was broken still ends normally"
rb lock local
check "afterwards: 'local: not locked'" test "$(cat "$out")" = "local: not locked"

# --- an inventory group: one lock per host -------------------------------------------
inv=$(file inv.yml <<'EOF2'
hosts:
  alpha: { transport: local }
  beta:  { transport: local }
  gamma: { transport: local }
groups:
  app: [alpha, beta]
EOF2
)
rm -f "$T/other-ran"
bg group run "$hold" -p dir="$T" -p tag=g --inventory "$inv" --target app
gpid=$bgpid
wait_for "$T/g.started"
g_id=$(ls "$RUNBOOK_STATE_DIR/runs" | grep '^hold-' | grep -v -e "^$hold_id\$" -e "^$kid\$" -e "^$b_id\$" | head -1)
check "a group target locks each host" test -s "$locks/alpha.lock" -a -s "$locks/beta.lock"
check "no lock named after the group" test ! -e "$locks/app.lock"
check "no lock on a host outside the group" test ! -e "$locks/gamma.lock"
check "the host locks name the run" test "$(json "$locks/beta.lock" 'j["run"]')" = "$g_id"
rb lock app --inventory "$inv"
expect_rc 0 "lock GROUP --inventory: exit 0"
check "lock GROUP lists each host of the group as locked" \
	test "$(cut -d, -f1 "$out")" = "alpha: locked by $me pid $(cat "$T/g.started" 2>/dev/null)
beta: locked by $me pid $(cat "$T/g.started" 2>/dev/null)"
out_has "run $g_id (hold)"
out_lacks "gamma"
rb lock beta
check "lock HOST of a group without the inventory" grep -q "^beta: locked by .*run $g_id (hold)" "$out"

rb run "$other" -p dir="$T" --inventory "$inv" --target beta
expect_rc 2 "a run on one host of a locked group: exit 2"
err_has "target 'beta' is locked by $me"
err_has "run $g_id (hold)"
rb run "$other" -p dir="$T" --inventory "$inv" --target app
expect_rc 2 "a run on the same group: exit 2"
err_has "is locked by $me"
check "nothing of the refused runs ran" test ! -e "$T/other-ran"
check "refused runs take no host lock of their own" test ! -e "$locks/gamma.lock"
rb run "$other" -p dir="$T" --inventory "$inv" --target gamma
expect_rc 0 "a host outside the group is free"
check "it ran on that host" test "$(cat "$T/other-ran" 2>/dev/null)" = gamma
rb run "$other" -p dir="$T"
expect_rc 0 "local is not part of the group's lock"
touch "$T/g.go"
wait "$gpid"
rc=$?
expect_rc 0 "the group run ends normally"
rb lock app --inventory "$inv"
check "after it: every host of the group is free" test "$(cat "$out")" = "alpha: not locked
beta: not locked"
check "the host locks are emptied, not removed" test -e "$locks/alpha.lock" -a ! -s "$locks/alpha.lock" -a -e "$locks/beta.lock" -a ! -s "$locks/beta.lock"

# a stale lock on one member, broken through the group
printf '{"run":"ghost-20200101-000000-abcd","runbook":"ghost","user":"nobody","machine":"elsewhere","pid":4242,"started":"2020-01-01T00:00:00+0000"}\n' >"$locks/beta.lock"
rb lock app --inventory "$inv"
check "lock GROUP: one member stale, one free" test "$(cat "$out")" = "alpha: not locked
beta: stale lock (its process is gone; the next run takes it over), left by $ghost"
rb lock app --inventory "$inv" --break
expect_rc 0 "--break GROUP: exit 0"
out_has "alpha: not locked"
out_has "beta: lock broken (it was left by $ghost)"
check "--break GROUP emptied the stale member's record" test ! -s "$locks/beta.lock"

# an unreadable holder record is stale too, and taken over
printf 'not json{\n' >"$locks/local.lock"
rb lock local
check "lock: an unreadable record is a stale lock" test "$(cat "$out")" = "local: stale lock (its process is gone; the next run takes it over), left by an unreadable holder record"
rm -f "$T/other-ran"
rb run "$other" -p dir="$T"
expect_rc 0 "a run takes over a lock with an unreadable record"
err_has "warning: took over the stale lock on 'local' left by an unreadable holder record"
check "that run ran" test -s "$T/other-ran"

# a host name cannot point the lock file outside STATE/locks
printf '{}\n' >"$RUNBOOK_STATE_DIR/outside.lock"
rb lock ../outside --break
expect_rc 0 "lock ../NAME --break: exit 0"
out_has "../outside: not locked"
check "lock --break never removes a file outside the locks folder" test -e "$RUNBOOK_STATE_DIR/outside.lock"
