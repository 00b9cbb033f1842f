#!/bin/sh
# t0510 — `runbook lint FILE... [--strict]`: load errors and reviewer
# warnings as FILE:LINE:COL: error|warning: MESSAGE on stderr, then the
# line "N file(s): N error(s), N warning(s)"; exit 2 on any error (or, with
# --strict, any warning), else 0.  Each warning kind at its exact position
# and a clean counterpart of each; modules linted on their own; several
# files at once; missing, unreadable and invalid files; the shipped
# runbooks and stdlib modules; lint runs nothing and writes no state.
. "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1

# at KIND LOC TEXT: a stderr line starts with "LOC: KIND: " and holds TEXT
at() {
	check "$2: $1: $3" awk -v p="$2: $1: " -v s="$3" \
		'index($0, p) == 1 && index($0, s) { f = 1 } END { exit !f }' "$err"
}
warn_at() { at warning "$@"; }
error_at() { at error "$@"; }
# no_at LOC TEXT: no stderr line at LOC holds TEXT
no_at() {
	check "nothing at $1 says: $2" awk -v p="$1: " -v s="$2" \
		'index($0, p) == 1 && index($0, s) { f = 1 } END { exit f }' "$err"
}
# summary LINE: the last line of stderr is exactly LINE
summary() {
	check "summary: $1" sh -c '[ "$(tail -n 1 "$2")" = "$1" ]' _ "$1" "$err"
}
# count PREFIX N: exactly N stderr lines start with PREFIX
count() {
	check "$2 line(s) start with '$1'" sh -c \
		'[ "$(awk -v p="$1" "index(\$0, p) == 1" "$3" | wc -l)" -eq "$2" ]' _ "$1" "$2" "$err"
}
# parseable: every line but the summary reads FILE:LINE:COL: error|warning:
parseable() {
	check "$1: every problem line is FILE:LINE:COL: (error|warning): …" sh -c \
		'[ "$(sed "\$d" "$1" | wc -l)" -gt 0 ] &&
		 ! sed "\$d" "$1" | grep -qvE "^[^:]+:[0-9]+:[0-9]+: (error|warning): ."' _ "$err"
}
stdout_empty() { check "nothing on stdout" test ! -s "$out"; }

# ---------------------------------------------------------------- warnings
file warn.yml >/dev/null <<'EOF'
runbook: lint-warn
params:
  dir: { required: true }
  unused_p: { default: x }
  cmd: { default: ls }
vars:
  unused_v: "{{ dir }}/v"
  used_v: "{{ dir }}/u"
  cmd_v: "{{ cmd }} -l"
steps:
  - id: bare
    run: touch {{ used_v }}
  - run: echo no-id
    probe: true
  - id: cap
    run: echo hello
    probe: true
    capture: { unused_c: '(h\w+)', used_c: '(e\w+)' }
  - id: af
    run: "false"
    probe: true
    allow_failure: true
  - id: retr
    run: "true"
    probe: true
    retry: { attempts: 3, delay: 10ms }
  - id: rawp
    run: "{{ cmd | raw }} /"
    probe: true
  - id: rawv
    run: "{{ cmd_v | raw }}"
    probe: true
  - id: nocheck
    run: touch {{ dir }}/x
    undo: rm -f {{ dir }}/x
  - id: noundo
    run: touch {{ dir }}/y
    check: test -e {{ dir }}/y
  - id: uses-cap
    run: echo {{ used_c }}
    probe: true
