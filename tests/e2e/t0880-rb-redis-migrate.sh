#!/bin/sh
# t0880 — runbooks/redis-migrate.yml against two real redis-server
# instances on loopback, both with a password (tests/sandbox/redis-migrate):
# (4) plan and plan --check change nothing on either server and write no
# backup; (1) a clean run copies every key (strings, hashes, lists, sets,
# sorted sets, streams, TTLs, binary keys and values — compared by the test
# with redis-cli, type by type), backs both servers up as real RDB files,
# and `runbook rollback` empties the destination again; (2) a key changed
# on the destination while the run waits at the cut-over confirm fails the
# final verification and the rollback leaves the destination empty — and,
# into a destination that held keys (allow_nonempty, replace), exactly as
# it was; preconditions refuse a non-empty destination and a wrong
# password; (3) a run killed (SIGKILL, with its step) in the middle of the
# copy — the destination paused with CLIENT PAUSE WRITE so the copy is
# there for sure — is finished by `runbook resume`.  The passwords appear
# in no output, log, journal or backup folder.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

PWS='src-S3cret $(id) "q"'
PWD='dst-S3cret `x` ;'
export REDIS_FROM_PASSWORD="$PWS" REDIS_TO_PASSWORD="$PWD"
S=$RUNBOOK_STATE_DIR

sandbox redis-migrate

redis_start source --requirepass "$PWS"
PS=$port
redis_start destination --requirepass "$PWD"
PD=$port
src() { REDISCLI_AUTH=$PWS redis-cli -p "$PS" "$@"; }
dst() { REDISCLI_AUTH=$PWD redis-cli -p "$PD" "$@"; }

rbx() {
	rb "$@"
	cat "$out" "$err" >>"$T/all-output"
}
# the journal of run $1 holds a record $2 (e.g. "event":"step_pid","step":"migrate.copy")
journal_has() { grep -qF -- "$2" "$S/runs/$1/journal.jsonl" 2>/dev/null; }

check "the runbook lints clean" sh -c '"$1" lint "$2" >"$3" 2>&1 && grep -q "0 errors, 0 warnings" "$3"' _ \
	"$RUNBOOK" "$TOP/runbooks/redis-migrate.yml" "$T/lint.out"

# --- the data -------------------------------------------------------------
cat >"$T/data.cmds" <<'EOF'
SET plain hello
SET "bin\x00key\nwith newline" "\x00\x01\xff binary\r\nvalue"
SET "sp ace \"quoted\"" "it's $HOME"
HSET user:1 name Ada lang "C and Lisp" "f\x00" "\xfe"
RPUSH queue a b c a ""
SADD tags x y z "w\x00"
ZADD board 1.5 a 0.1 b -3 c
XADD events 1-1 kind start by op
XADD events 2-1 kind stop
SET session:ttl soon EX 3000
HSET session:h a 1
PEXPIRE session:h 5000000
EOF
awk 'BEGIN { for (i = 1; i <= 300; i++) print "SET session:" i " data-" i
	for (i = 1; i <= 200; i++) print "SADD bigset m" i }' \
	>>"$T/data.cmds"
src <"$T/data.cmds" >/dev/null
N=$(src DBSIZE)
check "the source holds the test data ($N keys)" test "$N" = 311
redis_snapshot "$PS" "$PWS" 0 >"$T/snap.source"
args="-p from_port=$PS -p to_port=$PD --inventory $INV"

# --- (4) plan changes nothing ---------------------------------------------
redis_snapshot "$PD" "$PWD" 0 >"$T/snap.dest0"
rbx plan redis-migrate $args
expect_rc 0 "plan"
out_has "redis.migrate"
rbx plan redis-migrate $args --check
expect_rc 0 "plan --check runs the preconditions and probes"
out_has "keys: 311"
redis_snapshot "$PS" "$PWS" 0 >"$T/snap.s"
redis_snapshot "$PD" "$PWD" 0 >"$T/snap.d"
check "plan changed nothing on the source" cmp -s "$T/snap.source" "$T/snap.s"
check "plan changed nothing on the destination (still empty)" sh -c 'cmp -s "$1" "$2" && test "$(REDISCLI_AUTH=$3 redis-cli -p $4 DBSIZE)" = 0' _ \
	"$T/snap.dest0" "$T/snap.d" "$PWD" "$PD"
