#!/bin/sh
# t0460 — rollback (DESIGN §3): with on_failure: rollback (the default) a
# failed step makes the undos of the completed steps run newest first;
# the failed step, skipped steps and groups never reached are not
# compensated; a group's or a module call's undo replaces its members';
# undo is a command, a step (own check, retry) or a list, and runs with
# its step's env and cwd and the values of the step's time (captures,
# steps.*, env.*, even in a later `runbook rollback`); a failing undo
# stops the rollback (exit 3) and resume finishes it; on_failure: stop
# leaves everything for `runbook rollback RUN --yes` (or resume); no undo
# anywhere: no rollback, resume retries; finally runs after the undos;
# status (text, json), the journal and --events tell it all.
# Every effect is a file or a line appended to a log.
. "$(dirname "$0")/../lib.sh"

S=$RUNBOOK_STATE_DIR
# jcount ID EVENT: how many EVENT records the journal of run ID holds
jcount() {
	grep -c "\"event\":\"$2\"" "$S/runs/$1/journal.jsonl" 2>/dev/null || true
}
# is FILE TEXT "what": FILE holds exactly TEXT
is() {
	check "$3" test "$(cat "$1" 2>/dev/null)" = "$2"
}
# jq_ok ID PY-EXPR "what": the expression holds for d = status --format json
jq_ok() {
	"$RUNBOOK" status "$1" --format json >"$T/.json" 2>/dev/null </dev/null
	check "$3" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
steps = {s["id"]: s for s in d["steps"]}
undos = d.get("rollback", {}).get("undos", [])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/.json" "$2"
}

# --- 1. the Pryv.io upgrade, on a sandbox tree ---------------------------------

sb=$T/sb
mkdir -p "$sb/pryv-1.5/nested/deep" "$sb/pryv-1.5/var"
printf 'version: 1.5\nport: 3000\n' >"$sb/pryv-1.5/config.yml"
printf 'user data, two lines\nsecond\n' >"$sb/pryv-1.5/data file with spaces.txt"
printf '\000\001\002binary\377\376\n' >"$sb/pryv-1.5/nested/deep/blob.bin"
printf '#!/bin/sh\necho run\n' >"$sb/pryv-1.5/nested/run.sh"
printf 'audit 1\naudit 2\n' >"$sb/pryv-1.5/var/old audit.log"
printf 'running\n' >"$sb/services.state"
ln -s pryv-1.5 "$sb/current"
chmod 750 "$sb/pryv-1.5"
chmod 640 "$sb/pryv-1.5/config.yml"
chmod 600 "$sb/pryv-1.5/data file with spaces.txt"
chmod 755 "$sb/pryv-1.5/nested/run.sh"
chmod 700 "$sb/pryv-1.5/nested/deep"
chmod 604 "$sb/pryv-1.5/var/old audit.log"

# snap: every path with its type, mode and symlink target; the size of
# everything but directories (theirs depends on the file system's history);
# the SHA-256 of every regular file
snap() {
	(
		cd "$T" || exit 1
		find sb -printf '%p|%y|%m|%l\n' | LC_ALL=C sort
		find sb ! -type d -printf '%p|%s\n' | LC_ALL=C sort
		find sb -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
	)
}
snap >"$T/before"

