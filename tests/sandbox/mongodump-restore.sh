#!/bin/sh
# tests/sandbox/mongodump-restore.sh SB — the target host of
# runbooks/mongodump-restore.yml: a Pryv.io-like MongoDB container
# (pryvio_mongodb, its /app/backup mounted from SB/var/pryv/pryv/mongodb/
# backup) and a second one (mongo_staging) that mounts the same folder as
# /dumps; the database pryv-node to dump, and pryv-node-copy, the target,
# with content of its own (one collection the dump does not have).  The
# mongo shims serve one set of databases to both containers.
set -eu
SB=$1
S=$SB/shim
BK=$SB/var/pryv/pryv/mongodb/backup
mkdir -p "$BK" "$SB/operator/archives" "$S/mongo/pryv-node" "$S/mongo/pryv-node-copy"
for c in pryvio_mongodb mongo_staging; do
	mkdir -p "$S/containers/$c"
	echo running >"$S/containers/$c/state"
done
echo "/app/backup $BK" >"$S/containers/pryvio_mongodb/mounts"
echo "/dumps $BK" >"$S/containers/mongo_staging/mounts"
i=0
while [ $i -lt 40 ]; do
	i=$((i + 1))
	printf '{"_id":"ev%03d","type":"note/txt","content":"event %d"}\n' $i $i
done >"$S/mongo/pryv-node/events.json"
printf '{"_id":"a1","token":"t1"}\n{"_id":"a2","token":"t2"}\n{"_id":"a3","token":"t3"}\n' \
	>"$S/mongo/pryv-node/accesses.json"
printf '{"_id":"u1","username":"alice"}\n{"_id":"u2","username":"bob"}\n' >"$S/mongo/pryv-node/users.json"
printf '{"_id":"old1"}\n{"_id":"old2"}\n' >"$S/mongo/pryv-node-copy/events.json"
printf '{"_id":"l1","note":"only in the target"}\n' >"$S/mongo/pryv-node-copy/legacy.json"
