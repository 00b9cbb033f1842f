#!/bin/sh
# t0230 — finally runs after success and after a failure (every finally
# step, even when one of them fails); a failing finally turns a good run
# into exit 1; on_failure: stop fails with exit 1 and says nothing was
# undone; a bad on_failure value is refused.
. "$(dirname "$0")/../lib.sh"

rbk=$(file fin.yml <<'EOF2'
runbook: fin
params:
  dir: { required: true }
  fail: { default: "no", choices: ["yes", "no"] }
  finfail: { default: "no", choices: ["yes", "no"] }
steps:
  - id: main
    run: test {{ fail }} = no
  - id: after
    run: touch {{ dir }}/after
finally:
  - id: cleanup1
    run: echo cleanup1 >> {{ dir }}/fin; test {{ finfail }} = no
  - id: cleanup2
    run: echo cleanup2 >> {{ dir }}/fin
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "success"
check "finally ran after success, in order" test "$(cat "$T/fin")" = "cleanup1
cleanup2"
out_has "finally"

rm -f "$T/fin" "$T/after"
rb run "$rbk" -p dir="$T" -p fail=yes
expect_rc 1 "a failed step: exit 1"
check "finally ran after the failure" test "$(cat "$T/fin")" = "cleanup1
cleanup2"
check "the step after the failure did not run" test ! -e "$T/after"

rm -f "$T/fin"
rb run "$rbk" -p dir="$T" -p finfail=yes
expect_rc 1 "a failing finally step: exit 1"
check "the other finally steps still ran" test "$(cat "$T/fin")" = "cleanup1
cleanup2"
out_has "failed in finally"

rm -f "$T/fin"
rb run "$rbk" -p dir="$T" -p fail=yes -p finfail=yes
expect_rc 1 "a failed step and a failing finally: exit 1"

# on_failure: stop
rbk=$(file stop.yml <<'EOF2'
runbook: stop
params:
  dir: { required: true }
on_failure: stop
steps:
  - id: first
    run: touch {{ dir }}/first
    undo: rm {{ dir }}/first
  - id: breaks
    run: exit 9
  - id: never
    run: touch {{ dir }}/never
finally:
  - run: touch {{ dir }}/stop-finally
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 1 "on_failure: stop exits 1"
out_has "on_failure: stop, nothing undone"
check "nothing was undone" test -e "$T/first"
check "the steps after did not run" test ! -e "$T/never"
check "finally still ran" test -e "$T/stop-finally"

rbk=$(file badonfail.yml <<'EOF2'
runbook: bad-on-failure
on_failure: abort
steps:
  - run: "true"
EOF2
)
rb run "$rbk"
expect_rc 2 "an unknown on_failure value is bad input"
err_has "abort"
err_has "badonfail.yml:2:"
