#!/bin/sh
# tests/sandbox/pryv.sh SB — a Pryv.io single-node server for the tests of
# runbooks/pryv-upgrade.yml and runbooks/pryv-redis-restore.yml (t0860).
#
# What it builds under SB (the real paths are in brackets):
#   var/pryv -> SB/var/pryv1.5     [/var/pryv, the live tree]
#   var/pryv1.5/                   the running 1.5 install:
#     run-pryv stop-core start-config-leader start-config-follower
#     stop-config-leader stop-config-follower
#                                  the operator scripts; each records
#                                  itself in calls.log as "pryv1.5/NAME"
#                                  (so a test sees which tree's script ran,
#                                  and can inject a failure into it) and
#                                  drives the docker shim's containers
#     config-leader/conf/platform.yml, pryv/nginx/conf/secret/*
#                                  the files the upgrade copies (`keep`)
#     pryv/pryv.yml                the compose file (project "pryv")
#     pryv/core/data/              the users' attachments (rsync'ed)
#     pryv/mongodb/data/pryv-node/ the database pryv-node: the mongo shims'
#                                  state ($SHIM_STATE/mongo is a symlink to
#                                  SB/var/pryv/pryv/mongodb/data, so, as for
#                                  a real mongod whose data folder is under
#                                  /var/pryv, switching the link switches
#                                  the database)
#     pryv/mongodb/backup/         /app/backup in pryvio_mongodb
#     pryv/redis/data/             /app/data in pryvio_redis
#   var/pryv1.6/                   the 1.6 release unpacked by the Pryv
#                                  team: scripts, compose file, empty data
#                                  folders, no platform.yml / secrets yet
#   usr/local/sbin/switch_pryv.sh  the seed's switch script
#   shim/containers/               pryvio_core (health check), pryvio_mongodb,
#                                  pryvio_redis, pryvio_nginx,
#                                  pryvio_config_leader, pryvio_config_follower:
#                                  all running
#   shim/compose/pryv/services     the services of pryv/pryv.yml
#
# PRYV_SB_FIRST=1: the layout before the first migration — var/pryv is the
# real 1.5 folder and there is no var/pryv1.5.
set -eu
SB=$1
TOP=$(cd "$(dirname "$0")/../.." && pwd)
S=$SB/shim
V=$SB/var
mkdir -p "$S/volumes" "$V" "$SB/usr/local/sbin"

# script TREE VERSION NAME BODY: an operator script of a tree
script() {
	cat >"$1/$3" <<EOF
#!/bin/sh
# $3 — Pryv.io $2 (sandbox: drives the docker shim)
. "$TOP/tests/shims/_shim.sh"
shim_begin pryv$2/$3 "\$@"
$4
EOF
	chmod 755 "$1/$3"
}

# tree DIR VERSION: the release files of a version (scripts, compose file,
# empty data folders)
tree() {
	mkdir -p "$1/config-leader/conf" "$1/config-follower/conf" "$1/pryv/core/data" \
		"$1/pryv/mongodb/data" "$1/pryv/mongodb/backup" "$1/pryv/redis/data" "$1/pryv/nginx/conf"
	script "$1" "$2" stop-core 'exec docker stop pryvio_nginx pryvio_core pryvio_redis'
	script "$1" "$2" run-pryv 'exec docker start pryvio_mongodb pryvio_redis pryvio_core pryvio_nginx'
	script "$1" "$2" stop-config-follower 'exec docker stop pryvio_config_follower'
	script "$1" "$2" stop-config-leader 'exec docker stop pryvio_config_leader'
	script "$1" "$2" start-config-leader 'exec docker start pryvio_config_leader'
	script "$1" "$2" start-config-follower 'exec docker start pryvio_config_follower'
	cat >"$1/pryv/pryv.yml" <<EOF
# Pryv.io $2 (sandbox: the compose shim reads shim/compose/pryv/services)
services:
  mongodb: { container_name: pryvio_mongodb, image: "pryvio/mongodb:$2" }
  redis: { container_name: pryvio_redis, image: "pryvio/redis:$2" }
  core: { container_name: pryvio_core, image: "pryvio/core:$2" }
  nginx: { container_name: pryvio_nginx, image: "pryvio/nginx:$2" }
EOF
	echo "version: $2" >"$1/config-follower/conf/config-follower.yml"
}