rbk=$(file pryv.yml <<'EOF2'
runbook: pryv-sandbox
params:
  root: { required: true }
  to: { default: "1.6", pattern: '\d+\.\d+' }
  log: { required: true }
  seen: { required: true }
steps:
  - id: stop-services
    run: printf 'stopped\n' > {{ root }}/services.state
    undo: printf 'running\n' > {{ root }}/services.state; echo start-services >> {{ log }}
  - id: prev
    run: readlink {{ root }}/current
    capture: { prev: '^(pryv-[0-9.]+)$' }
  - id: move
    group: move folders
    steps:
      - id: mkdir-new
        run: mkdir {{ root }}/pryv-{{ to }}
        undo: echo mkdir-new-own-undo >> {{ log }}
      - id: copy-data
        run: cp -R {{ root }}/{{ prev }}/. {{ root }}/pryv-{{ to }}/
        undo: echo copy-data-own-undo >> {{ log }}
      - id: aside
        run: mv "{{ root }}/{{ prev }}/var/old audit.log" "{{ root }}/old audit.log.aside"
    undo:
      - id: move-back
        run: mv "{{ root }}/old audit.log.aside" "{{ root }}/{{ prev }}/var/old audit.log"
      - id: rm-new
        run: rm -rf {{ root }}/pryv-{{ to }}; echo move-folders >> {{ log }}
  - id: switch
    run: ln -sfn pryv-{{ to }} {{ root }}/current
    check: test "$(readlink {{ root }}/current)" = "pryv-{{ to }}"
    undo: ln -sfn {{ prev }} {{ root }}/current; echo switch >> {{ log }}
  - id: migrate
    run: |
      readlink {{ root }}/current > {{ seen }}
      cat {{ root }}/services.state >> {{ seen }}
      test -e "{{ root }}/old audit.log.aside" && echo aside >> {{ seen }}
      test -f "{{ root }}/pryv-{{ to }}/data file with spaces.txt" && echo copied >> {{ seen }}
      echo "Abandoned with 3 unsaved objects"
      exit 1
EOF2
)
rb run "$rbk" -p root="$sb" -p log="$T/pryv-undo.log" -p seen="$T/pryv-seen"
expect_rc 1 "pryv: the failed migration exits 1"
pryv=$(run_id)
out_has "failed at migrate; rolled back"
is "$T/pryv-seen" "pryv-1.6
stopped
aside
copied" "pryv: the forward steps took effect before the migration failed"
snap >"$T/after"
check "pryv: the tree after the rollback is byte for byte the tree before" diff "$T/before" "$T/after"
check "pryv: ... (the snapshot is not empty: it has the file with spaces)" \
	grep -q 'data file with spaces.txt' "$T/before"
is "$T/pryv-undo.log" "switch
move-folders
start-services" "pryv: the undos ran newest first, the group's once, its members' not at all"
check "pryv: current points at pryv-1.5 again" test "$(readlink "$sb/current")" = pryv-1.5
check "pryv: the switch's step_end keeps the captured old target for its undo" \
	grep -q '"event":"step_end","step":"switch".*"undo_values":{[^}]*"prev":"pryv-1.5"' "$S/runs/$pryv/journal.jsonl"
check "pryv: the new version's folder is gone" test ! -e "$sb/pryv-1.6"
out_has "rollback: 3 changes to undo, newest first"
out_has "not compensated:  step 2 (prev) (it has no undo)"
out_has "check by hand:    step 7 (migrate) failed and is not compensated"

# --- 2. the forms of undo -------------------------------------------------------

f=$T/forms
mkdir -p "$f/wd"
rbk=$(file forms.yml <<'EOF2'
runbook: forms
params:
  dir: { required: true }
steps:
  - id: str
    run: touch {{ dir }}/str
    undo: rm {{ dir }}/str; echo str >> {{ dir }}/order
  - id: map
    run: touch {{ dir }}/map
    undo:
      run: echo try >> {{ dir }}/map-tries; if [ "$(wc -l < {{ dir }}/map-tries)" -ge 2 ]; then rm {{ dir }}/map; fi; echo map >> {{ dir }}/order
      check: echo checked >> {{ dir }}/map-checks; test ! -e {{ dir }}/map
      retry: { attempts: 3, delay: 10ms }
  - id: list
    run: touch {{ dir }}/list
    undo:
      - id: list-a
        run: echo list-a >> {{ dir }}/order
      - run: rm {{ dir }}/list; echo list-b >> {{ dir }}/order
  - id: envcwd
    env: { MARK: "hello world" }
    cwd: "{{ dir }}/wd"
    run: echo "$MARK" > fwd-seen
    undo: echo "$MARK|$(pwd -P)" > undo-seen; echo envcwd >> {{ dir }}/order
  - id: bad
    run: exit 7
EOF2
)
rb run "$rbk" -p dir="$f"
expect_rc 1 "forms: a failed step with four kinds of undo exits 1"
forms=$(run_id)
is "$f/order" "envcwd
list-a
list-b
map
map
str" "forms: every undo ran, newest first, a list's steps in their order"
check "forms: the command-string undo removed its file" test ! -e "$f/str"
check "forms: the list undo removed its file" test ! -e "$f/list"
check "forms: the mapping undo removed its file" test ! -e "$f/map"
is "$f/map-tries" "try
try" "forms: the mapping undo's own check failed once, its retry ran it again"
is "$f/map-checks" "checked
checked" "forms: ... its check ran after each attempt"
out_has "check failed"
is "$f/wd/fwd-seen" "hello world" "forms: the forward step ran with its env in its cwd"
is "$f/wd/undo-seen" "hello world|$(cd "$f/wd" && pwd -P)" "forms: the undo ran with the step's env and in its cwd"
jq_ok "$forms" '[u["id"] for u in undos] == ["envcwd.undo", "list-a", "list.undo2", "map.undo", "str.undo"]' \
	"forms: undo ids: ID.undo, a given id, ID.undo2"
