#!/bin/sh
# t0965 — signals at random points.  SIGINT, SIGTERM and SIGHUP land at a
# random moment of a forward run, of the resumes that finish it, of a
# rollback and of the rollback a failure starts by itself; then the run
# is finished with `resume` or `rollback` (themselves interrupted again at
# random).  Whatever the moment: the exit is 130 (or the run had already
# ended), the journal replays, and in the end every step's effect
# happened exactly once, or every undo took effect (an undo interrupted
# half-way is run again: --rerun-interrupted, as undos are idempotent).  A
# terminal that closes (SIGHUP from the kernel) is recorded as such, and
# a reader that goes away (SIGPIPE at any point of the output) changes
# nothing.  The moments come from a seed printed first:
# SIGNAL_SEED=N replays a failing sequence.
. "$(dirname "$0")/../lib.sh"
seed=${SIGNAL_SEED:-$(date +%s)}
echo "# SIGNAL_SEED=$seed"
D=$T/d

# moments: "DELAY_MS SIGNAL" lines, as many as asked, from the seed
awk -v s="$seed" 'BEGIN { srand(s); split("INT TERM HUP", n, " ");
	for (i = 0; i < 400; i++) printf "%d %s\n", int(rand() * 700), n[1 + int(rand() * 3)] }' >"$T/moments"
mi=0
next_moment() {
	mi=$((mi + 1))
	set -- $(sed -n "${mi}p" "$T/moments")
	ms=$1
	delay=$(awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }')
	sig=$2
}

# twelve steps; each appends its number to effects (its check sees it),
# each undo removes it and notes it in undone
rbk=$(
	{
		printf 'runbook: shots\nparams:\n  d: { required: true }\n  fail: { default: "no" }\n'
		printf 'on_failure: rollback\nsteps:\n'
		for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
			printf '  - id: s%s\n' "$i"
			printf '    run: echo %s >> {{ d }}/effects; sleep 0.04\n' "$i"
			printf '    check: grep -qx %s {{ d }}/effects\n' "$i"
			printf '    undo: sed -i "/^%s$/d" {{ d }}/effects; echo %s >> {{ d }}/undone; sleep 0.03\n' "$i" "$i"
		done
		printf '  - id: last\n    run: test "{{ fail }}" = no\n'
	} | file shots.yml
)

# interrupt ARGS: runbook ARGS in the background; once it has begun (its
# first line is out: the signals it gets before are not its to handle),
# the next moment's signal after its delay.  Sets rc.
interrupt() {
	next_moment
	: >"$out" # not the last command's: start's own redirection may come late
	start "$@"
	wait_for "$out"
	sleep "$delay"
	kill -"$sig" "$bgpid" 2>/dev/null
	finish
	[ "$rc" = 130 ] && landed="$landed $sig"
}
# landed WHAT: how many signals ended a command, of each kind
landed=
report_landed() {
	echo "# $1: $(echo $landed | wc -w) signals landed (INT $(echo $landed | tr ' ' '\n' | grep -c INT)," \
		"TERM $(echo $landed | tr ' ' '\n' | grep -c TERM), HUP $(echo $landed | tr ' ' '\n' | grep -c HUP))"
	landed=
}
# the run begun last, for the runs whose output is not in $out
newest_run() { ls -t "$RUNBOOK_STATE_DIR/runs" | head -n 1; }
state() { "$RUNBOOK" status "$1" 2>/dev/null | sed -n 's/^  state *//p'; }

bad=0
# note WHAT COND...: counts a broken invariant without one line per round
note() {
	what=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		bad=$((bad + 1))
		echo "# round $round ($sig after ${delay}s): $what" >&2
		[ -s "$out" ] && sed 's/^/#   out: /' "$out" | tail -8 >&2
		[ -s "$err" ] && sed 's/^/#   err: /' "$err" | tail -4 >&2
	fi
}
# rc_in CODE...: the last exit was one of CODE; rc_ok: or 130
rc_in() {
	for c in "$@"; do [ "$rc" = "$c" ] && return 0; done
	return 1
}
rc_ok() { [ "$rc" = 130 ] || rc_in "$@"; }
exactly_once() { [ "$(cat "$D/effects" 2>/dev/null | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 11 12 " ]; }
all_undone() {
	[ ! -s "$D/effects" ] && [ "$(sort -n "$D/undone" | uniq | wc -l)" = 12 ]
}

# take_up VERB WANT OKS [ARGS]: VERB (resume, rollback, or "either": while
# the run rolls back, rollback in even rounds) on $rid until its state is
# WANT — the first three times interrupted at random, then plainly; an
# uninterrupted VERB must exit with one of OKS
take_up() {
	verb=$1 want=$2 oks=$3
	shift 3
	tries=0
	while [ "$(state "$rid")" != "$want" ] && [ $tries -lt 6 ]; do
		tries=$((tries + 1))
		v=$verb
		if [ "$verb" = either ]; then
			v=resume
			[ $((round % 2)) = 0 ] && case $(state "$rid") in *roll*) v=rollback ;; esac
		fi
		if [ $tries -lt 4 ]; then
			interrupt $v "$rid" "$@"
			note "$v: exit 130 or one of $oks (was $rc)" rc_ok $oks
		else
			rb $v "$rid" "$@"
			note "$v without a signal: exit one of $oks (was $rc)" rc_in $oks
		fi
		note "$v: the journal replays" "$RUNBOOK" status "$rid"
	done
	note "the run ends $want (is $(state "$rid"))" test "$(state "$rid")" = "$want"
}

