#!/bin/sh
# t0210 — modules: `uses: MODULE.ACTION` + `with` expands the action's
# steps from modules/NAME.yml beside the runbook; defaults apply; values
# are quoted like any template; a runtime value (a capture) that breaks
# the action's param pattern fails that step; missing required
# arguments and unknown actions are refused before anything runs.
. "$(dirname "$0")/../lib.sh"

file modules/files.yml >/dev/null <<'EOF2'
module: files
description: small file helpers
actions:
  put:
    description: write a line into a file
    params:
      path: { required: true }
      line: { default: "default line" }
      mode: { default: "600", pattern: '[0-7]{3}' }
    steps:
      - id: write
        run: printf '%s\n' {{ line }} > {{ path }}
      - id: chmod
        run: chmod {{ mode }} {{ path }}
        check: test -f {{ path }}
  tag:
    params:
      name: { required: true, pattern: '[a-z]+' }
      dir: { required: true }
    steps:
      - run: touch {{ dir }}/tag-{{ name }}
EOF2

rbk=$(file mod.yml <<'EOF2'
runbook: mod
params:
  dir: { required: true }
steps:
  - id: one
    uses: files.put
    with: { path: "{{ dir }}/one.txt", line: "hello; touch {{ dir }}/pwned" }
  - id: two
    uses: files.put
    with: { path: "{{ dir }}/two.txt", mode: "640" }
  - id: probe
    run: 'echo "name: {{ env.RB_NAME }}"'
    capture: { who: 'name: (.*)' }
  - id: tagged
    uses: files.tag
    with: { name: "{{ who }}", dir: "{{ dir }}" }
  - id: after
    run: touch {{ dir }}/after
EOF2
)
RB_NAME=alpha rb run "$rbk" -p dir="$T"
expect_rc 0 "module actions run"
check "with: values arrive" test "$(cat "$T/one.txt")" = "hello; touch $T/pwned"
check "module params are quoted (no injection)" test ! -e "$T/pwned"
check "a default applies" test "$(cat "$T/two.txt")" = "default line"
check "another default applies (mode 600)" test "$(stat -c %a "$T/one.txt")" = 600
check "a given value wins over the default (mode 640)" test "$(stat -c %a "$T/two.txt")" = 640
check "a runtime value that fits the pattern is used" test -e "$T/tag-alpha"
out_has "files.put"
check "module steps are numbered as steps of the run" grep -q '\[2/' "$out"

# a capture that breaks the action's pattern fails at run time
rm -f "$T/after"
RB_NAME='Bad Name' rb run "$rbk" -p dir="$T"
expect_rc 1 "a runtime value that breaks the pattern fails the step"
out_has "argument 'name' = 'Bad Name' does not match the pattern '[a-z]+'"
check "the module's steps did not run" test ! -e "$T/tag-Bad Name"
check "the steps after did not run" test ! -e "$T/after"

# a pattern violation known at load time (a literal or a param) is bad input
rbk=$(file modbad.yml <<'EOF2'
runbook: mod-bad
params:
  dir: { required: true }
steps:
  - id: badmode
    uses: files.put
    with: { path: "{{ dir }}/x", mode: "9999" }
  - id: nopath
    uses: files.put
    with: { line: hi }
  - id: typo
    uses: files.pot
    with: { path: x }
  - id: extra
    uses: files.put
    with: { path: x, colour: red }
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 2 "bad module calls are refused before anything runs"
check "nothing ran" test ! -e "$T/x"
err_has "modbad.yml:"
err_has "argument 'mode' of 'files.put' does not match the pattern '[0-7]{3}'"
err_has "path"
err_has "no action 'pot'"
err_has "did you mean 'put'"
err_has "colour"

# env, cwd and when on a `uses` step cover the action's steps
file modules/show.yml >/dev/null <<'EOF2'
module: show
actions:
  env:
    params: { dir: { required: true } }
    steps:
      - run: printf '%s' "$RB_MODENV" > {{ dir }}/modenv
EOF2
mkdir -p "$T/mcwd"
rbk=$(file modenv.yml <<'EOF2'
runbook: mod-env
params:
  dir: { required: true }
  go: { default: "yes" }
steps:
  - id: call
    uses: files.put
    cwd: "{{ dir }}/mcwd"
    with: { path: rel.txt, line: "relative" }
  - id: env-seen
    uses: show.env
    env: { RB_MODENV: from-uses }
    with: { dir: "{{ dir }}" }
  - id: gated
    when: go == "yes"
    uses: files.tag
    with: { name: gated, dir: "{{ dir }}" }
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "uses with env, cwd and when"
check "the action's steps ran in the uses step's cwd" test "$(cat "$T/mcwd/rel.txt")" = relative
check "the action's steps get the uses step's env" test "$(cat "$T/modenv")" = from-uses
check "a true condition runs the action" test -e "$T/tag-gated"
rm -f "$T/tag-gated"
rb run "$rbk" -p dir="$T" -p go=no
expect_rc 0 "uses with a false condition"
check "a false condition skips every step of the action" test ! -e "$T/tag-gated"
out_has "skipped"

# search path: RUNBOOK_PATH first, then modules/ beside the runbook, then
# the runbook's own folder
mkdir -p "$T/side" "$T/rpath"
file side/modules/where.yml >/dev/null <<'EOF2'
module: where
actions:
  am:
    params: { dir: { required: true } }
    steps:
      - run: echo modules-dir > {{ dir }}/where
EOF2
file side/where2.yml >/dev/null <<'EOF2'
module: where2
actions:
  am:
    params: { dir: { required: true } }
    steps:
      - run: echo same-dir > {{ dir }}/where2
EOF2
file rpath/where.yml >/dev/null <<'EOF2'
module: where
actions:
  am:
    params: { dir: { required: true } }
    steps:
      - run: echo runbook-path > {{ dir }}/where
EOF2
rbk=$(file side/search.yml <<'EOF2'
runbook: search
params:
  dir: { required: true }
steps:
  - uses: where.am
    with: { dir: "{{ dir }}" }
  - uses: where2.am
    with: { dir: "{{ dir }}" }
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "modules found beside the runbook"
check "modules/ beside the runbook is searched" test "$(cat "$T/where")" = modules-dir
check "the runbook's own folder is searched" test "$(cat "$T/where2")" = same-dir
RUNBOOK_PATH=$T/rpath rb run "$rbk" -p dir="$T"
expect_rc 0 "a module found in RUNBOOK_PATH"
check "RUNBOOK_PATH comes first" test "$(cat "$T/where")" = runbook-path

rbk=$(file nomod.yml <<'EOF2'
runbook: nomod
steps:
  - uses: nosuchmodule.act
EOF2
)
rb run "$rbk"
expect_rc 2 "an unknown module is bad input"
err_has "module 'nosuchmodule' not found"
