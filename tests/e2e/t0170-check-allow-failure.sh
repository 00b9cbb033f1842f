#!/bin/sh
# t0170 — check: a postcondition run after the action (passing → ok,
# failing → the step fails with the check named); allow_failure: the run
# goes on past a failed step, which is reported "failed (allowed)", and
# its steps.ID.rc / stdout / stderr are readable by later steps.
. "$(dirname "$0")/../lib.sh"

rbk=$(file check.yml <<'EOF2'
runbook: check
params:
  dir: { required: true }
steps:
  - id: make
    run: echo content > {{ dir }}/made
    check: grep -q content {{ dir }}/made
  - id: lie
    run: echo "I did it"
    check: test -e {{ dir }}/never-made
  - id: after
    run: touch {{ dir }}/after
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 1 "a failing check fails the step"
check "a passing check keeps the step ok" grep -Eq '^ *ok .*make' "$out"
out_has "check failed (exit 1): test -e '$T'/never-made"
check "the step after a failed check did not run" test ! -e "$T/after"

rbk=$(file allow.yml <<'EOF2'
runbook: allow
params:
  dir: { required: true }
steps:
  - id: optional
    run: |
      echo "partial output"
      echo "the cache was cold" >&2
      exit 5
    allow_failure: true
  - id: report
    run: |
      printf '%s\n' {{ steps.optional.rc }} "{{ steps.optional.stdout }}" "{{ steps.optional.stderr }}" > {{ dir }}/report
  - id: only-if-failed
    when: steps.optional.rc != 0
    run: touch {{ dir }}/recovered
  - id: optional-check
    run: "true"
    check: "false"
    allow_failure: true
  - id: last
    run: touch {{ dir }}/last
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "a run whose only failures are allowed succeeds"
check "steps.ID.rc, .stdout, .stderr of the failed step are readable" test "$(cat "$T/report")" = "5
partial output
the cache was cold"
check "a condition on the failed step's rc holds" test -e "$T/recovered"
check "an allowed check failure lets the run go on" test -e "$T/last"
out_has "failed (allowed)"
check "summary rows say 'failed (allowed)'" grep -Eq '^ *failed \(allowed\) .*optional' "$out"

# a check may read the captures of its own step
rbk=$(file checkcap.yml <<'EOF2'
runbook: check-capture
params:
  dir: { required: true }
steps:
  - id: make
    run: 'echo made > {{ dir }}/made-cap; echo "path: {{ dir }}/made-cap"'
    capture: { path: 'path: (.*)' }
    check: test -s {{ path }}
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "a check reading its own step's capture"