EOF
rb lint warn.yml
expect_rc 0 "warnings only (and no param values given): exit 0"
stdout_empty
warn_at warn.yml:4:3 "param 'unused_p' is never used"
warn_at warn.yml:7:3 "var 'unused_v' is never used"
warn_at warn.yml:11:5 "step 'bare' changes things but has no undo"
warn_at warn.yml:11:5 "no check"
warn_at warn.yml:13:5 "has no id"
warn_at warn.yml:13:5 "(s2)"
warn_at warn.yml:18:26 "capture 'unused_c' is never used"
warn_at warn.yml:19:5 "step 'af' may fail (allow_failure) but nothing reads its result"
warn_at warn.yml:23:5 "step 'retr' retries without a check or an expect"
warn_at warn.yml:28:11 "'{{ cmd | raw }}' in the command inserts a param's value unquoted"
warn_at warn.yml:31:11 "'{{ cmd_v | raw }}' in the command inserts a param's value unquoted"
warn_at warn.yml:33:5 "step 'nocheck' changes things but has no check"
no_at warn.yml:33:5 "no undo"
warn_at warn.yml:36:5 "step 'noundo' changes things but has no undo"
no_at warn.yml:36:5 "no check"
err_lacks "'dir' is never used"
err_lacks "'used_v' is never used"
err_lacks "'cmd_v' is never used"
err_lacks "'used_c' is never used"
err_lacks "step 'uses-cap'"
err_lacks "step 'cap'"
count "warn.yml:" 11
summary "1 file: 0 errors, 11 warnings"
parseable "warnings"

# the clean counterparts: nothing to say
file clean.yml >/dev/null <<'EOF'
runbook: lint-clean
params:
  dir: { required: true }
vars:
  marker: "{{ dir }}/m"
  fixed: /opt/fixed
steps:
  - id: full
    run: touch {{ marker }}
    check: test -e {{ marker }}
    undo: rm -f {{ marker }}
  - id: look
    run: ls {{ dir }}
    probe: true
    capture: { first: '^(\S+)' }
  - id: grp
    group: covered by its undo
    undo: rm -rf {{ dir }}/g
    steps:
      - id: mkg
        run: mkdir {{ dir }}/g
        check: test -d {{ dir }}/g
  - id: maybe
    run: test -e {{ dir }}/flag
    probe: true
    allow_failure: true
  - id: flagged
    when: steps.maybe.rc == 0
    run: echo {{ first | raw }} {{ fixed | raw }}
    probe: true
  - id: poll
    run: "true"
    probe: true
    retry: { attempts: 3, delay: 10ms }
    check: "true"
  - id: expecting
    run: echo ready
    probe: true
    retry: { attempts: 3, delay: 10ms }
    expect: { stdout: ready }
  - id: trailing
    run: touch {{ dir }}/done
    check: test -e {{ dir }}/done
  - id: bye
    note: all done
EOF
rb lint clean.yml
expect_rc 0 "a clean runbook"
stdout_empty
summary "1 file: 0 errors, 0 warnings"
count "clean.yml:" 0
err_lacks "step 'full'"        # undo and check
err_lacks "step 'look'"        # a probe step
err_lacks "'first' is never used"
err_lacks "step 'mkg'"         # covered by its group's undo (and has a check)
err_lacks "step 'maybe'"       # its rc is read by a later when
err_lacks "step 'poll'"        # retry with a check
err_lacks "step 'expecting'"   # retry with an expect
err_lacks "step 'trailing'"    # nothing that can fail comes after it
err_lacks "raw"                # a capture, a var not made of a param
rb lint --strict clean.yml
expect_rc 0 "--strict without warnings: exit 0"

# a step followed only by a step whose failure is allowed: nothing after
# it can fail the run, so no rollback can ever need its undo
file afterallow.yml >/dev/null <<'EOF'
runbook: after-allow
steps:
  - id: change
    run: touch x
    check: test -e x
  - id: tolerated
    run: "false"
    check: "true"
    allow_failure: true
  - id: report
    when: steps.tolerated.rc != 0
    note: tolerated failed
EOF
rb lint afterallow.yml
expect_rc 0 "a step followed only by an allow_failure step"
err_lacks "step 'change'"

# ------------------------------------------------------------------ modules
file modules/mod.yml >/dev/null <<'EOF'
module: mod
description: lint fixture
actions:
  act:
    params:
      path: { required: true }
      unused: { default: x }
      flags: { default: "-l" }
    steps:
      - id: good
        run: touch {{ path }}
        check: test -e {{ path }}
        undo: rm -f {{ path }}
      - run: ls {{ flags | raw }} {{ path }}
        probe: true
      - id: bad
        run: chmod 600 {{ path }}
  grp:
    params: { p: { required: true }, q: { default: "" } }
    steps:
      - id: g
        group: g
        undo: "rm -rf {{ p }}"
        steps:
          - id: mk
            run: mkdir {{ p }}
            check: test -d {{ p }}
      - id: maybe
        run: test -e {{ p }}/x
        probe: true
        allow_failure: true
        retry: { attempts: 2 }
      - id: lastone
        when: steps.maybe.rc == 0
        run: touch {{ p }}/{{ q | raw }}
        check: "true"
