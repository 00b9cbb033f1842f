#!/bin/sh
# t0330 — big output: a step printing 1 MiB in lines, and one printing a
# 1 MiB single line without a newline, both succeed; steps.ID.stdout keeps
# the first 64 KiB; the full text is in the
# step's log; patterns still match after (and at the end of) huge output.
. "$(dirname "$0")/../lib.sh"

rbk=$(file big.yml <<'EOF2'
runbook: big
params:
  dir: { required: true }
steps:
  - id: lines
    run: yes 0123456789abcdef | head -c 1048576
  - id: len-lines
    env: { X: "{{ steps.lines.stdout }}" }
    run: printf '%s' "${#X}" > {{ dir }}/len-lines
  - id: oneline
    run: head -c 1048576 /dev/zero | tr '\0' a; printf 'END-MARK'
    expect: { stdout: 'END-MARK$' }
  - id: len-oneline
    env: { X: "{{ steps.oneline.stdout }}" }
    run: |
      printf '%s' "${#X}" > {{ dir }}/len-oneline
      python3 -c 'import os,sys; v=os.environ["X"]; sys.exit(0 if v == "a"*65536 else 1)'
  - id: after-big
    run: |
      head -c 300000 /dev/zero | tr '\0' b
      printf '\nversion=7.1\n'
    capture: { v: 'version=(\S+)' }
  - id: both-streams
    run: head -c 1048576 /dev/zero | tr '\0' e >&2; echo fine
  - id: last
    run: echo {{ v }} > {{ dir }}/v
EOF2
)
rb run -q "$rbk" -p dir="$T"
expect_rc 0 "huge output does not break the run"
check "steps.ID.stdout of 1 MiB of lines is its first 64 KiB" test "$(cat "$T/len-lines")" -eq 65536
check "steps.ID.stdout of a 1 MiB line is exactly 64 KiB" test "$(cat "$T/len-oneline")" -eq 65536
check "a pattern matches at the end of a huge single line" grep -q 'END-MARK' "$RUNBOOK_STATE_DIR"/runs/big-*/logs/03-oneline.log
check "a capture after a huge line works" test "$(cat "$T/v")" = 7.1
logs=$(ls -d "$RUNBOOK_STATE_DIR"/runs/big-*/logs 2>/dev/null | head -1)
check "the log of the line step holds all the output" test "$(grep -cx 0123456789abcdef "$logs/01-lines.log")" -eq 61681
check "the log of the single line holds all of it" test "$(tr -cd a <"$logs/03-oneline.log" | wc -c)" -ge 1048576
check "the log of the stderr flood holds all of it" test "$(tr -cd e <"$logs/06-both-streams.log" | wc -c)" -ge 1048576
