# tests/shims/_shim.sh — sourced by every shim in tests/shims/.
#
# A shim stands in for a command that cannot exist on a test machine
# (systemctl, docker, mongodump, rancher, ...).  It records each call, can
# be told to fail or hang, and keeps the state it simulates under
# $SHIM_STATE (the sandbox's folder), so a test can check what a runbook
# did and what it left.
#
#   $SHIM_STATE/calls.log   one line per call: "NAME ARG ARG ..."
#   $SHIM_STATE/inject      lines "fail GLOB [MESSAGE]", "failonce GLOB
#                           [MESSAGE]" or "hang GLOB", GLOB a shell pattern
#                           matched against "NAME ARG ARG ..."; the first
#                           matching line wins.  fail: print MESSAGE (or
#                           "NAME: injected failure") on stderr, exit 1.
#                           failonce: the same, and the line is removed.
#                           hang: write its pid to $SHIM_STATE/hanging, then sleep
#                           until killed (a test kills runbook meanwhile).
#
# Usage in a shim:  . "$(dirname "$0")/_shim.sh"; shim_begin NAME "$@"
set -u
if [ -z "${SHIM_STATE:-}" ]; then
	echo "${0##*/}: SHIM_STATE is not set (this is a test shim, not the real command)" >&2
	exit 127
fi
mkdir -p "$SHIM_STATE"

# shim_begin NAME ARGS...: record the call, then apply an injected fault.
shim_begin() {
	_shim_name=$1
	shift
	_shim_line="$_shim_name${*:+ $*}"
	printf '%s\n' "$_shim_line" >>"$SHIM_STATE/calls.log"
	[ -f "$SHIM_STATE/inject" ] || return 0
	_shim_n=0
	while IFS= read -r _shim_rule || [ -n "$_shim_rule" ]; do
		_shim_n=$((_shim_n + 1))
		_shim_kind=${_shim_rule%% *}
		_shim_rest=${_shim_rule#* }
		# the glob is the first word after the kind; a quoted glob with
		# spaces is written with '*' instead of the spaces
		_shim_glob=${_shim_rest%% *}
		_shim_msg=
		[ "$_shim_glob" != "$_shim_rest" ] && _shim_msg=${_shim_rest#* }
		# shellcheck disable=SC2254
		case "$_shim_line" in
		$_shim_glob) ;;
		*) continue ;;
		esac
		case "$_shim_kind" in
		fail | failonce)
			if [ "$_shim_kind" = failonce ]; then
				sed -i "${_shim_n}d" "$SHIM_STATE/inject"
			fi
			echo "${_shim_msg:-$_shim_name: injected failure}" >&2
			exit 1
			;;
		hang)
			echo $$ >"$SHIM_STATE/hanging"
			while :; do sleep 1; done
			;;
		esac
	done <"$SHIM_STATE/inject"
	return 0
}
