#!/bin/sh
# t0860 — the Pryv.io runbooks (runbooks/pryv-*.yml) against the sandbox of
# tests/sandbox/pryv.sh: the versioned trees var/pryv1.5 and var/pryv1.6,
# the link var/pryv, the operator scripts, the docker and mongo shims
# (whose database lives in the live tree's pryv/mongodb/data), real rsync.
#   pryv-upgrade:       plan and plan --check change nothing; clean run
#                       (link -> 1.6, the dump restored with equal counts,
#                       core and Redis data copied, config kept, every
#                       container running, the seed's order); a second run
#                       is refused; mongorestore fails -> rollback (link
#                       back, services running on 1.5, data and both trees
#                       as before); the core never healthy -> rollback in
#                       the seed's order (stop all, switch back, start all);
#                       kill during mongodump + resume; the first migration
#                       (a real folder var/pryv) and its rollback; the
#                       switch script installed when missing, and working
#   pryv-redis-restore: a REAL redis-server on loopback stands for the
#                       pryvio_redis container (the container's on-start /
#                       on-stop hooks start it on the live tree's data folder
#                       and stop it with SIGTERM, so it saves there, as a
#                       container does); plan --check changes nothing; clean
#                       run (1.5 keys back, the 1.6 content re-applied on
#                       top, TTLs kept, backups made); run-pryv fails ->
#                       rollback (Redis holds exactly its 1.6 content again,
#                       the data folder, no backups, nginx up)
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

V=$T/sb/var
C=$T/sb/shim/containers
DB=pryv/mongodb/data/pryv-node
CONTAINERS="pryvio_core pryvio_mongodb pryvio_redis pryvio_nginx pryvio_config_leader pryvio_config_follower"

# fresh [first]: a new sandbox (first: before the first migration)
fresh() {
	rm -rf "$T/sb"
	if [ "${1:-}" = first ]; then PRYV_SB_FIRST=1; export PRYV_SB_FIRST; fi
	sandbox pryv
	unset PRYV_SB_FIRST
}
running() { test "$(cat "$C/$1/state" 2>/dev/null)" = running; }
all_running() {
	for c in $CONTAINERS; do running "$c" || return 1; done
}
link_is() { test -L "$V/pryv" && test "$(readlink -f "$V/pryv")" = "$(readlink -f "$V/pryv$1")"; }
# state_is RUN STATE: runbook status --format json says so
state_is() {
	"$RUNBOOK" status "$1" --format json 2>/dev/null |
		python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["state"] != sys.argv[1])' "$2"
}
# line numbers in calls.log: first / last of an exact line
first() { grep -nxF -- "$1" "$SHIM_STATE/calls.log" | head -n 1 | cut -d: -f1; }
last() { grep -nxF -- "$1" "$SHIM_STATE/calls.log" | tail -n 1 | cut -d: -f1; }
# in_order LINE...: each line is logged (first occurrence) after the one before
in_order() {
	_p=0
	for _l in "$@"; do
		_ln=$(grep -nxF -- "$_l" "$SHIM_STATE/calls.log" | awk -F: -v p="$_p" '$1 > p { print $1; exit }')
		[ -n "$_ln" ] || return 1
		_p=$_ln
	done
}
# last_in_order LINE...: the same, from the last occurrences
last_in_order() {
	_p=0
	for _l in "$@"; do
		_ln=$(last "$_l")
		[ -n "$_ln" ] && [ "$_ln" -gt "$_p" ] || return 1
		_p=$_ln
	done
}
ncalls() { grep -cxF -- "$1" "$SHIM_STATE/calls.log"; }
# a tree's digest without what a run may leave on purpose (the old tree's
# dump, moved aside on rollback) and the shim's counters
tree_digest() { digest "$1" | grep -v -e '^\./pryv/mongodb/backup/pryv-node' ; }
shim_digest() { digest "$SB" | grep '^\./shim/' | grep -v -e '/starts f ' -e '/polls f ' -e '/health f '; }
# the whole sandbox, without the same, nor the old tree's dump
sb_digest() {
	digest "$SB" | grep -v -e '/starts f ' -e '/polls f ' -e '/health f ' -e 'pryv/mongodb/backup/pryv-node'
}
same_docs() {
	for f in events streams accesses users; do
		cmp -s "$V/pryv1.5/$DB/$f.json" "$V/pryv1.6/$DB/$f.json" || return 1
	done
}

for r in pryv-upgrade pryv-redis-restore; do
	rb lint "$TOP/runbooks/$r.yml"
	expect_rc 0 "lint $r"
	check "lint $r: no warning" grep -q ' 0 warnings' "$err"
