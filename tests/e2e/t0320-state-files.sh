#!/bin/sh
# t0320 — the run folder: $RUNBOOK_STATE_DIR/runs/RUN_ID/logs/NN-ID.log
# holds each step's command, full output (stderr lines marked) and exit
# code; folders are 0700 and files 0600 whatever the umask; a state
# folder that predates the run with looser modes is tightened; bad input
# (exit 2) leaves no run folder behind.
. "$(dirname "$0")/../lib.sh"

rbk=$(file state.yml <<'EOF2'
runbook: state
preconditions:
  - name: pre
    id: pre-ok
    run: echo precondition-output
steps:
  - id: first
    run: |
      echo to-stdout
      echo to-stderr >&2
  - echo bare
  - id: third
    run: exit 0
EOF2
)
mode() { stat -c %a "$1"; }

(umask 000; rb run "$rbk"; echo $rc >"$T/rc")
rc=$(cat "$T/rc")
expect_rc 0 "a run under umask 000"
rundir=$(ls -d "$RUNBOOK_STATE_DIR"/runs/state-* 2>/dev/null | head -1)
check "the run folder is runs/RUN_ID" test -d "$rundir"
out_has "$(basename "$rundir")"
check "the run folder is 0700" test "$(mode "$rundir")" = 700
check "the logs folder is 0700" test "$(mode "$rundir/logs")" = 700
check "the state folder is not world-readable" sh -c '[ $(( 0$(stat -c %a "$1") & 077 )) -eq 0 ]' _ "$RUNBOOK_STATE_DIR"
check "logs are named NN-ID.log" test -f "$rundir/logs/01-first.log" -a -f "$rundir/logs/02-s2.log" -a -f "$rundir/logs/03-third.log"
for f in "$rundir"/logs/*; do
	check "$(basename "$f") is 0600" test "$(mode "$f")" = 600
done
check "the log holds the command" grep -qx '\$ echo bare' "$rundir/logs/02-s2.log"
check "the log holds stdout" grep -qx 'to-stdout' "$rundir/logs/01-first.log"
check "the log holds stderr, marked" grep -qx '! to-stderr' "$rundir/logs/01-first.log"
check "the log holds the exit code" grep -qx '# exit 0' "$rundir/logs/01-first.log"
check "the precondition's output is logged too" grep -rq 'precondition-output' "$rundir/logs"

# a state folder that predates the run with loose modes
rm -rf "$T/loose"
mkdir -p "$T/loose/runs"
chmod 777 "$T/loose" "$T/loose/runs"
rb run "$rbk" --state-dir "$T/loose"
expect_rc 0 "a run into a loose state folder"
rundir=$(ls -d "$T"/loose/runs/state-* 2>/dev/null | head -1)
check "its run folder is still 0700" test "$(mode "$rundir")" = 700

# bad input leaves nothing behind
rm -rf "$T/fresh"
rbk=$(file bad.yml <<'EOF2'
runbook: bad
steps:
  - run: "true"
    colour: red
EOF2
)
rb run "$rbk" --state-dir "$T/fresh"
expect_rc 2 "bad input"
err_has "unknown key 'colour'"
check "bad input creates no run folder" sh -c '! ls "$1"/runs/* >/dev/null 2>&1' _ "$T/fresh"

# nor do other refusals found before the first step (exit 2)
rm -rf "$T/fresh"
rbk=$(file good.yml <<'EOF2'
runbook: good
steps:
  - run: "true"
EOF2
)
rb run "$rbk" --state-dir "$T/fresh" --events "$T/no/such/dir/ev.jsonl"
expect_rc 2 "an unwritable events file is bad input"
check "an unwritable events file creates no run folder" sh -c '! ls "$1"/runs/* >/dev/null 2>&1' _ "$T/fresh"
rm -rf "$T/fresh"
RUNBOOK_KILL_GRACE=soon rb run "$rbk" --state-dir "$T/fresh"
expect_rc 2 "an invalid RUNBOOK_KILL_GRACE is bad input"
err_has "RUNBOOK_KILL_GRACE"
check "an invalid RUNBOOK_KILL_GRACE creates no run folder" sh -c '! ls "$1"/runs/* >/dev/null 2>&1' _ "$T/fresh"

# where the state folder is when nothing names it: $XDG_STATE_HOME/runbook,
# else ~/.local/state/runbook (DESIGN: "Journal")
(
	unset RUNBOOK_STATE_DIR
	export XDG_STATE_HOME="$T/xdg"
	rb run "$rbk"
	echo $rc >"$T/rc"
	rb status
	echo $rc >>"$T/rc"
)
check "XDG_STATE_HOME: the run and status succeed" test "$(tr '\n' ' ' <"$T/rc")" = "0 0 "
check "XDG_STATE_HOME: the run folder is \$XDG_STATE_HOME/runbook/runs/" sh -c 'ls -d "$1"/xdg/runbook/runs/good-*' _ "$T"
check "XDG_STATE_HOME: status lists that run alone" sh -c '[ "$(grep -c "^good-" "$1")" = 1 ] && [ "$(wc -l <"$1")" = 2 ]' _ "$out"
(
	unset RUNBOOK_STATE_DIR XDG_STATE_HOME
	export HOME="$T/home"
	rb run "$rbk"
	echo $rc >"$T/rc"
)
rc=$(cat "$T/rc")
expect_rc 0 "neither: the run succeeds"
check "neither: the run folder is ~/.local/state/runbook/runs/" sh -c 'ls -d "$1"/home/.local/state/runbook/runs/good-*' _ "$T"
check "neither: the folders made are 0700" test "$(mode "$T/home/.local/state/runbook")" = 700

# a state folder that cannot be made: exit 2, a clear error, nothing runs
touch "$T/plainfile"
rb run "$rbk" --state-dir "$T/plainfile/state"
expect_rc 2 "a state folder under a plain file: refused"
err_has "cannot create $T/plainfile/state"
err_has "Not a directory"
