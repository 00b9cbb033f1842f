#!/bin/sh
# t0690 — an SSH host that reboots in the middle of a run.  A step asks
# for a reboot and returns; the "reboot" (every sshd process killed, a new
# boot id, the server back on the same port a moment later) drops the
# connection; the next step, a probe with `retry`, connects again — host
# key checked, as at the start — and waits until the host answers with a
# new boot id; the run goes on over the new connection, the journal
# mirror on the host is brought up to date, and the lock is released at
# the end.  A host that does not come back within the retries stops the
# run as "connection lost", resumable once it is back.  A step that is not
# a probe and loses its connection mid-command is still interrupted (its
# fate unknown), never retried.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start box || sshd_skip_all "sshd did not start"
sshd_pin box
inv=$T/inv.yml
sshd_inventory "$inv" box
B=$T/box
mkdir -p "$B"
echo boot-1 >"$B/boot_id"

# the listener again, same config and port, as after a reboot
sshd_up() {
	rm -f "$T/ssh/box.pid"
	"$SSHD" -f "$T/ssh/box.conf" -E "$T/ssh/box.log" 2>>"$T/ssh/box.log"
	_w=0
	while [ $_w -lt 100 ] && [ ! -s "$T/ssh/box.pid" ]; do sleep 0.05; _w=$((_w + 1)); done
}
# the "machine": once a reboot is asked for, everything goes down, the
# boot id changes, and after DOWN seconds (never when DOWN is "never")
# the server listens again
machine() {
	(
		wait_for "$B/reboot-asked" >/dev/null 2>&1 || exit 0
		sleep 0.3
		sshd_stop box
		echo "boot-$(date +%s%N)" >"$B/boot_id"
		rm -f "$B/reboot-asked"
		[ "$1" = never ] && exit 0
		sleep "$1"
		sshd_up
	) &
	machine_pid=$!
}

rbk=$(file reboot.yml <<'EOF2'
runbook: reboot-and-wait
target: box
params:
  b: { required: true }
  attempts: { default: "40" }
steps:
  - id: boot-before
    run: cat {{ b }}/boot_id
    capture: { boot: '^(\S+)$' }
    probe: true
  - id: reboot
    name: ask for a reboot (the command returns first)
    run: echo please > {{ b }}/reboot-asked
  - id: wait-back
    name: wait until the host is back with a new boot id
    run: test "$(cat {{ b }}/boot_id)" != {{ boot }}
    probe: true
    retry: { attempts: 60, delay: 200ms }
  - id: after
    run: echo after-reboot >> {{ b }}/after
EOF2
)

machine 1
rb run "$rbk" --inventory "$inv" -p "b=$B"
wait $machine_pid
expect_rc 0 "the run goes on after the host came back"
out_has "connected to box again"
out_has "summary: succeeded"
check "the step after the reboot ran once, over the new connection" test "$(cat "$B/after")" = after-reboot
rid=$(run_id)
check "the journal mirror on the host holds the whole journal again" \
	cmp "$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl" "$T/remote-box/runs/$rid/journal.jsonl"
err_has "is up to date again"
check "the lock on the host is released at the end" test ! -e "$T/remote-box/lock"
check "the waiting step's log says it connected again" grep -q "connected to box again" \
	"$RUNBOOK_STATE_DIR/runs/$rid/logs/"*wait-back*.log

# --- a host that does not come back ------------------------------------------
rm -f "$B/after"
machine never
rb run "$rbk" --inventory "$inv" -p "b=$B"
wait $machine_pid
expect_rc 1 "a host that stays down stops the run once the retries are spent"
out_has "connecting again failed"
err_has "resume"
rid=$(run_id)
rb status "$rid"
out_has "connection lost"
check "nothing ran after the reboot" test ! -e "$B/after"
sshd_up
rb resume "$rid"
expect_rc 0 "resume finishes once the host is back"
check "the last step ran once" test "$(cat "$B/after")" = after-reboot

# --- a host key that changed while it was down is refused -----------------
rm -f "$B/after"
machine 1
(
	wait_for "$B/reboot-asked" >/dev/null 2>&1
	# a new key for the server that comes back
	sleep 0.1
	rm -f "$T/ssh/box.key" "$T/ssh/box.key.pub"
	ssh-keygen -q -t ed25519 -N '' -C box2 -f "$T/ssh/box.key"
) &
keyer=$!
rb run "$rbk" --inventory "$inv" -p "b=$B"
wait $machine_pid
wait $keyer
expect_rc 1 "a host that comes back with another key is not trusted"
out_has "connecting again failed"
out_has "Someone may be intercepting the connection"
check "nothing ran on the impostor" test ! -e "$B/after"

# --- a step whose command never started -------------------------------------
# the host goes down between two steps and stays down: the next step,
# not a probe and without a check, cannot connect; its command never
# started, so resume runs it without asking (no --rerun-interrupted)
rm -f "$B/after"
sshd_pin box
rbk2=$(file reboot2.yml <<'EOF2'
runbook: reboot-then-change
target: box
params:
  b: { required: true }
steps:
  - id: reboot
    run: echo please > {{ b }}/reboot-asked
  - id: meanwhile
    on: local
    run: while [ -e {{ b }}/reboot-asked ]; do sleep 0.1; done
    timeout: 30s
  - id: change
    run: echo after-reboot >> {{ b }}/after
EOF2
)
machine never
rb run "$rbk2" --inventory "$inv" -p "b=$B"
wait $machine_pid
expect_rc 1 "a change step on a host that is down stops the run"
rid=$(run_id)
check "its end record says the command never started" grep -q '"not_started":true' \
	"$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl"
check "it did not run" test ! -e "$B/after"
sshd_up
rb resume "$rid"
expect_rc 0 "resume runs it without asking"
out_has "never started"
check "it ran once" test "$(cat "$B/after")" = after-reboot
