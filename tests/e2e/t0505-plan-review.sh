#!/bin/sh
# t0505 — plan and lint edges found in review: a refused value for a
# module's secret param is never shown (plan and run); the rollback a plan
# announces is the one a run does (a probe completes its group; a step on
# several hosts inside a group with an undo; an allowed failure rolls
# nothing back); a group's `when` is decided once, on its first host, as a
# run decides it; --check says "not checked" for a probe whose env or sudo
# user, or whose group, only the run can decide; lint reads results
# through a group's id and wants ids on finally steps; options a command
# does not take are refused.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/modules"
cat >"$T/modules/m.yml" <<'EOF'
module: m
actions:
  sec:
    params:
      pw: { required: true, secret: true, pattern: '[a-z]+' }
    steps:
      - id: say
        run: echo {{ pw }}
        undo: echo undo {{ pw }}
EOF

# --- a refused secret argument ----------------------------------------------
cat >"$T/sec.yml" <<'EOF'
runbook: sec
params:
  given: { default: "Hunter22" }
steps:
  - id: s
    uses: m.sec
    with: { pw: "{{ given }}" }
EOF
for f in text markdown json; do
	rb plan "$T/sec.yml" --format $f
	expect_rc 0 "plan --format $f with a refused secret argument"
	check "$f: the argument's refusal is a warning" grep -q "argument 'pw' does not match" "$out"
	check "$f: the refused value only shows as the runbook's own (non-secret) param" \
		test "$(grep -o Hunter22 "$out" | wc -l)" -le 1
	check "$f: the module's command shows *** for it" grep -q 'echo \*\*\*' "$out"
done
rb run "$T/sec.yml"
expect_rc 1 "run: the module call fails at its argument"
out_has "argument 'pw' does not match"
check "run: the refused secret value is in no output" sh -c '! grep -q Hunter22 "$1" "$2"' _ "$out" "$err"
check "run: nor in the journal's reasons" sh -c '! grep -q "reason[^,]*Hunter22" "$1"/runs/*/journal.jsonl' _ "$RUNBOOK_STATE_DIR"

# --- the rollback a plan announces is the one a run does ----------------------
inv="$T/inv.yml"
cat >"$inv" <<'EOF'
hosts:
  a: { transport: local }
  b: { transport: local }
groups: { both: [a, b] }
EOF
cat >"$T/probe-in-group.yml" <<EOF
runbook: pig
steps:
  - id: g
    group: grp
    steps:
      - id: p
        run: "true"
        probe: true
      - id: q
        run: "false"
    undo:
      - run: echo undo-g >> $T/pig.log
EOF
rb plan "$T/probe-in-group.yml"
check "plan: a failure after a probe of the group undoes the group" \
	grep -q 'if it fails, undone (newest first): g$' "$out"
rb run "$T/probe-in-group.yml"
expect_rc 1 "run: q fails and the run rolls back"
check "run: the group's undo ran, as the plan said" grep -qx undo-g "$T/pig.log"

cat >"$T/hosts-in-group.yml" <<EOF
runbook: hig
target: both
steps:
  - id: g
    group: grp
    steps:
      - id: first
        run: "true"
        undo: "true"
      - id: roll
        run: test {{ host.name }} = a
    undo:
      - run: echo undo-g {{ host.name }} >> $T/hig.log
EOF
rb plan "$T/hosts-in-group.yml" --inventory "$inv"
check "plan: a step on several hosts inside a group with an undo: the group, on the hosts done before" \
	grep -q 'if it fails, undone (newest first): g (on the hosts done before)' "$out"
rb plan "$T/hosts-in-group.yml" --inventory "$inv" --format json
check "json: first failing on b undoes g on a (partial); roll failing undoes g where first was done" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
first, roll = d["steps"][0]["steps"]
assert first["rollback"] == [{"unit": "g", "title": "grp", "conditional": True, "partial": True}], first["rollback"]
assert roll["rollback"] == [{"unit": "g", "title": "grp", "conditional": False}], roll["rollback"]
' "$out"
rb run "$T/hosts-in-group.yml" --inventory "$inv"
expect_rc 1 "run: roll fails on b"
check "run: the group's undo ran on both hosts (first completed on both)" \
	test "$(sort "$T/hig.log" | tr '\n' ' ')" = "undo-g a undo-g b "

