#!/bin/sh
# t0810 — the stdlib modules docker, compose and mongo, through small
# runbooks against the shims (tests/shims/docker, docker-compose,
# mongodump, mongorestore, mongosh, bsondump; state in the sandbox):
# every action succeeds on a healthy sandbox and leaves the state it
# promises; the checks catch failures (a container that never becomes
# healthy, a volume in use, a dump folder that exists, an incomplete
# dump, documents that fail to restore); a rollback puts the containers,
# services, dumps and databases back as they were; a dump killed half way
# is finished by `runbook resume`; `plan --check` runs the probes and
# changes nothing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

sandbox stdlib-docker
export RUNBOOK_PATH="$TOP/stdlib"
case "$(command -v docker)" in
"$SHIMS"/docker) ;;
*) echo "Bail out! docker is not the shim: $(command -v docker)"; exit 1 ;;
esac
C=$SHIM_STATE/containers

# container NAME STATE [HEALTHCHECK]: seed a container
container() {
	mkdir -p "$C/$1"
	rm -f "$C/$1/health" "$C/$1/polls"
	echo "$2" >"$C/$1/state"
	[ $# -lt 3 ] || echo "$3" >"$C/$1/healthcheck"
}
state_of() { cat "$C/$1/state" 2>/dev/null || echo absent; }
# sdigest: digest of the sandbox; a container's health and its count of
# looks left change with every look, as time passes for a real one
sdigest() { digest "$SB" | grep -v -e '/polls f ' -e '/health f '; }
# boom RUNBOOK: the runbook with a failing last step (a rollback follows)
boom() {
	cat "$1"
	printf '  - id: boom\n    run: echo injected failure; exit 1\n'
}

# ------------------------------------------------------------ docker.*
container web running "2 healthy"
container db exited
container sick exited "1000 unhealthy"
container plain running
mkdir -p "$SB/data" "$SB/other"
echo "/app/data $SB/data" >"$C/db/mounts"

rbk=$(file docker-ok.yml <<'EOF'
runbook: docker-ok
description: every docker action on a healthy sandbox
params:
  out: { required: true }
steps:
  - id: web-is-healthy
    uses: docker.status
    with: { container: web, expect: healthy }
  - id: stop-web
    uses: docker.stop
    with: { container: web }
  - id: start-db
    uses: docker.start
    with: { container: db }
  - id: restart-web
    uses: docker.restart
    with: { container: web }
  - id: wait-web
    uses: docker.wait-healthy
    with: { container: web, timeout: "20", interval: "0.1" }
  - id: write-in-db
    uses: docker.exec
    with:
      container: db
      cmd: 'echo "in $CONTAINER" > /app/data/hello'
      check: test -s /app/data/hello
      undo: rm /app/data/hello
EOF
)
rb run "$rbk" -p out="$SB/out"
expect_rc 0 "docker: stop, start, restart, wait-healthy, exec succeed"
check "web runs again after stop + restart" test "$(state_of web)" = running
check "db was started" test "$(state_of db)" = running
check "exec ran in the container: its path was the mounted folder" test "$(cat "$SB/data/hello")" = "in db"
check "wait-healthy polled until healthy" test "$(cat "$C/web/health")" = healthy
called "docker restart web"
out_has "web: starting"
out_has "web: healthy"

# the same with a failure at the end: everything goes back
container web running "2 healthy"
container db exited
rm -f "$SB/data/hello"
boom "$rbk" >"$T/docker-boom.yml"
rb run "$T/docker-boom.yml" -p out="$SB/out"
expect_rc 1 "docker: a failure after the actions rolls back"
check "rollback: web runs again (it ran before the stop)" test "$(state_of web)" = running
check "rollback: db stopped again (it was exited before start)" test "$(state_of db)" = exited
check "rollback: exec's undo ran in the container" test ! -e "$SB/data/hello"
out_has "rolled back"

# stop when it was already stopped: the undo leaves it stopped
rbk=$(file docker-stop.yml <<'EOF'
runbook: docker-stop
description: stop two containers, then fail
steps:
  - id: stop-db
    uses: docker.stop
    with: { container: db }
  - id: stop-plain
    uses: docker.stop
    with: { container: plain }
  - id: boom
    run: exit 1
EOF
)
rb run "$rbk"
expect_rc 1 "docker.stop then a failure"
check "a container that was stopped stays stopped after the rollback" test "$(state_of db)" = exited
check "a container that was running runs again after the rollback" test "$(state_of plain)" = running
out_has "db was exited before: left stopped"

# wait-healthy: a container that never becomes healthy
container sick running "1000 unhealthy"
docker restart sick >/dev/null
rbk=$(file docker-sick.yml <<'EOF'
runbook: docker-sick
description: wait for a container that never becomes healthy
params:
  c: { required: true }
steps:
  - id: wait
    uses: docker.wait-healthy
    with: { container: "{{ c }}", timeout: "1", interval: "0.2" }
EOF
)
rb run "$rbk" -p c=sick
expect_rc 1 "wait-healthy fails for a container that stays unhealthy"
out_has "docker.wait-healthy: sick is still starting after 1s"
out_has "sick did not become healthy within 1s (last status: starting): read docker logs sick"
echo "1 unhealthy" >"$C/sick/healthcheck"
docker restart sick >/dev/null
rb run "$rbk" -p c=sick
expect_rc 1 "wait-healthy fails for an unhealthy container at the timeout"
out_has "(last status: unhealthy)"
container stopped exited "1 healthy"
rb run "$rbk" -p c=stopped
expect_rc 1 "wait-healthy fails at once for a container that does not run"
out_has "stopped is exited: it stopped or never started"
rb run "$rbk" -p c=plain
expect_rc 1 "wait-healthy fails for a container without a health check"
out_has "plain's image defines no HEALTHCHECK"
rb run "$rbk" -p c=ghost
expect_rc 1 "wait-healthy on an unknown container"
out_has "there is no container ghost on this host"

# status with expect
rbk=$(file docker-status.yml <<'EOF'
runbook: docker-status
description: guard on a container's state
params:
  c: { required: true }
  want: { default: running }
steps:
  - id: st
    uses: docker.status
    with: { container: "{{ c }}", expect: "{{ want }}" }
EOF
)
rb run "$rbk" -p c=db
expect_rc 1 "status expect=running fails for an exited container"
out_has "db is exited, not running"
rb run "$rbk" -p c=plain -p want=any
expect_rc 0 "status expect=any passes"
out_has "plain: running, health: none"

# exec in a container that is not running
rbk=$(file docker-exec-down.yml <<'EOF'
runbook: docker-exec-down
description: exec in a stopped container
steps:
  - id: ex
    uses: docker.exec
    with: { container: db, cmd: "true" }
EOF
)
rb run "$rbk"
expect_rc 1 "exec in a stopped container fails"
out_has "db is not running: start it first (docker.start)"

# volume-rm: refused while mounted, done when free; undo says it cannot
mkdir -p "$SHIM_STATE/volumes/dbdata/x" "$SHIM_STATE/volumes/scratch"
echo "/data/db dbdata" >>"$C/db/mounts"
rbk=$(file docker-vol.yml <<'EOF'
runbook: docker-vol
description: remove a volume
params:
  v: { required: true }
  fail: { default: "no" }
steps:
  - id: rmvol
    uses: docker.volume-rm
    with: { volume: "{{ v }}" }
  - id: after
    run: test {{ fail }} = no
EOF
)
rb run "$rbk" -p v=dbdata
expect_rc 1 "volume-rm refuses a volume a container mounts (even stopped)"
out_has "nothing was removed: db still mount dbdata"
check "the volume in use is still there" test -d "$SHIM_STATE/volumes/dbdata/x"
not_called "docker volume rm dbdata"
rb run "$rbk" -p v=scratch
expect_rc 0 "volume-rm removes an unused volume"
check "the unused volume is gone" test ! -e "$SHIM_STATE/volumes/scratch"
rb run "$rbk" -p v=scratch
expect_rc 0 "volume-rm of an absent volume is fine"
out_has "volume scratch: absent"
mkdir -p "$SHIM_STATE/volumes/scratch"
rb run "$rbk" -p v=scratch -p fail=yes
expect_rc 1 "volume-rm, then a failure"
out_has "The volume scratch was removed and runbook cannot bring it back"

# plan --check runs the probes only: nothing changes
container web running "2 healthy"
container db exited
before=$(sdigest)
ncalls=$(calls | grep -c -e ' start ' -e ' stop ' -e ' restart ' -e ' rm ' -e ' exec ')
rb plan "$T/docker-boom.yml" -p out="$SB/out" --check
expect_rc 0 "plan --check of the docker runbook"
out_has "web: running, health: healthy"
out_has "was: running"
check "plan --check changed nothing in the sandbox" test "$(sdigest)" = "$before"
check "plan --check started, stopped or exec'd nothing" \
	test "$(calls | grep -c -e ' start ' -e ' stop ' -e ' restart ' -e ' rm ' -e ' exec ')" = "$ncalls"

# ------------------------------------------------------------ compose.*
mkdir -p "$SB/pryv" "$SHIM_STATE/compose/pryv"
touch "$SB/pryv/pryv.yml"
printf 'mongodb pryvio_mongodb\ncore pryvio_core\nnginx pryvio_nginx\n' >"$SHIM_STATE/compose/pryv/services"
container pryvio_mongodb running
container pryvio_core exited
rm -rf "$C/pryvio_nginx"
CL=$SHIM_STATE/compose/pryv/log

rbk=$(file compose-all.yml <<'EOF'
runbook: compose-all
description: every compose action
params:
  file: { required: true }
  cli: { default: docker }
  fail: { default: "no" }
steps:
  - id: show
    uses: compose.status
    with: { file: "{{ file }}", cli: "{{ cli }}" }
  - id: up
    uses: compose.up
    with: { file: "{{ file }}", project: pryv, cli: "{{ cli }}" }
  - id: stop-db
    uses: compose.stop
    with: { file: "{{ file }}", service: mongodb, cli: "{{ cli }}" }
  - id: pull
    uses: compose.pull
    with: { file: "{{ file }}", services: "core nginx", cli: "{{ cli }}" }
  - id: restart
    uses: compose.restart
    with: { file: "{{ file }}", service: "mongodb core", cli: "{{ cli }}" }
  - id: start-db
    uses: compose.start
    with: { file: "{{ file }}", service: mongodb, cli: "{{ cli }}" }
  - id: down
    uses: compose.down
    with: { file: "{{ file }}", cli: "{{ cli }}" }
  - id: after
    run: test {{ fail }} = no
EOF
)
rb run "$rbk" -p file="$SB/pryv/pryv.yml"
expect_rc 0 "compose: status, up, stop, pull, restart, start, down"
check "up created nginx, started core, left mongodb" \
	sh -c 'grep -qx "up nginx created" "$1" && grep -qx "up core started" "$1" && grep -qx "up mongodb running" "$1"' _ "$CL"
check "pull pulled the two services asked" test "$(cat "$SHIM_STATE/compose/pryv/pulled")" = "core
nginx"
check "down removed every container" \
	sh -c '! test -e "$1/pryvio_mongodb/state" && ! test -e "$1/pryvio_core/state" && ! test -e "$1/pryvio_nginx/state"' _ "$C"
called "docker compose -f $SB/pryv/pryv.yml -p pryv up -d"
called "docker compose -f $SB/pryv/pryv.yml down"

# the same, failing at the end: the services come back as they were
container pryvio_mongodb running
container pryvio_core exited
rm -rf "$C/pryvio_nginx"
: >"$CL"
rb run "$rbk" -p file="$SB/pryv/pryv.yml" -p fail=yes
expect_rc 1 "compose: a failure after the actions rolls back"
check "rollback: mongodb runs" test "$(state_of pryvio_mongodb)" = running
check "rollback: core is stopped again" test "$(state_of pryvio_core)" = exited
check "rollback: nginx, created by up, is removed" test "$(state_of pryvio_nginx)" = absent
out_has "The images pulled for $SB/pryv/pryv.yml stay"

# plan --check: the probes read which services run, nothing changes
before=$(sdigest)
rb plan "$rbk" -p file="$SB/pryv/pryv.yml" -p fail=yes --check
expect_rc 0 "plan --check of the compose runbook"
out_has "running: mongodb"
out_has "created: mongodb core"
check "plan --check changed nothing" test "$(sdigest)" = "$before"

# docker-compose v1, and up's options
container pryvio_mongodb exited
: >"$CL"
rbk=$(file compose-v1.yml <<'EOF'
runbook: compose-v1
description: docker-compose v1, up with options
params:
  file: { required: true }
steps:
  - id: up
    uses: compose.up
    with: { file: "{{ file }}", services: mongodb, pull: always, force_recreate: "true" }
  - id: restart
    uses: compose.restart
    with: { file: "{{ file }}", service: mongodb, cli: docker-compose }
EOF
)
rb run "$rbk" -p file="$SB/pryv/pryv.yml"
expect_rc 0 "compose up --pull always --force-recreate, restart with docker-compose"
called "docker compose -f $SB/pryv/pryv.yml up -d --force-recreate --pull always mongodb"
called "docker-compose -f $SB/pryv/pryv.yml restart mongodb"
check "only mongodb was brought up" test "$(grep -c '^up ' "$CL")" = 1
check "the container was recreated" grep -qx "up mongodb recreated" "$CL"

# a compose file that does not exist
rb run "$rbk" -p file="$SB/pryv/nope.yml"
expect_rc 1 "compose with a missing file fails"
out_has "open $SB/pryv/nope.yml: no such file or directory"

# a service that does not come up: start's check fails
container pryvio_core exited
rbk=$(file compose-start.yml <<'EOF'
runbook: compose-start
description: start a service that cannot start
params:
  file: { required: true }
steps:
  - id: start-core
    uses: compose.start
    with: { file: "{{ file }}", service: core }
EOF
)
# a docker whose compose start says ok and changes nothing
mkdir -p "$SB/bin"
cat >"$SB/bin/docker" <<EOF
#!/bin/sh
# a docker whose compose start says ok and starts nothing
case "\$*" in *" start "*) echo " Container pryvio_core  Started" >&2; exit 0 ;; esac
exec "$SHIMS/docker" "\$@"
EOF
chmod +x "$SB/bin/docker"
PATH="$SB/bin:$PATH" rb run "$rbk" -p file="$SB/pryv/pryv.yml"
expect_rc 1 "compose.start fails when the service does not run afterwards"
out_has "check failed"
check "core is still stopped" test "$(state_of pryvio_core)" = exited

