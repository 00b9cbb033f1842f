#!/bin/sh
# t0190 — note (shown, always succeeds, templated) and confirm: --yes
# approves; without a TTY and without --yes the run pauses with exit 4,
# a clear message, and neither the later steps nor finally run; on a
# pseudo-terminal (script(1)) "y" approves and "n" declines (exit 1).
. "$(dirname "$0")/../lib.sh"

rbk=$(file confirm.yml <<'EOF2'
runbook: confirm
params:
  dir: { required: true }
  site: { default: "https://example.org" }
steps:
  - id: before
    run: touch {{ dir }}/before
  - note: "Now check {{ site }} by hand"
  - id: gate
    confirm: "Sign in to {{ site }} and check that everything looks right."
  - id: after
    run: touch {{ dir }}/after
finally:
  - run: touch {{ dir }}/finally
EOF2
)

rb run "$rbk" -p dir="$T" --yes
expect_rc 0 "--yes approves the confirmation"
check "the note is shown" grep -Eq 'note: .*Now check https://example.org by hand' "$out"
out_has "approved by --yes"
check "the step after the confirmation ran" test -e "$T/after"
check "finally ran" test -e "$T/finally"

rm -f "$T/before" "$T/after" "$T/finally"
rb run "$rbk" -p dir="$T" --events "$T/ev.jsonl"
expect_rc 4 "no TTY and no --yes: the run pauses (exit 4)"
check "the events end with run_end, exit 4" python3 -c 'import json,sys; o=[json.loads(l) for l in open(sys.argv[1])][-1]; sys.exit(0 if (o["event"], o["exit"]) == ("run_end", 4) else 1)' "$T/ev.jsonl"
err_has "confirmation needed: Sign in to https://example.org and check that everything looks right."
check "the message says how to approve" grep -q -- "--yes" "$out" "$err"
check "the step before the confirmation ran" test -e "$T/before"
check "the step after the confirmation did not run" test ! -e "$T/after"
check "finally does not run on a paused (resumable) run" test ! -e "$T/finally"
check "the confirmation is reported paused" grep -Eq '^ *paused .*gate' "$out"

# On a terminal, through script(1).
if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	for answer in y yes Y; do
		rm -f "$T/after" "$T/finally"
		printf '%s\n' "$answer" | script -qec "'$RUNBOOK' run '$rbk' -p 'dir=$T'" /dev/null >"$out" 2>&1
		rc=$?
		expect_rc 0 "on a TTY, '$answer' approves"
		check "the step after ran ($answer)" test -e "$T/after"
	done
	out_has "Continue? [y/N]"
	check "the confirmation text is shown" grep -Eq 'confirm: .*Sign in to https://example.org and check that everything looks right\.' "$out"

	for answer in n "" nope; do
		rm -f "$T/after" "$T/finally"
		printf '%s\n' "$answer" | script -qec "'$RUNBOOK' run '$rbk' -p 'dir=$T'" /dev/null >"$out" 2>&1
		rc=$?
		expect_rc 1 "on a TTY, '$answer' declines: the step fails"
		check "the step after did not run ('$answer')" test ! -e "$T/after"
		check "finally ran after the declined run ('$answer')" test -e "$T/finally"
	done
	out_has "declined by the operator"
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP no working script(1) for a pseudo-terminal"
fi

# confirm takes no run modifiers
rbk=$(file confirmbad.yml <<'EOF2'
runbook: confirm-bad
steps:
  - confirm: "ok?"
    retry: { attempts: 2 }
EOF2
)
rb run "$rbk" --yes
expect_rc 2 "a run modifier on confirm is bad input"
err_has "'retry' does not apply to a 'confirm' step"
