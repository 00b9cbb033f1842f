#!/bin/sh
# t0500 — plan (DESIGN §4): `runbook plan RUNBOOK` (= `run --dry-run`)
# resolves the runbook as `run` would and prints it — params (secrets as
# ***), vars, hosts, preconditions, every step per host with the command
# as the shell would get it (runtime values as placeholders), its checks,
# undo and the rollback a failure there would trigger, `when` now or "at
# run time", module calls, confirms, notes, warnings — as text, markdown
# or json, without running or writing anything.  `--check` also runs the
# preconditions and the `probe: true` steps (only those) and feeds their
# captures into the plan.
#   1. golden files, three formats, three fixture runbooks (+ --yes,
#      --check); json fields asserted with python
#   2. a sandbox stays byte for byte untouched, no shim is called, the
#      state dir gets nothing
#   3. --check runs exactly the preconditions and the probes, in order
#   4. secrets never show, in any format, with or without --check
#   5. colour only on a TTY without NO_COLOR, never in markdown/json
#   6. bad input: exit 2, no plan on stdout; run --dry-run == plan
#   7. the markdown is sane: fences closed, one checkbox per step,
#      placeholders escaped outside code, table rows well formed, and it
#      says what text says (exit codes, backoff, an undo's cwd and sudo)
#   8. `run --check` / `run --format` without --dry-run run nothing
#   9. plan takes no lock: it works while a run holds the target
# Shims (rbt-*) on PATH stand in for commands and record their calls.
# UPDATE_GOLDEN=1 sh tests/e2e/t0500-plan.sh rewrites the golden files
# (then look at `git diff tests/e2e/golden/plan` critically).
. "$(dirname "$0")/../lib.sh"

cd "$TOP" || exit 1
FIX=tests/fixtures/plan
GOLD=$TOP/tests/e2e/golden/plan
UPDATE_GOLDEN=${UPDATE_GOLDEN:-0}
unset PLAN_TEST_TOKEN
S=$RUNBOOK_STATE_DIR

ok_line() { _n=$((_n + 1)); echo "ok $_n - $1"; }
notok_line() { _n=$((_n + 1)); echo "not ok $_n - $1"; }

# norm FILE: temp paths and the checkout's path as fixed tokens; the
# durations of --check's progress lines as <time>
norm() {
	sed -e "s|$T|@T@|g" -e "s|$TOP|@TOP@|g" \
		-e 's/ \(ok\|failed\) [0-9][0-9.]*\(ms\|s\|m\)\b/ \1 <time>/' "$1"
}

# pretty FILE: a JSON document, indented (fails unless FILE holds one)
pretty() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
json.dump(d, sys.stdout, indent=1, ensure_ascii=False)
print()' "$1"
}

# golden NAME: the last rb's stdout (normalised; pretty-printed for .json)
# is golden/plan/NAME; UPDATE_GOLDEN=1 rewrites NAME instead
golden() {
	case $1 in
	*.json) pretty "$out" >"$T/.gpretty" 2>&1 && norm "$T/.gpretty" >"$T/.golden" ;;
	*) norm "$out" >"$T/.golden" ;;
	esac
	if [ "$UPDATE_GOLDEN" = 1 ]; then
		mkdir -p "$GOLD"
		cp "$T/.golden" "$GOLD/$1"
		ok_line "golden $1 (rewritten)"
	elif diff -u "$GOLD/$1" "$T/.golden" >"$T/.gdiff" 2>&1; then
		ok_line "golden $1"
	else
		notok_line "golden $1 differs (UPDATE_GOLDEN=1 rewrites it)"
		head -80 "$T/.gdiff" | sed 's/^/#   /'
	fi
}

# is_json FILE "what": FILE holds exactly one JSON document
is_json() { check "$2" python3 -m json.tool "$1"; }

# jq_ok FILE PY-EXPR "what": the expression holds for d = the JSON in
# FILE; steps = every step by id (groups, module calls and their steps,
# finally), pre = the preconditions
jq_ok() {
	check "$3" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
def walk(v):
    for s in v:
        yield s
        yield from walk(s.get("steps", []))
steps = {s["id"]: s for s in walk(d["steps"] + d.get("finally", []))}
pre = d.get("preconditions", [])
def units(i): return [r["unit"] for r in steps[i]["rollback"]]
def cmds(i): return [(h["host"], h.get("command")) for h in steps[i]["hosts"]]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

# no_esc FILE: no ANSI escape byte in FILE
no_esc() { ! grep -q "$(printf '\033')" "$1"; }

# --- shims: rbt-* commands that record every call -----------------------------
# A shim appends "NAME ARGS" to $T/calls; it fails when $T/fail-NAME-ARG1
# exists; `rbt-read version` prints "version 7.3".
mkdir -p "$T/shims"
cat >"$T/shims/rbt-tool" <<EOF2
#!/bin/sh
n=\${0##*/}
printf '%s\n' "\$n \$*" >> '$T/calls'
if [ -e '$T'/fail-"\$n"-"\$1" ]; then echo "\$n \$1: failing as asked" >&2; exit 1; fi
case "\$n \$1" in
"rbt-read version") echo "version 7.3" ;;
"rbt-read host") echo "host \$2" ;;
esac
exit 0
EOF2
chmod +x "$T/shims/rbt-tool"
for n in pre change undo chk read fin; do ln -s rbt-tool "$T/shims/rbt-$n"; done
SHIMPATH=$T/shims:$PATH
calls_are() { # "what" EXPECTED-LINES: $T/calls holds exactly these lines
	check "$1" test "$(cat "$T/calls" 2>/dev/null)" = "$2"
}

# ==== 1. golden files ==========================================================

