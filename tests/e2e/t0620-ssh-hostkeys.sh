#!/bin/sh
# t0620 — host keys fail closed, and connection problems are found
# before any step runs (exit 5, nothing changed): an unknown host (its
# offered SHA256 fingerprint shown exactly as ssh-keygen -l prints it,
# and `runbook trust`), a changed key (both fingerprints, and the
# `ssh-keygen -f … -R …` remedy), a host that is down ("cannot be
# reached"), a user key the server refuses (what was tried is named),
# an `identity:` that does not exist.  A hashed known_hosts entry is
# accepted, and an inventory host's `known_hosts: FILE` is the file that
# counts.  Each runbook's first step is local, so "before any step"
# means before that one too.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start h1 127.0.0.3 || sshd_skip_all "sshd did not start"
PORT=$(sshd_port h1)
FP=$(sshd_fingerprint h1)
KH=$HOME/.ssh/known_hosts
inv=$T/inv.yml
sshd_inventory "$inv" h1
D=$T/d
mkdir -p "$D"

rbk=$(file touch.yml <<'EOF2'
runbook: ssh-touch
target: h1
params:
  dir: { required: true }
steps:
  - id: local-first
    on: local
    run: touch {{ dir }}/local-marker
  - id: remote
    run: touch {{ dir }}/remote-marker
EOF2
)
nothing_ran() {
	check "$1: the remote step did not run" test ! -e "$D/remote-marker"
	check "$1: no step ran at all (not even the local first one)" test ! -e "$D/local-marker"
	rm -f "$D/remote-marker" "$D/local-marker"
}

# --- 1. unknown host ---------------------------------------------------------
: >"$KH"
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 5 "unknown host key: refused, exit 5"
nothing_ran "unknown host"
check "unknown host: the fingerprint is a real SHA256 one" test -n "$FP"
err_has "$FP"
err_has "runbook trust"
check "unknown host: nothing was pinned behind the operator's back" test ! -s "$KH"

# --- 2. changed key ----------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C other -f "$T/other.key"
OTHER_FP=$(ssh-keygen -lf "$T/other.key.pub" | awk '{print $2}')
printf '[127.0.0.3]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$T/other.key.pub")" >"$KH"
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 5 "changed host key: refused, exit 5"
nothing_ran "changed key"
err_has "$FP"
err_has "$OTHER_FP"
check "changed key: the remedy 'ssh-keygen -f … -R …' is named" grep -Eq 'ssh-keygen (.* )?-f .*-R|ssh-keygen (.* )?-R .*-f' "$err"
check "changed key: the remedy removes this host's name, [127.0.0.3]:PORT" grep -Eq -- "-R '?\\[127\\.0\\.0\\.3\\]:$PORT" "$err"
check "changed key: known_hosts was left as it was" \
	test "$(cat "$KH")" = "[127.0.0.3]:$PORT $(cut -d' ' -f1,2 "$T/other.key.pub")"

# --- 3. a hashed known_hosts entry is accepted -------------------------------
: >"$KH"
sshd_pin h1
ssh-keygen -q -H -f "$KH" >/dev/null 2>&1
rm -f "$KH.old"
check "the known_hosts entry is hashed" grep -q '^|1|' "$KH"
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 0 "a hashed known_hosts entry is accepted"
check "hashed entry: the remote step ran" test -e "$D/remote-marker"
rm -f "$D/remote-marker" "$D/local-marker"

# --- 4. inventory known_hosts: FILE ------------------------------------------
# the pin only in the inventory's file, ~/.ssh/known_hosts empty: works
: >"$KH"
sshd_pin h1
mv "$KH" "$T/pinned_hosts"
: >"$KH"
INV_EXTRA="known_hosts: $T/pinned_hosts" sshd_inventory "$T/inv-kh.yml" h1
rb run "$rbk" --inventory "$T/inv-kh.yml" -p dir="$D"
expect_rc 0 "inventory known_hosts: a pin in that file is honoured"
check "inventory known_hosts: the remote step ran" test -e "$D/remote-marker"
rm -f "$D/remote-marker" "$D/local-marker"
# the pin only in ~/.ssh/known_hosts, the inventory naming an empty file: refused
sshd_pin h1
: >"$T/empty_hosts"
INV_EXTRA="known_hosts: $T/empty_hosts" sshd_inventory "$T/inv-kh2.yml" h1
rb run "$rbk" --inventory "$T/inv-kh2.yml" -p dir="$D"
expect_rc 5 "inventory known_hosts: ~/.ssh/known_hosts does not count then"
nothing_ran "inventory known_hosts (empty)"
err_has "$T/empty_hosts"

# --- 5. a host that is down --------------------------------------------------
# (~/.ssh/known_hosts now pins h1: only the port is wrong)
CLOSED=$(sshd_closed_port 127.0.0.3)
cat >"$T/inv-down.yml" <<EOF2
hosts:
  h1: { address: 127.0.0.3, port: $CLOSED, user: $SSH_USER }
EOF2
t0=$(date +%s)
rb run "$rbk" --inventory "$T/inv-down.yml" -p dir="$D"
t1=$(date +%s)
expect_rc 5 "a host that is down: exit 5"
nothing_ran "host down"
err_has "cannot be reached"
check "host down: the message names the host" grep -q "h1" "$err"
check "host down: a refused connection fails fast" test $((t1 - t0)) -le 5

# --- 6. a user key the server refuses ------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C wrong -f "$T/wrong.key"
INV_EXTRA="identity: $T/wrong.key" sshd_inventory "$T/inv-wrong.yml" h1
rb run "$rbk" --inventory "$T/inv-wrong.yml" -p dir="$D"
expect_rc 5 "a refused user key: exit 5"
nothing_ran "refused key"
check "refused key: the message is about authentication" grep -Eqi 'auth|accept|refused|denied|permission' "$err"
err_has "$T/wrong.key"

# --- 7. an identity: that does not exist ----------------------------------------
INV_EXTRA="identity: $T/no-such.key" sshd_inventory "$T/inv-missing.yml" h1
rb run "$rbk" --inventory "$T/inv-missing.yml" -p dir="$D"
check "a missing identity file is refused before anything runs (exit 2 or 5, got $rc)" \
	sh -c 'test "$1" = 2 || test "$1" = 5' _ "$rc"
nothing_ran "missing identity"
err_has "$T/no-such.key"
check "missing identity: the message says the file is missing" grep -Eqi 'no such file|not found|does not exist|missing|cannot read' "$err"