done

## pryv-upgrade: plan ########################################################

fresh
d0=$(digest "$SB")
rb plan pryv-upgrade --inventory "$INV" -p to=1.6
expect_rc 0 "plan"
out_has "fs.switch-symlink"
out_has "$V/pryv'/stop-core"
check "plan changed nothing" test "$d0" = "$(digest "$SB")"
rb plan pryv-upgrade --inventory "$INV" -p to=1.6 --check
expect_rc 0 "plan --check"
out_has "layout: link"
out_has "was: running"
out_has "total: 4 collections, 17 documents"
check "plan --check changed nothing" test "$d0" = "$(digest "$SB")"
not_called "mongodump"
not_called "pryv1.5/stop-core"

## pryv-upgrade: clean run ###################################################

d15=$(tree_digest "$V/pryv1.5")
rb run pryv-upgrade --inventory "$INV" -p to=1.6 -p date=2021-06-02
expect_rc 0 "upgrade: clean run"
id=$(run_id)
check "upgrade: status says succeeded" state_is "$id" succeeded
check "upgrade: var/pryv -> pryv1.6" link_is 1.6
check "upgrade: the link was switched in place (still a symlink)" test -L "$V/pryv"
check "upgrade: every container runs" all_running
check "upgrade: the core is healthy" test "$(cat "$C/pryvio_core/health")" = healthy
check "upgrade: the dump is in the old tree" test -f "$V/pryv1.5/pryv/mongodb/backup/pryv-node/events.bson"
check "upgrade: the dump was copied as 2021-06-02-pryv-node" \
	diff -r "$V/pryv1.5/pryv/mongodb/backup/pryv-node" "$V/pryv1.6/pryv/mongodb/backup/2021-06-02-pryv-node"
check "upgrade: the new tree's database equals the old one (every document)" same_docs
check "upgrade: 10 events in the new database" test "$(wc -l <"$V/pryv1.6/$DB/events.json")" = 10
out_has "total: 4 collections, 17 documents"
check "upgrade: the core data was copied" diff -r "$V/pryv1.5/pryv/core/data" "$V/pryv1.6/pryv/core/data"
check "upgrade: the Redis data was copied" diff -r "$V/pryv1.5/pryv/redis/data" "$V/pryv1.6/pryv/redis/data"
check "upgrade: platform.yml was copied" \
	cmp "$V/pryv1.5/config-leader/conf/platform.yml" "$V/pryv1.6/config-leader/conf/platform.yml"
check "upgrade: the TLS secrets were copied, modes kept" \
	test "$(stat -c %a "$V/pryv1.6/pryv/nginx/conf/secret/pryv.sandbox.test-key.pem")" = 600
check "upgrade: the old tree is unchanged but for its dump" test "$d15" = "$(tree_digest "$V/pryv1.5")"
check "upgrade: the seed's order (stop, dump, stop mongo, start mongo, restore, start)" in_order \
	pryv1.5/stop-core pryv1.5/stop-config-follower pryv1.5/stop-config-leader \
	"mongodump --db pryv-node --out $V/pryv/pryv/mongodb/backup/.pryv-node.rb-partial" \
	"docker stop pryvio_mongodb" "docker start pryvio_mongodb" \
	"mongorestore --drop --db pryv-node $V/pryv/pryv/mongodb/backup/2021-06-02-pryv-node" \
	pryv1.6/start-config-leader pryv1.6/start-config-follower pryv1.6/run-pryv
check "upgrade: the new tree's scripts started Pryv.io, the old ones never did" \
	test "$(ncalls pryv1.5/run-pryv)" = 0
not_called "docker exec -t"

d16=$(digest "$SB")
rb run pryv-upgrade --inventory "$INV" -p to=1.6
expect_rc 5 "upgrade: a second run is refused by the preconditions"
out_has "must be a symlink to"
check "upgrade: the refused run changed nothing" test "$d16" = "$(digest "$SB")"

## pryv-upgrade: mongorestore fails -> rollback ##############################

