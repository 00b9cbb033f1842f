#!/bin/sh
# t0250 — params: precedence -p > --params FILE > inventory vars > env >
# default; the last -p wins; required; pattern must match the WHOLE value
# (from any source); choices; unknown names get a suggestion; every
# problem is reported at once and nothing runs (exit 2).
. "$(dirname "$0")/../lib.sh"

rbk=$(file params.yml <<'EOF2'
runbook: params
params:
  dir: { required: true }
  v: { default: from-default, env: RB_V }
steps:
  - run: printf '%s' {{ v }} > {{ dir }}/v
EOF2
)
pf=$(file pfile.yml <<'EOF2'
v: from-params-file
EOF2
)
inv=$(file inv.yml <<'EOF2'
hosts: {}
vars: { v: from-inventory }
EOF2
)
val() { cat "$T/v" 2>/dev/null; }

unset RB_V
rb run "$rbk" -p dir="$T"
expect_rc 0 "default only"
check "the default applies" test "$(val)" = from-default
RB_V=from-env rb run "$rbk" -p dir="$T"
check "env beats the default" test "$(val)" = from-env
RB_V=from-env rb run "$rbk" -p dir="$T" --inventory "$inv"
check "inventory vars beat env" test "$(val)" = from-inventory
RB_V=from-env rb run "$rbk" -p dir="$T" --inventory "$inv" --params "$pf"
check "--params beats inventory vars" test "$(val)" = from-params-file
RB_V=from-env rb run "$rbk" -p dir="$T" --inventory "$inv" --params "$pf" -p v=from-cli
check "-p beats everything" test "$(val)" = from-cli
rb run "$rbk" -p dir="$T" -p v=first -p v=second
check "the last -p wins" test "$(val)" = second
rb run "$rbk" -p dir="$T" -p v=
expect_rc 0 "an empty value is a value"
check "an empty -p value beats the default" test "$(val)" = ""
rb run "$rbk" -p dir="$T" -p "v=a=b"
check "a value may hold '='" test "$(val)" = "a=b"

# validation
rbk=$(file validate.yml <<'EOF2'
runbook: validate
params:
  dir: { required: true, doc: where to write }
  count: { default: "1", pattern: '\d+' }
  version: { pattern: '\d+\.\d+' }
  env: { default: staging, choices: [staging, production] }
  fromenv: { env: RB_COUNT, pattern: '\d+' }
steps:
  - run: touch {{ dir }}/ran
EOF2
)
rb run "$rbk"
expect_rc 2 "a missing required param is bad input"
err_has "param 'dir' is required: give -p dir=VALUE"
err_has "where to write"

for bad in 12a a12 "1 2" ""; do
	rb run "$rbk" -p dir="$T" -p count="$bad"
	expect_rc 2 "pattern '\\d+' refuses '$bad' (whole-value match)"
done
rb run "$rbk" -p dir="$T" -p count="$(printf '12\n3')"
expect_rc 2 "pattern '\\d+' refuses a value with a newline"
err_has "does not match the pattern '\d+'"
check "nothing ran" test ! -e "$T/ran"
rb run "$rbk" -p dir="$T" -p count=12 -p version=1.10
expect_rc 0 "pattern accepts a whole match"
rb run "$rbk" -p dir="$T" -p version=1.10.3
expect_rc 2 "'1.10.3' does not wholly match '\\d+\\.\\d+'"
RB_COUNT=x1 rb run "$rbk" -p dir="$T"
expect_rc 2 "a value from env is validated too"
err_has "param 'fromenv' (from env)"
rb run "$rbk" -p dir="$T" -p env=prod
expect_rc 2 "a value outside choices is refused"
err_has "is not one of 'staging', 'production'"

# every problem at once, nothing run
rm -f "$T/ran"
rb run "$rbk" -p dir="$T" -p count=x -p env=dev -p colour=red
expect_rc 2 "several problems: exit 2"
err_has "param 'count'"
err_has "param 'env'"
err_has "has no param 'colour'"
check "nothing ran" test ! -e "$T/ran"

rb run "$rbk" -p dir="$T" -p conut=3
expect_rc 2 "an unknown param name"
err_has "did you mean 'count'"

rb run "$rbk" -p "dir"
expect_rc 2 "-p without '=' is bad usage"
err_has "write -p NAME=VALUE"

# a params file with an unknown name, and one that is not a mapping
pf=$(file pbad.yml <<'EOF2'
dir: /tmp
cuont: 3
EOF2
)
rb run "$rbk" --params "$pf"
expect_rc 2 "an unknown name in --params is bad input"
err_has "has no param 'cuont'"
pf=$(file plist.yml <<'EOF2'
- dir
EOF2
)
rb run "$rbk" --params "$pf"
expect_rc 2 "a params file that is not a mapping"
err_has "a params file is a mapping"
rb run "$rbk" --params "$T/does-not-exist.yml"
expect_rc 2 "a missing params file"
err_has "does-not-exist.yml"
