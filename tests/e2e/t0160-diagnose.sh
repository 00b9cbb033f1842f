#!/bin/sh
# t0160 — diagnose [{match, hint, fail}]: matched against stdout and
# stderr; a match fails the step (even with rc 0) and shows its hint,
# with the pattern's named groups filled in; `fail: false` only notes;
# every matching hint is shown when a step fails for another reason.
. "$(dirname "$0")/../lib.sh"

rbk=$(file diag.yml <<'EOF2'
runbook: diag
params:
  dir: { required: true }
steps:
  - id: restore
    run: |
      echo "restoring..."
      echo "Abandoned with 17 unsaved objects in table users" >&2
      echo "done"
    diagnose:
      - match: 'Abandoned with (?<n>\d+) unsaved objects in table (?<table>\w+)'
        hint: "{{ n }} rows of {{ table }} could not be saved: the application needs a migrator"
      - match: 'never printed'
        hint: "this hint must not show"
  - id: after
    run: touch {{ dir }}/after
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 1 "a failing diagnose fails a step that exited 0"
out_has "hint: 17 rows of users could not be saved: the application needs a migrator"
out_lacks "this hint must not show"
check "the step after did not run" test ! -e "$T/after"

rbk=$(file diagnote.yml <<'EOF2'
runbook: diag-note
params:
  dir: { required: true }
steps:
  - id: migrate
    run: 'echo "WARNING: 3 deprecated settings"'
    diagnose:
      - match: '(?<k>\d+) deprecated'
        hint: "{{ k }} settings should be renamed"
        fail: false
  - id: after
    run: touch {{ dir }}/after
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "fail: false does not fail the step"
out_has "note: 3 settings should be renamed"
out_lacks "hint:"
check "the run went on" test -e "$T/after"

# a step failing on its exit code still shows every matching hint
rbk=$(file diagrc.yml <<'EOF2'
runbook: diag-rc
steps:
  - id: connect
    run: |
      echo "connect: Connection refused on port 27017" >&2
      echo "retrying with backup host: timeout" >&2
      exit 2
    diagnose:
      - match: 'Connection refused on port (?<port>\d+)'
        hint: "is anything listening on {{ port }}?"
        fail: false
      - match: 'timeout'
        hint: "the backup host is slow too"
EOF2
)
rb run "$rbk"
expect_rc 1 "the step fails on its exit code"
out_has "exit code 2 (expected 0)"
out_has "hint: is anything listening on 27017?"
out_has "hint: the backup host is slow too"

# without a hint, the failure names the pattern
rbk=$(file diagnohint.yml <<'EOF2'
runbook: diag-nohint
steps:
  - id: x
    run: echo "FATAL error"
    diagnose:
      - match: 'FATAL'
EOF2
)
rb run "$rbk"
expect_rc 1 "a diagnose without hint still fails"
out_has "output matched 'FATAL'"
