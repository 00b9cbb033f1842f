#!/bin/sh
# t0600 — run steps over SSH on a real sshd (loopback, pinned host key):
# stdout and stderr shown and logged (stderr lines apart, "! "), exit
# codes against expect.rc, expect patterns, capture fed to a later step,
# check, env (exact bytes; the server has no AcceptEnv), inventory host
# env, cwd (and a missing one), when, retry, host.* templates, a param
# that tries to inject, secrets masked in output, logs and the remote
# mirror; a failure rolls back the earlier steps on the remote host, and
# on_failure: stop leaves them; plan shows ssh USER@ADDR:PORT and runs
# nothing; the run's files are 0600; sudo on the remote host (true, and a
# user sudo refuses).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start web 127.0.0.2 || sshd_skip_all "sshd did not start"
sshd_pin web
PORT=$(sshd_port web)
inv=$T/inv.yml
INV_EXTRA='env: { HOSTVAR: "from the inventory" }' sshd_inventory "$inv" web
D=$T/d
mkdir -p "$D/work dir"

SECRET='Sup3r-S3cret-xyz'
EVIL="x'; touch $D/pwned1; echo '\$(touch $D/pwned2)\`touch $D/pwned3\`;touch $D/pwned4 \"; touch $D/pwned5 #"

# --- 1. a run that succeeds: output, expect, capture, check, env, cwd,
#        when, retry, host.*, injection, secrets -------------------------
rbk=$(file main.yml <<'EOF2'
runbook: ssh-main
target: web
params:
  dir: { required: true }
  evil: { required: true }
  pw: { secret: true, env: RB_SSH_PW }
steps:
  - id: out
    run: echo to-stdout-{{ host.name }}; echo to-stderr-line >&2; exit 3
    expect: { rc: [0, 3], stdout: '^to-stdout-web$', stderr: 'to-stderr' }
  - id: who
    run: echo "name={{ host.name }} addr={{ host.address }} user={{ host.user }}"
    capture: { addr: 'addr=(\S+)' }
  - id: use-capture
    run: printf '%s\n' {{ addr }} > {{ dir }}/captured
    check: test -s {{ dir }}/captured
  - id: env
    env:
      V1: "two  spaces and\ttab"
      V2: "it's \"quoted\""
      V3: "$HOME `id` $(id) \\ end"
      V4: "line1\nline2\n"
    run: printf '%s|' "$V1" "$V2" "$V3" "$V4" "$HOSTVAR" > {{ dir }}/env.out
  - id: cwd
    cwd: "{{ dir }}/work dir"
    run: pwd > {{ dir }}/cwd.out
  - id: skipped
    when: addr == "nowhere"
    run: touch {{ dir }}/when-skipped
  - id: taken
    when: addr == "127.0.0.2"
    run: touch {{ dir }}/when-taken
  - id: flaky
    retry: { attempts: 3, delay: 100ms }
    run: n=$(cat {{ dir }}/tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ dir }}/tries; test $n -ge 2
  - id: inject
    run: printf '%s' {{ evil }} > {{ dir }}/evil.out; printf '%s' "{{ evil }}" > {{ dir }}/evil-dq.out
  - id: secret
    run: echo "pw={{ pw }}"; echo "stderr {{ pw }}" >&2; printf '%s' {{ pw }} > {{ dir }}/pw.out
EOF2
)
RB_SSH_PW=$SECRET rb run "$rbk" --inventory "$inv" -p dir="$D" -p evil="$EVIL"
expect_rc 0 "a run over SSH succeeds"
main_out=$(cat "$out")
rid=$(run_id)
logs=$RUNBOOK_STATE_DIR/runs/$rid/logs
out_has "to-stdout-web"
out_has "to-stderr-line"
check "the step log has stdout as a plain line" grep -qx 'to-stdout-web' "$logs/01-out.log"
check "the step log has stderr apart ('! ' lines)" grep -qx '! to-stderr-line' "$logs/01-out.log"
check "the step log records the exit code 3" grep -q 'exit 3' "$logs/01-out.log"
check "host.name/address/user are the inventory's" \
	grep -q "name=web addr=127.0.0.2 user=$SSH_USER" "$logs/02-who.log"