cat >"$T/allowed.yml" <<'EOF'
runbook: allowed
steps:
  - id: a
    run: "true"
    undo: "true"
  - id: b
    run: "false"
    allow_failure: true
  - id: c
    run: "true"
EOF
rb plan "$T/allowed.yml"
check "plan: an allowed failure rolls nothing back" grep -q 'if it fails: the run goes on (allow_failure)' "$out"
rb plan "$T/allowed.yml" --format json
check "json: its rollback list is empty" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["steps"][1]["rollback"] == [] and d["steps"][2]["rollback"][0]["unit"] == "a"
' "$out"

# --- a group's when is decided once, on its first host ------------------------
cat >"$T/when-once.yml" <<EOF
runbook: when-once
target: both
steps:
  - id: g
    group: grp
    when: host.name == "b"
    steps:
      - id: s
        run: echo ran {{ host.name }} >> $T/once.log
  - id: t
    run: "true"
EOF
rb plan "$T/when-once.yml" --inventory "$inv"
check "plan: the group never runs (decided on a, its first host)" grep -q "'grp' can never run" "$out"
rb run "$T/when-once.yml" --inventory "$inv"
expect_rc 0 "run: succeeds"
check "run: the group ran on no host, as the plan said" test ! -e "$T/once.log"

# --- --check: probes only the run can decide ---------------------------------
cat >"$T/unready.yml" <<EOF
runbook: unready
steps:
  - id: mk
    run: echo made 42
    capture: { made: 'made (\\d+)' }
    undo: "true"
  - id: by-env
    run: echo probing >> $T/probes.log
    env: { X: "{{ made }}" }
    probe: true
  - id: by-sudo
    run: echo probing2 >> $T/probes.log
    sudo: "{{ made }}"
    probe: true
  - id: g
    group: decided later
    when: made == "42"
    steps:
      - id: in-group
        run: echo probing3 >> $T/probes.log
        probe: true
  - id: h
    group: never
    when: 1 == 2
    steps:
      - id: in-false-group
        run: echo probing4 >> $T/probes.log
        probe: true
  - id: fine
    run: echo fine >> $T/probes.log
    probe: true
EOF
rb plan "$T/unready.yml" --check
expect_rc 0 "plan --check: probes that cannot run yet are not failures"
check "--check ran only the probe that can run" test "$(cat "$T/probes.log")" = fine
check "the env-reading probe: not checked" grep -q "by-env … not checked (reads 'made', which only the run produces)" "$err" "$out"
check "the sudo-reading probe: not checked" grep -q "by-sudo … not checked (reads 'made'" "$out"
check "the probe in a group decided at run time: not checked" \
	grep -q "in-group … not checked (its group's when (made == \"42\") is decided at run time)" "$out"
check "the probe in a group that never runs: not checked" \
	grep -q "in-false-group … not checked (its group is skipped (when: 1 == 2))" "$out"
rb plan "$T/unready.yml" --check --format json
check "json: the statuses are in the document" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
st = {s["id"]: s["hosts"][0].get("checked", {}).get("status") for s in d["steps"] if s["kind"] == "run"}
assert st == {"mk": None, "by-env": "not checked", "by-sudo": "not checked", "fine": "ok"}, st
assert d["check"] == {"exit": 0, "result": "passed"}
' "$out"

# --- lint ----------------------------------------------------------------------
cat >"$T/l1.yml" <<'EOF'
runbook: l1
steps:
  - id: g
    group: grp
    steps:
      - id: t
        run: "false"
        check: "true"
        undo: "true"
        allow_failure: true
  - id: r
    when: steps.g.rc == 0
    run: echo ok
    check: "true"
    undo: "true"
finally:
  - run: echo fin
EOF
rb lint "$T/l1.yml"
expect_rc 0 "lint: warnings only"
err_lacks "nothing reads its result"
check "lint: a finally step without an id warns (resume matches it by id)" \
	grep -q "l1.yml:17:5: warning: this step has no id" "$err"

# --- options a command does not take ---------------------------------------------
rb run "$T/allowed.yml" --check
expect_rc 2 "run --check is refused (never a run)"
err_has "--check is a plan option"
rb plan "$T/allowed.yml" --events "$T/ev"
expect_rc 2 "plan --events is refused"
check "and no events file appears" test ! -e "$T/ev"
rb lint "$T/l1.yml" --lock-wait 1s
expect_rc 2 "lint --lock-wait is refused"
rb status --strict
expect_rc 2 "status --strict is refused"