EOF
rb lint modules/mod.yml
expect_rc 0 "a module linted on its own: warnings only"
stdout_empty
warn_at modules/mod.yml:7:7 "param 'unused' is never used"
warn_at modules/mod.yml:14:9 "has no id"
warn_at modules/mod.yml:14:17 "'{{ flags | raw }}' in the command inserts an argument of the caller unquoted"
warn_at modules/mod.yml:16:9 "step 'bad' changes things but has no undo"
warn_at modules/mod.yml:16:9 "no check"
warn_at modules/mod.yml:28:9 "step 'maybe' retries without a check or an expect"
warn_at modules/mod.yml:33:9 "step 'lastone' changes things but has no undo"
warn_at modules/mod.yml:35:28 "'{{ q | raw }}' in the command inserts an argument of the caller unquoted"
err_lacks "step 'good'"
err_lacks "step 'mk'"
err_lacks "may fail (allow_failure)"
err_lacks "'path' is never used"
err_lacks "'p' is never used"
count "modules/mod.yml:" 7
summary "1 file: 0 errors, 7 warnings"
parseable "module warnings"

# a module with a bad key: an error, alone or through a runbook using it
file modules/badmod.yml >/dev/null <<'EOF'
module: badmod
actions:
  act:
    params: { p: { required: true } }
    steps:
      - id: one
        run: echo {{ p }}
        chek: "true"
EOF
rb lint modules/badmod.yml
expect_rc 2 "a module with an unknown key: exit 2"
error_at modules/badmod.yml:8:9 "unknown key 'chek' in a step — did you mean 'check'?"
summary "1 file: 1 error, 0 warnings"
parseable "module error"
file usesbad.yml >/dev/null <<'EOF'
runbook: uses-bad
steps:
  - id: call
    uses: badmod.act
    with: { p: v }
EOF
rb lint usesbad.yml
expect_rc 2 "a runbook using a broken module: exit 2"
check "the error points into the module file" grep -qE \
	"^(\./)?modules/badmod.yml:8:9: error: unknown key 'chek'" "$err"
summary "1 file: 1 error, 0 warnings"

# a module that is not found
file nomod.yml >/dev/null <<'EOF'
runbook: no-mod
steps:
  - id: call
    uses: nosuch.act
EOF
rb lint nomod.yml
expect_rc 2 "a module not found: exit 2"
error_at nomod.yml:4:11 "module 'nosuch' not found"
summary "1 file: 1 error, 0 warnings"

# ------------------------------------------------------------ load errors
file errs.yml >/dev/null <<'EOF'
runbook: lint-errs
params:
  p: { required: true, patern: 'x' }
steps:
  - id: x
    run: echo {{ nosuch }}
    expect: { stdout: '(unclosed' }
  - id: y
    rn: ls
EOF
rb lint errs.yml
expect_rc 2 "load errors: exit 2"
stdout_empty
error_at errs.yml:3:24 "unknown key 'patern' in a param — did you mean 'pattern'?"
error_at errs.yml:6:15 "unknown name 'nosuch'"
error_at errs.yml:7:33 "bad regular expression"
error_at errs.yml:9:5 "unknown key 'rn' in a step — did you mean 'run'?"
summary "1 file: 4 errors, 0 warnings"
parseable "errors"