# (a) linear: params (a secret), vars, preconditions, undo, check, expect,
# capture, diagnose, retry, timeout, sudo, env, cwd
for f in text:txt markdown:md json:json; do
	rb plan $FIX/linear.yml -p root=/srv/plan-linear -p token=Golden-Tok-41 --format "${f%%:*}"
	expect_rc 0 "linear: plan --format ${f%%:*}"
	golden "linear.${f#*:}"
	cp "$out" "$T/linear.${f#*:}"
done
is_json "$T/linear.json" "linear: the json is one valid document"
jq_ok "$T/linear.json" 'd["steps_total"] == 5 and d["on_failure"] == "rollback" and d["target"] == "local"' \
	"linear json: 5 steps, rollback, target local"
jq_ok "$T/linear.json" '[p for p in d["params"] if p["name"] == "token"] == [{"name": "token", "secret": True, "source": "-p"}]' \
	"linear json: the secret param has no value"
jq_ok "$T/linear.json" '[v["value"] for v in d["vars"]] == ["/srv/plan-linear/app", "/srv/plan-linear/app/conf.d"]' \
	"linear json: vars resolved in order"
jq_ok "$T/linear.json" 'units("verify") == ["start", "write", "stop"] and units("stop") == []' \
	"linear json: a failure of verify undoes start, write, stop (newest first); of stop nothing"
jq_ok "$T/linear.json" 'cmds("write") == [("local", "printf '"'"'%s\\n'"'"' '"'"'2.0'"'"' > '"'"'/srv/plan-linear/app'"'"'/VERSION && echo \"label: it'"'"'s a \\\"label\\\" \\$HOME\"")]' \
	"linear json: a value inside \"...\" is escaped for double quotes"
jq_ok "$T/linear.json" 'cmds("start") == [("local", "'"'"'/srv/plan-linear/app'"'"'/ctl start --label '"'"'it'"'"'\\'"'"''"'"'s a \"label\" $HOME'"'"'")]' \
	"linear json: an unquoted value is one single-quoted word"
jq_ok "$T/linear.json" 'steps["write"]["hosts"][0]["env"] == {"DEPLOY_TOKEN": "***", "MODE": "upgrade"} and steps["write"]["hosts"][0]["cwd"] == "/srv/plan-linear/app/conf.d"' \
	"linear json: env (secret masked) and cwd"
jq_ok "$T/linear.json" 'steps["write"]["undo"][0]["hosts"][0]["command"] == "printf '"'"'%s\\n'"'"' <capture from> > '"'"'/srv/plan-linear/app'"'"'/VERSION"' \
	"linear json: the undo is expanded, a capture shows as <capture from>"
jq_ok "$T/linear.json" 'steps["stop"]["timeout_ms"] == 30000 and steps["stop"]["hosts"][0]["sudo"] is True and steps["start"]["hosts"][0]["sudo"] == "deploy"' \
	"linear json: timeout and sudo"
jq_ok "$T/linear.json" 'steps["start"]["retry"] == {"attempts": 5, "delay_ms": 2000, "backoff": 2} and [x["fail"] for x in steps["start"]["diagnose"]] == [True, False]' \
	"linear json: retry and diagnose"
jq_ok "$T/linear.json" 'steps["write"]["expect"] == {"rc": [0, 3], "stdout": "^label: "} and steps["read-version"]["capture"] == {"from": "^(\\d+\\.\\d+)$"} and steps["read-version"]["probe"] is True' \
	"linear json: expect, capture, probe"
jq_ok "$T/linear.json" '[p["hosts"][0]["command"] for p in pre] == ["test -d '"'"'/srv/plan-linear/app'"'"'", "test -r '"'"'/srv/plan-linear/app'"'"'/VERSION"] and pre[0]["hint"] == "create it first: mkdir -p /srv/plan-linear/app"' \
	"linear json: preconditions and their hint"
check "linear text: the secret's value is not shown" sh -c '! grep -q Golden-Tok-41 "$1"/linear.txt "$1"/linear.md "$1"/linear.json' _ "$T"

# (b) groups: a group with its own undo, nested groups, a module call with
# undos, conditions decided now and at run time, a confirm, notes, finally
for f in text:txt markdown:md json:json; do
	rb plan $FIX/groups.yml -p dir=/srv/plan-groups --format "${f%%:*}"
	expect_rc 0 "groups: plan --format ${f%%:*}"
	golden "groups.${f#*:}"
	cp "$out" "$T/groups.${f#*:}"
done
is_json "$T/groups.json" "groups: the json is one valid document"
jq_ok "$T/groups.json" 'steps["migrate"]["when"] == {"expr": "steps.diff.rc != 0 and schema < 10", "value": "run time"}' \
	"groups json: a when reading steps.ID.rc and a capture is decided at run time"
jq_ok "$T/groups.json" 'steps["report"]["when"]["value"] == "run time"' \
	"groups json: a when reading steps.migrate.rc is decided at run time"
jq_ok "$T/groups.json" 'steps["prod-only"]["when"]["value"] is False and steps["inner"]["when"]["value"] is True' \
	"groups json: when on params is evaluated now (false, true)"
jq_ok "$T/groups.json" 'units("report") == ["migrate", "conf.append", "conf.backup", "move"] and steps["report"]["rollback"][0]["conditional"] is True' \
	"groups json: rollback of report: migrate (if it ran), the module's undos, the group's undo"
jq_ok "$T/groups.json" 'units("wipe") == ["move"] and units("mark") == ["move"] and units("copy") == []' \
	"groups json: inside a group with an undo, the group's undo replaces its members'"
jq_ok "$T/groups.json" 'units("conf.append") == ["conf.backup", "move"] and steps["conf.append"]["not_compensated"] == 2' \
	"groups json: rollback of a module step, and what stays (diff, list)"
jq_ok "$T/groups.json" '"prod-only" not in units("report")' \
	"groups json: a step that never runs is not in any rollback"
