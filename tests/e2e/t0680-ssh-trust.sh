#!/bin/sh
# t0680 — `runbook trust HOST`: shows the offered key's SHA256
# fingerprint (as ssh-keygen -l prints it).  An unknown key: without a
# terminal and without --yes, exit 4 and nothing pinned (and `run` still
# refuses the host); with --yes, pinned as `[addr]:port KEYTYPE BASE64`
# (the server's own key) in a 0600 known_hosts, and `run` then works;
# already pinned: exit 0, "already pinned", the file untouched; a
# changed key: exit 1, both fingerprints and the `ssh-keygen -f FILE -R
# NAME` remedy, the file untouched, even with --yes.  On a terminal (via
# script(1)) the answer 'y' pins and 'n' does not.  The inventory's
# `known_hosts: FILE` is where the pin goes; on port 22 the pin is
# written `addr KEYTYPE BASE64`.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start web 127.0.0.2 || sshd_skip_all "sshd did not start"
PORT=$(sshd_port web)
FP=$(sshd_fingerprint web)
KEY=$(cut -d' ' -f1,2 "$T/ssh/web.key.pub")
KH=$HOME/.ssh/known_hosts
inv=$T/inv.yml
sshd_inventory "$inv" web
D=$T/d
mkdir -p "$D"
rm -f "$KH"
rbk=$(file touch.yml <<'EOF2'
runbook: ssh-trust
target: web
params:
  dir: { required: true }
  mark: { required: true }
steps:
  - id: remote
    run: touch {{ dir }}/{{ mark }}
EOF2
)
mode() { stat -c %a "$1" 2>/dev/null; }

# --- 1. unknown key, no terminal, no --yes -------------------------------------
rb trust web --inventory "$inv"
expect_rc 4 "unknown key, no terminal, no --yes: exit 4"
check "the offered key's fingerprint is shown ($FP)" grep -qF "$FP" "$out"
check "nothing was pinned" sh -c '! test -s "$1"' _ "$KH"
check "the message says why (no terminal) and what to do (--yes)" sh -c 'grep -qi "terminal" "$1" && grep -q -- "--yes" "$1"' _ "$err"
rb run "$rbk" --inventory "$inv" -p dir="$D" -p mark=before
expect_rc 5 "run still refuses the unknown host"
check "... and ran nothing" test ! -e "$D/before"

# --- 2. --yes pins; run then works ------------------------------------------------
rb trust web --inventory "$inv" --yes
expect_rc 0 "trust --yes: exit 0"
check "the fingerprint is shown" grep -qF "$FP" "$out"
check "the pin is '[127.0.0.2]:$PORT KEYTYPE BASE64', the server's own key" \
	test "$(cat "$KH" 2>/dev/null)" = "[127.0.0.2]:$PORT $KEY"
check "known_hosts is 0600" test "$(mode "$KH")" = 600
check "ssh-keygen finds the pin under the host's name" ssh-keygen -F "[127.0.0.2]:$PORT" -f "$KH"
rb run "$rbk" --inventory "$inv" -p dir="$D" -p mark=after
expect_rc 0 "with the pin, run connects"
check "... and the step ran" test -e "$D/after"

# --- 3. already pinned ------------------------------------------------------------
cp "$KH" "$T/kh.before"
rb trust web --inventory "$inv"
expect_rc 0 "already pinned: exit 0 (no terminal, no --yes needed)"
check "it says it is already pinned" grep -qi "already pinned" "$out"
check "known_hosts is untouched" cmp "$KH" "$T/kh.before"
rb trust web --inventory "$inv" --yes
check "already pinned with --yes: nothing added" cmp "$KH" "$T/kh.before"