fresh
d15=$(tree_digest "$V/pryv1.5")
d16=$(digest "$V/pryv1.6")
ds=$(shim_digest)
inject "fail mongorestore* E11000 injected: the restore broke"
rb run pryv-upgrade --inventory "$INV" -p to=1.6
expect_rc 1 "restore fails: the run fails and rolls back"
id=$(run_id)
uninject
out_has "the restore broke"
check "restore fails: status says rolled back" state_is "$id" "rolled back"
check "restore fails: var/pryv -> pryv1.5 again" link_is 1.5
check "restore fails: every container runs again" all_running
check "restore fails: Pryv.io was started again by the 1.5 scripts" last_in_order \
	"mongorestore --drop --db pryv-node $V/pryv/pryv/mongodb/backup/$(date -u +%F)-pryv-node" \
	"docker stop pryvio_mongodb" "docker start pryvio_mongodb" \
	pryv1.5/start-config-leader pryv1.5/start-config-follower pryv1.5/run-pryv
check "restore fails: the old tree (and its database) as before" test "$d15" = "$(tree_digest "$V/pryv1.5")"
check "restore fails: the new tree as before (nothing copied stays)" test "$d16" = "$(digest "$V/pryv1.6")"
check "restore fails: containers and database in the shim as before" test "$ds" = "$(shim_digest)"
check "restore fails: the dump was moved aside, not deleted" \
	test -f "$V/pryv1.5/pryv/mongodb/backup/pryv-node.rolled-back-$id/events.bson"
check "restore fails: the stale-dump precondition would pass again" \
	test ! -e "$V/pryv1.5/pryv/mongodb/backup/pryv-node"

## pryv-upgrade: the core never gets healthy -> rollback #####################

fresh
d15=$(tree_digest "$V/pryv1.5")
echo "1 unhealthy" >"$C/pryvio_core/healthcheck"
rb run pryv-upgrade --inventory "$INV" -p to=1.6 -p health_timeout=1
expect_rc 1 "core unhealthy: the run fails and rolls back"
id=$(run_id)
out_has "did not become healthy"
check "core unhealthy: status says rolled back" state_is "$id" "rolled back"
check "core unhealthy: var/pryv -> pryv1.5 again" link_is 1.5
check "core unhealthy: every container runs again" all_running
check "core unhealthy: stop all (1.6), switch back, start all (1.5)" last_in_order \
	pryv1.6/run-pryv pryv1.6/stop-core pryv1.6/stop-config-follower pryv1.6/stop-config-leader \
	"docker stop pryvio_mongodb" "docker start pryvio_mongodb" \
	pryv1.5/start-config-leader pryv1.5/start-config-follower pryv1.5/run-pryv
check "core unhealthy: the old tree as before" test "$d15" = "$(tree_digest "$V/pryv1.5")"
check "core unhealthy: the new tree's data emptied again" test -z "$(ls -A "$V/pryv1.6/pryv/core/data")"

## pryv-upgrade: kill during mongodump, then resume ##########################

fresh
inject "hang mongodump*"
run_until_hang run pryv-upgrade --inventory "$INV" -p to=1.6
check "kill: runbook was killed during mongodump" test "$rc" = 137
uninject
check "kill: var/pryv still -> pryv1.5" link_is 1.5
check "kill: no dump under its final name" test ! -e "$V/pryv1.5/pryv/mongodb/backup/pryv-node"
rb resume
expect_rc 0 "kill: resume finishes the upgrade"
check "kill: var/pryv -> pryv1.6" link_is 1.6
check "kill: every container runs" all_running
check "kill: the new database equals the old one" same_docs
check "kill: mongodump ran again (twice in all)" test "$(grep -c '^mongodump ' "$SHIM_STATE/calls.log")" = 2
check "kill: the steps done before the kill were not run again" test "$(ncalls pryv1.5/stop-core)" = 1
check "kill: no partial dump left" test ! -e "$V/pryv1.5/pryv/mongodb/backup/.pryv-node.rb-partial"

## pryv-upgrade: the first migration (var/pryv is a real folder) ############

fresh first
rm -f "$SB/usr/local/sbin/switch_pryv.sh"
d0=$(sb_digest)
inject "fail mongorestore*"
rb run pryv-upgrade --inventory "$INV" -p to=1.6
expect_rc 1 "first migration, restore fails: rolled back"
uninject
check "first migration rolled back: var/pryv is the real folder again" test -d "$V/pryv" -a ! -L "$V/pryv"
check "first migration rolled back: no pryv1.5 folder" test ! -e "$V/pryv1.5"
check "first migration rolled back: the switch script was removed again" \
	test ! -e "$SB/usr/local/sbin/switch_pryv.sh"
check "first migration rolled back: every container runs" all_running
check "first migration rolled back: the sandbox as before (but the dump set aside)" \
	test "$d0" = "$(sb_digest)"