check "a capture feeds a later step" test "$(cat "$D/captured" 2>/dev/null)" = 127.0.0.2
# V4 ends with a newline
printf '%s|%s|%s|%s\n|%s|' "$(printf 'two  spaces and\ttab')" "it's \"quoted\"" \
	'$HOME `id` $(id) \ end' "$(printf 'line1\nline2')" "from the inventory" >"$T/env.want"
check "env values (spaces, tab, quotes, \$, backquotes, newlines) arrive exactly, with the inventory env" \
	cmp "$T/env.want" "$D/env.out"
check "cwd: the command ran in the folder (with a space in its name)" test "$(cat "$D/cwd.out" 2>/dev/null)" = "$D/work dir"
check "when false: the step did not run" test ! -e "$D/when-skipped"
check "when true: the step ran" test -e "$D/when-taken"
check "retry: the flaky step ran twice" test "$(cat "$D/tries" 2>/dev/null)" = 2
check "a param with shell syntax arrives as one word, byte for byte" test "$(cat "$D/evil.out" 2>/dev/null)" = "$EVIL"
check "... also inside double quotes" test "$(cat "$D/evil-dq.out" 2>/dev/null)" = "$EVIL"
check "... and injects nothing" sh -c '! ls "$1"/pwned* >/dev/null 2>&1' _ "$D"
check "the secret reached the remote command" test "$(cat "$D/pw.out" 2>/dev/null)" = "$SECRET"
check "the secret is not in stdout or stderr" sh -c '! grep -qF -- "$1" "$2" "$3"' _ "$SECRET" "$out" "$err"
out_has "pw=***"
check "the secret is in no file of the run (journal, logs, params)" sh -c '! grep -rqF -- "$1" "$2"' _ "$SECRET" "$RUNBOOK_STATE_DIR"
# (the remote state_dir holds the lock and the journal mirror, when there is one)
check "the secret is in no file of the remote state (mirror, lock)" sh -c '! grep -rqF -- "$1" "$2" 2>/dev/null' _ "$SECRET" "$T/remote-web"
check "the secret is masked in the step log (stdout and stderr)" \
	sh -c 'grep -q "pw=\*\*\*" "$1" && grep -q "^! stderr \*\*\*" "$1"' _ "$logs/10-secret.log"
check "journal, logs and run files are 0600" \
	sh -c 'test -n "$(find "$1" -type f)" && test -z "$(find "$1" -type f ! -perm 600)"' _ "$RUNBOOK_STATE_DIR/runs/$rid"
check "the run's folders are 0700" sh -c 'test -z "$(find "$1" -type d ! -perm 700)"' _ "$RUNBOOK_STATE_DIR/runs/$rid"
check "the summary names the SSH host on the step lines" sh -c 'printf "%s\n" "$1" | grep -q "out @web"' _ "$main_out"

# --- 2. plan: names ssh USER@ADDR:PORT, runs nothing ----------------------
rm -rf "$D" && mkdir -p "$D/work dir"
RB_SSH_PW=$SECRET rb plan "$rbk" --inventory "$inv" -p dir="$D" -p evil="$EVIL"
expect_rc 0 "plan on an SSH host"
out_has "ssh $SSH_USER@127.0.0.2:$PORT"
check "plan ran nothing (no file appeared on the host)" test -z "$(ls -A "$D" | grep -v '^work dir$')"
check "plan masks the secret" sh -c '! grep -qF -- "$1" "$2" "$3"' _ "$SECRET" "$out" "$err"