# --- 4. a changed key ---------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C other -f "$T/other.key"
OTHER_FP=$(ssh-keygen -lf "$T/other.key.pub" | awk '{print $2}')
printf '# the operator'"'"'s file\n[127.0.0.2]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$T/other.key.pub")" >"$KH"
chmod 600 "$KH"
cp "$KH" "$T/kh.before"
for y in "" --yes; do
	rb trust web --inventory "$inv" $y
	expect_rc 1 "a changed key${y:+ (even with $y)}: exit 1"
	check "both fingerprints are shown (offered $FP, pinned $OTHER_FP)" \
		sh -c 'cat "$1" "$2" | grep -qF "$3" && cat "$1" "$2" | grep -qF "$4"' _ "$out" "$err" "$FP" "$OTHER_FP"
	check "the remedy 'ssh-keygen -f FILE -R [127.0.0.2]:$PORT' is named" \
		sh -c 'cat "$1" "$2" | grep -Eq "ssh-keygen -f .?$3.? -R .?\[127\.0\.0\.2\]:$4"' _ "$out" "$err" "$KH" "$PORT"
	check "known_hosts is untouched, byte for byte" cmp "$KH" "$T/kh.before"
done
rb run "$rbk" --inventory "$inv" -p dir="$D" -p mark=changed
expect_rc 5 "run refuses the changed key"
# the remedy, followed, works
ssh-keygen -q -f "$KH" -R "[127.0.0.2]:$PORT" >/dev/null 2>&1
rb trust web --inventory "$inv" --yes
expect_rc 0 "after the remedy, trust --yes pins the new key"
check "the new pin is the server's key" grep -qxF "[127.0.0.2]:$PORT $KEY" "$KH"
check "the file's other lines are kept" grep -qx "# the operator's file" "$KH"

# --- 5. on a terminal: 'y' pins, 'n' does not ----------------------------------------
if command -v script >/dev/null; then
	tty_trust() { # ANSWER: the exit code in $rc, the terminal's text in $out
		printf '%s\n' "$1" | script -qec "\"$RUNBOOK\" trust web --inventory \"$inv\"" /dev/null >"$out" 2>"$err"
		rc=$?
	}
	rm -f "$KH"
	tty_trust n
	expect_rc 1 "terminal, answer 'n': not pinned (exit 1)"
	check "the question was asked ([y/N])" grep -qF "[y/N]" "$out"
	check "the fingerprint was shown before the question" grep -qF "$FP" "$out"
	check "'n': nothing pinned" sh -c '! test -s "$1"' _ "$KH"
	tty_trust y
	expect_rc 0 "terminal, answer 'y': exit 0"
	check "'y': pinned" test "$(cat "$KH" 2>/dev/null)" = "[127.0.0.2]:$PORT $KEY"
	rm -f "$KH"
	tty_trust ""
	check "terminal, just Enter: the default is No, nothing pinned" sh -c '! test -s "$1"' _ "$KH"
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP no script(1) for a terminal"
fi

# --- 6. the inventory's known_hosts: FILE ------------------------------------------------
rm -f "$KH"
INV_EXTRA="known_hosts: $T/pins/hosts" sshd_inventory "$T/inv-kh.yml" web
mkdir -p "$T/pins"
rb trust web --inventory "$T/inv-kh.yml" --yes
expect_rc 0 "trust --yes with the inventory's known_hosts"
check "the pin went to the inventory's file" test "$(cat "$T/pins/hosts" 2>/dev/null)" = "[127.0.0.2]:$PORT $KEY"
check "... which is 0600" test "$(mode "$T/pins/hosts")" = 600
check "... and not to ~/.ssh/known_hosts" test ! -s "$KH"
rb run "$rbk" --inventory "$T/inv-kh.yml" -p dir="$D" -p mark=invkh
expect_rc 0 "run honours the pin in the inventory's file"

# --- 7. port 22: the pin is 'addr KEYTYPE BASE64' ---------------------------------------------
if [ "$(id -u)" = 0 ] && sshd_start p22 127.0.0.5 && sshd_listen_on p22 22; then
	sshd_inventory "$T/inv22.yml" p22
	rm -f "$KH"
	rb trust p22 --inventory "$T/inv22.yml" --yes
	expect_rc 0 "trust --yes on port 22"
	check "the pin on port 22 is '127.0.0.5 KEYTYPE BASE64'" \
		test "$(cat "$KH" 2>/dev/null)" = "127.0.0.5 $(cut -d' ' -f1,2 "$T/ssh/p22.key.pub")"
	rb run "$rbk" --inventory "$T/inv22.yml" --target p22 -p dir="$D" -p mark=p22
	expect_rc 0 "run honours the port-22 pin"
	sshd_stop p22
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP no server on 127.0.0.5:22"
fi
