#!/bin/sh
# t0180 — when: literal true/false; params, captures and steps.ID.rc in
# conditions; numeric comparison when both sides are numbers, string
# comparison otherwise; =~ (PCRE2, unanchored); not/and/or/parentheses;
# a skipped step is reported "skipped" and does not run.
. "$(dirname "$0")/../lib.sh"

rbk=$(file when.yml <<'EOF2'
runbook: when
params:
  dir: { required: true }
  env: { default: integration, choices: [integration, production] }
  version: { default: "10" }
steps:
  - id: yes-literal
    when: true
    run: echo yes-literal >> {{ dir }}/ran
  - id: no-literal
    when: false
    run: echo no-literal >> {{ dir }}/ran
  - id: probe
    run: 'echo "build: 0042"; exit 3'
    expect: { rc: any }
    capture: { build: 'build: (\d+)' }
  - id: rc-nonzero
    when: steps.probe.rc != 0
    run: echo rc-nonzero >> {{ dir }}/ran
  - id: rc-is-3
    when: steps.probe.rc == 3
    run: echo rc-is-3 >> {{ dir }}/ran
  - id: numeric-eq
    when: build == 42
    run: echo numeric-eq >> {{ dir }}/ran
  - id: string-eq-differs
    when: build == "42x"
    run: echo string-eq-differs >> {{ dir }}/ran
  - id: numeric-gt
    when: version > 9
    run: echo numeric-gt >> {{ dir }}/ran
  - id: string-lt
    when: '"abc" < "abd" and "b10" < "b9"'
    run: echo string-lt >> {{ dir }}/ran
  - id: regex
    when: env =~ '^integ' and not (env =~ 'prod')
    run: echo regex >> {{ dir }}/ran
  - id: regex-unanchored
    when: env =~ "grat"
    run: echo regex-unanchored >> {{ dir }}/ran
  - id: or-short
    when: env == "production" or steps.probe.rc == 3
    run: echo or-short >> {{ dir }}/ran
  - id: and-false
    when: env == "integration" and steps.probe.rc == 0
    run: echo and-false >> {{ dir }}/ran
  - id: not-true
    when: not true
    run: echo not-true >> {{ dir }}/ran
  - id: paren
    when: (env == "production" or version >= 10) and not false
    run: echo paren >> {{ dir }}/ran
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "a runbook with conditions succeeds"
check "exactly the steps whose condition holds ran, in order" test "$(cat "$T/ran")" = "yes-literal
rc-nonzero
rc-is-3
numeric-eq
numeric-gt
string-lt
regex
regex-unanchored
or-short
paren"
check "a false literal is reported skipped" grep -Eq '^ *skipped .*no-literal' "$out"
check "a false condition is reported skipped" grep -Eq '^ *skipped .*and-false' "$out"
check "the progress line says skipped" grep -Eq 'string-eq-differs .*skipped' "$out"
out_has "11 ok"
out_has "4 skipped"

# the same runbook in production takes the other branches
rm -f "$T/ran"
rb run "$rbk" -p dir="$T" -p env=production -p version=9
expect_rc 0 "the other branch"
check "conditions follow the params" test "$(cat "$T/ran")" = "yes-literal
rc-nonzero
rc-is-3
numeric-eq
string-lt
or-short
paren"

# 'when' on a step skipped earlier: its rc is empty, which is not 0
rbk=$(file whenskipped.yml <<'EOF2'
runbook: when-skipped
params:
  dir: { required: true }
steps:
  - id: never
    when: false
    run: "true"
  - id: check-it
    when: steps.never.rc == ""
    run: touch {{ dir }}/empty-rc
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "reading a skipped step's rc is allowed"
check "a skipped step's rc is empty" test -e "$T/empty-rc"

# syntax errors are load-time errors with a position
rbk=$(file whenbad.yml <<'EOF2'
runbook: when-bad
steps:
  - id: x
    when: steps.x.rc = 0
    run: "true"
  - id: y
    when: nosuchname == 1
    run: "true"
EOF2
)
rb run "$rbk"
expect_rc 2 "a bad condition is bad input"
err_has "whenbad.yml:4:"
err_has "whenbad.yml:7:"
err_has "nosuchname"
