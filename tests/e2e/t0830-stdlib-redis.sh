#!/bin/sh
# t0830 — stdlib/redis.yml against two real redis-server instances on
# loopback (the second with requirepass): ping and wait (a server that
# starts while the action waits; a refused password; nothing listening),
# count (whole database, a pattern, another db), backup (a real RDB that a
# third server loads with the same keys; an existing file is refused),
# migrate (strings, hashes, lists, sets, sorted sets, streams, TTLs, binary
# keys and values arrive exactly — checked with redis-cli, independently of
# the module's own digests; a pattern into another db; conflicts refused;
# replace=true overwrites and the undo puts the old value back; a copy that
# fails half-way, out of memory, is undone by the group's undo), verify
# (a value changed on the destination is named), flush (the guard refuses
# a wrong target; the undo restores every key with its TTL), and the
# password never appears in the output, the logs, the journal or the
# workdirs.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

PW='s3cr3t "pa$$" w0rd'
export T_REDIS_PW="$PW"

# cli PORT [DB] ARGS: redis-cli on a test server (the password server
# gets it through the environment, as the module does)
cli() {
	_p=$1
	shift
	if [ "$_p" = "$P2" ]; then
		REDISCLI_AUTH=$PW redis-cli -p "$_p" "$@"
	else
		redis-cli -p "$_p" "$@"
	fi
}
# every rb's output is kept, to look for the password at the end
rbx() {
	rb "$@"
	cat "$out" "$err" >>"$T/all-output"
}

redis_start r1
P1=$port
redis_start r2 --requirepass "$PW"
P2=$port

check "the module lints clean" sh -c '"$1" lint "$2" >"$3" 2>&1 && grep -q "0 errors, 0 warnings" "$3"' _ \
	"$RUNBOOK" "$TOP/stdlib/redis.yml" "$T/lint.out"

# --- the data: every type, TTLs, binary keys and values -----------------
cat >"$T/data.cmds" <<'EOF'
SET plain hello
SET "bin\x00key\nwith newline" "\x00\x01\xff binary\r\nvalue"
SET "sp ace \"quoted\" 'single'" "it's $HOME"
HSET user:1 name Ada lang "C and Lisp" "f\x00" "\xfe"
RPUSH queue a b c a ""
SADD tags x y z "w\x00"
ZADD board 1.5 a 0.1 b -3 c 1e10 d
XADD events 1-1 kind start by op
XADD events 2-1 kind stop
SET ttl:s soon EX 3000
HSET ttl:h a 1
PEXPIRE ttl:h 5000000
EOF
awk 'BEGIN { for (i = 1; i <= 300; i++) print "SET sess:" i " session-" i
	for (i = 1; i <= 150; i++) print "SADD bigset m" i }' >>"$T/data.cmds"
cli "$P1" <"$T/data.cmds" >/dev/null
total=$(cli "$P1" DBSIZE)
check "the source holds the test data (311 keys)" test "$total" = 311

# --- ping -----------------------------------------------------------------
rbk=$(file ping.yml <<'EOF'
runbook: t-ping
params:
  port: { required: true }
  pw: { secret: true, env: T_PW }
steps:
  - id: ping
    uses: redis.ping
    with: { port: "{{ port }}", password: "{{ pw }}" }
EOF
)
rbx run "$rbk" -p port="$P1"
expect_rc 0 "ping: a server without a password answers"
T_PW=$PW rbx run "$rbk" -p port="$P2"
expect_rc 0 "ping: the password server answers with its password (REDISCLI_AUTH)"
rbx run "$rbk" -p port="$P2"
expect_rc 1 "ping: the password server without a password fails"
out_has "the server asks for a password"
T_PW=wrong rbx run "$rbk" -p port="$P2"
expect_rc 1 "ping: a wrong password fails"
out_has "the server refused the password"
redis_start r9
P9=$port
redis_stop r9
rbx run "$rbk" -p port="$P9"
expect_rc 1 "ping: nothing listening fails"
out_has "nothing answers at 127.0.0.1:$P9"

