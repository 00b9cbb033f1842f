#!/bin/sh
# t0950 — what the documentation promises: `make demo` (tests/demo/run.sh)
# previews, fails and rolls back, then completes the Pryv.io upgrade; the
# toy demo (tests/demo/toy.sh) upgrades the toy service; every runbook
# example in runbooks/README.md and stdlib/README.md loads and runs, or
# plans (exit 0; args from a leading "# runbook run|plan FILE ARGS"
# comment); the fs module's actions switch a
# symlink atomically, refuse a missing target or a non-symlink without
# touching anything, and create folders.
. "$(dirname "$0")/../lib.sh"

# --- the demo -----------------------------------------------------------------
# make demo: the Pryv.io upgrade previewed, failed and rolled back, then done
RUNBOOK="$RUNBOOK" sh "$TOP/tests/demo/run.sh" >"$out" 2>"$err" </dev/null
rc=$?
expect_rc 0 "make demo: the Pryv.io upgrade succeeds in the end"
out_has "every check passed"
out_has "(runbook plan exited 0)"
out_has "summary: failed at wait-core.wait; rolled back"
out_has "### after the rollback (runbook exited 1)"
check "the rollback puts /var/pryv back on 1.5" sh -c \
	'sed -n "/^### after the rollback/,/^###/p" "$1" | grep -qx "/var/pryv -> /var/pryv1.5"' _ "$out"
out_has "summary: succeeded"
check "the upgrade leaves /var/pryv on 1.6" sh -c \
	'sed -n "/^### afterwards/,/^###/p" "$1" | grep -qx "/var/pryv -> /var/pryv1.6"' _ "$out"
check "the database has all its documents after the upgrade" sh -c \
	'sed -n "/^### afterwards/,/^###/p" "$1" | grep -qx "  pryv-node.events: 10 documents"' _ "$out"
check "the demo leaves no sandbox behind" sh -c '! ls -d "$1" 2>/dev/null' _ \
	"$(sed -n 's/^### a Pryv.io 1.5 server (sandbox \(.*\))$/\1/p' "$out")"

# the first demo: a toy service upgraded by demo-upgrade
RUNBOOK="$RUNBOOK" sh "$TOP/tests/demo/toy.sh" >"$out" 2>"$err" </dev/null
rc=$?
expect_rc 0 "the toy demo: the demo upgrade succeeds"
out_has "summary: succeeded"
out_has "current -> releases/2.0"
out_has "running version 2.0"
out_has "approved by --yes"
out_has "release 2.0 renamed 'workers' to 'threads'"
check "the demo leaves no sandbox behind" sh -c '! ls -d "${TMPDIR:-/tmp}"/runbook-demo.* 2>/dev/null | grep -qF "$1"' _ \
	"$(sed -n 's/^### a sandbox with a toy service: //p' "$out")"

# The demo runbook by name, from the repository root; bad params are refused.
(cd "$TOP" && "$RUNBOOK" run demo-upgrade -p sandbox=relative/dir -p to=2 >"$out" 2>"$err" </dev/null)
rc=$?
expect_rc 2 "demo-upgrade by name: bad params refused"
err_has "'relative/dir' does not match the pattern '/.+'"
err_has "'2' does not match the pattern"

