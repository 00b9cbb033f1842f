#!/bin/sh
# t0340 — a step on a group of hosts is a rolling change: the first host
# that fails stops it and the remaining hosts are left alone; -q still
# names the failing step's log.
. "$(dirname "$0")/../lib.sh"

inv=$(file inv.yml <<EOF2
hosts:
  a: { transport: local, env: { WHO: a } }
  b: { transport: local, env: { WHO: b } }
  c: { transport: local, env: { WHO: c } }
groups:
  app: [a, b, c]
EOF2
)
rbk=$(file rolling.yml <<EOF2
runbook: rolling
steps:
  - id: upgrade
    on: app
    run: echo "\$WHO" >> $T/touched; test "\$WHO" != b
  - id: after
    run: touch $T/after
EOF2
)
rb run "$rbk" --inventory "$inv"
expect_rc 1 "a failing host fails the run"
check "host a was upgraded, host b failed" test "$(cat "$T/touched")" = "$(printf 'a\nb')"
check "host c was left alone" sh -c '! grep -qx c "$1"' _ "$T/touched"
check "the next step did not run" test ! -e "$T/after"
out_has "not run"

rb run -q "$rbk" --inventory "$inv"
expect_rc 1 "-q: the run fails the same way"
out_has "log: "
out_has "1 failed"