check "plan wrote no backup" sh -c '[ -z "$(ls -A "$1")" ]' _ "$SB/backups"

# --- preconditions ----------------------------------------------------------
REDIS_TO_PASSWORD=wrong rbx run redis-migrate $args --yes
expect_rc 5 "a wrong destination password stops the run before anything"
out_has "does not answer PONG"
dst SET there 1 >/dev/null
rbx run redis-migrate $args --yes
expect_rc 5 "a destination that holds keys is refused"
out_has "holds keys already"
dst DEL there >/dev/null
rbx run redis-migrate -p from_port="$PS" -p to_port="$PS" --inventory "$INV" --yes
expect_rc 5 "the same database as source and destination is refused"
check "nothing was written by the refused runs" sh -c '[ -z "$(ls -A "$1")" ]' _ "$SB/backups"

# --- (1) a clean run ------------------------------------------------------
rbx run redis-migrate $args --yes
expect_rc 0 "a clean run"
run1=$(run_id)
check "the destination holds the $N keys" test "$(dst DBSIZE)" = "$N"
redis_snapshot "$PD" "$PWD" 0 >"$T/snap.d"
check "every key, value and TTL arrived (redis-cli, type by type)" cmp -s "$T/snap.source" "$T/snap.d"
check "the binary value arrived byte for byte" test \
	"$(printf 'GET "bin\\x00key\\nwith newline"\n' | dst | od -An -c | tr -d ' \n')" = \
	"$(printf '\000\001\377 binary\r\nvalue\n' | od -An -c | tr -d ' \n')"
t=$(dst TTL session:ttl)
check "a key with a TTL kept it ($t s)" test "$t" -gt 2900 -a "$t" -le 3000
check "a set of 200 members arrived whole" test "$(dst SCARD bigset)" = 200
check "the source still holds everything" test "$(src DBSIZE)" = "$N"
check "the source's backup is an RDB file" test "$(head -c 5 "$SB/backups/$run1-source.rdb")" = REDIS
check "the destination's backup is an RDB file" test "$(head -c 5 "$SB/backups/$run1-destination.rdb")" = REDIS
check "the key list is kept" test "$(wc -l <"$SB/backups/$run1-keys/keys")" = "$N"
out_has "compared: 311 keys, 0 differ"
out_has "Point the applications at 127.0.0.1:$PD/0 now"
rb status "$run1"
check "status: the run succeeded" grep -q 'succeeded' "$out"

rbx rollback "$run1" --yes
expect_rc 0 "rollback of the clean run"
check "the destination is empty again" test "$(dst DBSIZE)" = 0
check "the source is untouched" test "$(src DBSIZE)" = "$N"
check "the backups are kept" test -s "$SB/backups/$run1-source.rdb" -a -s "$SB/backups/$run1-destination.rdb"

# --- (2) a value changed on the destination before the cut-over -----------
rbx run redis-migrate $args -p writers_stopped=yes
expect_rc 4 "the run pauses at the cut-over confirm"
run2=$(run_id)
check "the keys were copied" test "$(dst DBSIZE)" = "$N"
dst HSET user:1 lang Rust >/dev/null
rbx resume "$run2" --yes
expect_rc 1 "the final verification fails"
out_has '"user:1" differs on the destination'
out_has "was it written to meanwhile?"
check "the rollback emptied the destination" test "$(dst DBSIZE)" = 0
redis_snapshot "$PS" "$PWS" 0 >"$T/snap.s"
check "... the source holds what it held" cmp -s "$T/snap.source" "$T/snap.s"
rb status "$run2"
check "status: rolled back" grep -q 'rolled back' "$out"

