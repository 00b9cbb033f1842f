#!/bin/sh
# t0670 — the remote lock and the journal mirror on an SSH host.
# Operator 2 (another state dir: another operator's machine as far as
# runbook's files go) is refused with exit 2 and the holder's user, pid
# and run id while operator 1 runs; `runbook lock HOST` shows the remote
# lock held; once operator 1 ends the lock dir is gone.  A holder killed
# with SIGKILL on this machine is stale: taken over with a warning.  On
# ANOTHER machine (operator 1 in its own UTS namespace, hostname
# other-machine) a dead pid proves nothing: still refused, until `runbook
# lock HOST --break`.  The mirror: STATE_DIR/runs/ID/ holds the journal
# byte for byte, the runbook as it ran and params.json (dir 0700, files
# 0600).  `resume --from-target HOST`: operator 1 killed with SIGKILL in
# the middle of a step, the runbook file moved away, operator 2 with a
# fresh state dir continues from the mirror — done steps not run again,
# the interrupted one settled by its check — exit 0; with no unfinished
# run left on the host: a clear error, exit 2.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start web 127.0.0.2 || sshd_skip_all "sshd did not start"
sshd_pin web
inv=$T/inv.yml
sshd_inventory "$inv" web
RS=$T/remote-web # the host's state_dir
LOCK=$RS/lock
D=$T/d
mkdir -p "$D" "$T/rb"
S2=$T/state2 # operator 2's state dir

cat >"$T/rb/lk.yml" <<'EOF2'
runbook: lk
target: web
params:
  dir: { required: true }
  secs: { default: "0", pattern: '[0-9.]+' }
steps:
  - id: first
    run: echo first >> {{ dir }}/trace
  - id: long
    run: echo long >> {{ dir }}/trace; sleep {{ secs }}; touch {{ dir }}/DONE
    check: test -e {{ dir }}/DONE
  - id: later
    run: echo later >> {{ dir }}/trace
EOF2
rbk=$T/rb/lk.yml
# starts operator 1 in the background; waits until its long step runs
op1() { # DIR SECS
	mkdir -p "$1"
	start run "$rbk" --inventory "$inv" -p dir="$1" -p secs="$2"
	wait_for "$1/trace" long
	_w=0
	while ! pgrep -f "sleep $2" >/dev/null && [ $_w -lt 100 ]; do
		sleep 0.05
		_w=$((_w + 1))
	done
}
op2() { RUNBOOK_STATE_DIR=$S2 rb "$@"; }
mkdir -p "$D/1b" "$D/3b" "$D/4b"

# --- 1. a second operator is refused while the first runs -----------------------
op1 "$D/1" 3.51
pid1=$bgpid
cp "$out" "$T/op1.out"
op2 run "$rbk" --inventory "$inv" -p dir="$D/1b"
expect_rc 2 "operator 2 is refused while operator 1 holds the host (exit 2)"
check "nothing of operator 2 ran" test ! -e "$D/1b/trace"
check "the refusal names the holder's user" grep -q "$SSH_USER@" "$err"
check "the refusal names the holder's pid ($pid1)" grep -qw "$pid1" "$err"
check "the refusal names the holder's run id" sh -c 'id=$(sed -n "1s/.* run \([^ ]*\) on .*/\1/p" "$1"); test -n "$id" && grep -qF "$id" "$2"' _ "$T/op1.out" "$err"
check "the refusal gives the remedy 'runbook lock web --break'" grep -q "runbook lock web --break" "$err"
rid1=$(sed -n '1s/.* run \([^ ]*\) on .*/\1/p' "$T/op1.out")
check "the lock holds user, machine, pid, run, runbook, started" \
	sh -c 'for k in user machine pid run runbook started; do grep -q "\"$k\"" "$1" || exit 1; done' _ "$LOCK/holder.json"
op2 lock web --inventory "$inv"
expect_rc 0 "runbook lock web --inventory F"
check "runbook lock shows the remote lock held, by whom" grep -Eq "web \(remote, .*\): held by $SSH_USER@.*$pid1.*$rid1" "$out"
finish
expect_rc 0 "operator 1 finishes"
check "the remote lock dir is gone after operator 1 ends" test ! -e "$LOCK"
op2 lock web --inventory "$inv"
check "runbook lock now says the host is free" grep -Eq "web \(remote, .*\): free" "$out"

# --- 2. the mirror of a finished run ---------------------------------------------
m=$RS/runs/$rid1
l=$RUNBOOK_STATE_DIR/runs/$rid1
check "the mirror's journal is byte-identical to the local journal" cmp "$l/journal.jsonl" "$m/journal.jsonl"
check "the mirror's runbook is the runbook that ran" cmp "$rbk" "$m/runbook.yml"
check "the mirror holds params.json" test -s "$m/params.json"
check "the mirror's run folder is 0700" test "$(stat -c %a "$m")" = 700
check "the mirror's files are 0600" \
	sh -c 'test -n "$(find "$1" -type f)" && test -z "$(find "$1" -type f ! -perm 600)"' _ "$m"
