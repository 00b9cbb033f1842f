#!/bin/sh
# t0960 — injected I/O faults (build/fault/runbook, interp/fault.h): a
# journal record torn by a full disk, a failing fdatasync, a failing
# fork, a full log disk, a failing rename while the run is recorded.
# Each ends with a clear error; the journal stays readable (`status`
# replays it, the torn record dropped); `resume` — with the fault gone —
# finishes the run, and no step's effect happens twice.
. "$(dirname "$0")/../lib.sh"
FAULTY=$TOP/build/fault/runbook
if [ ! -x "$FAULTY" ]; then
	echo "not ok 1 - $FAULTY is missing (make build/fault/runbook)"
	exit 0
fi
D=$T/d
rbk=$(file faults.yml <<'EOF2'
runbook: faults
params:
  d: { required: true }
steps:
  - id: one
    run: echo one >> {{ d }}/one
    check: test -s {{ d }}/one
  - id: two
    run: echo two >> {{ d }}/two
    check: test -s {{ d }}/two
  - id: three
    run: echo three >> {{ d }}/three
    check: test -s {{ d }}/three
EOF2
)

# faulty SPEC: one run of the fault-injection build with RUNBOOK_FAULT=SPEC
faulty() {
	rm -rf "$D"
	mkdir -p "$D"
	RUNBOOK_FAULT=$1 ${RUNBOOK_WRAP:-} "$FAULTY" run "$rbk" -p "d=$D" >"$out" 2>"$err" </dev/null
	rc=$?
}
once_each() {
	check "$1: each step's effect happened exactly once" sh -c \
		'for x in one two three; do [ "$(wc -l <"$2/$x" 2>/dev/null)" = 1 ] || exit 1; done' _ "$1" "$D"
}

# --- a torn journal record (ENOSPC half-way through step two's start) -------
faulty journal-write:4:ENOSPC
expect_rc 1 "journal full: the run stops"
err_has "cannot write the journal"
err_has "No space left on device"
err_has "the run can be resumed once it is writable"
rid=$(run_id)
check "journal full: the journal ends with a torn line" sh -c \
	'[ "$(tail -c 1 "$1" | od -An -c | tr -d " ")" != "\\n" ]' _ "$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl"
check "journal full: step two did not run" test ! -e "$D/two"
rb status "$rid"
expect_rc 0 "journal full: status replays the journal (the torn record dropped)"
out_has "interrupted"
rb resume "$rid"
expect_rc 0 "journal full: resume finishes once the disk has room"
once_each "journal full"
rb status "$rid"
out_has "succeeded"

# --- fdatasync fails (EIO) ------------------------------------------------------
faulty journal-sync:5
expect_rc 1 "fsync fails: the run stops"
err_has "Input/output error"
rid=$(run_id)
check "fsync fails: step three did not run" test ! -e "$D/three"
rb resume "$rid"
expect_rc 0 "fsync fails: resume finishes"
once_each "fsync fails"

# --- a failing fork (EAGAIN) on the first command -----------------------------
faulty spawn:1:EAGAIN
expect_rc 1 "fork fails: the step fails"
out_has "cannot start /bin/sh: Resource temporarily unavailable"
rid=$(run_id)
check "fork fails: nothing ran" test ! -e "$D/one"
rb resume "$rid"
expect_rc 0 "fork fails: resume retries the step and finishes"
once_each "fork fails"

# --- a full log disk -----------------------------------------------------------
faulty log-write:2:ENOSPC
expect_rc 0 "log disk full: the run goes on"
out_has "cannot write the step log"
out_has "it stops here; the step goes on"
once_each "log disk full"
rid=$(run_id)
rb status "$rid"
out_has "succeeded"

runs() { ls "$RUNBOOK_STATE_DIR/runs" | wc -l; }
# --- rename fails while the run is recorded (runbook.yml's copy) -------------
before=$(runs)
faulty rename:1
expect_rc 2 "rename fails before anything ran: refused"
err_has "Input/output error"
check "rename fails: nothing ran" test ! -e "$D/one"
check "rename fails: no half-made run folder is left" test "$(runs)" = "$before"

# --- the first journal record cannot be written ----------------------------
before=$(runs)
faulty journal-write:1:EIO
expect_rc 2 "no journal at all: refused"
err_has "cannot record the run"
check "no journal: nothing ran" test ! -e "$D/one"
check "no journal: no half-made run folder is left" test "$(runs)" = "$before"
