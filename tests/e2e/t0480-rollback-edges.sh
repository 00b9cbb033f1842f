#!/bin/sh
# t0480 — rollback edges found in review: a group's undo runs only on the
# hosts where a step of the group completed (never on a host the group
# did not touch); a step done outside the group's hosts is reported, not
# undone; the `runbook rollback` preview shows the commands of nested
# units and agrees with what then runs; an interrupted step whose check
# fails is not undone and says why; an undo that fails at a module call's
# arguments is journaled; `runbook rollback` with nothing to undo changes
# nothing; a succeeded run killed in finally and then rolled back runs
# finally again after the undos; multi-host steps are undone host by host.
. "$(dirname "$0")/../lib.sh"

journal() { cat "$RUNBOOK_STATE_DIR"/runs/"$1"/journal.jsonl; }
# pgid_of STEP RUNBOOK: the process group of STEP's command, once its
# step_pid record is written (it follows the command's start)
pgid_of() {
	_w=0
	while [ $_w -lt 200 ]; do
		_p=$(sed -n "s/.*\"event\":\"step_pid\",\"step\":\"$1\".*\"pgid\":\([0-9]*\).*/\1/p" \
			"$RUNBOOK_STATE_DIR"/runs/"$2"-*/journal.jsonl 2>/dev/null)
		[ -n "$_p" ] && { echo "$_p"; return; }
		sleep 0.05
		_w=$((_w + 1))
	done
}

inv=$(file inv.yml <<'EOF2'
hosts:
  alpha: { transport: local }
  beta:  { transport: local }
groups:
  app: [alpha, beta]
EOF2
)

# --- a group's undo on the hosts its steps completed on, only -------------------
d=$T/g
mkdir -p "$d/alpha/data" "$d/beta/data"
echo a >"$d/alpha/data/f"
echo b >"$d/beta/data/f"
rbk=$(file grp.yml <<'EOF2'
runbook: grp
params:
  dir: { required: true }
  failon: { default: alpha }
target: app
steps:
  - group: move the data
    id: move
    steps:
      - id: announce
        on: local
        run: echo announce >> {{ dir }}/log
      - id: mv
        run: test {{ host.name }} != {{ failon }} && mv {{ dir }}/{{ host.name }}/data {{ dir }}/{{ host.name }}/data-old
    undo:
      - run: echo "undo-move {{ host.name }}" >> {{ dir }}/log
      - run: mv {{ dir }}/{{ host.name }}/data-old {{ dir }}/{{ host.name }}/data
EOF2
)
rb run "$rbk" -p dir="$d" --inventory "$inv"
expect_rc 1 "group on alpha,beta: mv fails on alpha (the first host): exit 1"
check "the group's undo ran nowhere: no step of it completed on alpha or beta" test "$(cat "$d/log")" = "announce"
check "beta's data is untouched" test "$(cat "$d/beta/data/f")" = b
check "alpha's data is untouched" test "$(cat "$d/alpha/data/f")" = a
out_has "done outside its group's hosts, where the group's undo does not run"
out_has "not compensated (its group's undo runs on the group's hosts)"

: >"$d/log"
rb run "$rbk" -p dir="$d" -p failon=beta --inventory "$inv"
expect_rc 1 "mv fails on beta (the second host): exit 1"
check "the group's undo ran on alpha only" test "$(cat "$d/log")" = "announce
undo-move alpha"
check "alpha's data is back" test "$(cat "$d/alpha/data/f")" = a
check "beta's data was never moved" test "$(cat "$d/beta/data/f")" = b
check "no data-old is left" sh -c '! ls -d "$1"/*/data-old 2>/dev/null | grep -q .' _ "$d"
id=$(run_id)
check "the undo records name the host compensated" sh -c \
	'grep "\"event\":\"undo_end\"" "$1" | grep -q "\"for\":\"alpha\"" && ! grep "\"event\":\"undo_start\"" "$1" | grep -q "\"for\":\"beta\""' \
	_ "$RUNBOOK_STATE_DIR/runs/$id/journal.jsonl"

# --- a step on two hosts is undone host by host, newest first -----------------
d=$T/mh
mkdir -p "$d"
rbk=$(file mh.yml <<'EOF2'
runbook: mh
params:
  dir: { required: true }
target: app
steps:
  - id: mark
    run: echo "mark {{ host.name }}" >> {{ dir }}/log
    undo: echo "unmark {{ host.name }}" >> {{ dir }}/log
  - id: bad
    on: local
    run: "false"
EOF2
)
rb run "$rbk" -p dir="$d" --inventory "$inv"
expect_rc 1 "multi-host: exit 1"
check "each host compensated, the newest first" test "$(cat "$d/log")" = "mark alpha
mark beta
unmark beta
unmark alpha"
check "one undo log per host" sh -c 'ls "$1"/runs/*/logs/01-mark.undo@alpha.log "$1"/runs/*/logs/01-mark.undo@beta.log' \
	_ "$RUNBOOK_STATE_DIR"

# --- the preview shows nested units' commands, with their values ----------------
d=$T/pv
mkdir -p "$d/modules"
cat >"$d/modules/svc.yml" <<'EOF2'
module: svc
actions:
  stop:
    params:
      unit: { required: true }
      log: { required: true }
    steps:
      - run: echo "stop {{ unit }}" >> {{ log }}
        undo: echo "start {{ unit }}" >> {{ log }}
EOF2
cat >"$d/pv.yml" <<'EOF2'
runbook: pv
params:
  dir: { required: true }