# --- 3. failures: rc outside the list, rollback on the remote host ----------
rbk=$(file fail.yml <<'EOF2'
runbook: ssh-fail
target: web
params:
  dir: { required: true }
steps:
  - id: a
    run: echo a > {{ dir }}/a
    undo: rm {{ dir }}/a && echo undo-a >> {{ dir }}/undo.log
  - id: b
    run: echo b > {{ dir }}/b
    undo: rm {{ dir }}/b && echo undo-b >> {{ dir }}/undo.log
  - id: c
    run: echo about to fail; exit 7
    expect: { rc: [0, 1] }
    undo: echo undo-c >> {{ dir }}/undo.log
  - id: d
    run: touch {{ dir }}/d
EOF2
)
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 1 "an exit code outside expect.rc fails the run (exit 1)"
out_has "exit code 7"
check "the undos ran on the remote host, newest first" test "$(cat "$D/undo.log" 2>/dev/null | tr '\n' ' ')" = "undo-b undo-a "
check "the completed steps' effects are gone" test ! -e "$D/a" -a ! -e "$D/b"
check "the step after the failure did not run" test ! -e "$D/d"
out_has "rolled back"

# on_failure: stop, and a failing check / a missed expect
rm -rf "$D" && mkdir -p "$D"
rbk=$(file stop.yml <<'EOF2'
runbook: ssh-stop
target: web
on_failure: stop
params:
  dir: { required: true }
steps:
  - id: a
    run: echo a > {{ dir }}/a
    undo: rm {{ dir }}/a
  - id: checked
    run: "true"
    check: test -e {{ dir }}/never
  - id: after
    run: touch {{ dir }}/after
EOF2
)
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 1 "a failing check fails the step (exit 1)"
check "the failure says the check failed" grep -Eq 'checked .*failed.*check' "$out"
check "on_failure: stop leaves the completed step alone" test -e "$D/a"
check "on_failure: stop runs nothing after the failure" test ! -e "$D/after"

rbk=$(file expect.yml <<'EOF2'
runbook: ssh-expect
target: web
params:
  dir: { required: true }
steps:
  - id: says2
    run: echo hello; echo warning >&2
    expect: { stderr: '^fatal$' }
    allow_failure: true
  - id: says
    run: echo hello; echo warning >&2
    expect: { stdout: '^goodbye$' }
  - id: after
    run: touch {{ dir }}/after-expect
EOF2
)
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 1 "a missed expect.stdout fails the step"
check "a missed expect.stderr fails its step (allowed here)" grep -Eq 'says2 .*failed.*fatal|failed.*says2' "$out"
check "the failure names the stdout pattern" grep -q 'goodbye' "$out"
check "nothing ran after it" test ! -e "$D/after-expect"

# --- 4. a missing cwd fails clearly, and the command does not run ----------
rbk=$(file cwd.yml <<'EOF2'
runbook: ssh-cwd
target: web
params:
  dir: { required: true }
steps:
  - id: nocwd
    cwd: "{{ dir }}/no-such-dir"
    run: touch {{ dir }}/ran-anyway
EOF2
)
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 1 "a missing cwd fails the step"
check "the failure names the missing folder" grep -q "no-such-dir" "$out"
check "the command did not run elsewhere" test ! -e "$D/ran-anyway"

# --- 5. sudo on the remote host ----------------------------------------------
rbk=$(file sudo.yml <<'EOF2'
runbook: ssh-sudo
target: web
params:
  dir: { required: true }
steps:
  - id: as-root
    sudo: true
    env: { SV: "with space 'and' $dollar" }
    run: id -u; printf '%s|%s' "$SV" "$HOSTVAR" > {{ dir }}/sudo-env
    capture: { uid: '^(\d+)$' }
  - id: uid
    run: test {{ uid }} = 0
  - id: refused
    sudo: no-such-user-rbx
    run: touch {{ dir }}/sudo-refused-ran
EOF2
)
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 1 "the run fails at the step whose sudo is refused"
check "sudo: true ran the command as uid 0" grep -Eq '^ *ok .*uid' "$out"
check "env (step and inventory) arrives through sudo exactly" \
	test "$(cat "$D/sudo-env" 2>/dev/null)" = "with space 'and' \$dollar|from the inventory"
check "a sudo that refuses the user fails the step" grep -Eq 'refused .*failed|failed .*refused' "$out"
check "the refusal says it is sudo" grep -q 'sudo' "$out"
check "the refused command did not run" test ! -e "$D/sudo-refused-ran"
