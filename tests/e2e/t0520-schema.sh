#!/bin/sh
# t0520 — the JSON Schemas of the format (schema/runbook.schema.json and
# schema/module.schema.json, draft-07, for editors).  Both are valid
# draft-07 schemas and share the same step definitions; every runbook in
# runbooks/, every module in stdlib/ and every runbook or module example
# of runbooks/README.md and stdlib/README.md matches its schema.  Mistakes
# (an unknown key, two actions, a bad id, a bad on_failure, no `runbook:`,
# ...) fail the schema, and runbook refuses the same files with exit 2
# for the same reason; the controls, valid files, pass both.
# Needs Python 3 with PyYAML and jsonschema (Debian: python3-yaml,
# python3-jsonschema; tests/deps.sh test installs them).
. "$(dirname "$0")/../lib.sh"

# /usr/bin/python3 first: python3 on PATH may be a pyenv build without
# Debian's modules.
py=""
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml, jsonschema' >/dev/null 2>&1; then
		py=$p
		break
	fi
done
if [ -z "$py" ]; then
	echo "no python3 with the yaml and jsonschema modules" >"$err"
	: >"$out"
	_report 1 "python3 with PyYAML and jsonschema: install the Debian packages python3-yaml python3-jsonschema (sh tests/deps.sh test)"
	exit 0
fi

# --- the validator ------------------------------------------------------------
# Prints one line per check, "0|what|" or "1|what|why", that the loop
# below reports with lib.sh's numbering.
cat >"$T/validate.py" <<'EOF'
import glob, json, os, re, sys
import jsonschema, yaml

top, good, bad = sys.argv[1:4]


# PyYAML reads YAML 1.1: `on:` would be the boolean true, `yes` a boolean,
# `2024-01-01` a date.  Editors (yaml-language-server) and runbook read
# YAML 1.2, so resolve plain scalars with the 1.2 core schema only.
class Loader(yaml.SafeLoader):
    pass


Loader.yaml_implicit_resolvers = {}
for tag, rx, first in (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+0123456789.")),
):
    Loader.add_implicit_resolver("tag:yaml.org,2002:" + tag, re.compile(rx), first)


def construct_int(loader, node):
    v = node.value
    if v.startswith("0o"):
        return int(v[2:], 8)
    if v.startswith("0x"):
        return int(v[2:], 16)
    return int(v, 10)


def construct_float(loader, node):
    v = node.value.lower()
    if v.endswith(".inf"):
        return float("-inf") if v.startswith("-") else float("inf")
    if v == ".nan":
        return float("nan")
    return float(v)


def construct_map(loader, node):
    # keys as written (JSON keys are text; runbook refuses non-scalar keys)
    out = {}
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain string",
                                                    k.start_mark)
        out[k.value] = loader.construct_object(v, deep=True)
    return out


Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
Loader.add_constructor("tag:yaml.org,2002:float", construct_float)
Loader.add_constructor("tag:yaml.org,2002:bool", lambda loader, node: node.value.lower() == "true")
Loader.add_constructor("tag:yaml.org,2002:map", construct_map)


def report(ok, what, why=""):
    print("%d|%s|%s" % (0 if ok else 1, what, " / ".join(str(why).splitlines())))


def where(e):
    return "/".join(str(p) for p in e.absolute_path) or "(top)"


def problems(validator, doc):
    errs = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return ["%s: %s" % (where(e), e.message[:300]) for e in errs]


schemas = {}
for kind in ("runbook", "module"):
    path = os.path.join(top, "schema", kind + ".schema.json")
    try:
        with open(path) as f:
            schema = json.load(f)
        jsonschema.Draft7Validator.check_schema(schema)
        report(schema.get("$schema") == "http://json-schema.org/draft-07/schema#",
               "schema/%s.schema.json is a valid draft-07 schema" % kind, "$schema is not draft-07")
    except Exception as e:  # unreadable JSON or a bad schema
        report(False, "schema/%s.schema.json is a valid draft-07 schema" % kind, e)
        schema = {}
    schemas[kind] = jsonschema.Draft7Validator(schema)

