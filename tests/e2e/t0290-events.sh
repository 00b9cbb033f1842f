#!/bin/sh
# t0290 — --events FILE: one valid JSON object per line, with time and
# event; run_start (runbook, params), step_start/step_end per step
# (status, rc), step_skip for a false condition, precondition results,
# run_end with the exit code; a second run appends; output with quotes,
# backslashes, control bytes and invalid UTF-8 keeps the file valid.
. "$(dirname "$0")/../lib.sh"

rbk=$(file ev.yml <<'EOF2'
runbook: ev
params:
  who: { default: "a \"quoted\" \\ value" }
preconditions:
  - name: always
    run: "true"
steps:
  - id: one
    run: printf 'quote " backslash \\ tab \t bell \a bad-utf8 \377\376 done\n'
  - id: skipped
    when: false
    run: "true"
  - id: bad
    run: 'echo "oops: \"{{ who }}\""; exit 3'
    allow_failure: true
  - id: two
    run: "true"
EOF2
)
ev=$T/events.jsonl
rb run "$rbk" --events "$ev"
expect_rc 0 "a run with --events"
check "the events file exists" test -s "$ev"

# validate every line; print the event names in order
py_check() {
	python3 - "$1" <<'PY'
import json, sys
names = []
for i, line in enumerate(open(sys.argv[1], "rb").read().split(b"\n")):
    if not line:
        continue
    o = json.loads(line)          # raises on an invalid line
    assert isinstance(o, dict), i
    assert "event" in o and "time" in o, o
    names.append(o["event"])
print(" ".join(names))
PY
}
check "every line is a JSON object with time and event" py_check "$ev"
names=$(py_check "$ev" 2>/dev/null)
check "run_start comes first" sh -c 'case "$1" in "run_start "*) exit 0;; esac; exit 1' _ "$names"
check "run_end comes last" sh -c 'case "$1" in *" run_end") exit 0;; esac; exit 1' _ "$names"
for e in run_start step_start step_end step_skip precondition run_end; do
	check "event $e is present" sh -c 'echo " $1 " | grep -q " $2 "' _ "$names" "$e"
done

field() {
	# field EVENT STEP KEY: the value of KEY in the event EVENT for STEP
	python3 - "$ev" "$1" "$2" "$3" <<'PY'
import json, sys
path, event, step, key = sys.argv[1:]
for line in open(path, "rb"):
    o = json.loads(line)
    if o.get("event") == event and (step == "-" or o.get("step") == step):
        print(o.get(key))
        break
PY
}
check "run_start names the runbook" test "$(field run_start - runbook)" = ev
check "run_start carries the params" test "$(field run_start - params)" = "{'who': 'a \"quoted\" \\\\ value'}"
check "step_end of 'one' is ok with rc 0" test "$(field step_end one status) $(field step_end one rc)" = "ok 0"
check "step_end of 'bad' carries its rc 3" test "$(field step_end bad rc)" = 3
check "step_skip names the skipped step" test "$(field step_skip skipped step)" = skipped
check "run_end has exit 0" test "$(field run_end - exit)" = 0

# control bytes and invalid UTF-8 in a param value keep the line valid
ev3=$T/ev3.jsonl
rb run "$rbk" --events "$ev3" -p who="$(printf 'tab\tnl\001 bad\377\376 end')"
expect_rc 0 "a run with odd bytes in a param"
check "events with odd bytes are still valid JSON" py_check "$ev3"

# a failing run appends, and run_end says exit 1
lines=$(wc -l <"$ev")
rbk=$(file ev2.yml <<'EOF2'
runbook: ev2
steps:
  - id: boom
    run: exit 2
EOF2
)
rb run "$rbk" --events "$ev"
expect_rc 1 "a failing run with --events"
check "the events file is appended to" test "$(wc -l <"$ev")" -gt "$lines"
check "still every line valid JSON" py_check "$ev"
tail -1 "$ev" >"$T/last.json"
check "the last run_end has exit 1" python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); sys.exit(0 if o["event"]=="run_end" and o["exit"]==1 else 1)' "$T/last.json"

# an events file that cannot be written is an error before anything runs
rb run "$rbk" --events "$T/no/such/dir/ev.jsonl"
expect_rc 2 "an unwritable events file is bad input"
err_has "cannot open the events file"