on_failure: stop
steps:
  - group: outer
    steps:
      - id: o1
        run: echo o1 >> {{ dir }}/log
        undo: echo "undo-o1 {{ dir }}" >> {{ dir }}/log
  - id: web
    uses: svc.stop
    with: { unit: web-server, log: "{{ dir }}/log" }
  - id: bad
    run: "false"
EOF2
rb run "$d/pv.yml" -p dir="$d"
expect_rc 1 "preview: the run stops at bad"
id=$(run_id)
rb rollback "$id" --yes
expect_rc 0 "preview: rollback --yes"
out_has "(web.s1)"
out_has "\$ echo \"start web-server\" >> '$d/log'"
out_has "undo o1"
out_has "\$ echo \"undo-o1 $d\" >> '$d'/log"
check "preview: the undos ran newest first" test "$(cat "$d/log")" = "o1
stop web-server
start web-server
undo-o1 $d"

# --- rollback with nothing to undo changes nothing --------------------------------
d=$T/none
mkdir -p "$d"
rbk=$(file none.yml <<'EOF2'
runbook: none
params:
  dir: { required: true }
on_failure: stop
steps:
  - id: a
    run: echo a >> {{ dir }}/log
  - id: bad
    run: test -e {{ dir }}/fixed
EOF2
)
rb run "$rbk" -p dir="$d"
expect_rc 1 "nothing to undo: the run fails"
id=$(run_id)
n=$(journal "$id" | wc -l)
rb rollback "$id" --yes
expect_rc 0 "nothing to undo: rollback exits 0"
out_has "nothing to roll back"
check "nothing to undo: the journal is unchanged" test "$(journal "$id" | wc -l)" = "$n"
rb status "$id"
out_has "state     failed"
touch "$d/fixed"
rb resume "$id"
expect_rc 0 "nothing to undo: resume still retries the failed step"

# --- an interrupted step whose check fails is not undone ------------------------
d=$T/ck
mkdir -p "$d"
rbk=$(file ck.yml <<'EOF2'
runbook: ck
params:
  dir: { required: true }
steps:
  - id: a
    run: echo a >> {{ dir }}/log
    undo: echo undo-a >> {{ dir }}/log
  - id: slow
    run: echo started > {{ dir }}/slow-started; sleep 30; touch {{ dir }}/slow-done
    check: test -e {{ dir }}/slow-done
    undo: echo undo-slow >> {{ dir }}/log
EOF2
)
"$RUNBOOK" run "$rbk" -p dir="$d" >"$T/ck.out" 2>&1 </dev/null &
p=$!
wait_for "$d/slow-started"
# the runbook and its step, both gone (a lost machine)
pg=$(pgid_of slow ck)
kill -9 "$p"
wait "$p" 2>/dev/null
[ -n "$pg" ] && kill -KILL "-$pg" 2>/dev/null
id=$(ls "$RUNBOOK_STATE_DIR"/runs | grep '^ck-')
rb rollback "$id" --yes
expect_rc 0 "interrupted, check fails: rollback exits 0"
out_has "its check fails"
out_has "not compensated: its check says it did not take effect"
out_lacks "has no check: whether it took effect is unknown"
check "interrupted, check fails: only a is undone" test "$(cat "$d/log")" = "a
undo-a"

# --- an undo failing at a module call's arguments is journaled --------------------
d=$T/ua
mkdir -p "$d/modules"
cat >"$d/modules/m.yml" <<'EOF2'
module: m
actions:
  x:
    params: { v: { required: true, pattern: '[a-z]+' } }
    steps:
      - run: echo "x {{ v }}"
EOF2
cat >"$d/ua.yml" <<'EOF2'
runbook: ua
steps:
  - id: a
    run: echo ABC
    capture: { cap: '(.+)' }
    undo:
      - uses: m.x
        with: { v: "{{ cap }}" }
  - id: bad
    run: "false"
EOF2
rb run "$d/ua.yml"
expect_rc 3 "undo with bad module arguments: exit 3"
id=$(run_id)
check "the failed undo is in the journal, with its reason" sh -c \
	'grep "\"event\":\"undo_end\"" "$1" | grep "\"status\":\"failed\"" | grep -q "argument"' \
	_ "$RUNBOOK_STATE_DIR/runs/$id/journal.jsonl"
rb status "$id"
out_has "next: retry the undo a.undo of a"

# --- a succeeded run killed in finally, then rolled back: finally again ---------
d=$T/fk
mkdir -p "$d"
rbk=$(file fk.yml <<'EOF2'
runbook: fk
params:
  dir: { required: true }
steps:
  - id: a
    run: echo a >> {{ dir }}/log
    undo: echo undo-a >> {{ dir }}/log
finally:
  - id: f1
    run: echo f1 >> {{ dir }}/log
  - id: f2
    run: echo f2 >> {{ dir }}/log; if [ ! -e {{ dir }}/f2-started ]; then echo x > {{ dir }}/f2-started; sleep 30; fi
    check: grep -qx f2 {{ dir }}/log
EOF2
)
"$RUNBOOK" run "$rbk" -p dir="$d" >"$T/fk.out" 2>&1 </dev/null &
p=$!
wait_for "$d/f2-started"
pg=$(pgid_of f2 fk)
kill -9 "$p"
wait "$p" 2>/dev/null
[ -n "$pg" ] && kill -KILL "-$pg" 2>/dev/null
id=$(ls "$RUNBOOK_STATE_DIR"/runs | grep '^fk-')
rb rollback "$id" --yes
expect_rc 0 "killed in finally, rolled back: exit 0"
check "finally runs again after the undo" test "$(cat "$d/log")" = "a
f1
f2
undo-a
f1
f2"
rb status "$id"
out_has "state     rolled back"
