#!/bin/sh
# tests/sandbox/odoo-upgrade.sh SB — a Camptocamp Odoo project on the
# Rancher odoo-platform, for the tests of runbooks/odoo-upgrade.yml
# (tests/e2e/t0870-rb-odoo.sh), with its two inventories
# tests/sandbox/odoo-integration.yml and odoo-prod.yml.
#
#   SB/git/fluxdock.git    the project's origin (bare), branch master.  Its
#                          post-receive hook plays Travis: a pushed tag X
#                          "builds" the image camptocamp/fluxdock_odoo:X
#                          (a line in SB/shim/registry).
#   SB/work/fluxdock       the operator's clone, on master: odoo/VERSION
#                          10.1.0, HISTORY.rst with an unreleased section,
#                          odoo/migration.yml, rancher/integration/
#                          docker-compose.yml (image ...:10.1.0)
#   SB/git/platform.git    the platform project's origin (bare)
#   SB/work/platform       its clone: ./rancher (runs rancher-compose in a
#                          stack's folder), fluxdock-odoo-integration/ and
#                          fluxdock-odoo-prod/ (docker-compose.yml with image
#                          ...:10.1.0, rancher.public.env with DB_NAME)
#   SB/home/.gitconfig     the operator's git identity
#   SB/shim/registry       the images on Docker Hub (10.0.0, 10.1.0)
#   SB/shim/rancher/fluxdock-odoo-{integration,prod}/  both stacks running
#                          10.1.0 (see tests/shims/rancher-compose)
#   SB/shim/containers/r-postgres-integration_postgres_1  running (the
#                          docker shim runs `docker exec … psql` here: the
#                          test starts a real PostgreSQL and points PGHOST
#                          at it)
# calls.log is emptied at the end.
set -eu
SB=$1
TOP=$(cd "$(dirname "$0")/../.." && pwd)
: "${SHIM_STATE:=$SB/shim}"
export SHIM_STATE
PATH="$TOP/tests/shims:$PATH"
export PATH
image=camptocamp/fluxdock_odoo

export GIT_CONFIG_NOSYSTEM=1 HOME="$SB/home"
mkdir -p "$SB/git" "$SB/work" "$SB/home" "$SHIM_STATE"
cat >"$SB/home/.gitconfig" <<'EOF'
[user]
	name = Ops Operator
	email = ops@example.org
[init]
	defaultBranch = master
EOF

# --- the project -----------------------------------------------------------
git init -q --bare "$SB/git/fluxdock.git"
cat >"$SB/git/fluxdock.git/hooks/post-receive" <<EOF
#!/bin/sh
# Travis: a pushed tag builds the image of that version
while read -r old new ref; do
	case "\$ref" in
	refs/tags/*) [ "\$new" = 0000000000000000000000000000000000000000 ] ||
		echo "$image:\${ref#refs/tags/}" >>"$SHIM_STATE/registry" ;;
	esac
done
EOF
chmod +x "$SB/git/fluxdock.git/hooks/post-receive"
git clone -q "$SB/git/fluxdock.git" "$SB/work/fluxdock" 2>/dev/null
p="$SB/work/fluxdock"
mkdir -p "$p/odoo" "$p/rancher/integration"
echo 10.1.0 >"$p/odoo/VERSION"
cat >"$p/HISTORY.rst" <<'EOF'
.. :changelog:

Release History
---------------

latest (unreleased)
+++++++++++++++++++

**Features and Improvements**

* Invoice layout with the new logo

**Bugfixes**

* Stock moves rounded to the unit of measure


10.1.0 (2018-01-15)
+++++++++++++++++++

**Features and Improvements**

* Sales dashboards
EOF
cat >"$p/odoo/migration.yml" <<'EOF'
migration:
  options:
    install_command: odoo
  versions:
    - version: setup
      operations:
        pre:
          - anthem songs.install.pre::main
    - version: 10.1.0
      addons:
        upgrade:
          - sale_dashboard
    - version: 10.2.0
      addons:
        upgrade:
          - account_invoice_layout
EOF
cat >"$p/rancher/integration/docker-compose.yml" <<EOF
odoo:
  image: $image:10.1.0
  command: odoo --load=web,web_kanban,attachment_s3,session_redis,logging_json
EOF
git -C "$p" add -A
git -C "$p" commit -q -m "Project fluxdock"
git -C "$p" push -q origin master 2>/dev/null

# --- the platform project --------------------------------------------------
git init -q --bare "$SB/git/platform.git"
git clone -q "$SB/git/platform.git" "$SB/work/platform" 2>/dev/null
pf="$SB/work/platform"
cat >"$pf/rancher" <<'EOF'
#!/bin/sh
# ./rancher STACK COMMAND... — rancher-compose for a stack of this project.
# (The real script also decrypts STACK's rancher.env.gpg for the access
# keys and passwords.)  A stack's files are in the folder named after it.
stack=${1:?usage: ./rancher STACK COMMAND...}
shift
cd "$(dirname "$0")/$stack" || exit 1
set -a
. ./rancher.public.env
set +a
exec rancher-compose -p "$stack" "$@"
EOF
chmod +x "$pf/rancher"
for env in integration prod; do
	d="$pf/fluxdock-odoo-$env"
	mkdir -p "$d"
	if [ $env = prod ]; then links="postgres-cluster/lb:db"; db=mighty_pinguin_l337; else
		links="postgres-integration/postgres:db"; db=mighty_pinguin_l337_integration; fi
	cat >"$d/docker-compose.yml" <<EOF
odoo:
  image: $image:10.1.0
  command: odoo --load=web,web_kanban,attachment_s3,session_redis,logging_json
  external_links:
    - $links
  environment:
    - DB_USER=\${DB_USER}
    - DB_NAME=\${DB_NAME}
    - RUNNING_ENV=\${RUNNING_ENV}
  labels:
    io.rancher.sidekicks: nginx

nginx:
  image: camptocamp/odoo-nginx:9.0-1.1.0
  net: "container:odoo"
EOF
	cat >"$d/rancher.public.env" <<EOF
export DOMAIN_NAME=$env.fluxdock.odoo.camptocamp.ch
export DB_USER=$db
export DB_NAME=$db
export DB_PORT=5432
export RUNNING_ENV=$env
export WORKERS=4
EOF
	s="$SHIM_STATE/rancher/fluxdock-odoo-$env"
	mkdir -p "$s"
	echo "$image:10.1.0" >"$s/image"
	echo active >"$s/state"
	echo 1 >"$s/deploys"
done
git -C "$pf" add -A
git -C "$pf" commit -q -m "Stacks of fluxdock"
git -C "$pf" push -q origin master 2>/dev/null

# --- Docker Hub, the integration database server -----------------------------
printf '%s\n' "$image:10.0.0" "$image:10.1.0" >"$SHIM_STATE/registry"
c="$SHIM_STATE/containers/r-postgres-integration_postgres_1"
mkdir -p "$c"
echo running >"$c/state"
echo postgres:9.6 >"$c/image"
# the docker shim keeps its volumes here (made up front: a probe must change nothing)
mkdir -p "$SHIM_STATE/volumes"
: >"$SHIM_STATE/calls.log"