jq_ok "$T/groups.json" 'steps["conf"]["uses"] == "conf.write" and steps["conf"]["with"] == {"file": "/srv/plan-groups/app.conf", "line": "schema=<capture schema> env=staging"} and [s["id"] for s in steps["conf"]["steps"]] == ["conf.backup", "conf.append"]' \
	"groups json: the module call with its with values and its expanded steps"
jq_ok "$T/groups.json" '[u["id"] for u in steps["move"]["undo"]] == ["move-back"] and [s["id"] for s in steps["move"]["steps"]] == ["copy", "inner"]' \
	"groups json: the group's undo and nested group"
jq_ok "$T/groups.json" 'steps["tell"]["hosts"][0]["text"] == "schema <capture schema> on staging; the diff said: <steps.diff.stdout>"' \
	"groups json: a note in full, runtime values as placeholders"
jq_ok "$T/groups.json" 'steps["report"]["hosts"][0]["command"] == "echo \"migrated in run <run.id>\""' \
	"groups json: run.id is a placeholder"
jq_ok "$T/groups.json" '[w["line"] for w in d["warnings"]] == [17, 43, 41, 44]' \
	"groups json: the warnings: no undo (diff, list), raw param, never runs"
jq_ok "$T/groups.json" '[(s["id"], s["number"]) for s in d["finally"]] == [("cleanup", 14), ("bye", 15)]' \
	"groups json: finally steps numbered after the steps"
# the module argument holds a placeholder and a space: the shell gets ONE
# word for it (the run quotes the whole value), so must the preview
jq_ok "$T/groups.json" '(lambda c: __import__("shlex").split(c.replace("<capture schema>", "X"))[2] == "schema=X env=staging")(steps["conf.append"]["hosts"][0]["command"])' \
	"groups json: a module argument mixing a placeholder and a space is still one shell word"
grep -F 'if it fails' "$T/groups.txt" >"$T/groups.fails"
check "groups text: the rollback lines are per step" grep -qx '          if it fails, undone (newest first): move; 1 earlier step without undo' "$T/groups.fails"
check "groups text: a statically false when is said so" grep -q 'when: env == "production" — false: it never runs' "$T/groups.txt"
check "groups text: a runtime when is said so" grep -q 'when: decided at run time: steps.diff.rc != 0 and schema < 10' "$T/groups.txt"
check "groups text: the confirm in full" grep -q 'confirm: Check the site, then answer yes to finish the staging upgrade (schema was <capture schema>).' "$T/groups.txt"

# --yes: the confirm is approved without asking, and that is a warning
rb plan $FIX/groups.yml -p dir=/srv/plan-groups --yes
expect_rc 0 "groups: plan --yes"
golden groups-yes.txt
out_has "approved by --yes without asking"
out_has "warning: this confirmation is approved without asking (--yes)"
rb plan $FIX/groups.yml -p dir=/srv/plan-groups --yes --format json
jq_ok "$out" 'd["yes"] is True and any("--yes" in w["message"] and w["line"] == 55 for w in d["warnings"])' \
	"groups json --yes: yes is true and the confirm is a warning"

# (c) fleet: on_failure: stop, a group of inventory hosts as the target,
# commands that differ per host
for f in text:txt markdown:md json:json; do
	rb plan $FIX/fleet.yml -p dir=/srv/plan-fleet --inventory $FIX/fleet-inventory.yml --format "${f%%:*}"
	expect_rc 0 "fleet: plan --format ${f%%:*}"
	golden "fleet.${f#*:}"
	cp "$out" "$T/fleet.${f#*:}"
done
is_json "$T/fleet.json" "fleet: the json is one valid document"
jq_ok "$T/fleet.json" 'd["on_failure"] == "stop" and d["target"] == "boxes" and [h["name"] for h in d["hosts"] if h["target"]] == ["box1", "box2"]' \
	"fleet json: on_failure stop, target boxes = box1, box2"
jq_ok "$T/fleet.json" 'cmds("drain") == [("box1", "echo \"drain box1.example.org\" >> '"'"'/srv/plan-fleet'"'"'/'"'"'box1'"'"'.log"), ("box2", "echo \"drain box2.example.org\" >> '"'"'/srv/plan-fleet'"'"'/'"'"'box2'"'"'.log")]' \
	"fleet json: one command per host, host.name differs"
jq_ok "$T/fleet.json" '[h["check"] for h in steps["restart"]["hosts"]] == ["grep -qx up '"'"'/srv/plan-fleet'"'"'/'"'"'box1'"'"'.state", "grep -qx up '"'"'/srv/plan-fleet'"'"'/'"'"'box2'"'"'.state"]' \
	"fleet json: one check per host"
jq_ok "$T/fleet.json" '[h["command"] for h in steps["drain"]["undo"][0]["hosts"]] == ["echo \"undrain box1\" >> '"'"'/srv/plan-fleet'"'"'/'"'"'box1'"'"'.log", "echo \"undrain box2\" >> '"'"'/srv/plan-fleet'"'"'/'"'"'box2'"'"'.log"]' \
	"fleet json: the undo per host"
jq_ok "$T/fleet.json" '[h for h, c in cmds("spare")] == ["box3"] and [h for h, c in cmds("report")] == ["local"]' \
	"fleet json: on: HOST and on: local"
jq_ok "$T/fleet.json" 'all(steps[i]["rollback"] == [] for i in ("drain", "restart", "spare", "report"))' \
	"fleet json: on_failure stop: no rollback anywhere"
jq_ok "$T/fleet.json" '[p["value"] for p in d["params"]] == ["/srv/plan-fleet", "example.org"] and d["params"][1]["source"] == "inventory"' \
	"fleet json: a param from the inventory's vars"