jq_ok "$forms" '[u["attempts"] for u in undos if u["id"] == "map.undo"] == [2]' \
	"forms: the retried undo shows 2 attempts"

# --- 3. groups, skipped steps, the failed step; 9. finally after the undos ------

g=$T/grp
mkdir -p "$g"
rbk=$(file grp.yml <<'EOF2'
runbook: grp
params:
  dir: { required: true }
  failin: { default: "no", choices: ["yes", "no"] }
steps:
  - id: a
    run: echo a >> {{ dir }}/log
    undo: echo undo-a >> {{ dir }}/log
  - id: skipme
    when: failin == "never"
    run: echo skipme >> {{ dir }}/log
    undo: echo undo-skipme >> {{ dir }}/log
  - id: g
    group: first group
    steps:
      - id: g1
        run: echo g1 >> {{ dir }}/log
        undo: echo undo-g1 >> {{ dir }}/log
      - id: g2
        run: echo g2 >> {{ dir }}/log; test {{ failin }} = no
        undo: echo undo-g2 >> {{ dir }}/log
    undo:
      - run: echo undo-g >> {{ dir }}/log
  - id: plain
    run: echo plain >> {{ dir }}/log
  - id: bad
    run: echo bad >> {{ dir }}/log; exit 5
    undo: echo undo-bad >> {{ dir }}/log
  - id: later
    group: never reached
    steps:
      - id: l1
        run: echo l1 >> {{ dir }}/log
        undo: echo undo-l1 >> {{ dir }}/log
    undo:
      - run: echo undo-later >> {{ dir }}/log
finally:
  - id: fin
    run: echo fin >> {{ dir }}/log
EOF2
)
rb run "$rbk" -p dir="$g" --events "$T/grp-events.jsonl"
expect_rc 1 "groups: the failure exits 1"
grp=$(run_id)
out_has "failed at bad; rolled back"
is "$g/log" "a
g1
g2
plain
bad
undo-g
undo-a
fin" "groups: the group's undo replaced its members'; skipped, failed, unreached: not compensated; finally after"
out_has "not compensated:  step 5 (plain) (it has no undo)"
out_has "rollback: 2 undone, 1 not compensated (no undo)"
check "groups: the summary marks the skipped step without an undo mark" \
	sh -c '! grep -E "skipped.*↩" "$1"' _ "$out"
check "groups: the summary marks the failed step not compensated" \
	grep -Eq 'failed .* bad +↩ failed step: not compensated' "$out"

# a failure inside the group: the group counts as begun, its undo runs
mkdir -p "$g/in"
rb run "$rbk" -p dir="$g/in" -p failin=yes
expect_rc 1 "groups: a failure inside a group exits 1"
out_has "failed at g2; rolled back"
is "$g/in/log" "a
g1
g2
undo-g
undo-a
fin" "groups: a group begun then failed is undone as one (its undo, not g1's or g2's)"

# --- 10. status and journal after a rollback ------------------------------------

