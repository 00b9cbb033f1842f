#!/bin/sh
# t0200 — group: its title is shown; its members inherit env and cwd
# (a member's own setting wins); a false condition on the group skips
# every member; a failing member stops the run.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/gdir" "$T/other"
rbk=$(file group.yml <<'EOF2'
runbook: group
params:
  dir: { required: true }
  flavour: { default: vanilla }
steps:
  - group: "Prepare the {{ flavour }} database"
    id: prep
    env: { STAGE: prep, SHARED: from-group }
    cwd: "{{ dir }}/gdir"
    steps:
      - id: inherits
        run: 'printf "%s %s\n" "$STAGE" "$SHARED" > out1; pwd >> out1'
      - id: overrides
        env: { STAGE: member }
        cwd: "{{ dir }}/other"
        run: 'printf "%s %s\n" "$STAGE" "$SHARED" > out2; pwd >> out2'
      - group: nested
        steps:
          - id: deep
            run: 'printf "%s\n" "$STAGE" > out3'
  - group: Only in production
    when: flavour == "production"
    steps:
      - id: prod-1
        run: touch {{ dir }}/prod-1
      - id: prod-2
        run: touch {{ dir }}/prod-2
  - id: last
    run: touch {{ dir }}/last
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "a runbook with groups succeeds"
out_has "== Prepare the vanilla database"
out_has "== nested"
check "a member inherits the group's env and cwd" test "$(cat "$T/gdir/out1")" = "prep from-group
$T/gdir"
check "a member's own env and cwd win" test "$(cat "$T/other/out2")" = "member from-group
$T/other"
check "a nested member inherits from every enclosing group" test "$(cat "$T/gdir/out3")" = "prep"
check "a false condition on a group skips it" test ! -e "$T/prod-1" -a ! -e "$T/prod-2"
check "the skipped group is reported" grep -q 'Only in production.*skipped' "$out"
check "its members are reported skipped" grep -Eq '^ *skipped .*prod-2' "$out"
check "the run goes on after a skipped group" test -e "$T/last"

rm -f "$T/last"
rb run "$rbk" -p dir="$T" -p flavour=production
expect_rc 0 "the group runs when its condition holds"
check "its members ran" test -e "$T/prod-1" -a -e "$T/prod-2"

# a failing member stops the run
rbk=$(file groupfail.yml <<'EOF2'
runbook: group-fail
params:
  dir: { required: true }
steps:
  - group: breaks
    steps:
      - id: a
        run: "false"
      - id: b
        run: touch {{ dir }}/b
  - id: c
    run: touch {{ dir }}/c
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 1 "a failing member fails the run"
check "the rest of the group did not run" test ! -e "$T/b"
check "steps after the group did not run" test ! -e "$T/c"

# captures made inside a group are visible after it
rbk=$(file groupcap.yml <<'EOF2'
runbook: group-capture
params:
  dir: { required: true }
steps:
  - group: discover
    steps:
      - id: find
        run: echo "port=5432"
        capture: { port: 'port=(\d+)' }
  - id: use
    run: echo {{ port }} {{ steps.find.rc }} > {{ dir }}/port
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "a capture made in a group"
check "it is readable after the group" test "$(cat "$T/port")" = "5432 0"