# invalid YAML
printf 'runbook: tabs\nsteps:\n\t- id: x\n' >tab.yml
rb lint tab.yml
expect_rc 2 "invalid YAML (a tab): exit 2"
error_at tab.yml:3:1 "invalid YAML"
summary "1 file: 1 error, 0 warnings"
parseable "invalid YAML"
file flow.yml >/dev/null <<'EOF'
runbook: flow
steps:
  - id: x
    run: [unclosed
  - id: y
EOF
rb lint flow.yml
expect_rc 2 "invalid YAML (an unclosed flow sequence): exit 2"
check "flow.yml: an invalid YAML error at a line and column" \
	grep -qE '^flow.yml:[0-9]+:[0-9]+: error: invalid YAML' "$err"

# ------------------------------------------------------ several files
rb lint clean.yml errs.yml
expect_rc 2 "a good file and a bad one: exit 2"
error_at errs.yml:3:24 "unknown key 'patern'"
error_at errs.yml:9:5 "unknown key 'rn'"
count "clean.yml:" 0
summary "2 files: 4 errors, 0 warnings"
rb lint warn.yml errs.yml clean.yml modules/mod.yml
expect_rc 2 "four files, errors and warnings: exit 2"
count "warn.yml:" 11
count "errs.yml:" 4
count "modules/mod.yml:" 7
summary "4 files: 4 errors, 18 warnings"
parseable "four files"
rb lint clean.yml modules/mod.yml
expect_rc 0 "a runbook and a module, warnings only: exit 0"
summary "2 files: 0 errors, 7 warnings"

# ---------------------------------------------------------------- --strict
rb lint --strict warn.yml
expect_rc 2 "--strict: warnings fail"
summary "1 file: 0 errors, 11 warnings (--strict: warnings fail)"
rb lint warn.yml --strict
expect_rc 2 "--strict after the files"
rb lint clean.yml clean.yml --strict
expect_rc 0 "--strict, nothing to say: exit 0"
summary "2 files: 0 errors, 0 warnings"
rb lint --strict errs.yml
expect_rc 2 "--strict with errors: exit 2"

# ------------------------------------------------- missing, unreadable, none
rb lint nope.yml
expect_rc 2 "a missing file: exit 2"
err_has "nope.yml"
check "the message says the file does not exist" \
	grep -qiE 'no such file|does not exist|not found' "$err"
summary "1 file: 1 error, 0 warnings"
rb lint nope.yml clean.yml
expect_rc 2 "a missing file among good ones: exit 2"
summary "2 files: 1 error, 0 warnings"
mkdir -p adir
rb lint adir
expect_rc 2 "a folder: exit 2"
err_has "adir"
rb lint
expect_rc 2 "no file: usage error"
err_has "'lint' needs one or more files"

# ---------------------------------------- the shipped runbooks and modules
for f in "$TOP"/runbooks/*.yml "$TOP"/stdlib/*.yml; do
	[ -e "$f" ] || continue
	rb lint "$f"
	expect_rc 0 "${f#"$TOP"/} is free of errors"
	grep ': warning: ' "$err" | sed "s|^$TOP/|# |" || true
done
set -- "$TOP"/runbooks/*.yml "$TOP"/stdlib/*.yml
rb lint "$@"
expect_rc 0 "every runbook and stdlib module at once"
check "the summary counts them all, no error" grep -qE "^$# files?: 0 errors, " "$err"

# --------------------------------------- lint runs nothing, writes nothing
file modules/toucher.yml >/dev/null <<EOF
module: toucher
actions:
  go:
    params: { path: { required: true } }
    steps:
      - id: t
        run: touch {{ path }} $T/modstep-sentinel
EOF
file sentinel.yml >/dev/null <<EOF
runbook: sentinel
preconditions:
  - name: pre
    run: touch $T/pre-sentinel
steps:
  - id: s
    run: touch $T/step-sentinel
  - id: p
    run: touch $T/probe-sentinel
    probe: true
  - id: m
    uses: toucher.go
    with: { path: $T/mod-sentinel }
  - id: c
    confirm: go on?
finally:
  - id: f
    run: touch $T/fin-sentinel
EOF
mkdir -p "$T/st-empty"
RUNBOOK_STATE_DIR=$T/st-empty rb lint sentinel.yml modules/toucher.yml
expect_rc 0 "the sentinel runbook lints"
stdout_empty
for s in pre step probe mod modstep fin; do
	check "lint never runs anything: no $s-sentinel" test ! -e "$T/$s-sentinel"
done
check "the state dir stays empty" sh -c '[ -z "$(ls -A "$1")" ]' _ "$T/st-empty"
RUNBOOK_STATE_DIR=$T/st-none rb lint sentinel.yml warn.yml errs.yml nope.yml
check "a missing state dir is not created" test ! -e "$T/st-none"
check "nor the default one" test ! -e "$T/state"
