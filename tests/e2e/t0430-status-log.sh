#!/bin/sh
# t0430 — `runbook status` and `runbook log`: the list of recent runs,
# newest first (20 unless --all), with their states (running, succeeded,
# failed, paused, interrupted, precondition failed); one run with its
# runbook, target, state, who started it, params (secrets as ***), journal,
# a table of steps (number / pre / fin N, id, host, state, attempts,
# duration, captures) and what resume would do next; both as JSON too.
# `runbook log RUN [STEP]`: every step's log (with headers), one by id or
# by number, and JSON (valid even for output that is not UTF-8).  A secret
# value never shows up anywhere.
. "$(dirname "$0")/../lib.sh"

me="$(id -un)@$(uname -n)"
secret=s3cr3t-V4lue-9137
runs="$RUNBOOK_STATE_DIR/runs"

# py FILE CODE: runs python code with j = the JSON in FILE (parsed from
# strict UTF-8); exit status is the code's
py() {
	python3 -c 'import json,sys
j=json.loads(open(sys.argv[1],"rb").read().decode("utf-8"))
exec(sys.argv[2])' "$1" "$2"
}
# newest run id of runbook NAME
run_of() { ls "$runs" | grep "^$1-" | sort | tail -1; }

rb status
expect_rc 0 "status with no runs: exit 0"
out_has "no runs recorded in $RUNBOOK_STATE_DIR"
rb status --format json
check "status --format json with no runs" py "$out" 'assert j == {"runs": [], "total": 0}'

