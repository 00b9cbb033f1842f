#!/bin/sh
# t0130 — retry {attempts, delay, backoff}: a flaky command that succeeds
# on its 3rd try makes the step ok; one that never succeeds fails after
# exactly `attempts` tries; bad retry settings are refused at load time.
. "$(dirname "$0")/../lib.sh"

rbk=$(file retry.yml <<'EOF2'
runbook: retry
params:
  dir: { required: true }
steps:
  - id: flaky
    retry: { attempts: 5, delay: 10ms, backoff: 2 }
    run: |
      echo try >> {{ dir }}/flaky
      test "$(wc -l < {{ dir }}/flaky)" -ge 3
  - id: never
    retry: { attempts: 3, delay: 10ms }
    run: |
      echo try >> {{ dir }}/never
      echo "still broken" >&2
      exit 4
  - id: after
    run: touch {{ dir }}/after
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 1 "a step that never succeeds fails after its retries"
check "the flaky command ran exactly 3 times" test "$(wc -l <"$T/flaky")" -eq 3
check "the flaky step ended ok" grep -Eq '^ *ok .*flaky' "$out"
check "the broken command ran exactly 'attempts' (3) times" test "$(wc -l <"$T/never")" -eq 3
out_has "attempt 1 of 5 failed: exit code 1 (expected 0) — again in 10ms"
out_has "attempt 2 of 5 failed: exit code 1 (expected 0) — again in 20ms"
out_lacks "attempt 3 of 5 failed"
out_has "attempt 1 of 3 failed"
out_has "attempt 2 of 3 failed"
out_lacks "attempt 3 of 3 failed: exit code 4 (expected 0)"
out_has "exit code 4 (expected 0)"
check "the step after did not run" test ! -e "$T/after"
log=$(ls "$RUNBOOK_STATE_DIR"/runs/*/logs/*-never.log 2>/dev/null | head -1)
check "the step log records every attempt" grep -q "attempt 3 of 3" "$log"

# retry also covers a failing check and an unmet expectation
rbk=$(file retrycheck.yml <<'EOF2'
runbook: retry-check
params:
  dir: { required: true }
steps:
  - id: settle
    retry: { attempts: 4, delay: 10ms }
    run: echo x >> {{ dir }}/c
    check: test "$(wc -l < {{ dir }}/c)" -ge 2
  - id: eventually-says-ready
    retry: { attempts: 4, delay: 10ms }
    run: echo y >> {{ dir }}/r; if [ "$(wc -l < {{ dir }}/r)" -ge 3 ]; then echo ready; else echo booting; fi
    expect: { stdout: '^ready$' }
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "retry repeats the action until its check passes"
check "the check-gated step ran twice" test "$(wc -l <"$T/c")" -eq 2
check "the expectation-gated step ran three times" test "$(wc -l <"$T/r")" -eq 3

# load-time validation
rbk=$(file badretry.yml <<'EOF2'
runbook: bad-retry
steps:
  - id: x
    retry: { attempts: 0, delay: 1s, backof: 2 }
    run: "true"
EOF2
)
rb run "$rbk"
expect_rc 2 "bad retry settings are bad input"
err_has "'attempts' must be a whole number"
err_has "unknown key 'backof'"
err_has "backoff"