# --- wait -----------------------------------------------------------------
rbk=$(file wait.yml <<'EOF'
runbook: t-wait
params:
  port: { required: true }
  pw: { secret: true, env: T_PW }
  timeout: { default: "20" }
steps:
  - id: wait
    uses: redis.wait
    with: { port: "{{ port }}", password: "{{ pw }}", timeout: "{{ timeout }}" }
EOF
)
rbx run "$rbk" -p port="$P9" -p timeout=1
expect_rc 1 "wait: gives up after its timeout when nothing listens"
out_has "no PONG from 127.0.0.1:$P9 after 1 s"
# a server that starts while the action waits (same port, r9 again)
T_PW=$PW start run "$rbk" -p port="$P9"
wait_for "$out" "wait until the server answers PONG"
redis-server --port "$P9" --bind 127.0.0.1 --save '' --dir "$T/redis/r9" --requirepass "$PW" \
	--logfile "$T/redis/r9/log" --daemonize no >/dev/null 2>&1 &
echo $! >"$T/redis/r9/redis.pid"
finish
bgpid=
cat "$out" "$err" >>"$T/all-output"
expect_rc 0 "wait: returns once a server starts and answers PONG"
T_PW=wrong rbx run "$rbk" -p port="$P9" -p timeout=20
expect_rc 1 "wait: a refused password ends the wait at once"
check "... well before the timeout (no 'after 20 s')" sh -c '! grep -q "after 20 s" "$1"' _ "$err"
out_has "the server refused the password"
redis_stop r9

# --- count ----------------------------------------------------------------
rbk=$(file count.yml <<'EOF'
runbook: t-count
params:
  port: { required: true }
  pw: { secret: true, env: T_PW }
  db: { default: "0" }
  pattern: { default: "*" }
steps:
  - id: count
    uses: redis.count
    with: { port: "{{ port }}", password: "{{ pw }}", db: "{{ db }}", pattern: "{{ pattern }}" }
  # the caller reads the action's "keys: N" from its stdout
  - id: show
    run: 'echo "counted {{ steps.count.stdout }}"'
    probe: true
EOF
)
rbx run "$rbk" -p port="$P1"
expect_rc 0 "count: the whole database"
out_has "counted keys: 311"
rbx run "$rbk" -p port="$P1" -p pattern='sess:*'
expect_rc 0 "count: a pattern"
out_has "counted keys: 300"
rbx run "$rbk" -p port="$P1" -p pattern='*newline*'
out_has "counted keys: 1"
rbx run "$rbk" -p port="$P1" -p db=3
out_has "counted keys: 0"
# an empty SCAN page prints "0", (a trailing comma): still a cursor
rbx run "$rbk" -p port="$P1" -p db=3 -p pattern='x*'
expect_rc 0 "count: a pattern on an empty database"
out_has "counted keys: 0"
T_PW=$PW rbx run "$rbk" -p port="$P2"
expect_rc 0 "count: on the password server"
out_has "counted keys: 0"

# --- backup ---------------------------------------------------------------
rbk=$(file backup.yml <<'EOF'
runbook: t-backup
params:
  port: { required: true }
  pw: { secret: true, env: T_PW }
  to: { required: true }
steps:
  - id: backup
    uses: redis.backup
    with: { port: "{{ port }}", password: "{{ pw }}", to: "{{ to }}" }
EOF
)
mkdir -p "$T/bk"
rbx run "$rbk" -p port="$P1" -p to="$T/bk/source.rdb"
expect_rc 0 "backup: the source"
check "the backup starts with the RDB magic" test "$(head -c 5 "$T/bk/source.rdb")" = REDIS
check "no partial file is left" sh -c '! ls "$1" | grep -q partial' _ "$T/bk"
# a third server loads the backup: the same keys come back
mkdir -p "$T/redis/r3"
cp "$T/bk/source.rdb" "$T/redis/r3/dump.rdb"
redis_start r3 --dbfilename dump.rdb
P3=$port
check "a server started on the backup holds the same 311 keys" test "$(cli "$P3" DBSIZE)" = 311
redis_snapshot "$P1" "" 0 >"$T/snap.src"
redis_snapshot "$P3" "" 0 >"$T/snap.r3"
check "... with the same values" cmp -s "$T/snap.src" "$T/snap.r3"
redis_stop r3
sum=$(md5sum <"$T/bk/source.rdb")
rbx run "$rbk" -p port="$P1" -p to="$T/bk/source.rdb"
expect_rc 1 "backup: an existing file is refused"
out_has "holds an earlier backup"
check "... and left as it was" test "$(md5sum <"$T/bk/source.rdb")" = "$sum"
T_PW=$PW rbx run "$rbk" -p port="$P2" -p to="$T/bk/dest.rdb"
expect_rc 0 "backup: the password server"
check "its backup is an RDB file too" test "$(head -c 5 "$T/bk/dest.rdb")" = REDIS
rbx run "$rbk" -p port="$P1" -p to="$T/nodir/x.rdb"
expect_rc 1 "backup: a missing folder fails"
out_has "create its folder first"