# Each file stands alone for editors, so the module schema repeats the step
# definitions: they must stay the same.
rd = schemas["runbook"].schema.get("definitions", {})
md = schemas["module"].schema.get("definitions", {})
shared = sorted(set(rd) & set(md))
differ = [k for k in shared if rd[k] != md[k]]
report(len(shared) > 10 and not differ and set(md) <= set(rd),
       "module.schema.json's definitions are runbook.schema.json's (%d shared)" % len(shared),
       "differ: %s; only in the module schema: %s" % (differ, sorted(set(md) - set(rd))))


def check(kind, label, text, want_valid):
    try:
        doc = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as e:
        report(False, label, "not YAML: %s" % e)
        return
    p = problems(schemas[kind], doc)
    if want_valid:
        report(not p, label, "; ".join(p[:5]))
    else:
        report(bool(p), label, "the schema accepts it")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


counted = {"files": 0, "examples": 0}
for kind, pattern in (("runbook", "runbooks/*.yml"), ("module", "stdlib/*.yml")):
    files = sorted(glob.glob(os.path.join(top, pattern)))
    report(bool(files), "%s has files to check" % pattern)
    for path in files:
        counted["files"] += 1
        check(kind, "%s matches %s.schema.json" % (os.path.relpath(path, top), kind), read(path), True)

# The examples of the docs: each ```yaml block with a top-level `runbook:`
# or `module:` key (the inventory example is neither).
for doc in ("runbooks/README.md", "stdlib/README.md"):
    blocks, cur = [], None
    for line in read(os.path.join(top, doc)).split("\n"):
        if cur is None and line == "```yaml":
            cur = []
        elif cur is not None and line == "```":
            blocks.append("\n".join(cur) + "\n")
            cur = None
        elif cur is not None:
            cur.append(line)
    n = 0
    for text in blocks:
        try:
            data = yaml.load(text, Loader=Loader)
        except yaml.YAMLError as e:
            report(False, "%s: a yaml example parses" % doc, e)
            continue
        if not isinstance(data, dict):
            continue
        kind = "runbook" if "runbook" in data else "module" if "module" in data else None
        if not kind:
            continue
        n += 1
        counted["examples"] += 1
        check(kind, "%s: example '%s' matches %s.schema.json" % (doc, data[kind], kind), text, True)
    report(n > 0, "%s has runbook or module examples (%d)" % (doc, n))

# The controls and the mistakes written by the shell script: line 1 of
# each file is "# what: ...".
for d, valid in ((good, True), (bad, False)):
    for kind, sub in (("runbook", "*.yml"), ("module", "modules/*.yml")):
        for path in sorted(glob.glob(os.path.join(d, sub))):
            text = read(path)
            what = text.split("\n", 1)[0].replace("# what: ", "")
            verb = "matches" if valid else "is refused by"
            check(kind, "%s %s %s.schema.json" % (what, verb, kind), text, valid)

print("#|validated %d files and %d examples of the docs|" % (counted["files"], counted["examples"]))
EOF

# --- controls (valid) and mistakes (invalid) ----------------------------------
# Line 1: what the file is; line 2 of a mistake: what runbook says about it.
# Their steps are harmless; a refused file runs nothing anyway.
G=$T/good
B=$T/bad
mkdir -p "$G/modules" "$B/modules" "$T/callers"
cat >"$G/base.yml" <<'EOF'
# what: a minimal runbook (control)
runbook: schema-base
steps:
  - id: ok
    run: "true"
EOF
cat >"$G/full.yml" <<'EOF'
# what: a runbook that uses most keys (control)
runbook: schema-full
description: every kind of key, valid
params:
  to: { required: true, pattern: '\d+', doc: a number }
  mode: { choices: [fast, slow], default: fast }
  pw: { secret: true, env: SCHEMA_T_PW }
  comment:
