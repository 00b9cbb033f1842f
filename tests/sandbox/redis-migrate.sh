#!/bin/sh
# tests/sandbox/redis-migrate.sh SB — the sandbox of runbooks/redis-migrate.yml.
#
# Redis is real: tests/e2e/t0880-rb-redis-migrate.sh starts two
# redis-server instances on loopback (redis_start of tests/sandbox.sh) and
# passes their ports with -p.  This script only makes SB/backups, where the
# runbook writes the RDB backups and the key list (backup_dir, from the
# sandbox inventory).
set -eu
SB=$1
mkdir -p "$SB/backups"