check "fleet text: per-host lines" grep -q '@box2 \$ echo "drain box2.example.org"' "$T/fleet.txt"
check "fleet text: on_failure stop said per step" grep -q 'if it fails: the run stops, nothing is undone' "$T/fleet.txt"

# a step on two hosts, under rollback: when it fails on box2 the run undoes
# what it did on box1 (t0280/t0460 per-host rollback); the plan must say so
rbk=$(file fleetrb.yml <<'EOF2'
runbook: fleet-rollback
params:
  dir: { required: true }
target: boxes
steps:
  - id: drain
    run: echo "drain {{ host.name }}" >> {{ dir }}/log
    undo: echo "undrain {{ host.name }}" >> {{ dir }}/log
  - id: restart
    run: "{{ dir }}/restart {{ host.name }}"
EOF2
)
rb plan "$rbk" -p dir=/srv/x --inventory $FIX/fleet-inventory.yml --format json
jq_ok "$out" 'units("drain") != []' \
	"multi-host rollback: a failure of drain on box2 undoes drain on box1, the plan's rollback of drain says so"
jq_ok "$out" 'units("restart") == ["drain"]' \
	"multi-host rollback: a failure of restart undoes drain"

# (d) --check, with the shims: stdout is deterministic for markdown and json
rm -f "$T/calls"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check --format json
expect_rc 0 "probe: plan --check --format json"
golden probe-check.json
PATH=$SHIMPATH rb plan $FIX/probe.yml --check --format markdown
expect_rc 0 "probe: plan --check --format markdown"
golden probe-check.md
cp "$out" "$T/probe-check.md"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check
expect_rc 0 "probe: plan --check (text)"
golden probe-check.txt

# ==== 2. plan touches nothing =================================================

sb=$T/sb
mkdir -p "$sb/data/sub" "$sb/bin" "$sb/releases/1.0"
printf 'version 1.0\n' >"$sb/releases/1.0/VERSION"
printf 'two\nlines\n' >"$sb/data/notes with spaces.txt"
printf '\000\001\377binary\n' >"$sb/data/sub/blob.bin"
ln -s releases/1.0 "$sb/current"
ln -s /nonexistent/target "$sb/dangling"
chmod 640 "$sb/data/notes with spaces.txt"
chmod 700 "$sb/data/sub"
# wreck: a shim that changes the sandbox and says so
cat >"$sb/bin/wreck" <<EOF2
#!/bin/sh
echo "wreck \$*" >> '$T/sb-calls'
rm -rf '$sb/data'
ln -sfn /elsewhere '$sb/current'
echo "version 9.9"
EOF2
chmod 755 "$sb/bin/wreck"
rbk=$(file sandbox.yml <<'EOF2'
runbook: plan-sandbox
params:
  sb: { required: true }
  pw: { secret: true, default: "Sandbox-Pw-7" }
preconditions:
  - name: wreck in a precondition
    run: "{{ sb }}/bin/wreck pre"
steps:
  - id: probe
    run: "{{ sb }}/bin/wreck probe"
    capture: { ver: 'version (\S+)' }
    probe: true
  - id: wreck
    run: "{{ sb }}/bin/wreck step {{ ver }}"
    check: "{{ sb }}/bin/wreck check"
    undo: "{{ sb }}/bin/wreck undo"
  - id: rm
    run: rm -rf {{ sb }}/data && touch {{ sb }}/new-file
    undo: "{{ sb }}/bin/wreck undo-rm"
  - id: dir
    uses: fs.ensure-dir
    with: { path: "{{ sb }}/new-dir", mode: "0700" }
  - id: link
    uses: fs.switch-symlink
    with: { link: "{{ sb }}/current", target: "releases/2.0" }
  - confirm: "wreck {{ sb }}?"
finally:
  - run: "{{ sb }}/bin/wreck finally"
EOF2
)
snap() {
	(
		cd "$T" || exit 1
		find sb -printf '%p %y %s %m %l %T@\n' | LC_ALL=C sort
		find sb -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
		if [ -e "$S" ]; then find "$S" -printf '%p %y %s %m\n' | LC_ALL=C sort; else echo "no state dir"; fi
		find . -maxdepth 1 ! -name '.*' -printf '%p %y\n' | LC_ALL=C sort
	)
}
snap >"$T/.snap-before"
RUNBOOK_PATH=$TOP/stdlib rb plan "$rbk" -p sb="$sb"
expect_rc 0 "sandbox: plan (text)"
out_has "wreck step <capture ver>"
RUNBOOK_PATH=$TOP/stdlib rb plan "$rbk" -p sb="$sb" --format markdown
expect_rc 0 "sandbox: plan --format markdown"
RUNBOOK_PATH=$TOP/stdlib rb plan "$rbk" -p sb="$sb" --format json
expect_rc 0 "sandbox: plan --format json"
is_json "$out" "sandbox: the json is one valid document"
RUNBOOK_PATH=$TOP/stdlib rb run "$rbk" -p sb="$sb" --dry-run
expect_rc 0 "sandbox: run --dry-run"
RUNBOOK_PATH=$TOP/stdlib rb run "$rbk" -p sb="$sb" --dry-run --yes --format json
expect_rc 0 "sandbox: run --dry-run --yes --format json"
snap >"$T/.snap-after"
check "sandbox: byte for byte, mode, link and mtime the same after plan (3 formats) and run --dry-run" \
	diff "$T/.snap-before" "$T/.snap-after"
check "sandbox: (the snapshot holds the files, the links and the hashes)" \
	sh -c 'grep -q "sb/current l .* releases/1.0" "$1" && grep -q "notes with spaces.txt" "$1" && grep -q "^[0-9a-f]\{64\}  sb/data/sub/blob.bin" "$1"' _ "$T/.snap-before"
check "sandbox: no shim was called" test ! -e "$T/sb-calls"
check "sandbox: the state dir was not even created (no run folder, lock or log)" test ! -e "$S"