vars:
  dir: "{{ env.TMPDIR }}/x"
target: box
hosts:
  box: { transport: local, sudo: false, env: { A: b } }
use: [goodmod]
preconditions:
  - name: shell works
    run: "true"
    hint: "never shown"
    expect: { rc: [0] }
  - "true"
on_failure: stop
steps:
  - echo bare
  - id: first
    name: the first step
    on: local
    when: to > 0 and mode == "fast"
    sudo: false
    env: { X: "{{ to }}" }
    cwd: /
    timeout: 1m30s
    retry: { attempts: 2, delay: 10ms, backoff: 1.5 }
    expect: { rc: any, stdout: 'v(\d+)' }
    capture: { v: 'v(\d+)' }
    diagnose:
      - { match: 'ERR (?<m>.*)', hint: "{{ m }}", fail: false }
    run: echo v{{ to }}
    check: "true"
    undo:
      - run: echo undo {{ v }}
        probe: true
      - note: undone
    allow_failure: false
  - id: probe
    run: "true"
    probe: true
  - id: call
    uses: goodmod.act
    with: { what: "{{ v }}" }
    undo: "true"
  - group: a section
    id: sec
    when: "true"
    timeout: 10s
    undo: { run: "true", retry: { attempts: 2 } }
    steps:
      - note: inside
      - confirm: go on?
        id: gate
finally:
  - run: "true"
    id: fin
EOF
cat >"$G/modules/goodmod.yml" <<'EOF'
# what: a module (control)
module: goodmod
description: a valid module
actions:
  act:
    description: echo something
    params: { what: { required: true, pattern: '.*' } }
    steps:
      - id: say
        run: echo {{ what }}
        undo: echo unsaid
EOF
cat >"$T/callers/goodmod.yml" <<'EOF'
runbook: use-goodmod
use: [goodmod]
steps:
  - uses: goodmod.act
    with: { what: hello }
EOF

neg() {
	# neg NAME WHAT MESSAGE: a runbook mistake from stdin (after two comment lines)
	{
		printf '# what: %s\n# runbook: %s\n' "$2" "$3"
		cat
	} >"$B/$1.yml"
}
neg 01-unknown-top-key "an unknown top-level key" "unknown key 'descripton' in the runbook" <<'EOF'
runbook: schema-neg
descripton: a typo
steps:
  - id: ok
    run: "true"
EOF
neg 02-unknown-step-key "an unknown step key" "unknown key 'retries' in a step" <<'EOF'
runbook: schema-neg
steps:
  - id: ok
    run: "true"
    retries: 3
EOF
neg 03-two-actions "a step with two actions" "a step has exactly one action: 'note' and 'run'" <<'EOF'
runbook: schema-neg
steps:
  - id: ok
    run: "true"
    note: hello
EOF
neg 04-bad-id "a bad id" "invalid id 'Bad.Id'" <<'EOF'
runbook: schema-neg
steps:
  - id: Bad.Id
    run: "true"
EOF
neg 05-bad-on-failure "a bad on_failure" "'on_failure' must be 'rollback' or 'stop', not 'abort'" <<'EOF'
runbook: schema-neg
on_failure: abort
steps:
  - id: ok
    run: "true"
EOF
neg 06-no-runbook "a runbook without runbook:" "missing 'runbook: NAME'" <<'EOF'
description: no name
steps:
  - id: ok
    run: "true"
EOF
neg 07-modifier-for-another-kind "a modifier the step kind does not take" "'retry' does not apply to a 'note' step" <<'EOF'
runbook: schema-neg
steps:
  - note: hello
    retry: { attempts: 2 }
EOF
neg 08-no-action "a step with no action" "a step needs an action" <<'EOF'
runbook: schema-neg
steps:
  - id: ok
    timeout: 5s