# ------------------------------------------------------------ mongo.*
M=$SHIM_STATE/mongo
mkdir -p "$M/pryv-node" "$M/target" "$SB/backup"
printf '{"_id":1}\n{"_id":2}\n{"_id":3}\n' >"$M/pryv-node/events.json"
printf '{"_id":"u1"}\n' >"$M/pryv-node/users.json"
printf '{"_id":"old"}\n' >"$M/target/legacy.json"
container pryvio_mongodb running
echo "/app/backup $SB/backup" >"$C/pryvio_mongodb/mounts"

rbk=$(file mongo-all.yml <<'EOF'
runbook: mongo-all
description: count, dump, back up the target, restore
params:
  fail: { default: "no" }
  verify: { default: counts }
steps:
  - id: count
    uses: mongo.count
    with: { db: pryv-node, container: pryvio_mongodb, bin: /app/bin/mongodb/bin }
  - id: dump
    uses: mongo.dump
    with:
      db: pryv-node
      out: /app/backup
      container: pryvio_mongodb
      bin: /app/bin/mongodb/bin
      verify: "{{ verify }}"
  - id: backup-target
    uses: mongo.dump
    with: { db: target, out: /app/backup/before, container: pryvio_mongodb, allow_empty: "true" }
  - id: restore
    uses: mongo.restore
    with:
      db: target
      from: /app/backup/pryv-node
      container: pryvio_mongodb
      backup: /app/backup/before/target
  - id: after
    run: test {{ fail }} = no
EOF
)
tdig=$(cd "$M/target" && cat ./*.json | md5sum)
rb run "$rbk"
expect_rc 0 "mongo: count, dump, backup, restore"
out_has "events 3"
out_has "total: 2 collections, 4 documents"
out_has "events: 3 in the database, 3 in the dump"
out_has "mongo.dump: 2 collections dumped into /app/backup/pryv-node"
check "the dump has a .bson and a .metadata.json per collection" test "$(ls "$SB/backup/pryv-node" | sort | tr '\n' ' ')" = \
	"events.bson events.metadata.json users.bson users.metadata.json "
check "no temporary folder is left" test -z "$(ls -A "$SB/backup" | grep rb-partial)"
check "the target's previous content was dumped" test -f "$SB/backup/before/target/legacy.bson"
check "the target now holds the dumped documents" test "$(cat "$M/target/events.json")" = "$(cat "$M/pryv-node/events.json")"
called "docker exec pryvio_mongodb /app/bin/mongodb/bin/mongodump --db pryv-node --out /app/backup/.pryv-node.rb-partial"
called "mongorestore --drop --db target $SB/backup/pryv-node"

# dumping into a folder that holds a dump already: refused, nothing touched
before=$(digest "$SB/backup")
rb run "$rbk"
expect_rc 1 "a dump into an existing OUT/DB is refused"
out_has "a dump is already there and is never overwritten: move /app/backup/pryv-node away"
check "the existing dump is untouched" test "$(digest "$SB/backup")" = "$before"

# rollback: the dumps are moved aside and the target gets its content back
rm -rf "$SB/backup"/* "$M/target"
mkdir -p "$M/target"
printf '{"_id":"old"}\n' >"$M/target/legacy.json"
rb run "$rbk" -p fail=yes
expect_rc 1 "mongo: a failure after the restore rolls back"
rid=$(run_id)
check "rollback: the target holds exactly what it held before" \
	test "$(ls "$M/target")" = legacy.json -a "$(cd "$M/target" && cat ./*.json | md5sum)" = "$tdig"
check "rollback: the dump was moved aside, not deleted" test -f "$SB/backup/pryv-node.rolled-back-$rid/events.bson"
check "rollback: no dump is left under its final name" test ! -e "$SB/backup/pryv-node"

# restore into a database that did not exist: the rollback drops it again
rm -rf "$SB/backup"/* "$M/target"
rb run "$rbk" -p fail=yes
expect_rc 1 "mongo: restore into a new database, then a failure"
check "rollback: the new database is gone again" test ! -e "$M/target"
out_has "the backup is empty: target stays dropped"

# an incomplete dump: a .bson short of documents, then a missing metadata
rm -rf "$SB/backup"/*
echo "dump-short pryv-node.events 2" >"$SHIM_STATE/mongo-faults"
rb run "$rbk"
expect_rc 1 "a truncated dump is detected"
out_has "events: 3 in the database, 2 in the dump"
out_has "the dump is incomplete (events.bson holds 2 of 3 documents) and was not put in place"
check "the incomplete dump never got the final name" test ! -e "$SB/backup/pryv-node"
check "the target was not touched" test ! -e "$M/target/events.json"
echo "dump-nometa pryv-node.users" >"$SHIM_STATE/mongo-faults"
rb run "$rbk" -p verify=files
expect_rc 1 "a dump without a metadata file is detected (verify: files)"
out_has "no metadata for users.bson"
rm -f "$SHIM_STATE/mongo-faults"

# a database with no collection (a typo in its name)
rbk2=$(file mongo-empty.yml <<'EOF'
runbook: mongo-empty
description: dump a database that does not exist
steps:
  - id: dump
    uses: mongo.dump
    with: { db: pryv-nod, out: /app/backup, container: pryvio_mongodb }
EOF
)
rb run "$rbk2"
expect_rc 1 "dumping a database with no collection fails"
out_has "database pryv-nod has no collection: check its name"

# documents that fail to restore (duplicate keys without drop)
rm -rf "$SB/backup"/*
mkdir -p "$M/target"
printf '{"_id":"old"}\n' >"$M/target/legacy.json"
echo "restore-fail target.events 1" >"$SHIM_STATE/mongo-faults"
rb run "$rbk"
expect_rc 1 "documents that fail to restore fail the restore"
out_has "1 documents were not restored"
check "rollback after the failed restore: target back as before" \
	test "$(ls "$M/target")" = legacy.json -a "$(cd "$M/target" && cat ./*.json | md5sum)" = "$tdig"
rm -f "$SHIM_STATE/mongo-faults"

# kill during the dump, then resume: the dump is made again, whole
rm -rf "$SB/backup"/* "$M/target"
mkdir -p "$M/target"
echo "dump-hang-after pryv-node.events" >"$SHIM_STATE/mongo-faults"
run_until_hang run "$rbk"
rid=$(run_id)
check "the run was killed during the dump" test "$rc" = 137
check "the half dump is only in the temporary folder" test -f "$SB/backup/.pryv-node.rb-partial/pryv-node/events.bson" -a ! -e "$SB/backup/pryv-node"
rm -f "$SHIM_STATE/mongo-faults"
rb resume "$rid"
expect_rc 0 "resume finishes the killed run"
check "after resume the dump is whole" test "$(ls "$SB/backup/pryv-node" | wc -l)" = 4
check "after resume the temporary folder is gone" test ! -e "$SB/backup/.pryv-node.rb-partial"
check "after resume the target holds the documents" test "$(wc -l <"$M/target/events.json")" = 3

# plan --check: the probes run (counts, the dump folder is free), nothing changes
rm -rf "$SB/backup"/*
before=$(sdigest)
rb plan "$rbk" --check
expect_rc 0 "plan --check of the mongo runbook"
out_has "total: 2 collections, 4 documents"
out_has "/app/backup/pryv-node: absent"
check "plan --check changed nothing" test "$(sdigest)" = "$before"

# lint: the modules are clean
rb lint "$TOP/stdlib/docker.yml" "$TOP/stdlib/compose.yml" "$TOP/stdlib/mongo.yml"
expect_rc 0 "lint of docker, compose and mongo"
check "lint: no warning" grep -q "0 errors, 0 warnings" "$err"