# ==== 3. --check runs the preconditions and the probes, nothing else ============

rm -f "$T/calls"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check
expect_rc 0 "--check: every precondition and probe passes: exit 0"
calls_are "--check: exactly the preconditions, then the probes (with their checks), in order" "rbt-pre one
rbt-pre two
rbt-pre three
rbt-read version
rbt-read three
rbt-chk three"
check "--check: no forward step, undo or finally ran" sh -c '! grep -q "rbt-change\|rbt-undo\|rbt-fin\|rbt-chk one" "$1"' _ "$T/calls"
out_has "rbt-change '7.3'"
out_has 'rbt-change "v7.3" '"'7.3'"
out_lacks "<capture ver>"
out_has "checked: not checked (reads 'made', which only the run produces)"
out_has "rbt-read made <capture made>"
out_has "every check passed"
check "--check: the state dir gets nothing" test ! -e "$S"
rb plan $FIX/probe.yml
check "without --check the same step shows the placeholder" grep -qF 'rbt-change <capture ver>' "$out"
check "without --check no shim is called" test "$(cat "$T/calls" | wc -l)" -eq 6

# a failing precondition: every precondition still runs and shows; exit 5
rm -f "$T/calls"
touch "$T/fail-rbt-pre-two"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check
expect_rc 5 "--check: a failed precondition exits 5"
check "--check: the preconditions after the failed one still ran" grep -qx 'rbt-pre three' "$T/calls"
check "--check: the three preconditions are shown with their result" sh -c '
	grep -A2 "first precondition (pre1)" "$1" | grep -q "checked: ok" &&
	grep -A2 "second precondition (pre2)" "$1" | grep -q "checked: failed (exit code 1 (expected 0))" &&
	grep -A2 "third precondition (pre3)" "$1" | grep -q "checked: ok"' _ "$out"
out_has "a precondition FAILED"
err_has "1 precondition failed"
check "--check: still no forward step, undo or finally" sh -c '! grep -q "rbt-change\|rbt-undo\|rbt-fin" "$1"' _ "$T/calls"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check --format json
expect_rc 5 "--check --format json: a failed precondition exits 5"
is_json "$out" "--check --format json: stdout is one JSON document"
jq_ok "$out" '[p["hosts"][0]["checked"]["status"] for p in pre] == ["ok", "failed", "ok"] and d["check"]["exit"] == 5' \
	"--check json: preconditions[].hosts[].checked.status = ok, failed, ok; check.exit 5"
check "--check json: the progress went to stderr" grep -q "second precondition" "$err"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check --format markdown
expect_rc 5 "--check --format markdown: a failed precondition exits 5"
check "--check markdown: stdout is only the document" sh -c 'head -1 "$1" | grep -q "^# Change plan: plan-probe$" && ! grep -q "…" "$1"' _ "$out"
out_has 'Checked by `plan --check`: **failed** (exit code 1 (expected 0))'
rm -f "$T/fail-rbt-pre-two"

# a failing probe: exit 1
rm -f "$T/calls"
touch "$T/fail-rbt-read-three"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check --format json
expect_rc 1 "--check: a failed probe exits 1"
is_json "$out" "--check json with a failed probe: one JSON document"
jq_ok "$out" '[h["checked"]["status"] for h in steps["read3"]["hosts"]] == ["failed"] and [h["checked"]["status"] for h in steps["read"]["hosts"]] == ["ok"] and [h["checked"]["status"] for h in steps["read2"]["hosts"]] == ["not checked"] and d["check"]["exit"] == 1' \
	"--check json: hosts[].checked.status of the probes: ok, not checked, failed"
jq_ok "$out" 'all("checked" not in h for i in ("change1", "change2", "later", "fin") for h in steps[i]["hosts"])' \
	"--check json: the other steps carry no checked status"
check "--check: the failed probe's check did not run" sh -c '! grep -q "rbt-chk" "$1"' _ "$T/calls"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check
expect_rc 1 "--check text: a failed probe exits 1"
out_has "a probe FAILED"
err_has "1 probe failed"
touch "$T/fail-rbt-pre-two"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check --format json
expect_rc 5 "--check: a failed precondition and a failed probe: exit 5 (the precondition wins)"
jq_ok "$out" 'd["check"]["exit"] == 5' "--check json: check.exit is 5"
rm -f "$T/fail-rbt-read-three" "$T/fail-rbt-pre-two"
check "--check: the state dir still gets nothing" test ! -e "$S"

# probes on several hosts, and probes whose when is decided by a probe,
# by a param, or only at run time
rbk=$(file probes2.yml <<'EOF2'
runbook: probes2
params:
  mode: { default: a }
target: boxes
steps:
  - id: ch
    run: rbt-change {{ host.name }}
    capture: { c: '(.*)' }
    undo: rbt-undo {{ host.name }}
  - id: per-host
    run: rbt-read host {{ host.name }}
    capture: { seen: 'host (\S+)' }
    probe: true
  - id: never
    when: mode == "b"
    run: rbt-read never
    probe: true
  - id: at-run-time
    when: c == "x"
    run: rbt-read runtime
    probe: true
  - id: fed
    on: local
    when: seen == "box2"
    run: rbt-read fed {{ seen }}
    probe: true
EOF2
)
rm -f "$T/calls"
PATH=$SHIMPATH rb plan "$rbk" --inventory $FIX/fleet-inventory.yml --check --format json
expect_rc 0 "--check on a group of hosts"
calls_are "--check: a probe runs on every host of its target; a false or runtime when runs nothing; a when fed by a probe runs" "rbt-read host box1
rbt-read host box2
rbt-read fed box2"
jq_ok "$out" '[(h["host"], h["checked"]["status"]) for h in steps["per-host"]["hosts"]] == [("box1", "ok"), ("box2", "ok")]' \
	"--check json: one checked status per host"
