#!/bin/sh
# t0300 — output modes: the default shows step lines, step output and a
# summary; -q shows only failures and one summary line; -v also shows
# each command and the check's output; NO_COLOR (and a non-TTY stdout)
# means no escape bytes at all, while a TTY without NO_COLOR gets color.
. "$(dirname "$0")/../lib.sh"

rbk=$(file out.yml <<'EOF2'
runbook: out
params:
  fail: { default: "0" }
steps:
  - id: first
    run: echo visible-output
    check: echo check-output
  - id: second
    run: echo second-output; exit {{ fail }}
EOF2
)
has_esc() { grep -q "$(printf '\033')" "$1"; }

rb run "$rbk"
expect_rc 0 "default output"
out_has "[1/2] first"
out_has "visible-output"
out_lacks "check-output"
out_lacks "cmd:"
out_has "summary: succeeded"
check "default output has no escape bytes off a TTY" sh -c '! grep -q "$(printf "\033")" "$1"' _ "$out"

rb run "$rbk" -v
expect_rc 0 "-v"
out_has "cmd: echo visible-output"
out_has "check-output"

rb run -q "$rbk"
expect_rc 0 "-q before the command"
out_lacks "visible-output"
out_lacks "[1/2]"
check "-q on success prints a single line" test "$(grep -c . "$out")" -eq 1
out_has "succeeded"

rb run "$rbk" --quiet -p fail=4
expect_rc 1 "--quiet on failure"
out_lacks "[1/2] first"
out_has "[2/2] second"
out_has "exit code 4 (expected 0)"
out_has "failed"

# color: only on a TTY, never with NO_COLOR
if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	NO_COLOR=1 script -qec "'$RUNBOOK' run '$rbk' -p fail=4" /dev/null </dev/null >"$out" 2>&1
	check "NO_COLOR on a TTY: no escape bytes" sh -c '! grep -q "$(printf "\033")" "$1"' _ "$out"
	check "NO_COLOR on a TTY: the run still printed" grep -q "summary: failed" "$out"
	(unset NO_COLOR; script -qec "'$RUNBOOK' run '$rbk' -p fail=4" /dev/null </dev/null >"$out" 2>&1)
	check "a TTY without NO_COLOR gets color" has_esc "$out"
	NO_COLOR= script -qec "'$RUNBOOK' run '$rbk'" /dev/null </dev/null >"$out" 2>&1
	check "an empty NO_COLOR is ignored (no-color.org): color on a TTY" has_esc "$out"
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP no working script(1) for a pseudo-terminal"
fi

# a reader that goes away (| head -1) does not stop or break the run
rbk=$(file pipe.yml <<'EOF2'
runbook: pipe
params:
  dir: { required: true }
steps:
  - run: seq 1 20000
  - run: touch {{ dir }}/pipe-done
finally:
  - run: touch {{ dir }}/pipe-finally
EOF2
)
{ ${RUNBOOK_WRAP:-} "$RUNBOOK" run "$rbk" -p dir="$T" </dev/null 2>"$err"; echo $? >"$T/pipe-rc"; } | head -1 >/dev/null
rc=$(cat "$T/pipe-rc")
expect_rc 0 "a closed stdout: the run still succeeds"
check "every step ran" test -e "$T/pipe-done" -a -e "$T/pipe-finally"

# -q still shows a failing step's hints
rbk=$(file quiethint.yml <<'EOF2'
runbook: quiet-hint
steps:
  - id: x
    run: echo "ERR-42 disk full"; exit 1
    diagnose:
      - match: 'ERR-(?<code>\d+)'
        hint: "error {{ code }}: free some space"
EOF2
)
rb run -q "$rbk"
expect_rc 1 "-q with a failing step"
out_has "error 42: free some space"