# --- five runs, five end states ---------------------------------------------------
okrb=$(file st-ok.yml <<'EOF2'
runbook: st-ok
params:
  dir: { required: true }
  token: { required: true, secret: true }
  mode: { default: fast }
preconditions:
  - name: the folder exists
    run: test -d {{ dir }}
steps:
  - id: version
    run: echo "version 4.2 build 77"
    capture: { ver: 'version (\S+)', build: 'build (\d+)' }
  - id: flaky
    run: echo x >> {{ dir }}/flaky; test $(wc -l < {{ dir }}/flaky) -ge 2
    retry: { attempts: 3, delay: 10ms }
  - id: use-token
    run: echo "token is {{ token }}"; echo "warned" >&2
  - id: leak
    run: echo "key={{ token }}"
    capture: { key: 'key=(\S+)' }
  - id: binary
    run: printf 'bad \377\376 bytes\n'
  - id: big
    run: |
      for pad in "" "-" "--"; do
        python3 -c 'import sys; sys.stdout.write(sys.argv[1] + ("\u00e9" * 40 + "\u20ac" * 30 + "\n") * 1000)' "$pad"
      done
finally:
  - id: cleanup
    run: echo cleaned
EOF2
)
failrb=$(file st-fail.yml <<'EOF2'
runbook: st-fail
steps:
  - id: good
    run: echo fine
  - id: bad
    run: echo broken >&2; exit 3
  - id: never
    run: echo never
EOF2
)
gaterb=$(file gate.yml <<'EOF2'
runbook: gate
params:
  dir: { required: true }
steps:
  - id: before
    run: touch {{ dir }}/gate-before
  - id: ask
    confirm: Go on?
  - id: after
    run: touch {{ dir }}/gate-after
EOF2
)
prerb=$(file st-pre.yml <<'EOF2'
runbook: st-pre
preconditions:
  - name: impossible
    run: "false"
steps:
  - id: never
    run: echo never
EOF2
)
killrb=$(file st-kill.yml <<'EOF2'
runbook: st-kill
params:
  dir: { required: true }
steps:
  - id: first
    run: echo one
  - id: long
    run: |
      echo $PPID > {{ dir }}/kill.started
      i=0
      while [ ! -e {{ dir }}/kill.go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
    check: test -e {{ dir }}/kill.go
  - id: last
    run: echo last
EOF2
)

rb run "$okrb" -p dir="$T" -p token="$secret"
expect_rc 0 "setup: a run that succeeds"
ok_id=$(run_of st-ok)
rb run "$failrb"
expect_rc 1 "setup: a run that fails"
fail_id=$(run_of st-fail)
rb run "$gaterb" -p dir="$T"
expect_rc 4 "setup: a run paused at a confirm without --yes"
gate_id=$(run_of gate)
rb run "$prerb"
expect_rc 5 "setup: a run whose precondition fails"
pre_id=$(run_of st-pre)

# a run that is still going, then killed with SIGKILL
${RUNBOOK_WRAP:-} "$RUNBOOK" run "$killrb" -p dir="$T" >"$T/kill.out" 2>"$T/kill.err" </dev/null &
kpid=$!
wait_for "$T/kill.started"
kill_id=$(run_of st-kill)

rb status
expect_rc 0 "status while a run is going: exit 0"
check "a live run is listed as running" grep -Eq "^$kill_id +st-kill +local +running " "$out"
rb status "$kill_id"
out_has "  state     running"
out_has "next: nothing: the run is still going"
# BUG: the step in progress of a live run is shown as "interrupted"
check "status RUN: the step in progress of a live run is not called interrupted" \
	sh -c '! grep -Eq "^ +2 +long +local +interrupted" "$1"' _ "$out"
rb status "$kill_id" --format json
check "status RUN --format json: a live run's state is running" py "$out" 'assert j["state"] == "running"'
check "status RUN --format json: the step in progress of a live run is not called interrupted" \
	py "$out" 'assert j["steps"][1]["id"] == "long" and j["steps"][1]["state"] != "interrupted", j["steps"][1]'

kill -KILL "$kpid"
wait "$kpid"
touch "$T/kill.go" # lets the orphaned step end

# --- the list ------------------------------------------------------------------------
rb status
expect_rc 0 "status: exit 0"
check "status: the header" grep -Eq '^RUN +RUNBOOK +TARGET +STATE +STARTED +DURATION$' "$out"
day='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}'
check "status: a succeeded run" grep -Eq "^$ok_id +st-ok +local +succeeded +$day +[0-9.]+m?s$" "$out"
check "status: a failed run" grep -Eq "^$fail_id +st-fail +local +failed +$day " "$out"
check "status: a paused run" grep -Eq "^$gate_id +gate +local +paused +$day " "$out"
check "status: a run whose precondition failed" grep -Eq "^$pre_id +st-pre +local +precondition failed +$day " "$out"
check "status: a run killed with SIGKILL is interrupted" grep -Eq "^$kill_id +st-kill +local +interrupted +$day " "$out"
check "status: newest first" test "$(sed 1d "$out" | awk '{print $1}' | tr '\n' ' ')" = "$kill_id $pre_id $gate_id $fail_id $ok_id "

rb status --format json
expect_rc 0 "status --format json: exit 0"
check "status --format json: runs newest first, and the total" py "$out" "
assert j['total'] == 5, j
assert [r['run'] for r in j['runs']] == '$kill_id $pre_id $gate_id $fail_id $ok_id'.split(), j"
check "status --format json: states" py "$out" "
assert [r['state'] for r in j['runs']] == ['interrupted', 'precondition failed', 'paused', 'failed', 'succeeded'], j"
check "status --format json: runbook, target, user, machine, times" py "$out" "
for r in j['runs']:
    assert r['runbook'] == r['run'][:-21] and r['target'] == 'local', r
    assert r['user'] + '@' + r['machine'] == '$me', r
    assert isinstance(r['started_ms'], int) and r['started_ms'] > 0 and r['duration_ms'] >= 0, r"
check "status --format json: exit codes of ended runs, none for the killed one" py "$out" "
assert [r.get('exit') for r in j['runs']] == [None, 5, 4, 1, 0], j"

# --- one run: the one that succeeded ---------------------------------------------------
rb status "$ok_id"
expect_rc 0 "status RUN: exit 0"
out_has "run $ok_id"
check "status RUN: the runbook and its file" grep -Eq "^  runbook +st-ok \(/.*/st-ok\.yml\)$" "$out"
check "status RUN: the target" grep -Eq "^  target +local$" "$out"
check "status RUN: the state" grep -Eq "^  state +succeeded$" "$out"
check "status RUN: started when, by whom" grep -Eq "^  started +$day by $me, pid [0-9]+" "$out"
check "status RUN: params, the secret as ***" grep -Fxq "  params    dir=$T, token=*** (-p), mode=fast" "$out"
check "status RUN: the journal" grep -Fq "  journal   $runs/$ok_id/journal.jsonl (" "$out"
check "status RUN: the steps' header" grep -Eq '^  STEP +ID +HOST +STATE +ATTEMPTS +DURATION +CAPTURES$' "$out"
check "status RUN: a precondition row" grep -Eq '^  pre +pre1 +local +ok( |$)' "$out"
check "status RUN: a step row with its captures" grep -Eq '^  1 +version +local +ok +1 +[0-9.]+m?s +ver=4\.2 build=77$' "$out"
check "status RUN: attempts of a retried step" grep -Eq '^  2 +flaky +local +ok +2 +[0-9.]+m?s *$' "$out"
check "status RUN: a capture holding a secret shows ***" grep -Eq '^  4 +leak +local +ok +1 +[0-9.]+m?s +key=\*\*\*$' "$out"
check "status RUN: a finally step is 'fin N'" grep -Eq '^  fin 7 +cleanup +local +ok +1 ' "$out"
out_has "next: nothing: the run succeeded"
out_lacks "$secret"

rb status st-ok
check "status RUNBOOK-NAME: its newest run" grep -qx "run $ok_id" "$out"

rb status "$ok_id" --format json
expect_rc 0 "status RUN --format json: exit 0"
check "status RUN json: run, state, runbook, target, next" py "$out" "
assert (j['run'], j['state'], j['runbook'], j['target']) == ('$ok_id', 'succeeded', 'st-ok', 'local'), j
assert j['next'] == 'nothing: the run succeeded', j
assert j['journal'] == '$runs/$ok_id/journal.jsonl', j"
check "status RUN json: params, the secret without its value" py "$out" "
p = {x['name']: x for x in j['params']}
assert p['dir'] == {'name': 'dir', 'value': '$T', 'source': '-p'}, p
assert p['token'].get('secret') is True and 'value' not in p['token'], p
assert p['mode']['value'] == 'fast' and p['mode']['source'] == 'default', p"
check "status RUN json: the steps in order, with number and phase" py "$out" "
assert [(s['id'], s['number'], s['phase']) for s in j['steps']] == [('pre1', 1, 'preconditions'),
    ('version', 1, 'steps'), ('flaky', 2, 'steps'), ('use-token', 3, 'steps'), ('leak', 4, 'steps'),
    ('binary', 5, 'steps'), ('big', 6, 'steps'), ('cleanup', 7, 'finally')], j['steps']"
check "status RUN json: host, state, attempts, duration, rc of every step" py "$out" "
for s in j['steps']:
    assert s['host'] == 'local' and s['state'] == 'ok', s
    assert isinstance(s['duration_ms'], int) and s['duration_ms'] >= 0, s
    if s['phase'] != 'preconditions':
        assert s['rc'] == 0 and s['attempts'] >= 1, s
assert [s['attempts'] for s in j['steps'][1:3]] == [1, 2], j['steps']"
check "status RUN json: captures, a secret one as ***" py "$out" "
c = {s['id']: s.get('captures') for s in j['steps']}
assert c['version'] == {'ver': '4.2', 'build': '77'}, c
assert c['leak'] == {'key': '***'}, c
assert c['flaky'] is None, c"
out_lacks "$secret"

# --- one run for each other state ------------------------------------------------------
rb status "$fail_id"
check "failed run: state" grep -Eq "^  state +failed$" "$out"
check "failed run: the step that worked" grep -Eq '^  1 +good +local +ok +1 ' "$out"
check "failed run: the failed step" grep -Eq '^  2 +bad +local +failed +1 ' "$out"
check "failed run: the step never reached" grep -Eq '^  3 +never +local +not run *$' "$out"
check "failed run: no params line (the runbook has none)" sh -c '! grep -q "^  params" "$1"' _ "$out"
out_has "next: step 2 (bad): retry it (it failed); then 1 more"
rb status "$fail_id" --format json
check "failed run json: state, rc, reason, and a step not run" py "$out" "
s = {x['id']: x for x in j['steps']}
assert j['state'] == 'failed' and j['exit'] == 1, j
assert s['bad']['state'] == 'failed' and s['bad']['rc'] == 3 and 'exit code 3' in s['bad']['reason'], s['bad']
assert s['never']['state'] == 'not run' and 'attempts' not in s['never'], s['never']
assert j['next'] == 'step 2 (bad): retry it (it failed); then 1 more', j['next']"

rb status "$gate_id"
check "paused run: state" grep -Eq "^  state +paused$" "$out"
check "paused run: the confirm step is paused" grep -Eq '^  2 +ask +local +paused ' "$out"
check "paused run: the step after it is not run" grep -Eq '^  3 +after +local +not run *$' "$out"
out_has "next: step 2 (ask): ask its confirmation again; then 1 more"

rb status "$pre_id"
check "precondition failed run: state" grep -Eq "^  state +precondition failed$" "$out"
check "precondition failed run: the precondition row" grep -Eq '^  pre +pre1 +local +failed( |$)' "$out"
check "precondition failed run: no step ran" grep -Eq '^  1 +never +local +not run *$' "$out"
out_has "next: check the preconditions again, then run the steps from the first"

rb status "$kill_id"
check "killed run: interrupted, no end recorded" grep -Eq "^  state +interrupted \(no end recorded" "$out"
check "killed run: the step that was going is interrupted" grep -Eq '^  2 +long +local +interrupted +1 ' "$out"
check "killed run: the step after it is not run" grep -Eq '^  3 +last +local +not run *$' "$out"
out_has "next: step 2 (long): it was interrupted: its check decides whether it runs again; then 1 more"
rb status "$kill_id" --format json
check "killed run json: interrupted, no exit, the step interrupted" py "$out" "
assert j['state'] == 'interrupted' and 'exit' not in j, j
assert [s['state'] for s in j['steps']] == ['ok', 'interrupted', 'not run'], j['steps']"

# a resumed run says so
rb resume "$gate_id" --yes
expect_rc 0 "setup: the paused run resumed"
rb status "$gate_id"
check "resumed run: succeeded, resumed once" grep -Eq "^  started .*; resumed 1 time$" "$out"
check "resumed run: every step ok" test "$(grep -Ec '^  [0-9] +[a-z]+ +local +ok ' "$out")" = 3
out_has "next: nothing: the run succeeded"

rb status no-such-run
expect_rc 2 "status of an unknown run: exit 2"
err_has "no run 'no-such-run'"
rb status "$ok_id" "$fail_id"
expect_rc 2 "status with two runs: exit 2"

# --- more than 20 runs -----------------------------------------------------------------------
many="$T/many"
tiny=$(file tiny.yml <<'EOF2'
runbook: tiny
steps:
  - id: one
    run: "true"
EOF2
)
i=0
while [ $i -lt 22 ]; do
	"$RUNBOOK" run "$tiny" --state-dir "$many" >/dev/null 2>&1 </dev/null
	i=$((i + 1))
done
rb status --state-dir "$many"
check "status: 20 runs at most" test "$(grep -c '^tiny-' "$out")" = 20
out_has "(2 older runs not shown: --all lists them)"
rb status --state-dir "$many" --all
check "status --all: every run" test "$(grep -c '^tiny-' "$out")" = 22
out_lacks "not shown"
rb status --state-dir "$many" --format json
check "status --format json: 20 runs, total 22" py "$out" 'assert len(j["runs"]) == 20 and j["total"] == 22, j'
rb status --state-dir "$many" --format json --all
check "status --format json --all: 22 runs" py "$out" 'assert len(j["runs"]) == 22 and j["total"] == 22, j'
check "status --format json --all: newest first" py "$out" '
t = [r["started_ms"] for r in j["runs"]]
assert t == sorted(t, reverse=True), t'
# a runbook name stands for its newest run, also among runs started within
# the same second (their ids differ only by a random suffix)
newest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"][0]["run"])' "$out")
rb status tiny --state-dir "$many"
check "status RUNBOOK-NAME is its newest run, whatever the random part of the ids" grep -qx "run $newest" "$out"

# --- logs -------------------------------------------------------------------------------------
logs="$runs/$ok_id/logs"
rb log "$ok_id"
expect_rc 0 "log RUN: exit 0"
check "log RUN: every step's log, in order, each under a header" test "$(grep '^==> ' "$out")" = "==> 00-pre1.log <==
==> 01-version.log <==
==> 02-flaky.log <==
==> 03-use-token.log <==
==> 04-leak.log <==
==> 05-binary.log <==
==> 06-big.log <==
==> 07-cleanup.log <=="
out_has '$ echo "version 4.2 build 77"'
out_has "# attempt 2 of 3"
out_has "! warned"
out_has "cleaned"
out_has "token is ***"
out_lacks "$secret"

rb log "$ok_id" version
expect_rc 0 "log RUN STEP-ID: exit 0"
check "log RUN STEP-ID: that step's log only, no header" cmp -s "$out" "$logs/01-version.log"
cp "$out" "$T/by-id"
rb log "$ok_id" 1
expect_rc 0 "log RUN NUMBER: exit 0"
check "log RUN NUMBER: the same as by id" cmp -s "$out" "$T/by-id"
rb log "$ok_id" 7
check "log RUN NUMBER of a finally step" cmp -s "$out" "$logs/07-cleanup.log"
rb log st-ok flaky
check "log RUNBOOK-NAME STEP: its newest run" cmp -s "$out" "$logs/02-flaky.log"
rb log "$ok_id" binary
check "log of a step that printed non-UTF-8: the bytes as they were" cmp -s "$out" "$logs/05-binary.log"

rb log "$ok_id" --format json
expect_rc 0 "log RUN --format json: exit 0"
check "log json: valid UTF-8 JSON with the run and every file" py "$out" "
assert j['run'] == '$ok_id', j['run']
assert [l['file'] for l in j['logs']] == ['00-pre1.log', '01-version.log', '02-flaky.log', '03-use-token.log',
    '04-leak.log', '05-binary.log', '06-big.log', '07-cleanup.log'], [l['file'] for l in j['logs']]"
check "log json: each text is its file (UTF-8 ones exactly)" py "$out" "
for l in j['logs']:
    raw = open('$logs/' + l['file'], 'rb').read()
    if l['file'] == '05-binary.log':
        continue
    assert l['text'] == raw.decode('utf-8'), l['file']"
check "log json: a step that printed non-UTF-8 bytes gives valid JSON with the rest of its text" py "$out" "
t = [l['text'] for l in j['logs'] if l['file'] == '05-binary.log'][0]
assert t.startswith('\$ printf ') and 'bad ' in t and ' bytes\n# exit 0\n' in t, repr(t)"
check "log json: the big log crosses a 64 KiB boundary inside a character" python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
assert len(d) > 200000 and any(0x80 <= d[k] < 0xc0 for k in (65536, 131072, 196608)), len(d)' "$logs/06-big.log"
check "log json: no replacement characters in the big log" py "$out" "
t = [l['text'] for l in j['logs'] if l['file'] == '06-big.log'][0]
assert '\ufffd' not in t and t.count('\u00e9') == 120000 and t.count('\u20ac') == 90000, (t.count('\u00e9'), t.count('\u20ac'))"
out_lacks "$secret"

rb log "$ok_id" 5 --format json
check "log RUN STEP --format json: one file, valid JSON" py "$out" "
assert [l['file'] for l in j['logs']] == ['05-binary.log'], j"

rb log "$ok_id" no-such-step
expect_rc 2 "log of an unknown step: exit 2"
err_has "has no log for step 'no-such-step'"
rb log "$fail_id" never
expect_rc 2 "log of a step that never started: exit 2"
rb log no-such-run
expect_rc 2 "log of an unknown run: exit 2"
err_has "no run 'no-such-run'"
rb log
expect_rc 2 "log without a run: exit 2"

# a step on two hosts: one log per host, both under the step's id and number
inv=$(file inv.yml <<'EOF2'
hosts:
  alpha: { transport: local }
  beta:  { transport: local }
groups:
  app: [alpha, beta]
EOF2
)
fleet=$(file fleet.yml <<'EOF2'
runbook: fleet
steps:
  - id: hello
    run: echo "hello from {{ host.name }}"
EOF2
)
rb run "$fleet" --inventory "$inv" --target app --state-dir "$T/fl"
expect_rc 0 "setup: a step on two hosts"
rb log fleet hello --state-dir "$T/fl"
check "log of a step on two hosts: one header per host" test "$(grep '^==> ' "$out")" = "==> 01-hello@alpha.log <==
==> 01-hello@beta.log <=="
out_has "hello from alpha"
out_has "hello from beta"
rb status fleet --state-dir "$T/fl"
check "status: one row per host of a step" test "$(grep -Ec '^  1 +hello +(alpha|beta) +ok ' "$out")" = 2

# the secret is nowhere in the state folder
check "the secret value is nowhere in the state folder" sh -c '! grep -rqF -- "$1" "$2"' _ "$secret" "$RUNBOOK_STATE_DIR"