jq_ok "$out" '[h["checked"]["status"] for h in steps["at-run-time"]["hosts"]] == ["not checked", "not checked"]' \
	"--check json: a probe whose when reads a forward step's capture is not checked"
jq_ok "$out" '[h["checked"]["status"] for h in steps["never"]["hosts"]] == ["skipped", "skipped"]' \
	"--check json: a probe whose when is false is skipped"

# ==== 4. secrets never show ===================================================

secret_scan() { # LABEL: neither secret in $out or $err
	check "secrets: $1: no secret value on stdout or stderr" \
		sh -c '! grep -q "Pw-Zq9-SECRET\|Tok-Xk4-SECRET" "$1" "$2"' _ "$out" "$err"
}
for fmt in text markdown json; do
	for chk in "" --check; do
		PLAN_TEST_TOKEN=Tok-Xk4-SECRET PATH=$SHIMPATH \
			rb plan $FIX/secrets.yml -p pw=Pw-Zq9-SECRET --format $fmt $chk -v
		expect_rc 0 "secrets: plan --format $fmt $chk -v"
		secret_scan "$fmt $chk"
		check "secrets: $fmt $chk: masked as ***" grep -qF '***' "$out"
		[ $fmt = json ] && is_json "$out" "secrets: json $chk is one valid document"
	done
done
# -v shows the probe's output, which prints the secrets: masked
PLAN_TEST_TOKEN=Tok-Xk4-SECRET PATH=$SHIMPATH rb plan $FIX/secrets.yml -p pw=Pw-Zq9-SECRET --check -v
out_has "token ***"
out_has "dsn postgres://admin:***@db/app"
secret_scan "the probe's output with -v"
# from --params, and through run --dry-run
printf 'pw: Pw-Zq9-SECRET\ntoken: Tok-Xk4-SECRET\n' >"$T/secret-params.yml"
PATH=$SHIMPATH rb run $FIX/secrets.yml --params "$T/secret-params.yml" --dry-run --check -v
expect_rc 0 "secrets: run --dry-run --check with --params"
secret_scan "--params, run --dry-run --check"
PATH=$SHIMPATH rb plan $FIX/secrets.yml --params "$T/secret-params.yml" --format json
jq_ok "$out" '[p for p in d["params"] if p.get("secret")] == [{"name": "pw", "secret": True, "source": "--params"}, {"name": "token", "secret": True, "source": "--params"}]' \
	"secrets json: secret params carry no value"
jq_ok "$out" 'd["vars"] == [{"name": "dsn", "secret": True}, {"name": "auth", "secret": True}] and steps["conf"]["with"]["line"] == "password=***"' \
	"secrets json: a var derived from a secret and a module argument fed by one are masked"
# a missing secret is reported without leaking anything
unset PLAN_TEST_TOKEN
PATH=$SHIMPATH rb plan $FIX/secrets.yml -p pw=Pw-Zq9-SECRET
expect_rc 2 "secrets: a required secret missing (no env) is bad input"
secret_scan "the missing-secret error"

# ==== 5. colour ===============================================================

if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	cmd="'$RUNBOOK' plan $FIX/groups.yml -p dir=/srv/plan-groups"
	(unset NO_COLOR; script -qec "$cmd" /dev/null </dev/null >"$T/tty.txt" 2>&1)
	check "colour: text on a TTY has ANSI escapes" grep -q "$(printf '\033')\\[" "$T/tty.txt"
	check "colour: (the TTY output is the plan)" grep -q 'plan for target local' "$T/tty.txt"
	NO_COLOR=1 script -qec "$cmd" /dev/null </dev/null >"$T/tty.txt" 2>&1
	check "colour: NO_COLOR=1 on a TTY: no escapes" no_esc "$T/tty.txt"
	for fmt in markdown json; do
		(unset NO_COLOR; script -qec "$cmd --format $fmt" /dev/null </dev/null >"$T/tty.$fmt" 2>&1)
		check "colour: $fmt on a TTY: no escapes" no_esc "$T/tty.$fmt"
	done
	(unset NO_COLOR; PATH=$SHIMPATH script -qec "'$RUNBOOK' plan $FIX/probe.yml --check --format json 2>/dev/null" /dev/null </dev/null >"$T/tty.cj" 2>&1)
	check "colour: json --check on a TTY: no escapes" no_esc "$T/tty.cj"
	check "colour: json --check on a TTY: one JSON document (CRs aside)" sh -c 'tr -d "\r" <"$1" | python3 -m json.tool' _ "$T/tty.cj"
else
	ok_line "# SKIP no working script(1) for a pseudo-terminal"
fi
for f in "$T"/linear.* "$T"/groups.* "$T"/fleet.*; do
	check "colour: no escapes without a TTY: $(basename "$f")" no_esc "$f"
done

# ==== 6. bad input; run --dry-run is plan ======================================

looks_like_plan() { grep -q 'plan for target\|^# Change plan\|"plan":\|^{' "$out"; }
bad() { # "what" ARGS...: exit 2, and no plan on stdout
	what=$1
	shift
	rb "$@"
	expect_rc 2 "bad input: $what: exit 2"
	check "bad input: $what: nothing on stdout looks like a plan" sh -c '! grep -q "plan for target\|^# Change plan\|\"plan\":\|^{" "$1"' _ "$out"
}
for fmt in text markdown json; do
	bad "unknown runbook ($fmt)" plan no-such-runbook-here --format $fmt
	err_has "runbook 'no-such-runbook-here' not found"
	bad "a missing required param ($fmt)" plan $FIX/groups.yml --format $fmt
	err_has "tests/fixtures/plan/groups.yml:6:3: param 'dir' is required"
	bad "an invalid runbook ($fmt)" plan $FIX/invalid.yml --format $fmt
	err_has "tests/fixtures/plan/invalid.yml:6:5: unknown key 'undoo'"
	bad "a param that breaks its pattern ($fmt)" plan $FIX/groups.yml -p dir=relative --format $fmt
	err_has "param 'dir' (from -p): 'relative' does not match the pattern '/.+'"