rb status "$grp"
expect_rc 0 "status of a rolled back run"
check "status: the state is 'rolled back'" grep -Eq '^ +state +rolled back$' "$out"
check "status: the UNDO column" grep -Eq '^ +STEP +ID .* UNDO ' "$out"
check "status: step a is undone" grep -Eq '^ +1 +a +local +ok +undone ' "$out"
check "status: the group member g1 is undone" grep -Eq '^ +3 +g1 +local +ok +undone ' "$out"
check "status: plain has no undo" grep -Eq '^ +5 +plain +local +ok +no undo ' "$out"
check "status: the rollback section names the failed step" grep -Eq '^ +rollback +after the failure of bad; done' "$out"
check "status: ... lists g.undo of g" grep -Eq '^ +g\.undo +local +ok +g ' "$out"
check "status: ... then a.undo of a" grep -Eq '^ +a\.undo +local +ok +a ' "$out"
check "status: ... newest first" sh -c 'test "$(grep -nE "^ +g\.undo " "$1" | cut -d: -f1)" -lt "$(grep -nE "^ +a\.undo " "$1" | cut -d: -f1)"' _ "$out"
check "status: ... the members' own undos and the unreached ones are not listed" \
	sh -c '! grep -Eq "^ +(g1|g2|bad|l1|later|skipme)\.undo" "$1"' _ "$out"
jq_ok "$grp" 'd["state"] == "rolled back"' "status json: state 'rolled back'"
jq_ok "$grp" 'steps["a"]["undo"] == "undone" and steps["g1"]["undo"] == "undone" and steps["g2"]["undo"] == "undone"' \
	"status json: per-step undo 'undone'"
jq_ok "$grp" 'steps["plain"]["undo"] == "no undo"' "status json: per-step undo 'no undo'"
jq_ok "$grp" '"undo" not in steps["skipme"] and steps["skipme"]["state"] == "skipped"' \
	"status json: the skipped step has no undo state"
jq_ok "$grp" 'd["rollback"]["state"] == "done" and d["rollback"]["trigger"] == "failure" and d["rollback"]["step"] == "bad"' \
	"status json: rollback {state done, trigger failure, step bad}"
jq_ok "$grp" '[(u["id"], u["of"], u["host"], u["for"], u["state"]) for u in undos] == [("g.undo", "g", "local", "local", "ok"), ("a.undo", "a", "local", "local", "ok")]' \
	"status json: rollback undos [{id, of, host, for, state}] newest first"
J=$S/runs/$grp/journal.jsonl
check "journal: a rollback phase record with its trigger" \
	grep -q '"event":"phase","phase":"rollback","trigger":"failure","step":"bad"' "$J"
check "journal: undo_start of g.undo with of and for" \
	grep -q '"event":"undo_start","step":"g.undo","host":"local","of":"g","for":"local"' "$J"
check "journal: undo_end of a.undo, ok" \
	grep -q '"event":"undo_end","step":"a.undo","host":"local","of":"a","for":"local","status":"ok"' "$J"
check "journal: two undo_start, two undo_end" test "$(jcount "$grp" undo_start)/$(jcount "$grp" undo_end)" = 2/2
check "journal: rollback_end done" grep -q '"event":"rollback_end","status":"done"' "$J"
check "journal: the rollback comes before finally" \
	sh -c 'test "$(grep -n "\"event\":\"rollback_end\"" "$1" | cut -d: -f1)" -lt "$(grep -n "\"phase\":\"finally\"" "$1" | cut -d: -f1)"' _ "$J"
E=$T/grp-events.jsonl
check "events: rollback_start, trigger failure" grep -q '"event":"rollback_start".*"trigger":"failure"' "$E"
check "events: undo_start and undo_end of g.undo" \
	sh -c 'grep -q "\"event\":\"undo_start\".*\"step\":\"g.undo\"" "$1" && grep -q "\"event\":\"undo_end\".*\"step\":\"g.undo\".*\"status\":\"ok\"" "$1"' _ "$E"
check "events: rollback_end done" grep -q '"event":"rollback_end".*"status":"done"' "$E"

# --- 4. module actions ----------------------------------------------------------

m=$T/modrun
mkdir -p "$m/out"
file modrun/modules/svc.yml >/dev/null <<'EOF2'
module: svc
actions:
  start:
    params:
      name: { required: true, pattern: '[a-z]+' }
      dir: { required: true }
    steps:
      - id: start
        run: echo "start {{ name }}" >> {{ dir }}/log
        undo: echo "module undo start {{ name }}" >> {{ dir }}/log
      - id: enable
        run: echo "enable {{ name }}" >> {{ dir }}/log
        undo: echo "module undo enable {{ name }}" >> {{ dir }}/log