EOF
neg 09-undo-in-finally "an undo in a finally step" "'undo' does not apply to a finally step" <<'EOF'
runbook: schema-neg
steps:
  - "true"
finally:
  - group: end
    steps:
      - run: "true"
        undo: "true"
EOF
neg 10-group-in-undo "a group as an undo" "an undo is a command or a list of steps, not a group" <<'EOF'
runbook: schema-neg
steps:
  - run: "true"
    undo:
      group: back
      steps: ["true"]
EOF
neg 11-probe-with-undo "a probe with an undo" "a 'probe' step only reads" <<'EOF'
runbook: schema-neg
steps:
  - run: "true"
    probe: true
    undo: "true"
EOF
neg 12-duration-without-unit "a timeout without a unit" "invalid duration '10' for 'timeout'" <<'EOF'
runbook: schema-neg
steps:
  - run: "true"
    timeout: 10
EOF
neg 13-required-and-default "a param required and with a default" "param 'x' is required and has a default" <<'EOF'
runbook: schema-neg
params:
  x: { required: true, default: "1" }
steps:
  - "true"
EOF
neg 14-precondition-check "a precondition with a check" "'check' does not apply to a precondition" <<'EOF'
runbook: schema-neg
preconditions:
  - run: "true"
    check: "true"
steps:
  - "true"
EOF
neg 15-bad-runbook-name "a runbook name with capitals" "invalid runbook name 'Schema_Neg'" <<'EOF'
runbook: Schema_Neg
steps:
  - "true"
EOF
neg 16-rc-out-of-range "an exit code above 255" "'rc' must be an exit code from 0 to 255" <<'EOF'
runbook: schema-neg
steps:
  - run: "true"
    expect: { rc: 256 }
EOF
cat >"$B/modules/negmod.yml" <<'EOF'
# what: a module action with an unknown key
# runbook: unknown key 'undo' in an action
module: negmod
actions:
  act:
    steps:
      - "true"
    undo: "true"
EOF
cat >"$B/modules/negmod2.yml" <<'EOF'
# what: a module without module:
# runbook: missing 'module: negmod2'
description: nameless
actions:
  act:
    steps:
      - "true"
EOF

# --- the schemas --------------------------------------------------------------
"$py" "$T/validate.py" "$TOP" "$G" "$B" >"$T/results" 2>"$T/py.err"
pyrc=$?
: >"$out"
while IFS='|' read -r status what why; do
	if [ "$status" = "#" ]; then
		echo "# $what"
		continue
	fi
	printf '%s\n' "$why" >"$err"
	_report "$status" "$what"
done <"$T/results"
cp "$T/py.err" "$err"
check "the validator ran to its end" test "$pyrc" = 0

# --- runbook agrees -----------------------------------------------------------
rb run "$G/base.yml"
expect_rc 0 "runbook accepts the minimal control"
SCHEMA_T_PW=x RUNBOOK_PATH="$G/modules" rb run "$G/full.yml" -p to=3 --yes
expect_rc 0 "runbook accepts the control that uses most keys"
RUNBOOK_PATH="$G/modules" rb run "$T/callers/goodmod.yml"
expect_rc 0 "runbook accepts the module control"
for f in "$B"/*.yml; do
	what=$(sed -n '1s/^# what: //p' "$f")
	says=$(sed -n '2s/^# runbook: //p' "$f")
	rb run "$f"
	expect_rc 2 "runbook refuses it too: $what"
	err_has "$says"
done
for f in "$B"/modules/*.yml; do
	name=$(basename "$f" .yml)
	what=$(sed -n '1s/^# what: //p' "$f")
	says=$(sed -n '2s/^# runbook: //p' "$f")
	printf 'runbook: use-%s\nuse: [%s]\nsteps:\n  - "true"\n' "$name" "$name" >"$T/callers/$name.yml"
	RUNBOOK_PATH="$B/modules" rb run "$T/callers/$name.yml"
	expect_rc 2 "runbook refuses it too: $what"
	err_has "$says"
done