done
bad "a bad --format" plan $FIX/groups.yml -p dir=/srv/x --format html
err_has "--format html"
bad "--format without a value" plan $FIX/groups.yml -p dir=/srv/x --format
bad "no runbook" plan
bad "an unknown target" plan $FIX/fleet.yml -p dir=/x --inventory $FIX/fleet-inventory.yml --target nosuch
err_has "unknown host or group 'nosuch'"
rm -f "$T/calls"
PATH=$SHIMPATH bad "an invalid runbook with --check" plan $FIX/invalid.yml --check
PATH=$SHIMPATH bad "run --dry-run of an invalid runbook" run $FIX/invalid.yml --dry-run
check "bad input: nothing ran" test ! -e "$T/calls"
check "bad input: the state dir gets nothing" test ! -e "$S"

# run --dry-run prints what plan prints
for fmt in text markdown json; do
	rb plan $FIX/groups.yml -p dir=/srv/plan-groups --format $fmt
	cp "$out" "$T/.plan"
	rb run $FIX/groups.yml -p dir=/srv/plan-groups --format $fmt --dry-run
	expect_rc 0 "run --dry-run --format $fmt"
	check "run --dry-run --format $fmt prints the same as plan" cmp "$T/.plan" "$out"
	rb --dry-run run $FIX/fleet.yml --inventory $FIX/fleet-inventory.yml -p dir=/srv/plan-fleet --format $fmt
	cp "$out" "$T/.dry"
	rb plan $FIX/fleet.yml --inventory $FIX/fleet-inventory.yml -p dir=/srv/plan-fleet --format $fmt
	check "--dry-run before the command, fleet, $fmt: the same as plan" cmp "$T/.dry" "$out"
done
PATH=$SHIMPATH rb run $FIX/probe.yml --dry-run --check --format json
expect_rc 0 "run --dry-run --check --format json"
cp "$out" "$T/.dry"
PATH=$SHIMPATH rb plan $FIX/probe.yml --check --format json
check "run --dry-run --check prints the same as plan --check" cmp "$T/.dry" "$out"

# ==== 7. the markdown is sane ==================================================

# an extra fixture for markdown's corners: a command holding a code fence,
# Markdown syntax in titles and notes, a pipe in a title (tables)
rbk=$(file mdedge.yml <<'EOF2'
runbook: md-edge
params:
  dir: { default: /srv/md }
  odd: { default: "a|b`c" }
  empty: { default: "" }
  lines: { default: "x" }
steps:
  - id: fence
    name: write a fence | and a pipe
    run: |
      printf '%s\n' '```' > {{ dir }}/readme.md
      printf '%s\n' '~~~~' >> {{ dir }}/readme.md
    undo: rm {{ dir }}/readme.md
  - id: cap
    run: echo "v 1"
    capture: { v: 'v (\d+)' }
    probe: true
  - id: after
    name: use <v> *here* _now_ `tick` # not a comment
    run: echo {{ v }}
    undo: echo undo {{ v }}
  - id: tell
    note: "value {{ v }} & <b>bold</b> *star* `code` [link](x) | pipe"
  - id: ask
    confirm: "type `yes` | {{ v }} <then>"
  - id: odd
    run: echo {{ odd }} {{ empty }} {{ lines }}
    undo: echo undo
EOF2
)
# a param value holding a pipe and a backquote, an empty one, two lines
rb plan "$rbk" --format markdown -p "lines=one
two"
expect_rc 0 "md-edge: plan --format markdown"
cp "$out" "$T/mdedge.md"
rb plan "$rbk" --format json -p "lines=one
two"
cp "$out" "$T/mdedge.json"

# md_sane MD JSON: every fence closed; each step number of the json is
# one "- [ ] **N." item; no unescaped placeholder outside code; table rows
# have as many cells as their header; code blocks hold every command
md_sane() {
	python3 - "$1" "$2" <<'EOF2'
import json, re, sys
md = open(sys.argv[1]).read().split("\n")
d = json.load(open(sys.argv[2]))
problems = []
# fences
fence = None
prose = []
for i, line in enumerate(md, 1):
    m = re.match(r"^\s*(`{3,}|~{3,})(.*)$", line)
    if fence is None:
        if m:
            fence = (m.group(1)[0], len(m.group(1)), i)
        else:
            prose.append((i, line))
    elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= fence[1] and not m.group(2).strip():
        fence = None
if fence:
    problems.append("the code fence opened at line %d is never closed" % fence[2])
# one checkbox per step number
def walk(v):
    for s in v:
        yield s
        yield from walk(s.get("steps", []))
numbers = [s["number"] for s in walk(d["steps"] + d.get("finally", [])) if "number" in s]
if sorted(numbers) != list(range(1, d["steps_total"] + 1)):
    problems.append("json step numbers %s" % numbers)
for n in numbers:
    k = sum(1 for _, l in prose if re.match(r"^\s*- \[ \] \*\*%d\. " % n, l))
    if k != 1:
        problems.append("step %d appears as %d '- [ ] **%d.' items" % (n, k, n))
# placeholders outside code: escaped
for i, line in prose:
    text = re.sub(r"(`+).*?\1", "", line)      # drop code spans
    for m in re.finditer(r"<(capture |steps\.|run\.)[^>]*>", text):
        if m.start() == 0 or text[m.start() - 1] != "\\":
            problems.append("line %d: unescaped placeholder %s" % (i, m.group(0)))
# tables (GFM): every row as many cells as the header — a "|" splits a
# cell even inside a code span unless escaped — and a row is one line
def cells(l):
    return len(re.findall(r"(?<!\\)\|", l))
header = None
for i, line in prose:
    if line.startswith("|"):
        if not line.rstrip().endswith("|"):
            problems.append("line %d: a table row cut short: %s" % (i, line))
        if header is None:
            header = cells(line)
        elif cells(line) != header:
            problems.append("line %d: %d cell separators, the header has %d: %s" % (i, cells(line), header, line))
    else:
        header = None
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF2
}
for n in linear groups fleet; do
	if md_sane "$T/$n.md" "$T/$n.json" >"$T/.md-problems" 2>&1; then
		ok_line "markdown $n: fences closed, one checkbox per step, placeholders escaped, tables well formed"
	else
		notok_line "markdown $n: fences closed, one checkbox per step, placeholders escaped, tables well formed"
		sed 's/^/#   /' "$T/.md-problems" | head -20
	fi