EOF2
rbk=$(file modrun/mod.yml <<'EOF2'
runbook: modrb
params:
  dir: { required: true }
steps:
  - id: alpha
    uses: svc.start
    with: { name: alpha, dir: "{{ dir }}" }
  - id: beta
    uses: svc.start
    with: { name: beta, dir: "{{ dir }}" }
    undo:
      - run: echo "caller undo beta" >> {{ dir }}/log
  - id: bad
    run: "false"
EOF2
)
rb run "$rbk" -p dir="$m/out"
expect_rc 1 "modules: the failure exits 1"
modr=$(run_id)
is "$m/out/log" "start alpha
enable alpha
start beta
enable beta
caller undo beta
module undo enable alpha
module undo start alpha" "modules: the action's undos run (newest first); a call's own undo replaces the action's"
jq_ok "$modr" '[(u["id"], u["of"]) for u in undos] == [("beta.undo", "beta"), ("alpha.enable.undo", "alpha.enable"), ("alpha.start.undo", "alpha.start")]' \
	"modules: status json lists the call's undo and the action steps' undos"

# --- 5. an undo that fails --------------------------------------------------------

u=$T/uf
mkdir -p "$u"
rbk=$(file uf.yml <<'EOF2'
runbook: uf
params:
  dir: { required: true }
steps:
  - id: u1
    run: touch {{ dir }}/u1
    undo: rm {{ dir }}/u1; echo u1 >> {{ dir }}/log
  - id: u2
    name: restart the api
    run: touch {{ dir }}/u2
    undo: echo u2-try >> {{ dir }}/log; test -e {{ dir }}/fixed && rm {{ dir }}/u2
  - id: u3
    run: touch {{ dir }}/u3
    undo: rm {{ dir }}/u3; echo u3 >> {{ dir }}/log
  - id: bad
    run: exit 2
EOF2
)
rb run "$rbk" -p dir="$u"
expect_rc 3 "undo fails: exit 3"
uf=$(run_id)
out_has "ROLLBACK FAILED"
out_has "undo failed:      restart the api (u2): exit code 1 (expected 0)"
out_has "not undone:       u1"
out_has "undone:           u3"
out_has "then 'runbook resume $uf' (or 'runbook rollback $uf') retries the undo of restart the api (u2)"
is "$u/log" "u3
u2-try" "undo fails: the newer undo ran, then the failing one; the rollback stopped there"
check "undo fails: the unit not reached is still in effect" test -e "$u/u1"
check "undo fails: the failed undo's effect is still there" test -e "$u/u2"
check "undo fails: the newer unit was undone" test ! -e "$u/u3"
check "undo fails: the journal says rollback_end failed" \
	grep -q '"event":"rollback_end","status":"failed"' "$S/runs/$uf/journal.jsonl"
rb status "$uf"
check "undo fails: status says 'rollback failed'" grep -Eq '^ +state +rollback failed$' "$out"
check "undo fails: status UNDO 'to undo' for u1" grep -Eq '^ +1 +u1 +local +ok +to undo ' "$out"
check "undo fails: status UNDO 'undo failed' for u2" grep -Eq '^ +2 +u2 +local +ok +undo failed ' "$out"
check "undo fails: status UNDO 'undone' for u3" grep -Eq '^ +3 +u3 +local +ok +undone ' "$out"
check "undo fails: the rollback section says an undo failed" grep -Eq '^ +rollback +after the failure of bad; an undo FAILED' "$out"
check "undo fails: ... and lists u2.undo failed" grep -Eq '^ +u2\.undo +local +failed +u2 ' "$out"
jq_ok "$uf" 'd["rollback"]["state"] == "failed" and [(u["id"], u["state"]) for u in undos] == [("u3.undo", "ok"), ("u2.undo", "failed")]' \
	"undo fails: status json rollback state failed, u2.undo failed"
touch "$u/fixed"
rb resume "$uf"
expect_rc 1 "undo fails: after the fix, resume finishes the rollback (exit 1: the run failed)"
out_has "failed at bad; rolled back"
is "$u/log" "u3
u2-try
u2-try
u1" "undo fails: resume retried the failed undo, went on, did not run the done one again"
check "undo fails: everything is undone now" sh -c 'test ! -e "$1/u1" && test ! -e "$1/u2" && test ! -e "$1/u3"' _ "$u"
rb status "$uf"
check "undo fails: then the state is 'rolled back'" grep -Eq '^ +state +rolled back$' "$out"
rb resume "$uf"
expect_rc 2 "undo fails: a second resume is refused (exit 2)"
err_has "was rolled back"

