#!/bin/sh
# tests/sandbox/redis-migrate.sh SB — the sandbox of runbooks/redis-migrate.yml.
#
# Redis is real: tests/e2e/t0880-rb-redis-migrate.sh starts two
# redis-server instances on loopback (their data folders SB/redis/source
# and SB/redis/destination) and passes their ports with -p.  This script
# only makes the folders; SB/backups is where the runbook writes the RDB
# backups and the key list (backup_dir, from the sandbox inventory).
set -eu
SB=$1
mkdir -p "$SB/redis/source" "$SB/redis/destination" "$SB/backups"