rm -rf "$V/pryv/pryv/mongodb/backup/pryv-node.rolled-back-"*
rb run pryv-upgrade --inventory "$INV" -p to=1.6
expect_rc 0 "first migration: clean run"
check "first migration: var/pryv1.5 is the old folder" test -d "$V/pryv1.5" -a ! -L "$V/pryv1.5"
check "first migration: var/pryv -> pryv1.6" link_is 1.6
check "first migration: every container runs" all_running
check "first migration: the new database equals the old one" same_docs
check "first migration: the switch script was installed" test -x "$SB/usr/local/sbin/switch_pryv.sh"
check "the installed switch script switches back to 1.5" "$SB/usr/local/sbin/switch_pryv.sh" 1.5
check "... and var/pryv -> pryv1.5" link_is 1.5
check "the installed switch script refuses a version without a tree" \
	sh -c "! '$SB/usr/local/sbin/switch_pryv.sh' 9.9"
check "... and leaves var/pryv alone" link_is 1.5

## pryv-redis-restore: a real redis-server as pryvio_redis ##################

# its files in $R: with its pid in $R/redis.pid, `redis_stop pryv` of
# tests/sandbox.sh stops it (and so does the exit)
R=$T/redis/pryv
RPORT=$(free_port)
rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
# redis_wait: until the server answers (it loads its data after a start)
redis_wait() {
	_i=0
	while [ "$(rcli PING 2>/dev/null)" != PONG ] && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
	[ "$(rcli PING 2>/dev/null)" = PONG ]
}
# redis_up DIR: a redis-server on DIR (through the link, like the container's mount)
redis_up() {
	redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$1" --dbfilename dump.rdb --save "3600 1" \
		--appendonly no --daemonize yes --pidfile "$R/redis.pid" --logfile "$R/redis.log" >/dev/null || return 1
	redis_wait
}
# keyspace: every key of db 0 and 1 with its type, value and whether it expires
keyspace() {
	for db in 0 1; do
		rcli -n $db --csv SCAN 0 COUNT 10000 | awk -F '","' '{ for (i = 2; i <= NF; i++) { k = $i
			if (i == NF) k = substr(k, 1, length(k) - 1); print "\"" k "\"" } }' | LC_ALL=C sort |
			while IFS= read -r k; do
				printf '%s TYPE %s\n' "$db" "$k"
				printf 'SELECT %s\nTYPE %s\nDUMP %s\nEVAL "return redis.call(\047PTTL\047, KEYS[1]) > 0" 1 %s\n' \
					"$db" "$k" "$k" "$k" | rcli --csv
			done
	done
}

# the 1.6 tree runs, without its Redis data (the upgrade was made without
# it): the real 1.5 data first, written by a real server
fresh
mkdir -p "$R"
ln -sfn "$V/pryv1.6" "$V/pryv"
rm -f "$V/pryv1.5/pryv/redis/data/dump.rdb"
redis_up "$V/pryv1.5/pryv/redis/data"
rcli SET user:alice:name Alice >/dev/null
rcli HSET user:alice f1 v1 f2 v2 >/dev/null
rcli SADD streams:alice diary work >/dev/null
rcli RPUSH events:alice e1 e2 e3 >/dev/null
rcli ZADD scores 1 a 2 b >/dev/null
rcli SET "odd key
with a newline" x >/dev/null
printf 'bin\000\377"\\value' | rcli -x SET binary >/dev/null
rcli SET shared v15 >/dev/null
rcli SET session:tmp val EX 3600 >/dev/null
rcli -n 1 SET db1:old yes >/dev/null
redis_stop pryv
check "redis: the 1.5 data is a real RDB" test "$(head -c 5 "$V/pryv1.5/pryv/redis/data/dump.rdb")" = REDIS
cp "$V/pryv1.5/pryv/redis/data/dump.rdb" "$T/dump15.rdb"
cat >"$C/pryvio_redis/on-start" <<EOF
#!/bin/sh
exec redis-server --port $RPORT --bind 127.0.0.1 --dir "$V/pryv/pryv/redis/data" --dbfilename dump.rdb \
	--save "3600 1" --appendonly no --daemonize yes --pidfile "$R/redis.pid" --logfile "$R/redis.log"
EOF
cat >"$C/pryvio_redis/on-stop" <<EOF
#!/bin/sh
p=\$(cat "$R/redis.pid") || exit 1
kill -TERM "\$p" || exit 1
i=0
while kill -0 "\$p" 2>/dev/null && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
! kill -0 "\$p" 2>/dev/null
EOF
chmod +x "$C/pryvio_redis/on-start" "$C/pryvio_redis/on-stop"
# pryvio_redis runs: the 1.6 server on the 1.6 tree's (empty) data
redis_up "$V/pryv/pryv/redis/data"
rcli SET new:1 one >/dev/null
rcli HSET user:carol name Carol >/dev/null
rcli SET shared v16 >/dev/null
rcli -n 1 SET db1:new yes >/dev/null
RP="-p redis_port=$RPORT"
k16=$(keyspace)