# into a destination that holds keys: replace=true, the failure puts back
# exactly what it held (user:1 its own value, other keys untouched)
dst HSET user:1 name Grace >/dev/null
dst EXPIRE user:1 9000 >/dev/null
dst SET other:1 mine >/dev/null
dst RPUSH other:2 x y >/dev/null
redis_snapshot "$PD" "$PWD" 0 >"$T/snap.before"
rbx run redis-migrate $args -p allow_nonempty=true -p writers_stopped=yes
expect_rc 1 "allow_nonempty without replace: a key both hold is refused"
out_has "of the keys already exist on the destination"
redis_snapshot "$PD" "$PWD" 0 >"$T/snap.d"
check "... and the destination is as it was" cmp -s "$T/snap.before" "$T/snap.d"
rbx run redis-migrate $args -p allow_nonempty=true -p replace=true -p writers_stopped=yes
expect_rc 4 "allow_nonempty + replace: paused at the cut-over"
run3=$(run_id)
check "the destination holds the $N keys and its own 2" test "$(dst DBSIZE)" = $((N + 2))
check "user:1 was replaced" test "$(dst HGET user:1 lang)" = "C and Lisp"
src SET session:late written-too-late >/dev/null
rbx resume "$run3" --yes
expect_rc 1 "a key written to the source meanwhile fails the final verification"
out_has "something still writes to the source"
redis_snapshot "$PD" "$PWD" 0 >"$T/snap.d"
check "the rollback put the destination back exactly as it was" cmp -s "$T/snap.before" "$T/snap.d"
check "... user:1 is Grace's again, with its TTL" sh -c 'test "$1" = Grace && test "$2" -gt 8000' _ \
	"$(dst HGET user:1 name)" "$(dst TTL user:1)"
src DEL session:late >/dev/null
dst FLUSHDB >/dev/null

# --- (3) killed during the copy, then resumed -----------------------------
rbx run redis-migrate $args
expect_rc 4 "the run pauses at the writers-stopped confirm"
run4=$(run_id)
# the destination takes no write from now: the copy's first RESTORE waits
dst CLIENT PAUSE 60000 WRITE >/dev/null
RUNBOOK_KILL_GRACE=300ms ${RUNBOOK_WRAP:-} "$RUNBOOK" resume "$run4" --yes >"$out" 2>"$err" </dev/null &
bgpid=$!
i=0
while ! journal_has "$run4" '"event":"step_pid","step":"migrate.copy"' && [ $i -lt 400 ] && ! gone $bgpid; do
	sleep 0.05
	i=$((i + 1))
done
check "the copy started" journal_has "$run4" '"event":"step_pid","step":"migrate.copy"'
pg=$(grep -F '"event":"step_pid","step":"migrate.copy"' "$S/runs/$run4/journal.jsonl" |
	sed -n 's/.*"pgid":\([0-9]*\).*/\1/p' | tail -n 1)
# the RESTORE that waits: a client of the destination holds one, postponed
i=0
while ! dst CLIENT LIST | grep -q 'cmd=restore' && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
check "the copy waits on the paused destination" sh -c 'REDISCLI_AUTH=$1 redis-cli -p $2 CLIENT LIST | grep -q "cmd=restore"' _ "$PWD" "$PD"
kill -KILL $bgpid
wait $bgpid
[ -n "$pg" ] && kill -KILL -"$pg" 2>/dev/null
i=0
while [ -n "$pg" ] && ! group_gone "$pg" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
bgpid=
cat "$out" "$err" >>"$T/all-output"
check "killed before the copy ended (no step_end)" sh -c '! grep -qF "\"event\":\"step_end\",\"step\":\"migrate.copy\"" "$1"' _ \
	"$S/runs/$run4/journal.jsonl"
# the killed client's postponed RESTORE must be gone before the pause
# ends, or the server could still run it (a race, not the runbook's)
i=0
while dst CLIENT LIST | grep -q 'cmd=restore' && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
dst CLIENT UNPAUSE >/dev/null
check "nothing was copied yet" test "$(dst DBSIZE)" = 0
rb status "$run4"
check "status: the copy was interrupted" grep -q 'interrupted' "$out"
rbx resume "$run4" --yes
expect_rc 0 "resume finishes the run"
out_has "copied: 311 of 311 keys"
redis_snapshot "$PD" "$PWD" 0 >"$T/snap.d"
check "every key, value and TTL arrived after the resume" cmp -s "$T/snap.source" "$T/snap.d"
check "the copy ran twice in the journal (interrupted, then again)" \
	test "$(grep -c '"event":"step_start","step":"migrate.copy"' "$S/runs/$run4/journal.jsonl")" -ge 2

# --- the passwords stay secret ----------------------------------------------
for pw in "$PWS" "$PWD"; do
	check "a password is in no output" sh -c '! grep -qF -- "$1" "$2"' _ "$pw" "$T/all-output"
	check "a password is in no log or journal" sh -c '! grep -rqF -- "$1" "$2"' _ "$pw" "$S"
	check "a password is in no backup or key list" sh -c '! grep -rqF -- "$1" "$2"' _ "$pw" "$SB/backups"
done
