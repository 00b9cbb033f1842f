#!/bin/sh
# t0100 — `run` steps and bare-string steps: they run in order through
# /bin/sh, a failing step stops the run (exit 1) and later steps are
# "not run"; env and cwd modifiers; templates are quoted for their
# position so that a value cannot inject shell syntax.
. "$(dirname "$0")/../lib.sh"

rbk=$(file basic.yml <<'EOF2'
runbook: basic
params:
  dir: { required: true }
  word: { default: "a b" }
steps:
  - echo one >> {{ dir }}/order
  - id: two
    run: echo two >> {{ dir }}/order
  - run: |
      echo three >> {{ dir }}/order
      echo multi-line >> {{ dir }}/order
  - id: quoted
    run: printf '%s|' {{ word }} > {{ dir }}/unquoted; printf '%s|' "w={{ word }}" > {{ dir }}/dquoted
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 0 "a runbook of run and bare-string steps succeeds"
check "steps ran in order" test "$(cat "$T/order")" = "one
two
three
multi-line"
check "an unquoted value is one word" test "$(cat "$T/unquoted")" = "a b|"
check "a value inside double quotes stays inside them" test "$(cat "$T/dquoted")" = "w=a b|"
out_has "summary: succeeded"
out_has "4 ok, 0 failed"

# A value full of shell syntax is data, never code.
rm -f "$T/pwned"
rb run "$rbk" -p dir="$T" -p "word=\$(touch $T/pwned); \`touch $T/pwned\` \" ' ; touch $T/pwned"
expect_rc 0 "a hostile value runs fine"
check "no injection through an unquoted template" test ! -e "$T/pwned"
check "the hostile value arrives verbatim (unquoted)" test "$(cat "$T/unquoted")" = "\$(touch $T/pwned); \`touch $T/pwned\` \" ' ; touch $T/pwned|"
check "the hostile value arrives verbatim (in double quotes)" test "$(cat "$T/dquoted")" = "w=\$(touch $T/pwned); \`touch $T/pwned\` \" ' ; touch $T/pwned|"

# A failing step: exit 1, the rest does not run and is listed "not run".
rbk=$(file fail.yml <<'EOF2'
runbook: fail
steps:
  - id: good
    run: touch "$MARK.1"
  - id: bad
    run: echo about to fail; exit 7
  - id: after
    run: touch "$MARK.3"
EOF2
)
MARK=$T/mark rb run "$rbk"
expect_rc 1 "a failing step makes the run exit 1"
check "the step before ran" test -e "$T/mark.1"
check "the step after did not run" test ! -e "$T/mark.3"
out_has "exit code 7 (expected 0)"
out_has "about to fail"
check "summary lists the later step as not run" grep -Eq 'not run +after' "$out"
out_has "1 ok, 1 failed"
out_has "1 not run"

# env and cwd, and env.NAME in templates.
mkdir -p "$T/work dir"
rbk=$(file envcwd.yml <<'EOF2'
runbook: envcwd
params:
  where: { required: true }
steps:
  - id: e
    env: { GREETING: "hi {{ where }}", OTHER: plain }
    cwd: "{{ where }}/work dir"
    run: |
      printf '%s\n' "$GREETING" > out.txt
      printf '%s\n' "$OTHER" >> out.txt
      pwd >> out.txt
  - id: from-env
    run: echo {{ env.RB_TEST_VAR }} > {{ where }}/envname
  - id: inherited
    run: printf '%s' "$RB_TEST_VAR" > {{ where }}/inherited
EOF2
)
RB_TEST_VAR=from-operator rb run "$rbk" -p where="$T"
expect_rc 0 "env and cwd run"
check "the step ran in its cwd with its env" test "$(cat "$T/work dir/out.txt")" = "hi $T
plain
$T/work dir"
check "env.NAME reads the operator's environment" test "$(cat "$T/envname")" = "from-operator"
check "the operator's environment is inherited" test "$(cat "$T/inherited")" = "from-operator"

# A cwd that does not exist fails the step with a clear reason.
rbk=$(file badcwd.yml <<'EOF2'
runbook: badcwd
steps:
  - id: nowhere
    cwd: /nonexistent/dir/xyz
    run: touch "$MARK.cwd"
EOF2
)
MARK=$T/mark rb run "$rbk"
expect_rc 1 "a missing cwd fails the step"
out_has "/nonexistent/dir/xyz"
check "nothing ran in a missing cwd" test ! -e "$T/mark.cwd"

# `name` titles a step; `| raw` inserts verbatim; a template inside '…'
# is refused at load time (it could not be quoted safely).
rbk=$(file named.yml <<'EOF2'
runbook: named
params:
  redirect: { default: "> /dev/null" }
steps:
  - id: n
    name: Say hello politely
    run: echo hello {{ redirect | raw }}
EOF2
)
rb run "$rbk"
expect_rc 0 "a named step with a raw template"
out_has "Say hello politely"
out_lacks "    hello"
rbk=$(file squote.yml <<'EOF2'
runbook: squote
params:
  p: { default: x }
steps:
  - run: echo '{{ p }}'
EOF2
)
MARK=$T/mark rb run "$rbk"
expect_rc 2 "a template inside single quotes is bad input"
err_has "squote.yml:5:"

# a step's stdin is empty: it never hangs on, nor eats, the runbook's input
rbk=$(file stdin.yml <<'EOF2'
runbook: stdin
params:
  dir: { required: true }
steps:
  - id: reads
    run: cat > {{ dir }}/stdin-seen
EOF2
)
printf 'operator input\n' >"$T/input"
rb_stdin run "$rbk" -p dir="$T" <"$T/input"
expect_rc 0 "a step reading stdin finishes"
check "the step saw an empty stdin" test ! -s "$T/stdin-seen"

# a step that leaves a background child holding its output ends anyway
rbk=$(file bg.yml <<'EOF2'
runbook: bg
params:
  dir: { required: true }
steps:
  - id: spawn
    run: sleep 60 & echo $! > {{ dir }}/bgpid; echo started
  - id: next
    run: touch {{ dir }}/next
EOF2
)
if command -v timeout >/dev/null 2>&1; then
	RB_GUARD="timeout 30"
else
	RB_GUARD=
fi
$RB_GUARD ${RUNBOOK_WRAP:-} "$RUNBOOK" run "$rbk" -p dir="$T" >"$out" 2>"$err" </dev/null
rc=$?
expect_rc 0 "a step with a lingering background child does not hang the run"
check "the next step ran" test -e "$T/next"
kill "$(cat "$T/bgpid" 2>/dev/null)" 2>/dev/null