# --- migrate --------------------------------------------------------------
rbk=$(file migrate.yml <<'EOF'
runbook: t-migrate
params:
  from_port: { required: true }
  to_port: { required: true }
  from_pw: { secret: true, env: T_FROM_PW }
  to_pw: { secret: true, env: T_TO_PW }
  to_db: { default: "0" }
  pattern: { default: "*" }
  work: { required: true }
  replace: { default: "false" }
steps:
  - id: migrate
    uses: redis.migrate
    with:
      from_port: "{{ from_port }}"
      from_password: "{{ from_pw }}"
      to_port: "{{ to_port }}"
      to_password: "{{ to_pw }}"
      to_db: "{{ to_db }}"
      pattern: "{{ pattern }}"
      workdir: "{{ work }}"
      replace: "{{ replace }}"
EOF
)
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w1"
expect_rc 0 "migrate: every key to the password server"
mig1=$(run_id)
out_has "copied: 311 of 311 keys"
out_has "compared: 311 keys, 0 differ"
check "the destination holds 311 keys" test "$(cli "$P2" DBSIZE)" = 311
redis_snapshot "$P2" "$PW" 0 >"$T/snap.dst"
check "every key, value and expiry arrived (redis-cli, type by type)" cmp -s "$T/snap.src" "$T/snap.dst"
check "the binary value arrived byte for byte" test \
	"$(printf 'GET "bin\\x00key\\nwith newline"\n' | cli "$P2" | od -An -c | tr -d ' \n')" = \
	"$(printf '\000\001\377 binary\r\nvalue\n' | od -An -c | tr -d ' \n')"
check "a hash arrived" test "$(cli "$P2" HGET user:1 lang)" = "C and Lisp"
check "a list arrived in order" test "$(cli "$P2" LRANGE queue 0 -1 | tr '\n' ,)" = "a,b,c,a,,"
check "a sorted set arrived with its scores" test "$(cli "$P2" --csv ZRANGE board 0 -1 WITHSCORES)" = \
	'"c","-3","b","0.10000000000000001","a","1.5","d","10000000000"'
check "a stream arrived" test "$(cli "$P2" XLEN events)" = 2
check "a set of 150 members arrived" test "$(cli "$P2" SCARD bigset)" = 150
t=$(cli "$P2" TTL ttl:s)
check "a key with a TTL kept it (EX 3000 -> $t)" test "$t" -gt 2900 -a "$t" -le 3000
t=$(cli "$P2" PTTL ttl:h)
check "a hash with a PEXPIRE kept it ($t ms)" test "$t" -gt 4900000
check "a key without a TTL has none" test "$(cli "$P2" TTL plain)" = -1
check "the workdir lists every key" test "$(wc -l <"$T/w1/keys")" = 311

# the workdir of a migration is not reused
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w1"
expect_rc 1 "migrate: a used workdir is refused"
out_has "belongs to an earlier migration"

# a pattern nothing matches: nothing to copy, nothing to compare
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p to_db=4 -p pattern='none:*' -p work="$T/w0"
expect_rc 0 "migrate: a pattern that matches nothing copies nothing"
out_has "copied: 0 of 0 keys"
out_has "compared: 0 keys, 0 differ"

# conflicts: the destination already holds the keys (replace=false)
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w2"
expect_rc 1 "migrate: keys the destination holds are refused"
out_has "of the keys already exist on the destination"
out_has "remove those keys from the destination, or pass replace=true"
redis_snapshot "$P2" "$PW" 0 >"$T/snap.dst2"
check "... and the destination is left as it was" cmp -s "$T/snap.dst" "$T/snap.dst2"

# rollback of the first migration: the destination is empty again
T_TO_PW=$PW rbx rollback "$mig1" --yes
expect_rc 0 "rollback of the migration"
check "the destination is empty again" test "$(cli "$P2" DBSIZE)" = 0

# a pattern into another database
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p to_db=2 -p pattern='sess:*' -p work="$T/w3"
expect_rc 0 "migrate: a pattern, into db 2"
check "db 2 holds the 300 sess keys" test "$(cli "$P2" -n 2 DBSIZE)" = 300
check "... with their values" test "$(cli "$P2" -n 2 GET sess:77)" = session-77
check "db 0 is untouched" test "$(cli "$P2" DBSIZE)" = 0
cli "$P2" -n 2 FLUSHDB >/dev/null

