#!/bin/sh
# t0120 — timeout: a step that outlives its timeout fails ("timed out"),
# and its whole process group is gone afterwards: the shell, a
# background grandchild, and a grandchild that ignores SIGTERM (killed
# after the grace).  The steps after it do not run.  A step that ends
# in time is unaffected, and a timeout on a group applies to its members.
. "$(dirname "$0")/../lib.sh"

rbk=$(file timeout.yml <<'EOF2'
runbook: timeout
params:
  dir: { required: true }
steps:
  - id: quick
    timeout: 10s
    run: echo fast enough
  - id: slow
    timeout: 1s
    run: |
      echo $$ > {{ dir }}/pid
      sleep 300 &
      echo $! > {{ dir }}/bg
      (trap '' TERM; exec sleep 301) &
      echo $! > {{ dir }}/stubborn
      wait
  - id: after
    run: touch {{ dir }}/after
EOF2
)
RUNBOOK_KILL_GRACE=300ms rb run "$rbk" -p dir="$T"
expect_rc 1 "a timed-out step fails the run"
out_has "timed out after 1"
check "a step that ends before its timeout is ok" grep -Eq '^ *ok .*quick' "$out"
check "the step wrote its pid" test -s "$T/pid"
pg=$(cat "$T/pid" 2>/dev/null)
check "the step's shell is gone" gone "$pg"
check "its background grandchild is gone" gone "$(cat "$T/bg" 2>/dev/null)"
check "its grandchild that ignores SIGTERM is gone" gone "$(cat "$T/stubborn" 2>/dev/null)"
check "no live process is left in its process group" group_gone "$pg"
check "the step after the timeout did not run" test ! -e "$T/after"

# A timeout on a group covers each member.
rbk=$(file grouptimeout.yml <<'EOF2'
runbook: group-timeout
steps:
  - group: bounded
    timeout: 1s
    steps:
      - id: member
        run: sleep 300
EOF2
)
RUNBOOK_KILL_GRACE=300ms rb run "$rbk"
expect_rc 1 "a group's timeout applies to its members"
out_has "timed out after 1"

# Bad durations are refused before anything runs.
rbk=$(file baddur.yml <<'EOF2'
runbook: bad-duration
steps:
  - id: x
    timeout: soon
    run: touch "$MARK"
EOF2
)
MARK=$T/mark rb run "$rbk"
expect_rc 2 "an invalid timeout is bad input"
err_has "invalid duration 'soon'"
err_has "baddur.yml:4:"
check "nothing ran" test ! -e "$T/mark"

# every retry attempt gets its own timeout; a check can time out too
rbk=$(file retrytimeout.yml <<'EOF2'
runbook: retry-timeout
params:
  dir: { required: true }
steps:
  - id: hangs
    timeout: 300ms
    retry: { attempts: 2, delay: 10ms }
    run: echo try >> {{ dir }}/tries; sleep 300
EOF2
)
RUNBOOK_KILL_GRACE=200ms rb run "$rbk" -p dir="$T"
expect_rc 1 "a step that times out on every attempt fails"
check "each attempt ran (and was cut by the timeout)" test "$(wc -l <"$T/tries")" -eq 2
out_has "attempt 1 of 2 failed: timed out after"

rbk=$(file checktimeout.yml <<'EOF2'
runbook: check-timeout
steps:
  - id: slow-check
    timeout: 300ms
    run: "true"
    check: sleep 300
EOF2
)
RUNBOOK_KILL_GRACE=200ms rb run "$rbk"
expect_rc 1 "a check that outlives the step's timeout fails the step"
out_has "check timed out"