# rounds WHAT FUNC: FUNC once a round, in an empty $D; one check that
# every invariant held in all the rounds
nrounds=10
rounds() {
	bad=0
	round=0
	while [ $round -lt $nrounds ]; do
		round=$((round + 1))
		rm -rf "$D"
		mkdir -p "$D"
		$2
	done
	report_landed "$1"
	check "$1, $nrounds rounds interrupted at random: every invariant held" test $bad = 0
}

# --- forward runs, finished by resumes interrupted in turn ------------------
forward() {
	interrupt run "$rbk" -p "d=$D"
	note "run: exit 130 or 0 (was $rc)" rc_ok 0
	rid=$(run_id)
	note "run: the journal replays" "$RUNBOOK" status "$rid"
	take_up resume succeeded 0
	note "forward: each step's effect happened exactly once" exactly_once
}
rounds "forward runs and resumes" forward

# --- rollbacks of a finished run, interrupted and taken up again ----------
rollbacks() {
	rb run "$rbk" -p "d=$D"
	rid=$(run_id)
	take_up rollback "rolled back" 0 --yes --rerun-interrupted
	note "rollback: every undo took effect" all_undone
}
rounds "rollbacks" rollbacks

# --- a failure that rolls back by itself, interrupted anywhere --------------
# finished with resume (an interrupted forward part: the failing step runs
# again and rolls back) or, once the rollback began, rollback
failing() {
	interrupt run "$rbk" -p "d=$D" -p fail=yes
	note "failing run: exit 130 or 1 (was $rc)" rc_ok 1
	rid=$(run_id)
	note "failing run: the journal replays" "$RUNBOOK" status "$rid"
	take_up either "rolled back" "0 1" --yes --rerun-interrupted
	note "failure: every undo took effect" all_undone
}
rounds "failing runs rolling back" failing

# --- the terminal closes: SIGHUP from the kernel -------------------------------
if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	rm -rf "$D"
	mkdir -p "$D"
	hup=$(file hup.yml <<'EOF2'
runbook: hup
params:
  d: { required: true }
steps:
  - id: one
    run: echo one >> {{ d }}/one
  - id: long
    run: echo $$ > {{ d }}/pid; sleep 60
    check: test -s {{ d }}/pid
  - id: three
    run: echo three >> {{ d }}/three
EOF2
)
	# script(1) owns the terminal; killing it closes the terminal's
	# master side: the kernel hangs the terminal up and sends SIGHUP
	script -qec "'$RUNBOOK' run '$hup' -p 'd=$D'" /dev/null >/dev/null 2>&1 </dev/null &
	spid=$!
	if wait_for "$D/pid"; then
		kill -KILL "$spid"
	fi
	wait "$spid" 2>/dev/null
	i=0
	while pgrep -f "run $hup" >/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	rid=$(newest_run)
	j=$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl
	check "terminal closed: the run ended" sh -c '! pgrep -f "run $1" >/dev/null' _ "$hup"
	check "terminal closed: the step's process is gone" gone "$(cat "$D/pid" 2>/dev/null)"
	check "terminal closed: the journal says why" grep -q '"reason":"interrupted by SIGHUP (a hangup, as when the terminal is closed)"' "$j"
	check "terminal closed: the run ended interrupted, exit 130" \
		sh -c 'tail -n 1 "$1" | grep -q "\"event\":\"run_end\",\"status\":\"interrupted\",\"exit\":130"' _ "$j"
	check "terminal closed: step three did not run" test ! -e "$D/three"
	rb resume "$rid"
	expect_rc 0 "terminal closed: resume finishes the run"
	check "terminal closed: then step three ran once" test "$(cat "$D/three" 2>/dev/null)" = three
	check "terminal closed: step one ran once" test "$(cat "$D/one" 2>/dev/null)" = one
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP no working script(1) for a pseudo-terminal"
fi

# --- a reader that goes away at any point (SIGPIPE, then EPIPE) ------------
bad=0
round=0
while [ $round -lt 8 ]; do
	round=$((round + 1))
	next_moment
	bytes=$((ms * 3 + 1))
	rm -rf "$D"
	mkdir -p "$D"
	{ ${RUNBOOK_WRAP:-} "$RUNBOOK" run "$rbk" -p "d=$D" </dev/null 2>"$err"; echo $? >"$T/pipe-rc"; } | head -c "$bytes" >/dev/null
	rc=$(cat "$T/pipe-rc")
	note "a reader gone after $bytes bytes: exit 0 (was $rc)" test "$rc" = 0
	note "a reader gone after $bytes bytes: every step ran once" exactly_once
	rid=$(newest_run)
	{ "$RUNBOOK" status "$rid" 2>"$err"; echo $? >"$T/pipe-rc"; } | head -c "$bytes" >/dev/null
	rc=$(cat "$T/pipe-rc")
	note "status into a reader gone after $bytes bytes: exit 0 or 1, no crash (was $rc)" \
		sh -c '[ "$1" = 0 ] || [ "$1" = 1 ]' _ "$rc"
	{ "$RUNBOOK" plan "$rbk" -p "d=$D" 2>"$err"; echo $? >"$T/pipe-rc"; } | head -c "$bytes" >/dev/null
	rc=$(cat "$T/pipe-rc")
	note "plan into a reader gone after $bytes bytes: exit 0 or 1, no crash (was $rc)" \
		sh -c '[ "$1" = 0 ] || [ "$1" = 1 ]' _ "$rc"
done
check "readers that go away, 8 rounds at random points: every invariant held" test $bad = 0

