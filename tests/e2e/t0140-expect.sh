#!/bin/sh
# t0140 — expect: rc 0 by default, a list of codes, `any`; expect.stdout
# and expect.stderr regexes (matched line by line); a miss fails the step
# with a reason naming the pattern.
. "$(dirname "$0")/../lib.sh"

rbk=$(file expect.yml <<'EOF2'
runbook: expect
params:
  code: { default: "0" }
steps:
  - id: listed
    run: exit 3
    expect: { rc: [0, 3] }
  - id: anything
    run: exit 42
    expect: { rc: any }
  - id: single
    run: exit 2
    expect: { rc: 2 }
  - id: streams
    run: |
      echo "line one"
      echo "Status: READY (v2)"
      echo "warning: disk 91% full" >&2
    expect: { stdout: 'READY \(v\d\)$', stderr: '^warning: disk \d+%' }
  - id: last
    run: exit {{ code }}
  - id: after
    run: touch "$MARK"
EOF2
)
MARK=$T/after rb run "$rbk"
expect_rc 0 "listed, any, single codes and matching streams pass"
check "the last step ran" test -e "$T/after"
out_has "6 ok, 0 failed"

rm -f "$T/after"
MARK=$T/after rb run "$rbk" -p code=1
expect_rc 1 "rc 0 is the default expectation"
out_has "exit code 1 (expected 0)"
check "the step after a failure did not run" test ! -e "$T/after"

# codes outside the list fail
rbk=$(file expectmiss.yml <<'EOF2'
runbook: expect-miss
steps:
  - id: outside
    run: exit 4
    expect: { rc: [0, 3] }
EOF2
)
rb run "$rbk"
expect_rc 1 "an exit code outside the list fails"
out_has "exit code 4 (expected 0, 3)"

rbk=$(file stdoutmiss.yml <<'EOF2'
runbook: stdout-miss
steps:
  - id: not-ready
    run: 'echo "Status: BOOTING"'
    expect: { stdout: 'READY' }
EOF2
)
rb run "$rbk"
expect_rc 1 "stdout that never matches fails the step"
out_has "stdout never matched 'READY'"

rbk=$(file stderrmiss.yml <<'EOF2'
runbook: stderr-miss
steps:
  - id: quiet
    run: echo "READY"
    expect: { stdout: READY, stderr: 'deprecated' }
EOF2
)
rb run "$rbk"
expect_rc 1 "stderr that never matches fails the step"
out_has "stderr never matched 'deprecated'"

# stdout pattern is not matched against stderr
rbk=$(file crossed.yml <<'EOF2'
runbook: crossed
steps:
  - id: wrong-stream
    run: echo READY >&2
    expect: { stdout: READY }
EOF2
)
rb run "$rbk"
expect_rc 1 "expect.stdout does not look at stderr"

# a bad regex and a bad rc are refused with a position
rbk=$(file badexpect.yml <<'EOF2'
runbook: bad-expect
steps:
  - id: x
    run: "true"
    expect: { stdout: 'a(b', rc: 300 }
EOF2
)
rb run "$rbk"
expect_rc 2 "a bad regex / rc is bad input"
err_has "bad regular expression in 'expect.stdout'"
err_has "'rc' must be an exit code from 0 to 255"
err_has "badexpect.yml:5:"

# a command killed by a signal fails, and says so
rbk=$(file killed.yml <<'EOF2'
runbook: killed
steps:
  - id: suicide
    run: kill -9 $$
EOF2
)
rb run "$rbk"
expect_rc 1 "a command killed by a signal fails the step"
out_has "killed by signal 9"
# a command that is not found: rc 127, an ordinary failure
rbk=$(file notfound.yml <<'EOF2'
runbook: notfound
steps:
  - id: missing
    run: no-such-command-xyz
  - id: tolerated
    run: no-such-command-xyz
    expect: { rc: 127 }
EOF2
)
rb run "$rbk"
expect_rc 1 "a missing command fails with rc 127"
out_has "exit code 127 (expected 0)"

# a value inside a pattern is matched literally (regex syntax is escaped)
rbk=$(file expectval.yml <<'EOF2'
runbook: expect-value
params:
  v: { default: "1.5" }
  shown: { default: "1.5" }
steps:
  - id: ver
    run: echo "version {{ shown }}"
    expect: { stdout: '^version {{ v }}$' }
EOF2
)
rb run "$rbk"
expect_rc 0 "a templated pattern matches the value"
rb run "$rbk" -p shown=1x5
expect_rc 1 "a '.' in a value is literal in a pattern"
rb run "$rbk" -p v='(a|' -p shown='(a|'
expect_rc 0 "regex syntax in a value is escaped (no bad-regex error)"