done
PATH=$SHIMPATH rb plan $FIX/probe.yml --check --format json
cp "$out" "$T/probe-check.json"
for n in probe-check mdedge; do
	if md_sane "$T/$n.md" "$T/$n.json" >"$T/.md-problems" 2>&1; then
		ok_line "markdown $n: fences closed, one checkbox per step, placeholders escaped, tables well formed"
	else
		notok_line "markdown $n: fences closed, one checkbox per step, placeholders escaped, tables well formed"
		sed 's/^/#   /' "$T/.md-problems" | head -20
	fi
done
check "markdown: a placeholder in prose is escaped" grep -qF 'schema \<capture schema\> on staging' "$T/groups.md"
check "markdown: a placeholder in code is left as is" grep -qxF "  '/srv/plan-groups'/bin/migrate --from <capture schema>" "$T/groups.md"
check "markdown: a command holding \`\`\` gets a longer fence" grep -q '^  ````' "$T/mdedge.md"
check "markdown: a pipe in a step title is escaped in the rollback table" grep -qF '| 1. write a fence \| and a pipe |' "$T/mdedge.md"
check "markdown: HTML in a note is escaped" grep -qF '\<b\>bold\</b\>' "$T/mdedge.md"
# the checklist says what text says: accepted exit codes, the backoff, and
# where and how an undo runs (its cwd, env and sudo are the step's)
check "markdown: expect rc 0, 3 is shown (text: 'expect rc: 0, 3')" grep -q '0, 3' "$T/linear.md"
check "markdown: expect rc any is shown (text: 'expect rc: any')" grep -qiw 'any' "$T/groups.md"
check "markdown: the retry's backoff is shown (text: '×2 each time')" grep -q '×2\|backoff' "$T/linear.md"
check "markdown: the undo of write runs in the step's cwd, and says so (as text does)" \
	test "$(grep -c 'in `/srv/plan-linear/app/conf.d`' "$T/linear.md")" -ge 2
check "markdown: the undo of stop runs through sudo, and says so (as text does)" \
	test "$(grep -c 'with sudo -n' "$T/linear.md")" -ge 2

# ==== 8. run --check / --format without --dry-run ==============================
# `--check` and `--format` are plan options: a `run` given one of them
# without --dry-run must not run the runbook for real (an operator who
# types `run --check` expects a check, as in other tools).
S2=$T/state-run
rm -f "$T/calls"
PATH=$SHIMPATH RUNBOOK_STATE_DIR=$S2 rb run $FIX/probe.yml --check --yes
check "run --check (no --dry-run) runs no forward step (exit $rc)" sh -c '! grep -q "rbt-change\|rbt-fin" "$1" 2>/dev/null' _ "$T/calls"
rm -f "$T/calls"
PATH=$SHIMPATH RUNBOOK_STATE_DIR=$S2 rb run $FIX/probe.yml --format json --yes
check "run --format json (no --dry-run) runs no forward step (exit $rc)" sh -c '! grep -q "rbt-change\|rbt-fin" "$1" 2>/dev/null' _ "$T/calls"

# ==== 9. plan takes no lock ===================================================
# while a run holds the target's lock, plan and plan --check still work
# (they take no lock), and leave the run's state folder as it was
S3=$T/state-lock
rbk=$(file lock.yml <<'EOF2'
runbook: plan-lock
params:
  dir: { required: true }
steps:
  - id: hold
    run: echo held > {{ dir }}/lock-held; while [ ! -e {{ dir }}/lock-go ]; do sleep 0.05; done
    probe: true
EOF2
)
RUNBOOK_STATE_DIR=$S3 start run "$rbk" -p dir="$T"
if wait_for "$T/lock-held"; then
	( cd "$S3" && find . -printf '%p %y %s\n' | LC_ALL=C sort ) >"$T/.lock-before"
	RUNBOOK_STATE_DIR=$S3 "$RUNBOOK" plan "$rbk" -p dir="$T" >"$T/.lock-out" 2>&1 </dev/null
	lrc=$?
	check "plan while a run holds the lock: exit 0 (exit $lrc)" test "$lrc" = 0
	RUNBOOK_STATE_DIR=$S3 "$RUNBOOK" plan "$rbk" -p dir="$T" --format json >"$T/.lock-out" 2>&1 </dev/null
	lrc=$?
	check "plan --format json while a run holds the lock: exit 0 (exit $lrc)" test "$lrc" = 0
	( cd "$S3" && find . -printf '%p %y %s\n' | LC_ALL=C sort ) >"$T/.lock-after"
	touch "$T/lock-go"
	check "plan while a run holds the lock: the state folder is as it was" diff "$T/.lock-before" "$T/.lock-after"
else
	_report 1 "the locking run did not start"
	touch "$T/lock-go"
fi
finish
expect_rc 0 "the locking run ends"
