#!/bin/sh
# t0875 — runbooks/mongodump-restore.yml against its sandbox
# (tests/sandbox/mongodump-restore.{sh,yml}: pryv-node in the container
# pryvio_mongodb, restored into pryv-node-copy in mongo_staging, which
# mounts the same backup folder elsewhere; the mongo and docker shims):
# (1) a clean run dumps, proves, archives and restores, and the target is
# an exact copy; (2) a restore that fails half way is rolled back: the
# target holds again what it held, the dumps are kept aside; (3) a run
# killed during the dump is finished by `runbook resume`; (4) `plan
# --check` runs the probes and changes nothing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

M=$T/sb/shim/mongo
BK=$T/sb/var/pryv/pryv/mongodb/backup
# dbdigest DB: the content of a database (collection names and documents)
dbdigest() { (cd "$M/$1" 2>/dev/null && for f in *.json; do echo "== $f"; cat "$f"; done) | md5sum; }
fresh() {
	rm -rf "$T/sb"
	sandbox mongodump-restore
}

# ------------------------------------------------ (4) plan changes nothing
fresh
before=$(digest "$SB")
rb plan mongodump-restore --inventory "$INV" --check
expect_rc 0 "plan --check"
out_has "events 40"
out_has "total: 3 collections, 45 documents"
out_has "total: 2 collections, 3 documents"
out_has "/pryv-node: absent"
check "plan --check changed nothing in the sandbox" test "$(digest "$SB")" = "$before"
not_called "mongodump"
not_called "mongorestore"
rb plan mongodump-restore --inventory "$INV"
expect_rc 0 "plan"
check "plan changed nothing in the sandbox" test "$(digest "$SB")" = "$before"

# ------------------------------------------------ (1) clean run
src=$(dbdigest pryv-node)
rb run mongodump-restore --inventory "$INV"
expect_rc 0 "a clean run"
rid=$(run_id)
D=$BK/$rid
check "the dump is in the run's folder, a .bson and a .metadata.json per collection" \
	test "$(ls "$D/pryv-node" | tr '\n' ' ')" = \
	"accesses.bson accesses.metadata.json events.bson events.metadata.json users.bson users.metadata.json "
check "the dump holds every document" test "$(cat "$D/pryv-node"/*.bson | wc -l)" = 45
out_has "events: 40 in the database, 40 in the dump"
check "the target's previous content was dumped first" test -f "$D/previous/pryv-node-copy/legacy.bson"
check "the target is an exact copy of the source" test "$(dbdigest pryv-node-copy)" = "$src"
check "the source is untouched" test "$(dbdigest pryv-node)" = "$src"
out_has "events: 40 in the dump, 40 in the database"
A=$SB/operator/archives/pryv-node-$rid.tar.zst
check "the dump was archived onto the operator's machine" test -f "$A" -a -f "$A.manifest.json"
rb archive verify "$A"
expect_rc 0 "the archive verifies against its manifest"
rb archive list "$A"
out_has "events.bson"
called "docker exec pryvio_mongodb /app/bin/mongodb/bin/mongodump --db pryv-node --out /app/backup/$rid/.pryv-node.rb-partial"
called "docker exec mongo_staging /app/bin/mongodb/bin/mongorestore --drop --db pryv-node-copy /dumps/$rid/pryv-node"
rb status "$rid"
out_has "succeeded"

# ------------------------------------------------ (2) failure at the restore, rollback
fresh
src=$(dbdigest pryv-node)
tgt=$(dbdigest pryv-node-copy)
# three documents fail to restore (once: the rollback's restore works):
# the target is left half restored
echo "restore-failonce pryv-node-copy.events 3" >"$SHIM_STATE/mongo-faults"
rb run mongodump-restore --inventory "$INV"
expect_rc 1 "a restore that fails half way fails the run"
rid=$(run_id)
out_has "3 documents were not restored"
out_has "rolled back"
check "rollback: the target holds exactly what it held before" test "$(dbdigest pryv-node-copy)" = "$tgt"
check "rollback: the target has its own collection again" test -f "$M/pryv-node-copy/legacy.json"
check "rollback: the source is untouched" test "$(dbdigest pryv-node)" = "$src"
check "rollback: the dump is kept, moved aside" test -f "$BK/$rid/pryv-node.rolled-back-$rid/events.bson"
check "rollback: the previous content is kept, moved aside" \
	test -f "$BK/$rid/previous/pryv-node-copy.rolled-back-$rid/legacy.bson"
out_has "stays on"
rb status "$rid"
out_has "rolled back"
rm -f "$SHIM_STATE/mongo-faults"

# mongorestore that fails outright at the restore: rolled back the same way
fresh
tgt=$(dbdigest pryv-node-copy)
inject "fail mongorestore*--drop*pryv-node-copy*/pryv-node Failed: connection refused"
rb run mongodump-restore --inventory "$INV" -p drop=true
expect_rc 1 "a mongorestore that fails fails the run"
out_has "mongorestore failed: connection refused"
check "rollback: the target is as before" test "$(dbdigest pryv-node-copy)" = "$tgt"
uninject

# ------------------------------------------------ (3) kill during the dump, resume
fresh
src=$(dbdigest pryv-node)
echo "dump-hang-after pryv-node.accesses" >"$SHIM_STATE/mongo-faults"
run_until_hang run mongodump-restore --inventory "$INV"
rid=$(run_id)
check "the run was killed during the dump" test "$rc" = 137
check "the half dump is only in the temporary folder" \
	test -f "$BK/$rid/.pryv-node.rb-partial/pryv-node/accesses.bson" -a ! -e "$BK/$rid/pryv-node"
check "nothing was restored yet" test -f "$M/pryv-node-copy/legacy.json"
rm -f "$SHIM_STATE/mongo-faults"
rb resume "$rid"
expect_rc 0 "resume finishes the killed run"
check "after resume the dump is whole" test "$(cat "$BK/$rid/pryv-node"/*.bson | wc -l)" = 45
check "after resume no temporary folder is left" test ! -e "$BK/$rid/.pryv-node.rb-partial"
check "after resume the target is an exact copy" test "$(dbdigest pryv-node-copy)" = "$src"
check "mongodump ran again on resume" test "$(calls | grep -c '^mongodump ')" = 3
rb status "$rid"
out_has "succeeded"

# in place: the same database, no container (the tools on the host)
fresh
src=$(dbdigest pryv-node)
mkdir -p "$SB/dumps"
rb run mongodump-restore --inventory "$INV" -p container= -p target_container= -p target_db= -p bin= \
	-p backup_dir="$SB/dumps" -p target_backup_dir= -p host_backup_dir= -p archive_to=
expect_rc 0 "a dump and restore in place, on the host"
rid=$(run_id)
check "in place: the database holds the same documents" test "$(dbdigest pryv-node)" = "$src"
check "in place: its previous content was dumped too" test -f "$SB/dumps/$rid/previous/pryv-node/events.bson"
called "mongodump --db pryv-node --out $SB/dumps/$rid/.pryv-node.rb-partial"

# a stopped container is refused before anything runs
fresh
echo exited >"$SHIM_STATE/containers/pryvio_mongodb/state"
rb run mongodump-restore --inventory "$INV"
expect_rc 5 "a stopped database container fails a precondition"
out_has "start the container pryvio_mongodb first"
not_called "mongodump"

rb lint "$TOP/runbooks/mongodump-restore.yml"
expect_rc 0 "lint"
check "lint: no warning" grep -q "0 errors, 0 warnings" "$err"
