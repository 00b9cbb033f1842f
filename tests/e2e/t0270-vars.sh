#!/bin/sh
# t0270 — vars are derived in order: each sees the params and the vars
# before it, and may use host/run/env names; a var that reads a later
# var (or an unknown name, or host.* which is per step) is refused before anything runs.
. "$(dirname "$0")/../lib.sh"

rbk=$(file vars.yml <<'EOF2'
runbook: vars
params:
  root: { default: /var/app }
  dir: { required: true }
vars:
  base: "{{ root }}/data"
  backup: "{{ base }}/backup"
  label: "{{ backup }} by {{ env.RB_WHO }}"
  rundir: "{{ run.dir }}"
steps:
  - id: show
    run: |
      printf '%s\n' {{ base }} {{ backup }} "{{ label }} on {{ host.name }}" > {{ dir }}/vars
      printf '%s\n' {{ run.id }} > {{ dir }}/runid
      printf '%s\n' {{ rundir }} > {{ dir }}/rundir
EOF2
)
RB_WHO=alice rb run "$rbk" -p dir="$T" -p root=/srv/x
expect_rc 0 "vars resolve"
check "vars are derived in order from params and earlier vars" test "$(cat "$T/vars")" = "/srv/x/data
/srv/x/data/backup
/srv/x/data/backup by alice on local"
runid=$(cat "$T/runid" 2>/dev/null)
check "run.id is the run's id (named after the runbook)" sh -c 'case "$1" in vars-*) exit 0;; esac; exit 1' _ "$runid"
check "run.dir is the run's folder in the state dir" test "$(cat "$T/rundir")" = "$RUNBOOK_STATE_DIR/runs/$runid"
out_has "run $runid"

rbk=$(file varsbad.yml <<'EOF2'
runbook: vars-bad
vars:
  a: "{{ b }}/x"
  b: /y
  c: "{{ nosuch }}"
  d: "{{ host.name }}"
steps:
  - run: touch "$MARK"
EOF2
)
MARK=$T/mark rb run "$rbk"
expect_rc 2 "a var reading a later var or an unknown name is bad input"
err_has "varsbad.yml:3:"
err_has "varsbad.yml:5:"
err_has "varsbad.yml:6:"
err_has "nosuch"
check "nothing ran" test ! -e "$T/mark"
