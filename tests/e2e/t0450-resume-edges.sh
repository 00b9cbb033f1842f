#!/bin/sh
# t0450 — resume at the edges: a second resume while one runs; a run
# interrupted inside finally; a group whose `when` would now say no; a
# runbook name that is also the prefix of another's runs; --use-current
# with params added and removed; output that held a secret.
. "$(dirname "$0")/../lib.sh"

# --- a second resume of a run that is being resumed: refused ----------------
rbk=$(file twice.yml <<'EOF2'
runbook: twice
params:
  dir: { required: true }
steps:
  - id: a
    run: echo a >> {{ dir }}/tw
  - confirm: go on?
  - id: b
    run: |
      echo b >> {{ dir }}/tw
      echo $$ > {{ dir }}/tw-b
      i=0; while [ ! -e {{ dir }}/tw-go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
    check: grep -qx b {{ dir }}/tw
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 4 "twice: paused at the confirm"
"$RUNBOOK" resume twice --yes >"$T/tw-a.out" 2>&1 </dev/null &
apid=$!
wait_for "$T/tw-b"
rb resume twice --yes --lock-wait 20s
expect_rc 2 "a second resume while the first runs: exit 2"
err_has "is still running"
touch "$T/tw-go"
wait "$apid"
check "the first resume succeeded" test $? = 0
check "every step ran once" test "$(cat "$T/tw")" = "$(printf 'a\nb')"

# --- interrupted inside finally -----------------------------------------------
rbk=$(file fin.yml <<'EOF2'
runbook: fin
params:
  dir: { required: true }
steps:
  - id: s1
    run: echo s1 >> {{ dir }}/fin
finally:
  - id: f1
    run: echo f1 >> {{ dir }}/fin
  - id: f2
    run: |
      echo f2-start >> {{ dir }}/fin
      echo $$ > {{ dir }}/fin-f2
      i=0; while [ ! -e {{ dir }}/fin-go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
      echo f2-end >> {{ dir }}/fin
  - id: f3
    run: echo f3 >> {{ dir }}/fin
EOF2
)
RUNBOOK_KILL_GRACE=200ms "$RUNBOOK" run "$rbk" -p dir="$T" >"$out" 2>"$err" </dev/null &
fpid=$!
wait_for "$T/fin-f2"
kill -INT "$fpid"
wait "$fpid"
rc=$?
expect_rc 130 "fin: Ctrl-C inside finally"
touch "$T/fin-go"
rb resume fin
expect_rc 2 "fin: the interrupted finally step has no check and no terminal asks: refused"
err_has "step 3 (f2)"
rb resume fin --rerun-interrupted
expect_rc 0 "fin: resumed with --rerun-interrupted"
check "f1 did not run again; f2 ran again; f3 ran" \
	test "$(cat "$T/fin")" = "$(printf 's1\nf1\nf2-start\nf2-start\nf2-end\nf3')"
out_has "done earlier"

# --- a group entered before is not decided again ---------------------------------
rbk=$(file grp.yml <<'EOF2'
runbook: grp
params:
  dir: { required: true }
steps:
  - group: migrate
    id: mig
    when: env.DO_MIGRATE == "1"
    steps:
      - id: m1
        run: echo m1 >> {{ dir }}/grp
      - confirm: carry on with m2?
      - id: m2
        run: echo m2 >> {{ dir }}/grp
  - id: after
    run: echo after >> {{ dir }}/grp
EOF2
)
DO_MIGRATE=1 rb run "$rbk" -p dir="$T"
expect_rc 4 "grp: paused inside the group"
rb resume grp --yes
expect_rc 0 "grp: resumed without DO_MIGRATE"
check "the group went on where it stopped" test "$(cat "$T/grp")" = "$(printf 'm1\nm2\nafter')"
rb status grp --format json
check "m2 is recorded ok, not skipped" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
st = {s["id"]: s["state"] for s in j["steps"]}
sys.exit(0 if st["m1"] == "ok" and st["m2"] == "ok" else 1)' "$out"

# --- a runbook name before a prefix of another's run ids ------------------------------
rbk=$(file dbm.yml <<'EOF2'
runbook: db-migrate
steps:
  - run: "false"
EOF2
)
rb run "$rbk"
expect_rc 1 "db-migrate: a failed run"
rb status db
expect_rc 0 "'db' with only db-migrate's run: a unique prefix of its id"
rbk=$(file db.yml <<'EOF2'
runbook: db
steps:
  - id: x
    run: "true"
EOF2
)
rb run "$rbk"
rb status db
expect_rc 0 "status db: the runbook named db"
check "status db shows db's run, not db-migrate's" grep -q '^  runbook   db (' "$out"

# --- --use-current with a param added and one removed -----------------------------------
rbk=$(file prm.yml <<'EOF2'
runbook: prm
params:
  dir: { required: true }
  old: { default: "o" }
steps:
  - id: one
    run: echo "one {{ old }}" >> {{ dir }}/prm
  - id: gate
    run: test -e {{ dir }}/prm-go
EOF2
)
rb run "$rbk" -p dir="$T"
expect_rc 1 "prm: stopped at the gate"
cat >"$rbk" <<'EOF2'
runbook: prm
params:
  dir: { required: true }
  new: { required: true }
steps:
  - id: one
    run: echo "one" >> {{ dir }}/prm
  - id: gate
    run: test -e {{ dir }}/prm-go
  - id: two
    run: echo "two {{ new }}" >> {{ dir }}/prm
EOF2
touch "$T/prm-go"
rb resume prm
expect_rc 2 "prm: the changed runbook is refused"
rb resume prm --use-current -p new=N
expect_rc 0 "prm: --use-current with the new param given"
err_has "param 'old' is gone from the runbook"
check "one did not run again, two saw the new param" test "$(cat "$T/prm")" = "$(printf 'one o\ntwo N')"

# --- output that held a secret is not given back as *** --------------------------------
rbk=$(file sec.yml <<'EOF2'
runbook: sec
params:
  dir: { required: true }
  token: { secret: true, env: SEC_TOKEN }
steps:
  - id: show
    run: echo "token={{ token }}"
  - id: gate
    run: test -e {{ dir }}/sec-go
  - id: use
    run: echo "{{ steps.show.stdout }}" > {{ dir }}/sec-used
EOF2
)
SEC_TOKEN=hunter2 rb run "$rbk" -p dir="$T"
expect_rc 1 "sec: stopped at the gate"
touch "$T/sec-go"
SEC_TOKEN=hunter2 rb resume sec
expect_rc 1 "sec: the step reading the masked output fails"
out_has "'steps.show.stdout' has no value here"
check "no *** reached a command" test ! -e "$T/sec-used"
check "the secret is nowhere in the state folder" sh -c '! grep -rq hunter2 "$1"' _ "$RUNBOOK_STATE_DIR"

# A daemon the interrupted step started (setsid: it leaves the step's
# process group) carries the run's tags in its environment, but the step's
# command is over without it: resume settles the step at once instead of
# waiting for the daemon forever.
rbk=$(file daemon.yml <<'EOF2'
runbook: daemon
params:
  dir: { required: true }
steps:
  - id: start-daemon
    run: |
      setsid sleep 3271 </dev/null >/dev/null 2>&1 &
      echo $! > {{ dir }}/daemon.pid
      sleep 3272
    check: test -s {{ dir }}/daemon.pid
  - id: after
    run: echo done > {{ dir }}/daemon-after
EOF2
)
start run "$rbk" -p dir="$T"
wait_for "$T/daemon.pid" >/dev/null
sleep 0.2
kill -KILL "$bgpid"
wait "$bgpid" 2>/dev/null
# the step's own command dies with the machine; the daemon lives on
pg=$(ps -o pgid= -p "$(pgrep -f 'sleep 3272' | head -n 1)" 2>/dev/null | tr -d ' ')
[ -n "$pg" ] && kill -KILL "-$pg" 2>/dev/null
start resume daemon
finish
expect_rc 0 "daemon: resume settles the step by its check without waiting for the daemon"
out_has "its check passes"
check "daemon: the step after ran" test -s "$T/daemon-after"
check "daemon: the daemon still runs (nobody killed it)" kill -0 "$(cat "$T/daemon.pid")"
kill "$(cat "$T/daemon.pid")" 2>/dev/null
