# tests/sandbox.sh — sourced after tests/lib.sh by the end-to-end tests of
# the stdlib modules and the shipped runbooks.  A sandbox is a folder that
# plays the target host: the runbook's paths point into it, and the
# commands that cannot exist on a test machine are the shims of
# tests/shims/, which keep their state in it (see tests/shims/_shim.sh).
#
#   sandbox NAME   makes $SB (=$T/sb) and $SHIM_STATE (=$SB/shim), runs
#                  tests/sandbox/NAME.sh (if any) to build the target's
#                  files, and renders tests/sandbox/NAME.yml (if any) into
#                  $INV (=$SB/inventory.yml): @SB@ becomes $SB, @TOP@ the
#                  repository.  The shims come first on PATH both in the
#                  inventory's env and in this shell.
#   inject RULE    adds a line to $SHIM_STATE/inject ("fail GLOB [MSG]",
#                  "failonce GLOB [MSG]", "hang GLOB")
#   uninject       removes every rule
#   called TEXT    passes when some call in calls.log contains TEXT
#   not_called TEXT
#   calls          prints calls.log
#   digest DIR...  one line per file/link/folder under DIRs (path, type,
#                  mode, content hash or link target), calls.log and the
#                  inject file left out: two equal digests = nothing changed
#   run_until_hang ARGS...  starts build/runbook ARGS in the background,
#                  waits until a shim hangs (an injected "hang"), then kills
#                  runbook with SIGKILL and the hanging shim with it (a
#                  crash of the operator's machine); $rc is 137
SHIMS="$TOP/tests/shims"

sandbox() {
	SB="$T/sb"
	SHIM_STATE="$SB/shim"
	INV="$SB/inventory.yml"
	export SB SHIM_STATE INV
	mkdir -p "$SHIM_STATE"
	PATH="$SHIMS:$PATH"
	export PATH
	if [ -f "$TOP/tests/sandbox/$1.sh" ]; then
		sh "$TOP/tests/sandbox/$1.sh" "$SB" || { echo "Bail out! sandbox $1 failed"; exit 1; }
	fi
	if [ -f "$TOP/tests/sandbox/$1.yml" ]; then
		sed -e "s|@SB@|$SB|g" -e "s|@TOP@|$TOP|g" "$TOP/tests/sandbox/$1.yml" >"$INV"
	fi
}

inject() { printf '%s\n' "$*" >>"$SHIM_STATE/inject"; }
uninject() { rm -f "$SHIM_STATE/inject" "$SHIM_STATE/hanging"; }
calls() { cat "$SHIM_STATE/calls.log" 2>/dev/null; }
called() { check "called: $1" grep -qF -- "$1" "$SHIM_STATE/calls.log"; }
not_called() { check "not called: $1" sh -c '! grep -qF -- "$1" "$2" 2>/dev/null' _ "$1" "$SHIM_STATE/calls.log"; }

digest() {
	for _d in "$@"; do
		(cd "$_d" 2>/dev/null && find . -path ./shim/calls.log -prune -o -path ./shim/inject -prune -o \
			-path ./shim/hanging -prune -o -print | LC_ALL=C sort | while IFS= read -r _f; do
			if [ -L "$_f" ]; then
				printf '%s l %s\n' "$_f" "$(readlink "$_f")"
			elif [ -d "$_f" ]; then
				printf '%s d %s\n' "$_f" "$(stat -c %a "$_f")"
			else
				printf '%s f %s %s\n' "$_f" "$(stat -c %a "$_f")" "$(md5sum <"$_f" | cut -c1-32)"
			fi
		done)
	done
}

run_until_hang() {
	rm -f "$SHIM_STATE/hanging"
	${RUNBOOK_WRAP:-} "$RUNBOOK" "$@" >"$out" 2>"$err" </dev/null &
	_rb=$!
	_i=0
	while [ ! -e "$SHIM_STATE/hanging" ] && [ $_i -lt 300 ] && kill -0 $_rb 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -9 $_rb 2>/dev/null
	wait $_rb
	rc=$?
	# the step's process group outlives runbook, as on a real crash; end
	# it, or resume would (rightly) wait for it
	_pid=$(cat "$SHIM_STATE/hanging" 2>/dev/null)
	_pg=$(ps -o pgid= -p "${_pid:-0}" 2>/dev/null | tr -d ' ')
	[ -n "$_pg" ] && kill -9 "-$_pg" 2>/dev/null  # dash: no "--" before a negative pid
	_i=0
	while [ -n "$_pg" ] && ! group_gone "$_pg" && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
	rm -f "$SHIM_STATE/hanging"
	return 0
}
