#!/bin/sh
# t0260 — secret params: the command gets the real value, but it never
# appears in stdout, stderr, step logs or the events file (even when a
# command echoes it, a var derives from it, a module receives it, a note
# shows it, or -v prints the command); it shows as ***.  A secret that
# breaks its pattern is refused without being echoed.
. "$(dirname "$0")/../lib.sh"

SECRET='Sup3r-S3cret-xyz'
file modules/auth.yml >/dev/null <<'EOF2'
module: auth
actions:
  login:
    params:
      password: { required: true }
      dir: { required: true }
    steps:
      - id: use
        run: 'echo "module sees {{ password }}"; test {{ password }} = "$EXPECTED" && touch {{ dir }}/module-ok'
EOF2
rbk=$(file secret.yml <<'EOF2'
runbook: secret
params:
  dir: { required: true }
  pw: { secret: true, env: RB_ADMIN_PW }
vars:
  url: "https://admin:{{ pw }}@db.example.org/"
steps:
  - id: echo-it
    run: |
      echo "password is {{ pw }}"
      echo "stderr too: {{ pw }}" >&2
      echo "url {{ url }}"
      test "{{ pw }}" = "$EXPECTED" && touch {{ dir }}/got-it
  - id: env-it
    env: { PW: "{{ pw }}" }
    run: 'printf "%s\n" "$PW"; test "$PW" = "$EXPECTED" && touch {{ dir }}/env-ok'
  - note: "the password is {{ pw }}"
  - id: mod
    uses: auth.login
    with: { password: "{{ pw }}", dir: "{{ dir }}" }
  - id: captured
    run: 'echo "token={{ pw }}"'
    capture: { tok: 'token=(.*)' }
  - id: reuse
    run: echo "captured {{ tok }}"
  - id: fails
    run: 'echo "failing with {{ pw }}"; exit 3'
    check: test {{ pw }} = x
    diagnose:
      - match: 'failing with (?<what>.*)'
        hint: "it printed {{ what }}"
        fail: false
EOF2
)
ev=$T/events.jsonl
EXPECTED=$SECRET RB_ADMIN_PW=$SECRET rb run "$rbk" -p dir="$T" -v --events "$ev"
expect_rc 1 "the run (which fails at its last step) ran"
check "the command received the real secret" test -e "$T/got-it"
check "the env received the real secret" test -e "$T/env-ok"
check "the module received the real secret" test -e "$T/module-ok"
check "the secret is not in stdout" sh -c '! grep -qF -- "$1" "$2"' _ "$SECRET" "$out"
check "a diagnose hint does not reveal the secret (named group)" sh -c '! grep -F -- "$1" "$2" | grep -q "hint:"' _ "$SECRET" "$out"
check "-v does not reveal a secret carried by a capture" sh -c '! grep -F -- "$1" "$2" | grep -q "cmd:"' _ "$SECRET" "$out"
check "the secret is not in stderr" sh -c '! grep -qF -- "$1" "$2"' _ "$SECRET" "$err"
check "the secret is not in any step log" sh -c '! grep -rqF -- "$1" "$2"' _ "$SECRET" "$RUNBOOK_STATE_DIR"
check "the secret is not in the events file" sh -c '! grep -qF -- "$1" "$2"' _ "$SECRET" "$ev"
check "the logs exist (and hold the masked output)" grep -rqF "password is ***" "$RUNBOOK_STATE_DIR"
out_has "password is ***"
out_has "stderr too: ***"
out_has "url https://admin:***@db.example.org/"
check "the note shows the secret as ***" grep -Eq 'note: .*the password is \*\*\*' "$out"
out_has "module sees ***"
out_has "captured ***"
check "the run_start event shows the secret param as ***" grep -q '"pw":"\*\*\*"' "$ev"

# from -p too, and a secret that breaks its pattern is not echoed
rbk=$(file secret2.yml <<'EOF2'
runbook: secret2
params:
  pin: { secret: true, pattern: '\d{4}' }
steps:
  - run: echo {{ pin }}
EOF2
)
rb run "$rbk" -p pin=4821
expect_rc 0 "a secret from -p"
out_lacks "4821"
out_has "***"
rb run "$rbk" -p pin=Zq9-not-a-pin
expect_rc 2 "a secret that breaks its pattern is refused"
err_has "param 'pin'"
err_lacks "Zq9-not-a-pin"
out_lacks "Zq9-not-a-pin"

# a secret carried by a capture into a module argument that breaks the
# argument's pattern: the refusal must not print it (stdout nor events)
file modules/strict.yml >/dev/null <<'EOF2'
module: strict
actions:
  take:
    params: { word: { pattern: '[a-z]+' } }
    steps:
      - run: echo {{ word }}
EOF2
rbk=$(file secret3.yml <<'EOF2'
runbook: secret3
params:
  pw: { secret: true }
steps:
  - id: c
    run: 'echo "token={{ pw }}"'
    capture: { tok: 'token=(.*)' }
  - id: call
    uses: strict.take
    with: { word: "{{ tok }}" }
EOF2
)
ev=$T/events3.jsonl
rb run "$rbk" -p pw="$SECRET" --events "$ev"
expect_rc 1 "a module argument that breaks its pattern fails the step"
check "the refused argument does not reveal the secret on stdout" sh -c '! grep -qF -- "$1" "$2"' _ "$SECRET" "$out"
check "the refused argument does not reveal the secret in events" sh -c '! grep -qF -- "$1" "$2"' _ "$SECRET" "$ev"

# a secret inside a line longer than 64 KiB, across the piece boundary
rbk=$(file secret4.yml <<'EOF2'
runbook: secret4
params:
  pw: { secret: true }
steps:
  - id: long
    run: 'head -c 65530 /dev/zero | tr "\0" a; echo "{{ pw }}"'
EOF2
)
rb run "$rbk" -p pw="$SECRET"
expect_rc 0 "a very long line holding the secret"
check "no part of the secret shows on stdout" sh -c '! grep -q "Sup3r-\|S3cret-xyz" "$1"' _ "$out"
check "no part of the secret is in the log" sh -c '! grep -rq "Sup3r-\|S3cret-xyz" "$1"/runs/secret4-*/logs' _ "$RUNBOOK_STATE_DIR"

# a secret read from the environment must be there again for a rollback
# or a resume: an empty one would reach the undos unnoticed
rbk=$(file secret5.yml <<'EOF2'
runbook: secret5
params:
  pw: { secret: true, env: RB_T_PW }
  opt: { env: RB_T_UNSET }
steps:
  - id: s
    run: echo changed
    check: "true"
    env: { PW: "{{ pw }}" }
    undo: 'test -n "$PW" && echo "undo got the password"'
EOF2
)
rb plan "$rbk"
out_has "opt = (unset)  (not given)"
RB_T_PW="$SECRET" rb run "$rbk"
expect_rc 0 "a run with a secret from the environment"
rid=$(run_id)
rb rollback "$rid" --yes
expect_rc 2 "rollback without the variable the secret came from is refused"
err_has "came from \$RB_T_PW when the run started, and RB_T_PW is empty or not set now"
RB_T_PW= rb rollback "$rid" --yes
expect_rc 2 "rollback with the variable set but empty is refused too"
RB_T_PW="$SECRET" rb rollback "$rid" --yes
expect_rc 0 "rollback with the variable set again"
out_has "undo got the password"
