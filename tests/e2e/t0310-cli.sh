#!/bin/sh
# t0310 — the command line: `list` with RUNBOOK_PATH (descriptions, dir
# and dir/runbooks), running a runbook by name, an unknown command (exit 2
# with a suggestion), --help and --version (exit 0 on stdout), no command,
# a missing runbook, options before or after the command.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/lib1/runbooks" "$T/lib2"
file lib1/runbooks/alpha-deploy.yml >/dev/null <<'EOF2'
runbook: alpha-deploy
description: |
  Deploy alpha.
  Second line of the description.
steps:
  - run: touch "$MARK.alpha"
EOF2
file lib2/beta-restore.yaml >/dev/null <<'EOF2'
runbook: beta-restore
description: Restore beta from a dump.
steps:
  - run: touch "$MARK.beta"
EOF2
file lib2/notes.txt >/dev/null <<'EOF2'
not a runbook
EOF2

RUNBOOK_PATH="$T/lib1:$T/lib2" rb list
expect_rc 0 "list"
check "list shows a runbook from DIR/runbooks with its description" grep -Eq '^alpha-deploy +Deploy alpha\.' "$out"
check "list shows only the first line of a description" sh -c '! grep -q "Second line" "$1"' _ "$out"
check "list shows a .yaml runbook from DIR" grep -Eq '^beta-restore +Restore beta from a dump\.' "$out"
out_lacks "notes"

RUNBOOK_PATH="$T/lib1:$T/lib2" MARK=$T/m rb run alpha-deploy
expect_rc 0 "run by name (found in RUNBOOK_PATH/runbooks)"
check "the named runbook ran" test -e "$T/m.alpha"
RUNBOOK_PATH="$T/lib1:$T/lib2" MARK=$T/m rb run beta-restore
expect_rc 0 "run by name (found in RUNBOOK_PATH)"
check "the other named runbook ran" test -e "$T/m.beta"

RUNBOOK_PATH="$T/lib1" rb run no-such-runbook
expect_rc 2 "an unknown runbook name"
err_has "runbook 'no-such-runbook' not found"
rb run "$T/missing.yml"
expect_rc 2 "a missing runbook file"
err_has "missing.yml"
rb run
expect_rc 2 "run without a runbook"
err_has "'run' needs a runbook"

rb frobnicate
expect_rc 2 "an unknown command"
err_has "unknown command 'frobnicate'"
rb lsit
expect_rc 2 "a misspelt command"
err_has "did you mean 'list'"
rb run "$T/lib2/beta-restore.yaml" --no-such-option
expect_rc 2 "an unknown option"
err_has "unknown option '--no-such-option'"

rb
expect_rc 2 "no command: usage on stderr, exit 2"
err_has "usage: runbook"

rb --help
expect_rc 0 "--help exits 0"
out_has "usage: runbook"
out_has "exit codes"
rb run --help
expect_rc 0 "run --help exits 0"
out_has "usage: runbook"
rb -h
expect_rc 0 "-h exits 0"
rb --version
expect_rc 0 "--version exits 0"
check "--version prints 'runbook X.Y.Z'" grep -Eq '^runbook [0-9]+\.[0-9]+\.[0-9]+' "$out"

# options may come before the command
MARK=$T/o rb --quiet run "$T/lib2/beta-restore.yaml"
expect_rc 0 "a global option before the command"
check "it ran" test -e "$T/o.beta"

# --state-dir wins over RUNBOOK_STATE_DIR
rb run "$T/lib2/beta-restore.yaml" --state-dir "$T/other-state"
expect_rc 0 "--state-dir"
check "the run was recorded under --state-dir" sh -c 'ls -d "$1"/runs/beta-restore-*' _ "$T/other-state"

# a broken file on the search path does not break `list`
printf 'runbook: [oops\n' >"$T/lib2/broken.yml"
RUNBOOK_PATH="$T/lib1:$T/lib2" rb list
expect_rc 0 "list with a broken runbook file on the path"
check "the good runbooks are still listed" grep -q '^alpha-deploy' "$out"