check "the mirror's folders are 0700" sh -c 'test -z "$(find "$1" -type d ! -perm 700)"' _ "$m"

# --- 3. a holder killed on this machine is stale: taken over -------------------------
op1 "$D/3" 30.52
kill -KILL "$bgpid"
finish
pkill -KILL -f 'sleep 30\.52'
check "the killed holder left its lock" test -e "$LOCK/holder.json"
op2 run "$rbk" --inventory "$inv" -p dir="$D/3b"
expect_rc 0 "operator 2 takes over a lock whose holder died on this machine"
err_has "took over the lock"
check "operator 2's run ran" grep -q later "$D/3b/trace"
check "... and released the lock" test ! -e "$LOCK"

# --- 4. a holder on ANOTHER machine: a dead pid proves nothing ------------------------
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare --uts true 2>/dev/null; then
	mkdir -p "$D/4"
	RUNBOOK_STATE_DIR=$T/state-other unshare --uts sh -c 'hostname other-machine && exec "$0" "$@"' \
		"$RUNBOOK" run "$rbk" --inventory "$inv" -p dir="$D/4" -p secs=30.53 >"$out" 2>"$err" </dev/null &
	bgpid=$!
	wait_for "$D/4/trace" long
	check "operator 1 (other-machine) holds the lock" grep -q '"machine":"other-machine"' "$LOCK/holder.json"
	kill -KILL "$bgpid"
	finish
	pkill -KILL -f 'sleep 30\.53'
	op2 run "$rbk" --inventory "$inv" -p dir="$D/4b"
	expect_rc 2 "a lock of a dead pid on another machine is not stale: refused (exit 2)"
	check "nothing of operator 2 ran" test ! -e "$D/4b/trace"
	err_has "other-machine"
	err_has "runbook lock web --break"
	op2 lock web --inventory "$inv"
	check "runbook lock shows it held by other-machine" grep -Eq "web \(remote, .*\): held by .*other-machine" "$out"
	op2 lock web --break --inventory "$inv"
	expect_rc 0 "runbook lock web --break"
	check "--break removed the remote lock" test ! -e "$LOCK"
	op2 run "$rbk" --inventory "$inv" -p dir="$D/4b"
	expect_rc 0 "after --break, operator 2 runs"
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP another machine needs root and unshare --uts"
fi

# --- 5. resume --from-target: operator 1's machine is gone ------------------------------
# (the host's state_dir afresh, without the unfinished runs killed above)
sed "s|$RS|$RS-5|" "$inv" >"$T/inv5.yml"
inv=$T/inv5.yml
RS=$RS-5
LOCK=$RS/lock
mkdir -p "$D/5"
start run "$rbk" --inventory "$inv" -p dir="$D/5" -p secs=2.54
wait_for "$D/5/trace" long
kill -KILL "$bgpid"
finish
rid5=$(run_id)
check "operator 1 was killed in the middle of the long step" sh -c 'test -n "$1" && ! grep -q later "$2"' _ "$rid5" "$D/5/trace"
mv "$rbk" "$T/rb/moved-away.yml"
rm -rf "$T/fresh"
RUNBOOK_STATE_DIR=$T/fresh rb resume --from-target web --inventory "$inv"
expect_rc 0 "resume --from-target web, from a fresh state dir, with the runbook file gone"
check "the done step was not run again, the interrupted one settled by its check, the rest ran" \
	test "$(tr '\n' ' ' <"$D/5/trace")" = "first long later "
check "the orphan's work is there (the check waited for it, or saw it)" test -e "$D/5/DONE"
check "the run continued under its own id" grep -q "$rid5" "$out"
check "the run is now in the fresh state dir" test -s "$T/fresh/runs/$rid5/journal.jsonl"
check "the mirror caught up with the local journal" cmp "$T/fresh/runs/$rid5/journal.jsonl" "$RS/runs/$rid5/journal.jsonl"
check "the lock is released" test ! -e "$LOCK"
rm -rf "$T/fresh2"
RUNBOOK_STATE_DIR=$T/fresh2 rb resume --from-target web --inventory "$inv"
expect_rc 2 "resume --from-target on a host with no unfinished run: exit 2"
check "the error says there is no unfinished run on the host" grep -Eqi "no unfinished run" "$err"
check "the error names the host" grep -q "web" "$err"
mv "$T/rb/moved-away.yml" "$rbk"
