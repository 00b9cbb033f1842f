#!/bin/sh
# tests/sandbox/rapydo.sh SB — a RAPyDo deployment for the tests of
# runbooks/rapydo-upgrade.yml, rapydo-production.yml, rapydo-ssl.yml and
# rapydo-reset-sql.yml (tests/e2e/t0850-rb-rapydo.sh).
#
#   SB/git/myproject.git   the project's "origin" (bare): branch master and
#                          tags v1.0 (needs rapydo $RAPYDO_FROM, default 0.6.6)
#                          and v1.1 (needs rapydo 0.6.7: PostgreSQL 11.4)
#   SB/srv/myproject       the deployment: a clone on branch master at v1.0,
#                          made before v1.1 was pushed (so the upgrade must
#                          fetch); .projectrc (ignored by git) says
#                          project: myproject, mode: debug, hostname:
#                          myproject.example.org
#   SB/bin/pip3            a fake pip3 that installs rapydo-controller into
#                          the rapydo shim's state (latest: 0.7.0)
#   SB/shim/rapydo/version the installed controller ($RAPYDO_FROM)
# and the v1.0 stack started in debug mode by the rapydo shim itself
# (containers myproject_backend_1 and myproject_postgres_1 running, volume
# myproject_sqldata without PG_VERSION: see the shim).  calls.log is emptied at the end.
#
# RAPYDO_FROM=0.6.5 makes a deployment whose controller is too old for
# `rapydo install --git auto` (the upgrade's fallback path).
set -eu
SB=$1
TOP=$(cd "$(dirname "$0")/../.." && pwd)
: "${SHIM_STATE:=$SB/shim}"
export SHIM_STATE
PATH="$TOP/tests/shims:$PATH"
export PATH
from=${RAPYDO_FROM:-0.6.6}

export GIT_AUTHOR_NAME=sandbox GIT_AUTHOR_EMAIL=sandbox@example.org
export GIT_COMMITTER_NAME=sandbox GIT_COMMITTER_EMAIL=sandbox@example.org
export GIT_CONFIG_NOSYSTEM=1 HOME="$SB/home"
mkdir -p "$SB/git" "$SB/srv" "$SB/bin" "$SB/home" "$SHIM_STATE/rapydo"

# the project's history, in a scratch clone of the bare origin
git init -q --bare -b master "$SB/git/myproject.git"
work=$SB/.work
git clone -q "$SB/git/myproject.git" "$work" 2>/dev/null
conf() {
	mkdir -p "$work/projects/myproject"
	cat >"$work/projects/myproject/project_configuration.yaml" <<EOF
project:
  title: My project
  description: a RAPyDo project for the runbook sandbox
  version: "$1"
  rapydo: "$2"
EOF
}
printf '%s\n' .projectrc submodules/ >"$work/.gitignore"
conf 1.0 "$from"
echo "v1.0" >"$work/CHANGELOG"
git -C "$work" add -A
git -C "$work" commit -q -m "release 1.0"
git -C "$work" tag -a -m "release 1.0" v1.0
git -C "$work" push -q origin master v1.0 2>/dev/null

# the deployment, cloned at 1.0
git clone -q "$SB/git/myproject.git" "$SB/srv/myproject" 2>/dev/null
cat >"$SB/srv/myproject/.projectrc" <<EOF
project: myproject
hostname: myproject.example.org
mode: debug
EOF

# 1.1 is released afterwards: the deployment has to fetch it
conf 1.1 0.6.7
echo "v1.1" >>"$work/CHANGELOG"
git -C "$work" commit -q -a -m "release 1.1 (rapydo 0.6.7, PostgreSQL 11)"
git -C "$work" tag -a -m "release 1.1" v1.1
git -C "$work" push -q origin master v1.1 2>/dev/null
rm -rf "$work"

# the controller and pip
echo "$from" >"$SHIM_STATE/rapydo/version"
echo 0.7.0 >"$SHIM_STATE/rapydo/pypi-latest"
cat >"$SB/bin/pip3" <<EOF
#!/bin/sh
# pip3 of the sandbox: only rapydo-controller, into the rapydo shim's state
. "$TOP/tests/shims/_shim.sh"
shim_begin pip3 "\$@"
v=
case "\$*" in
"install --upgrade rapydo-controller" | "install -U rapydo-controller")
	v=\$(cat "\$SHIM_STATE/rapydo/pypi-latest") ;;
"install rapydo-controller=="*) v=\${*##*==} ;;
*) echo "pip3 (sandbox): unsupported: \$*" >&2; exit 2 ;;
esac
echo "Collecting rapydo-controller"
echo "Successfully installed rapydo-controller-\$v"
echo "\$v" >"\$SHIM_STATE/rapydo/version"
EOF
chmod +x "$SB/bin/pip3"

# the 1.0 stack, running in debug mode.  The database volume has no
# PG_VERSION (the shim then lets any server use it); a test writes 10 into
# it to make the data directory one that PostgreSQL 10 initialized.
mkdir -p "$SHIM_STATE/volumes/myproject_sqldata/base"
(cd "$SB/srv/myproject" && rapydo init && rapydo start) >/dev/null
rm -f "$SHIM_STATE/calls.log"