# replace=true: a key the destination held is overwritten, and put back
cli "$P2" HSET user:1 name Grace >/dev/null
cli "$P2" EXPIRE user:1 7000 >/dev/null
cli "$P2" SET only-here mine >/dev/null
redis_snapshot "$P2" "$PW" 0 >"$T/snap.before"
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w4" -p replace=true
expect_rc 0 "migrate: replace=true overwrites the keys the destination holds"
mig4=$(run_id)
out_has "on the destination already: 1 of 311 keys"
check "the destination holds 312 keys" test "$(cli "$P2" DBSIZE)" = 312
check "user:1 has the source's value" test "$(cli "$P2" HGET user:1 lang)" = "C and Lisp"
check "... and the source's (lack of) TTL" test "$(cli "$P2" TTL user:1)" = -1
T_TO_PW=$PW rbx rollback "$mig4" --yes
expect_rc 0 "rollback of the replacing migration"
redis_snapshot "$P2" "$PW" 0 >"$T/snap.after"
check "the destination holds exactly what it held before (user:1 put back, with a TTL)" \
	cmp -s "$T/snap.before" "$T/snap.after"
check "... user:1 is Grace's again" test "$(cli "$P2" HGET user:1 name)" = Grace
cli "$P2" FLUSHDB >/dev/null

# a copy that fails half-way (out of memory): the group's undo removes
# the keys it had restored
big=$(awk 'BEGIN { s = ""; for (i = 0; i < 2000; i++) s = s "x"; print s }')
awk -v v="$big" 'BEGIN { for (i = 1; i <= 2000; i++) print "SET big:" i " " v }' | cli "$P1" -n 1 >/dev/null
used=$(cli "$P2" INFO memory | tr -d '\r' | sed -n 's/^used_memory://p')
cli "$P2" CONFIG SET maxmemory-policy noeviction >/dev/null
cli "$P2" CONFIG SET maxmemory $((used + 1000000)) >/dev/null
rbk=$(file migrate-db1.yml <<'EOF'
runbook: t-migrate-db1
params:
  from_port: { required: true }
  to_port: { required: true }
  to_pw: { secret: true, env: T_TO_PW }
  work: { required: true }
steps:
  - id: migrate
    uses: redis.migrate
    with:
      from_port: "{{ from_port }}"
      from_db: "1"
      to_port: "{{ to_port }}"
      to_password: "{{ to_pw }}"
      workdir: "{{ work }}"
EOF
)
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w5"
expect_rc 1 "migrate: a copy that runs out of memory fails"
out_has "the destination is out of memory"
check "some keys had been copied before the failure" test "$(wc -l <"$T/w5/copied")" -gt 0
check "... and the rollback removed them all" test "$(cli "$P2" DBSIZE)" = 0
out_has "rollback: 1 undone"
cli "$P2" CONFIG SET maxmemory 0 >/dev/null
cli "$P1" -n 1 FLUSHDB >/dev/null

# --- verify ---------------------------------------------------------------
T_TO_PW=$PW rbx run "$T/migrate.yml" -p from_port="$P1" -p to_port="$P2" -p work="$T/w6"
expect_rc 0 "migrate again, for verify"
rbk=$(file verify.yml <<'EOF'
runbook: t-verify
params:
  from_port: { required: true }
  to_port: { required: true }
  to_pw: { secret: true, env: T_TO_PW }
  work: { required: true }
  sample: { default: "0" }
steps:
  - id: verify
    uses: redis.verify
    with:
      from_port: "{{ from_port }}"
      to_port: "{{ to_port }}"
      to_password: "{{ to_pw }}"
      workdir: "{{ work }}"
      sample: "{{ sample }}"
EOF
)
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w6" -p sample=50
expect_rc 0 "verify: a sample of 50 keys"
out_has "compared: 50 keys, 0 differ"
cli "$P2" SADD bigset m151 >/dev/null
cli "$P2" HSET user:1 lang Rust >/dev/null
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w6"
expect_rc 1 "verify: values changed on the destination fail"
check "the changed keys are named" sh -c 'grep -q "\"bigset\" differs" "$1" && grep -q "\"user:1\" differs" "$1"' _ "$out"
out_has "compared: 311 keys, 2 differ"
out_has "was it written to meanwhile?"
cli "$P2" SREM bigset m151 >/dev/null
cli "$P2" HSET user:1 lang "C and Lisp" >/dev/null
cli "$P2" EXPIRE user:1 100 >/dev/null
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w6"
expect_rc 1 "verify: a TTL the source's key does not have is a difference"
out_has "compared: 311 keys, 1 differ"
cli "$P2" PERSIST user:1 >/dev/null
# counts: a key written on either side since the copy
cli "$P1" SET late:1 x >/dev/null
cli "$P2" SET stray:1 y >/dev/null
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w6"
expect_rc 1 "verify: keys written since the copy fail"
out_has "source: 312 keys match now, 311 were listed; destination: 312 keys, at most 311 expected"
out_has "something still writes to the source"
out_has "something writes to the destination already"
out_has "compared: 311 keys, 0 differ"
cli "$P1" DEL late:1 >/dev/null
cli "$P2" DEL stray:1 >/dev/null
T_TO_PW=$PW rbx run "$rbk" -p from_port="$P1" -p to_port="$P2" -p work="$T/w6"
expect_rc 0 "verify: passes again once they are gone"

