#!/bin/sh
# t0960 — injected I/O faults (build/fault/runbook, interp/fault.h): a
# journal record torn by a full disk (ENOSPC) or an I/O error (EIO), a
# failing fdatasync, a failing fork (of a command, of its check), a full
# log disk, a full disk under an upload, a download and an archive, a
# failing rename while the run is recorded and when an upload lands,
# short writes everywhere, a failing fork and a full journal during a
# rollback.
# Each ends with a clear error; the journal stays readable (`status`
# replays it, the torn record dropped); `resume` — with the fault gone —
# finishes the run, and no step's effect happens twice.
. "$(dirname "$0")/../lib.sh"
# the fault-injection build; `make coverage` passes its own, built with
# the hooks too
FAULTY=${RUNBOOK_FAULTY:-$TOP/build/fault/runbook}
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

# faulty SPEC [RUNBOOK]: one run of the fault-injection build with
# RUNBOOK_FAULT=SPEC, of faults.yml or RUNBOOK, in an empty $D
faulty() {
	rm -rf "$D"
	mkdir -p "$D"
	RUNBOOK_FAULT=$1 ${RUNBOOK_WRAP:-} "$FAULTY" run "${2:-$rbk}" -p "d=$D" >"$out" 2>"$err" </dev/null
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

# --- EIO on the append of step two's start: it is not run, not "failed" -------
faulty journal-write:6:EIO
expect_rc 1 "journal EIO: the run stops"
err_has "Input/output error"
out_has "two … not run"
out_has "1 ok, 0 failed, 2 not run"
check "journal EIO: step two did not run" test ! -e "$D/two"
rid=$(run_id)
rb resume "$rid"
expect_rc 0 "journal EIO: resume finishes"
once_each "journal EIO"

# --- the check cannot be started: the command ran, its fate is unknown -------
faulty spawn:2:EAGAIN
expect_rc 130 "check fork fails: the step is interrupted, not failed"
out_has "interrupted"
out_has "check could not run: cannot start /bin/sh"
check "check fork fails: the command itself ran" test -s "$D/one"
rid=$(run_id)
rb resume "$rid"
expect_rc 0 "check fork fails: resume finishes"
out_has "its check passes: done, not run again"
once_each "check fork fails"

# --- short writes everywhere: the same run, the same files --------------------
R=$T/short
mkdir -p "$R/tree/sub"
head -c 300000 /dev/urandom >"$R/big.bin"
seq 1 5000 >"$R/tree/sub/n.txt"
cp "$R/big.bin" "$R/tree/"
ln -s sub/n.txt "$R/tree/link"
srb=$(file short.yml <<EOF2
runbook: short
params:
  d: { required: true }
steps:
  - id: talk
    run: seq 1 20000
  - id: up
    upload: { src: $R/big.bin, dest: "{{ d }}/up.bin" }
  - id: down
    download: { src: "{{ d }}/up.bin", dest: "{{ d }}/down.bin" }
  - id: snap
    archive: { path: $R/tree, to: "{{ d }}/tree.tar.gz" }
  - id: back
    extract: { from: "{{ d }}/tree.tar.gz", to: "{{ d }}/tree2" }
EOF2
)
faulty journal-write:1+:SHORT,log-write:1+:SHORT,file-write:1+:SHORT "$srb"
expect_rc 0 "short writes: the run succeeds"
rid=$(run_id)
check "short writes: the upload is whole" cmp "$R/big.bin" "$D/up.bin"
check "short writes: the download is whole" cmp "$R/big.bin" "$D/down.bin"
check "short writes: the extracted tree is the same" diff -r "$R/tree" "$D/tree2"
check "short writes: the step log is whole" sh -c \
	'grep -qx 20000 "$1" && [ "$(grep -c "^[0-9]*$" "$1")" = 20000 ]' _ "$RUNBOOK_STATE_DIR/runs/$rid/logs/01-talk.log"
rb archive verify "$D/tree.tar.gz"
expect_rc 0 "short writes: the archive and its manifest verify"
rb status "$rid"
expect_rc 0 "short writes: the journal replays"
out_has "succeeded"
check "short writes: no temporary file is left" sh -c '! ls -A "$1" | grep -q "rb-tmp\|rb-new\|\.tmp$"' _ "$D"

# --- a full disk under an upload, a download, an archive ----------------------
# broken SPEC STEP WHAT FILE TEXT: a run with RUNBOOK_FAULT=SPEC; step
# STEP fails saying TEXT, FILE is not there and nothing half-written is
# left beside it; resume finishes the run and every file is whole.
broken() {
	faulty "$1" "$srb"
	expect_rc 1 "$3: the run stops"
	out_has "$2 … failed"
	out_has "$5"
	check "$3: $4 was not put in place" test ! -e "$D/$4"
	check "$3: no half-written file is left" sh -c '! ls -A "$1" | grep -q "rb-tmp\|rb-new\|\.tmp$"' _ "$D"
	rid=$(run_id)
	rb resume "$rid"
	expect_rc 0 "$3: resume finishes"
	check "$3: then the files are whole" sh -c \
		'cmp -s "$1/big.bin" "$2/up.bin" && cmp -s "$1/big.bin" "$2/down.bin" && diff -r "$1/tree" "$2/tree2" >/dev/null' _ "$R" "$D"
}
# the file writes are counted from runbook.yml and params.json of the run
# folder; then the upload's, in 64 KiB pieces (5), the download's (5)
# (the first with short log writes too: a list of faults is one each)
broken log-write:1+:SHORT,file-write:3:ENOSPC up "upload on a full disk" up.bin "cannot write $D/up.bin: No space left on device"
broken file-write:9:ENOSPC down "download on a full disk" down.bin "cannot write $D/down.bin: No space left on device"
broken file-write:14:ENOSPC snap "archive on a full disk" tree.tar.gz "cannot write $D/tree.tar.gz"

# --- the rename that puts an upload in place fails ----------------------------
# (renames: runbook.yml and params.json of the run folder, then the upload)
broken rename:3 up "upload's rename fails" up.bin "cannot put $D/up.bin in place: Input/output error"

# --- faults during a rollback: a fork that fails (exit 3, needs a human), a
# journal that cannot be written (exit 1); each stops the rollback clearly
# before anything is undone, and `rollback` then finishes it
urb=$(file undoable.yml <<'EOF2'
runbook: undoable
params:
  d: { required: true }
steps:
  - id: one
    run: echo one >> {{ d }}/one
    undo: rm {{ d }}/one && echo one >> {{ d }}/undone
  - id: two
    run: echo two >> {{ d }}/two
    undo: rm {{ d }}/two && echo two >> {{ d }}/undone
EOF2
)
# in_rollback SPEC WHAT CODE TEXT: a run, then its rollback with
# RUNBOOK_FAULT=SPEC, which exits CODE saying TEXT; rollback then finishes
in_rollback() {
	rm -rf "$D"
	mkdir -p "$D"
	rb run "$urb" -p "d=$D"
	rid=$(run_id)
	RUNBOOK_FAULT=$1 ${RUNBOOK_WRAP:-} "$FAULTY" rollback "$rid" --yes >"$out" 2>"$err" </dev/null
	rc=$?
	expect_rc "$3" "$2: the rollback stops"
	check "$2: it says why" grep -qF "$4" "$out" "$err"
	check "$2: nothing was undone" test ! -e "$D/undone"
	rb status "$rid"
	expect_rc 0 "$2: the journal replays"
	rb rollback "$rid" --yes
	expect_rc 0 "$2: rollback finishes"
	check "$2: each undo ran once" test "$(tr '\n' ' ' <"$D/undone")" = "two one "
}
in_rollback spawn:1:EAGAIN "an undo's fork fails" 3 "cannot start /bin/sh: Resource temporarily unavailable"
in_rollback journal-write:3:ENOSPC "the journal fills up in a rollback" 1 "cannot write the journal"