# --- the examples of the docs -------------------------------------------------
mkdir -p "$T/shim" "$T/docs"
cat >"$T/shim/systemctl" <<'EOF'
#!/bin/sh
echo "stub: systemctl $*"
[ "$1" = is-active ] && exit 3
exit 0
EOF
chmod +x "$T/shim/systemctl"
ex=$(mktemp -d "${TMPDIR:-/tmp}/rbdocs.XXXXXX")
mkdir -p "$ex/app/releases/1.0" "$ex/app/releases/2.0"
ln -s releases/1.0 "$ex/app/current"
for doc in runbooks/README.md stdlib/README.md; do
	d="$T/docs/$(dirname "$doc")"
	mkdir -p "$d/modules"
	# each ```yaml block: runbook → NAME.yml, module → modules/NAME.yml,
	# anything else (an inventory) → inventory.yml
	awk -v dir="$d" '
		/^```yaml$/ { inb = 1; n = 0; next }
		/^```$/ && inb {
			inb = 0; f = dir "/inventory.yml"
			for (i = 1; i <= n; i++) {
				if (l[i] ~ /^runbook: /) { split(l[i], a, " "); f = dir "/" a[2] ".yml"; break }
				if (l[i] ~ /^module: /) { split(l[i], a, " "); f = dir "/modules/" a[2] ".yml"; break }
			}
			for (i = 1; i <= n; i++) print l[i] > f
			close(f); next
		}
		inb { l[++n] = $0 }
	' "$TOP/$doc"
	for f in "$d"/*.yml; do
		[ "$(basename "$f")" = inventory.yml ] && continue
		# the stdlib examples work on a scratch app, not /tmp/runbook-example
		sed -i "s|/tmp/runbook-example|$ex|" "$f"
		# "# runbook run FILE ARGS" runs it; "# runbook plan FILE ARGS"
		# (the examples that drive services, containers and databases)
		# loads, checks and previews it without running anything
		verb=$(sed -n '1s/^# runbook \(run\|plan\) .*/\1/p' "$f")
		args=$(sed -n '1s/^# runbook [a-z]* [^ ]*//p' "$f")
		# shellcheck disable=SC2086
		# a module the page defines wins over the stdlib's of that name
		(cd "$d" && PATH="$T/shim:$PATH" RUNBOOK_PATH="$d/modules:$TOP/stdlib" \
			"$RUNBOOK" ${verb:-run} "$f" $([ "${verb:-run}" = run ] && echo --yes) $args \
			>"$out" 2>"$err" </dev/null)
		rc=$?
		expect_rc 0 "$doc: example $(basename "$f" .yml) ${verb:-run}s"
	done
done
rm -f /tmp/runbook-doc-history.log
check "the inventory example loads" sh -c 'cd "$1" && "$2" run hosts.yml --inventory inventory.yml >/dev/null 2>&1' _ \
	"$T/docs/runbooks" "$RUNBOOK"

# --- fs ---------------------------------------------------------------------
rbk=$(file fs.yml <<'EOF'
runbook: fs-actions
params:
  link: { required: true }
  target: { required: true }
  dir: { required: true }
steps:
  - id: made
    uses: fs.ensure-dir
    with: { path: "{{ dir }}", mode: "0700" }
  - id: again
    uses: fs.ensure-dir
    with: { path: "{{ dir }}" }
  - id: sw
    uses: fs.switch-symlink
    with: { link: "{{ link }}", target: "{{ target }}" }
EOF
)
app="$T/it's an app"
mkdir -p "$app/releases/1.0" "$app/releases/2.0"
ln -s releases/1.0 "$app/current"
RUNBOOK_PATH="$TOP/stdlib" rb run "$rbk" -p "link=$app/current" -p target=releases/2.0 -p "dir=$app/new/sub"
expect_rc 0 "fs: ensure-dir twice, then switch-symlink"
check "the link points at the new target" test "$(readlink "$app/current")" = releases/2.0
check "no temporary link is left" sh -c '! ls "$1" | grep -q runbook-tmp' _ "$app"
check "the folder exists with mode 700" test "$(stat -c %a "$app/new/sub")" = 700
out_has "created"
out_has "existed"

RUNBOOK_PATH="$TOP/stdlib" rb run "$rbk" -p "link=$app/current" -p target=releases/9.9 -p "dir=$app/new"
expect_rc 1 "fs.switch-symlink: a missing target fails the step"
out_has "nothing was changed: releases/9.9 does not exist"
check "the link is untouched" test "$(readlink "$app/current")" = releases/2.0

RUNBOOK_PATH="$TOP/stdlib" rb run "$rbk" -p "link=$app/releases" -p target=releases/1.0 -p "dir=$app/new"
expect_rc 1 "fs.switch-symlink: a link that is not a symlink fails the step"
out_has "is missing or is not a symlink"
check "the folder is untouched" test -d "$app/releases/1.0"

rm -rf "$ex"