# --- flush ----------------------------------------------------------------
rbk=$(file flush.yml <<'EOF'
runbook: t-flush
params:
  port: { required: true }
  pw: { secret: true, env: T_PW }
  confirm: { required: true }
  save: { required: true }
steps:
  - id: flush
    uses: redis.flush
    with: { port: "{{ port }}", password: "{{ pw }}", db: "0", confirm: "{{ confirm }}", save: "{{ save }}" }
  - id: after
    run: exit "${T_FAIL_AFTER:-0}"
    check: "true"
    undo: "true"
EOF
)
redis_snapshot "$P2" "$PW" 0 >"$T/snap.flush0"
n0=$(cli "$P2" DBSIZE)
T_PW=$PW rbx run "$rbk" -p port="$P2" -p confirm="127.0.0.1:$P1/0" -p save="$T/bk/flush.keys"
expect_rc 1 "flush: a confirm that names another server is refused"
out_has "pass confirm=127.0.0.1:$P2/0 to empty that database"
check "... nothing was flushed" test "$(cli "$P2" DBSIZE)" = "$n0"
check "... nothing was saved" test ! -e "$T/bk/flush.keys"
T_PW=$PW T_FAIL_AFTER=1 rbx run "$rbk" -p port="$P2" -p confirm="127.0.0.1:$P2/0" -p save="$T/bk/flush.keys"
expect_rc 1 "flush, then a failing step: rolled back"
check "every key was saved first ($n0)" test "$(wc -l <"$T/bk/flush.keys")" = "$n0"
out_has "restored $n0 keys"
redis_snapshot "$P2" "$PW" 0 >"$T/snap.flush1"
check "the rollback restored every key, value and TTL" cmp -s "$T/snap.flush0" "$T/snap.flush1"
T_PW=$PW rbx run "$rbk" -p port="$P2" -p confirm="127.0.0.1:$P2/0" -p save="$T/bk/flush.keys"
expect_rc 1 "flush: an existing save file is refused"
check "... nothing was flushed" test "$(cli "$P2" DBSIZE)" = "$n0"
T_PW=$PW rbx run "$rbk" -p port="$P2" -p confirm="127.0.0.1:$P2/0" -p save="$T/bk/flush2.keys"
expect_rc 0 "flush: the guarded target is emptied"
check "the destination is empty" test "$(cli "$P2" DBSIZE)" = 0

# --- the password stays secret --------------------------------------------
check "the password is in no output" sh -c '! grep -qF -- "$1" "$2"' _ "$PW" "$T/all-output"
check "the password is in no log or journal" sh -c '! grep -rqF -- "$1" "$2"' _ "$PW" "$RUNBOOK_STATE_DIR"
check "the password is in no workdir or backup" sh -c '! grep -rqF -- "$1" "$2"/w1 "$2"/w4 "$2"/w6 "$2"/bk' _ "$PW" "$T"
check "the journals were written (the grep looked at something)" \
	sh -c 'ls "$1"/runs/*/journal.jsonl | grep -q .' _ "$RUNBOOK_STATE_DIR"
T_TO_PW=$PW rb plan "$T/migrate.yml" -p from_port="$P1" -p to_port="$P2" -p work="$T/w9"
check "plan shows the password as ***" sh -c 'grep -q "to_password = \*\*\*" "$1" && ! grep -qF -- "$2" "$1"' _ "$out" "$PW"