# the same, finished with `runbook rollback RUN --yes`
u=$T/uf2
mkdir -p "$u"
rb run "$rbk" -p dir="$u"
expect_rc 3 "undo fails (2): exit 3"
uf2=$(run_id)
touch "$u/fixed"
rb rollback "$uf2" --yes
# `runbook rollback` did what it was asked — everything is undone: exit 0
# (resume, which finished the same kind of rollback above, says 1: the run
# failed); the outcome still names the failure that started the rollback
expect_rc 0 "undo fails (2): 'runbook rollback --yes' finishes the rollback (exit 0: all undone)"
out_has "failed at bad; rolled back"
out_lacks "by the operator"
is "$u/log" "u3
u2-try
u2-try
u1" "undo fails (2): the failed undo retried, the rest undone, nothing twice"

# --- 6. on_failure: stop, then rollback or resume ---------------------------------

s=$T/stop
mkdir -p "$s"
rbk=$(file stop.yml <<'EOF2'
runbook: stop
params:
  dir: { required: true }
on_failure: stop
steps:
  - id: s1
    run: touch {{ dir }}/s1
    undo: rm {{ dir }}/s1; echo undo-s1 >> {{ dir }}/log
  - id: tag
    run: echo "{{ env.RB_T0460_TAG }}" > {{ dir }}/tag-fwd
    undo: echo "{{ env.RB_T0460_TAG }}" > {{ dir }}/tag-undo; echo undo-tag >> {{ dir }}/log
  - id: gate
    run: test -e {{ dir }}/ok
EOF2
)
RB_T0460_TAG=first-value rb run "$rbk" -p dir="$s"
expect_rc 1 "stop: the failure exits 1"
st=$(run_id)
out_has "on_failure: stop"
check "stop: nothing was undone" sh -c 'test -e "$1/s1" && test ! -e "$1/log"' _ "$s"
lines=$(wc -l <"$S/runs/$st/journal.jsonl")
RB_T0460_TAG=second-value rb rollback "$st"
expect_rc 2 "stop: rollback without --yes and no terminal is refused (exit 2)"
err_has "--yes"
check "stop: ... nothing changed" sh -c 'test -e "$1/s1" && test ! -e "$1/log"' _ "$s"
check "stop: ... nothing was journaled" test "$(wc -l <"$S/runs/$st/journal.jsonl")" = "$lines"
RB_T0460_TAG=second-value rb rollback "$st" --yes --events "$T/stop-events.jsonl"
expect_rc 0 "stop: rollback --yes compensates (exit 0)"
out_has "rolled back by the operator"
check "stop: rollback first lists what it undoes, newest first" \
	sh -c 'test "$(grep -nE "^ +undo tag$" "$1" | cut -d: -f1)" -lt "$(grep -nE "^ +undo s1$" "$1" | cut -d: -f1)"' _ "$out"
is "$s/log" "undo-tag
undo-s1" "stop: every undo ran, newest first"
check "stop: s1 is undone" test ! -e "$s/s1"
# 8. the values of the run's time
is "$s/tag-fwd" "first-value" "values: the forward step saw the env of its time"
is "$s/tag-undo" "first-value" "values: the later rollback's undo used the env of the run's time, not the current one"
check "values: the step_end record keeps it as undo_values" \
	grep -q '"event":"step_end","step":"tag".*"undo_values":{[^}]*"env.RB_T0460_TAG":"first-value"' "$S/runs/$st/journal.jsonl"
check "journal: the operator's rollback phase" \
	grep -q '"event":"phase","phase":"rollback","trigger":"operator"' "$S/runs/$st/journal.jsonl"
check "events: rollback_start with trigger operator" \
	grep -q '"event":"rollback_start".*"trigger":"operator"' "$T/stop-events.jsonl"
check "events: undo_start/undo_end of tag.undo" \
	sh -c 'grep -q "\"event\":\"undo_start\".*\"step\":\"tag.undo\".*\"of\":\"tag\"" "$1" && grep -q "\"event\":\"undo_end\".*\"step\":\"tag.undo\".*\"status\":\"ok\"" "$1"' _ "$T/stop-events.jsonl"
