#!/bin/sh
# t0150 — capture {NAME: RE}: the named group NAME, else group 1, else the
# whole match; the first matching line wins; captures feed later steps
# (shell text, env, when); a capture that finds nothing fails the step.
. "$(dirname "$0")/../lib.sh"

rbk=$(file capture.yml <<'EOF2'
runbook: capture
params:
  dir: { required: true }
steps:
  - id: probe
    run: |
      echo "noise"
      echo "version: 4.2.1 (build 77)"
      echo "port=8080"
      echo "port=9090"
      echo "token ABC-123 issued"
    capture:
      major: 'version: (?<major>\d+)\.(?<minor>\d+)'
      build: 'build (\d+)'
      port: 'port=(\d+)'
      token: '[A-Z]+-\d+'
  - id: use
    env: { BUILD: "{{ build }}" }
    run: |
      printf '%s\n' {{ major }} "$BUILD" {{ port }} "{{ token }}" > {{ dir }}/captured
  - id: gated
    when: major == 4 and port == "8080"
    run: touch {{ dir }}/gated
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "captures are made and used"
check "named group, group 1, first match and whole match" test "$(cat "$T/captured")" = "4
77
8080
ABC-123"
check "a capture feeds 'when'" test -e "$T/gated"

# a capture that finds nothing fails the step, even with rc 0
rbk=$(file capmiss.yml <<'EOF2'
runbook: capture-miss
params:
  dir: { required: true }
steps:
  - id: probe
    run: echo "nothing useful here"
    capture: { version: 'version (\d+)' }
  - id: after
    run: touch {{ dir }}/after
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 1 "a missing capture fails the step"
out_has "capture 'version' found no line matching 'version (\d+)'"
check "the step after did not run" test ! -e "$T/after"

# captures look at stdout only
rbk=$(file capstderr.yml <<'EOF2'
runbook: capture-stderr
steps:
  - id: probe
    run: echo "version 3" >&2
    capture: { version: 'version (\d+)' }
EOF2
)
rb run "$rbk"
expect_rc 1 "a capture does not read stderr"

# a capture used before the step that makes it is refused at load time
rbk=$(file capearly.yml <<'EOF2'
runbook: capture-early
steps:
  - id: user
    run: echo {{ version }}
  - id: maker
    run: echo "version 3"
    capture: { version: 'version (\d+)' }
EOF2
)
MARK=$T/m rb run "$rbk"
expect_rc 2 "a capture read before it is made is bad input"
err_has "version"
err_has "capearly.yml:4:"