d0=$(digest "$SB")
rb plan pryv-redis-restore --inventory "$INV" $RP --check
expect_rc 0 "redis: plan --check"
out_has "db0:keys=3"
check "redis: plan --check changed nothing" test "$d0" = "$(digest "$SB")"
check "redis: plan --check left Redis alone" test "$k16" = "$(keyspace)"

# run-pryv fails: everything is put back
inject "fail pryv1.6/run-pryv* injected: run-pryv failed"
rb run pryv-redis-restore --inventory "$INV" $RP
expect_rc 1 "redis: run-pryv fails, the run rolls back"
id=$(run_id)
uninject
check "redis rolled back: the redis-server answers again" redis_wait
check "redis rolled back: status says rolled back" state_is "$id" "rolled back"
called "docker-compose -f pryv/pryv.yml start redis"
out_has "re-applied: 6 of 6 commands"
check "redis rolled back: Redis holds exactly its 1.6 content" test "$k16" = "$(keyspace)"
check "redis rolled back: Redis was stopped and started on the 1.6 data" test "$(rcli GET shared)" = v16
check "redis rolled back: no 1.5 key" test "$(rcli EXISTS user:alice:name)" = 0
check "redis rolled back: no backups left" test ! -e "$V/pryv1.6/redis-bkp"
check "redis rolled back: no export left" test ! -e "$V/pryv1.6/pryv/redis/data/redis1.6-dump.cmds"
check "redis rolled back: nginx runs" running pryvio_nginx
check "redis rolled back: redis runs" running pryvio_redis
check "redis rolled back: the 1.5 data untouched" cmp "$V/pryv1.5/pryv/redis/data/dump.rdb" "$T/dump15.rdb"

# clean run
rb run pryv-redis-restore --inventory "$INV" $RP
expect_rc 0 "redis: clean run"
id=$(run_id)
check "redis: status says succeeded" state_is "$id" succeeded
out_has "exported: 4 keys"
check "redis: the 1.5 keys are back" test "$(rcli GET user:alice:name)" = Alice
check "redis: a 1.5 hash" test "$(rcli HGET user:alice f2)" = v2
check "redis: a 1.5 list" test "$(rcli LRANGE events:alice 0 -1 | tr '\n' ' ')" = "e1 e2 e3 "
check "redis: a 1.5 key with a newline in its name" test "$(rcli GET "odd key
with a newline")" = x
printf '"bin\\x00\\xff\\"\\\\value"\n' >"$T/binary.want"
check "redis: a binary 1.5 value, byte for byte" sh -c \
	"redis-cli -h 127.0.0.1 -p $RPORT --no-raw GET binary | cmp -s - '$T/binary.want'"
check "redis: the 1.6 keys are there" test "$(rcli GET new:1)" = one
check "redis: a 1.6 hash" test "$(rcli HGET user:carol name)" = Carol
check "redis: a key both hold has its 1.6 value" test "$(rcli GET shared)" = v16
check "redis: database 1 has both" test "$(rcli -n 1 MGET db1:old db1:new | tr '\n' ' ')" = "yes yes "
check "redis: the TTL of a 1.5 key was kept" sh -c "test \"\$(redis-cli -p $RPORT TTL session:tmp)\" -gt 0"
check "redis: 11 + 2 keys" test "$(rcli DBSIZE)$(rcli -n 1 DBSIZE)" = 112
check "redis: the 1.6 data backup" test -f "$V/pryv1.6/redis-bkp/1.6/dump.rdb"
check "redis: the 1.5 data backup" cmp "$T/dump15.rdb" "$V/pryv1.6/redis-bkp/1.5/dump.rdb"
check "redis: the export is kept" test -s "$V/pryv1.6/pryv/redis/data/redis1.6-dump.cmds"
check "redis: nginx runs" running pryvio_nginx
check "redis: the core runs" running pryvio_core
check "redis: the seed's order (stop nginx, stop redis, start redis, run-pryv)" last_in_order \
	"docker stop pryvio_nginx" "docker stop pryvio_redis" "docker-compose -f pryv/pryv.yml start redis" \
	pryv1.6/run-pryv