check "events: rollback_end" grep -q '"event":"rollback_end".*"status":"done"' "$T/stop-events.jsonl"
rb status "$st"
check "stop: status then says 'rolled back'" grep -Eq '^ +state +rolled back$' "$out"
jq_ok "$st" 'd["rollback"]["trigger"] == "operator" and d["rollback"]["state"] == "done"' \
	"stop: status json rollback trigger operator, done"
rb rollback "$st" --yes
expect_rc 0 "stop: a second rollback exits 0"
out_has "nothing to roll back"
is "$s/log" "undo-tag
undo-s1" "stop: ... and runs nothing"
rb resume "$st"
expect_rc 2 "stop: resume of the rolled back run is refused"

# stop, then resume after fixing the cause: the failed step is retried
s2=$T/stop2
mkdir -p "$s2"
RB_T0460_TAG=x rb run "$rbk" -p dir="$s2"
expect_rc 1 "stop+resume: the failure exits 1"
st2=$(run_id)
touch "$s2/ok"
RB_T0460_TAG=x rb resume "$st2"
expect_rc 0 "stop+resume: resume retries the failed step and succeeds"
check "stop+resume: nothing was undone" sh -c 'test -e "$1/s1" && test ! -e "$1/log" && test ! -e "$1/tag-undo"' _ "$s2"
check "stop+resume: no rollback in the journal" test "$(jcount "$st2" undo_start)" = 0

# a run that succeeded can be rolled back too
s3=$T/stop3
mkdir -p "$s3"
touch "$s3/ok"
RB_T0460_TAG=y rb run "$rbk" -p dir="$s3"
expect_rc 0 "succeeded: the run succeeds"
ok3=$(run_id)
rb rollback "$ok3" --yes
expect_rc 0 "succeeded: rollback --yes of a succeeded run exits 0"
is "$s3/log" "undo-tag
undo-s1" "succeeded: ... and undoes everything, newest first"
check "succeeded: s1 is gone" test ! -e "$s3/s1"

# --- 7. no undo anywhere -----------------------------------------------------------

n=$T/noundo
mkdir -p "$n"
rbk=$(file noundo.yml <<'EOF2'
runbook: noundo
params:
  dir: { required: true }
steps:
  - id: n1
    run: echo n1 >> {{ dir }}/log
  - id: gate
    run: echo gate >> {{ dir }}/log; test -e {{ dir }}/ok
  - id: n3
    run: echo n3 >> {{ dir }}/log
EOF2
)
rb run "$rbk" -p dir="$n"
expect_rc 1 "no undo: the failure exits 1"
nu=$(run_id)
out_has "nothing to undo"
check "no undo: no rollback phase in the journal" sh -c '! grep -q "\"phase\":\"rollback\"" "$1"' _ "$S/runs/$nu/journal.jsonl"
rb status "$nu"
check "no undo: the run stays 'failed'" grep -Eq '^ +state +failed' "$out"
touch "$n/ok"
rb resume "$nu"
expect_rc 0 "no undo: resume retries the failed step and succeeds"
is "$n/log" "n1
gate
gate
n3" "no undo: the done step not again, the failed one retried, the rest ran"

# --- 8. values of the time: a capture and steps.ID.stdout read by an undo -------------

v=$T/vals
mkdir -p "$v"
rbk=$(file vals.yml <<'EOF2'
runbook: vals
params:
  dir: { required: true }
vars:
  where: "{{ dir }}/v"
steps:
  - id: ticket
    run: echo "ticket=T-42 opened"
    capture: { ticket: 'ticket=(\S+)' }
  - id: open
    run: echo "opened {{ ticket }}" >> {{ where }}
    undo: echo "closed {{ ticket }} after '{{ steps.ticket.stdout }}'" >> {{ where }}
  - id: bad
    run: "false"
EOF2
)
rb run "$rbk" -p dir="$v"
expect_rc 1 "values: the failure exits 1"
is "$v/v" "opened T-42
closed T-42 after 'ticket=T-42 opened'" "values: the undo read the capture, steps.ID.stdout and a var"