old=$V/pryv1.5
tree "$old" 1.5
tree "$V/pryv1.6" 1.6
# what only the running install has: its configuration and secrets...
printf 'domain: pryv.sandbox.test\nadmin_key: sb-admin-key\n' >"$old/config-leader/conf/platform.yml"
mkdir -p "$old/pryv/nginx/conf/secret"
echo "-----BEGIN CERTIFICATE----- sandbox" >"$old/pryv/nginx/conf/secret/pryv.sandbox.test-bundle.crt"
echo "-----BEGIN PRIVATE KEY----- sandbox" >"$old/pryv/nginx/conf/secret/pryv.sandbox.test-key.pem"
chmod 600 "$old/pryv/nginx/conf/secret/pryv.sandbox.test-key.pem"
# ...the users' files...
for u in alice bob; do
	mkdir -p "$old/pryv/core/data/$u/attachments"
	for i in 1 2 3; do echo "$u attachment $i" >"$old/pryv/core/data/$u/attachments/att$i.bin"; done
done
# ...the database (one document per line, as the mongo shims keep it)...
db=$old/pryv/mongodb/data/pryv-node
mkdir -p "$db"
for u in alice bob; do
	for i in 1 2 3 4 5; do echo "{\"_id\":\"$u-ev$i\",\"streamId\":\"diary\",\"user\":\"$u\"}"; done
done >"$db/events.json"
printf '{"_id":"alice-diary","name":"Diary"}\n{"_id":"bob-diary","name":"Diary"}\n' >"$db/streams.json"
for t in alice:personal bob:personal app:app; do
	echo "{\"_id\":\"tok-${t%%:*}\",\"type\":\"${t#*:}\"}"
done >"$db/accesses.json"
printf '{"_id":"alice"}\n{"_id":"bob"}\n' >"$db/users.json"
# ...and the redis data (a real RDB is written by the test that needs one)
echo "REDIS0009 sandbox placeholder" >"$old/pryv/redis/data/dump.rdb"

if [ "${PRYV_SB_FIRST:-0}" = 1 ]; then
	mv "$old" "$V/pryv"
else
	ln -s "$old" "$V/pryv"
fi
ln -s "$V/pryv/pryv/mongodb/data" "$S/mongo"

cat >"$SB/usr/local/sbin/switch_pryv.sh" <<EOF
#!/bin/sh
rm -f $V/pryv; ln -s $V/pryv\${1}  $V/pryv
EOF
chmod 755 "$SB/usr/local/sbin/switch_pryv.sh"

# the containers, all running; their paths are mounted through the link
C=$S/containers
for c in pryvio_core pryvio_mongodb pryvio_redis pryvio_nginx pryvio_config_leader pryvio_config_follower; do
	mkdir -p "$C/$c"
	echo running >"$C/$c/state"
done
echo "1 healthy" >"$C/pryvio_core/healthcheck"
echo healthy >"$C/pryvio_core/health"
echo "/app/data $V/pryv/pryv/core/data" >"$C/pryvio_core/mounts"
printf '/app/backup %s\n/app/data %s\n' "$V/pryv/pryv/mongodb/backup" "$V/pryv/pryv/mongodb/data" \
	>"$C/pryvio_mongodb/mounts"
echo "/app/data $V/pryv/pryv/redis/data" >"$C/pryvio_redis/mounts"
mkdir -p "$S/compose/pryv"
printf 'mongodb pryvio_mongodb\nredis pryvio_redis\ncore pryvio_core\nnginx pryvio_nginx\n' \
	>"$S/compose/pryv/services"
