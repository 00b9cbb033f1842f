#!/bin/sh
# t0220 — preconditions: every one runs and is reported even after one
# fails; a failing one shows its hint (templated); any failure is exit 5
# with no step and no finally run; when all pass the steps run.
. "$(dirname "$0")/../lib.sh"

rbk=$(file pre.yml <<'EOF2'
runbook: pre
params:
  dir: { required: true }
vars:
  backup: "{{ dir }}/backup"
preconditions:
  - name: no stale dump
    run: test ! -e {{ backup }}/dump
    hint: "move {{ backup }}/dump away first"
  - name: second check runs anyway
    run: touch {{ dir }}/pre2-ran
  - name: disk has room
    run: test ! -e {{ dir }}/disk-full
    hint: free some space
steps:
  - id: work
    run: touch {{ dir }}/worked
finally:
  - run: touch {{ dir }}/finally
EOF2
)
mkdir -p "$T/backup"
touch "$T/backup/dump" "$T/disk-full"
rb run "$rbk" -p dir="$T"
expect_rc 5 "a failing precondition is exit 5"
check "every precondition ran, even after the first failed" test -e "$T/pre2-ran"
check "the first is reported failed" grep -q 'no stale dump .*failed' "$out"
check "the second is reported ok" grep -q 'second check runs anyway .*ok' "$out"
check "the third is reported failed" grep -q 'disk has room .*failed' "$out"
out_has "hint: move $T/backup/dump away first"
out_has "hint: free some space"
err_has "2 preconditions failed: nothing was run"
check "no step ran" test ! -e "$T/worked"
check "finally did not run" test ! -e "$T/finally"

rm -f "$T/backup/dump" "$T/disk-full"
rb run "$rbk" -p dir="$T"
expect_rc 0 "all preconditions pass: the steps run"
check "the step ran" test -e "$T/worked"
check "finally ran" test -e "$T/finally"
out_lacks "hint:"

# a precondition is a 'run' command
rbk=$(file prebad.yml <<'EOF2'
runbook: pre-bad
preconditions:
  - confirm: "really?"
  - run: "true"
    retry: { attempts: 3 }
steps:
  - run: "true"
EOF2
)
rb run "$rbk"
expect_rc 2 "a precondition that is not a plain run is bad input"
err_has "a precondition is a 'run' command, not 'confirm'"
err_has "'retry' does not apply to a precondition"

# expect and when on preconditions; on a group target they run per host
inv=$(file inv.yml <<'EOF2'
hosts:
  h1: { transport: local }
  h2: { transport: local }
groups: { pair: [h1, h2] }
EOF2
)
rbk=$(file pre2.yml <<'EOF2'
runbook: pre2
params:
  dir: { required: true }
  mode: { default: a }
preconditions:
  - name: service says ready
    run: 'echo "state={{ mode }}"'
    expect: { stdout: '^state=a$' }
  - name: only in mode b
    when: mode == "b"
    run: "false"
  - name: per host
    run: echo {{ host.name }} >> {{ dir }}/perhost
steps:
  - run: touch {{ dir }}/pre2-ran
EOF2
)
rb run "$rbk" -p dir="$T" --inventory "$inv" --target pair
expect_rc 0 "preconditions with expect and a false condition pass"
check "preconditions run on each host of the target" test "$(cat "$T/perhost")" = "h1
h2"
check "a precondition with a false condition is skipped" grep -q 'only in mode b.*skipped' "$out"
rm -f "$T/pre2-ran"
rb run "$rbk" -p dir="$T" -p mode=b
expect_rc 5 "an unmet expect and a failing conditional precondition: exit 5"
check "both are reported failed" test "$(grep -c 'failed' "$out")" -ge 2
check "the step did not run" test ! -e "$T/pre2-ran"
