#!/bin/sh
# t0855 — the BinaryCrate runbooks against the sandbox of
# tests/sandbox/binarycrate.sh (real git: a bare origin with master, develop
# and the tag Build000004, the operator's clone, the server's checkout with
# three submodules; fake pip/python/fab/module_bundler; shims for
# systemctl/apt-get/reboot; a fake web site showing "Build number = N").
#
# binarycrate-release: plan --check changes nothing; a push refused by
# origin rolls everything back (the clone's branches, tags, checked-out
# branch and build number as before, origin untouched), with the build
# number checked over http on the "local dev server"; a clean run merges
# develop, bumps 000004 -> 000005, tags Build000005 (annotated) and pushes
# master, develop and the tag; later, `runbook rollback` of that
# run withdraws the release from origin and the clone.
# binarycrate-deploy (from the state the release left, restored before each
# case): plan --check changes nothing; a clean run checks out Build000005
# with its submodules and runs every command in the guide's order, nginx
# running at the end, the build number checked on the files and the site;
# a failure injected at migrate rolls back (nginx running again, the
# checkout back at Build000004 and its files as they were, uwsgi active); a
# kill during collectstatic and a resume finish the deployment; with
# upgrade_os=true the packages are upgraded and the server rebooted first;
# without --yes the run pauses at the production.py confirm and resume
# --yes goes on.  Then the same over real SSH (tests/sshd.sh) with a reboot
# that kills the sshd (the reboot shim's hook): runbook connects again.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

sandbox binarycrate
for i in release deploy; do
	sed -e "s|@SB@|$SB|g" -e "s|@TOP@|$TOP|g" "$TOP/tests/sandbox/binarycrate-$i.yml" >"$T/$i.yml"
done
REL=$TOP/runbooks/binarycrate-release.yml
DEP=$TOP/runbooks/binarycrate-deploy.yml
W=$SB/work/binarycrate-mvp2
O=$SB/git/binarycrate-mvp2.git
V=$SB/srv/binarycrate-mvp2
BN=binarycrate/binarycrate/settings/build_number.py

# fake web sites (stopped at exit): site NAME ROOT [UNITS_DIR] sets $url
cp "$SB/site.py" "$T/site.py"
sites=
trap 'for p in $sites; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
site() {
	python3 "$T/site.py" "$2" "$T/$1.port" ${3:+"$3"} &
	sites="$sites $!"
	wait_for "$T/$1.port" || { echo "Bail out! the fake site $1 did not start"; exit 1; }
	url="http://127.0.0.1:$(cat "$T/$1.port")/"
}
refs() { git -C "$1" for-each-ref --format='%(refname) %(objectname)' refs/heads refs/tags; }
num() { grep -oE '[0-9]{6}' "$1"; }

# --- release: plan --check --------------------------------------------------
d0=$(digest "$SB")
rb plan "$REL" --inventory "$T/release.yml" --check
expect_rc 0 "release: plan --check"
out_has "current: 000004"
out_has "next: 000005"
out_has "Build000005 is free"
check "release: plan --check changed nothing" test "$(digest "$SB")" = "$d0"

# --- release: origin refuses the push -> everything local is taken back -----
site dev "$W"
cat >"$O/hooks/pre-receive" <<'EOF'
#!/bin/sh
echo "pushes are closed for the test" >&2
exit 1
EOF
chmod +x "$O/hooks/pre-receive"
w0=$(refs "$W")
o0=$(refs "$O")
rb run "$REL" --inventory "$T/release.yml" -p local_url="$url"
expect_rc 1 "release: a refused push fails the run"
out_has "Build number = 000005"
out_has "rolled back"
check "release rollback: the clone's branches and tags are as before" test "$(refs "$W")" = "$w0"
check "release rollback: no local tag Build000005" sh -c '! git -C "$1" rev-parse -q --verify refs/tags/Build000005' _ "$W"
check "release rollback: master is checked out again" test "$(git -C "$W" symbolic-ref --short HEAD)" = master
check "release rollback: the build number is 000004 again" test "$(num "$W/$BN")" = 000004
check "release rollback: nothing left uncommitted" test -z "$(git -C "$W" status --porcelain)"
check "release rollback: origin is untouched" test "$(refs "$O")" = "$o0"
rm -f "$O/hooks/pre-receive"

# --- release: clean run -----------------------------------------------------
dev0=$(git -C "$O" rev-parse develop)
rb run "$REL" --inventory "$T/release.yml" --yes
expect_rc 0 "release: a clean run succeeds"
rel_rid=$(run_id)
out_has "approved by --yes"
check "origin has the annotated tag Build000005" test "$(git -C "$O" cat-file -t Build000005)" = tag
check "the tag is origin's master" \
	test "$(git -C "$O" rev-parse 'Build000005^{commit}')" = "$(git -C "$O" rev-parse master)"
check "origin master's build number is 000005" \
	sh -c 'git -C "$1" show master:"$2" | grep -q "\"000005\""' _ "$O" "$BN"
check "origin master commits the build number" \
	test "$(git -C "$O" log -1 --format=%s master)" = "Build number 000005"
check "develop was merged into master with a merge commit (--no-ff)" \
	test "$(git -C "$O" rev-parse 'master^^2')" = "$dev0"
check "origin develop has master merged back" test "$(git -C "$O" rev-parse develop)" = "$(git -C "$O" rev-parse master)"
check "git describe on develop reports the new build" test "$(git -C "$W" describe develop)" = Build000005
check "the clone ends on develop, clean" \
	sh -c 'test "$(git -C "$1" symbolic-ref --short HEAD)" = develop && test -z "$(git -C "$1" status --porcelain)"' _ "$W"

# --- deploy ------------------------------------------------------------------
# every case starts from the state the release left
cp -a "$SB" "$T/after-release"
restore() {
	rm -rf "$SB"
	cp -a "$T/after-release" "$SB"
	# the copies have new inodes: refresh the index's stat data, as any git
	# status would (`git reset --keep` does not, and refuses a stale entry)
	git -C "$W" update-index -q --refresh
}
site prod "$V" "$SHIM_STATE/units"
SITE=$url
check "the site shows build 000004 before the deployment" sh -c 'curl -fsS "$1" | grep -q "Build number = 000004"' _ "$SITE"
DEPLOY="$DEP --inventory $T/deploy.yml -p build=000005 -p site_url=$SITE"
# the server as the release left it: the files a rollback must restore
srv_state() {
	(cd "$V" && git describe --tags && git submodule status --recursive &&
		digest static_root front-end pypyjs-release/pypyjs-release/lib/modules &&
		cat binarycrate/binarycrate/settings/version.py)
}
srv0=$(srv_state)
db0=$(cat "$SHIM_STATE/db/applied")

# plan --check
d0=$(digest "$SB")
# shellcheck disable=SC2086
rb plan $DEPLOY --check
expect_rc 0 "deploy: plan --check"
out_has "deployed: Build000004"
out_has "production_template: unknown, Build000005 is not fetched yet"
check "deploy: plan --check changed nothing" test "$(digest "$SB")" = "$d0"

# clean run
# shellcheck disable=SC2086
rb run $DEPLOY --yes
expect_rc 0 "deploy: a clean run succeeds"
out_has "production_template: changed"
out_has "production.py"
check "the checkout is at Build000005" test "$(git -C "$V" describe --tags)" = Build000005
check "the submodules are at Build000005's commits" \
	sh -c 'test -z "$(git -C "$1" submodule status --recursive | grep "^[-+U]")" &&
		grep -q "0.4" "$1/cavorite/cavorite/__init__.py"' _ "$V"
check "every command ran, in the guide's order" sh -c '
	grep -v -e " is-active " -e " freeze$" -e "--dry-run" -e " showmigrations$" "$1" >"$2"
	cat >"$2.want" <<EOF
systemctl stop nginx
binarycrate/bin/pip install -r requirements.txt
python pypyjs-release/pypyjs-release/tools/module_bundler.py add pypyjs-release/pypyjs-release/lib/modules/ cavorite/cavorite/
python pypyjs-release/pypyjs-release/tools/module_bundler.py add pypyjs-release/pypyjs-release/lib/modules/ front-end/binarycrate/
python pypyjs-release/pypyjs-release/tools/module_bundler.py add pypyjs-release/pypyjs-release/lib/modules/ historygraph/historygraph/
python pypyjs-release/pypyjs-release/tools/module_bundler.py preload pypyjs-release/pypyjs-release/lib/modules/ cavorite
python pypyjs-release/pypyjs-release/tools/module_bundler.py preload pypyjs-release/pypyjs-release/lib/modules/ binarycrate
python pypyjs-release/pypyjs-release/tools/module_bundler.py preload pypyjs-release/pypyjs-release/lib/modules/ historygraph
binarycrate/bin/fab development.create_version_file
binarycrate/bin/python binarycrate/manage.py collectstatic --noinput
binarycrate/bin/python binarycrate/manage.py migrate --noinput
systemctl restart uwsgi-emperor
systemctl start nginx
EOF
	cmp "$2" "$2.want"' _ "$SHIM_STATE/calls.log" "$T/calls"
check "nginx runs at the end" test "$(cat "$SHIM_STATE/units/nginx")" = active
check "uwsgi-emperor runs" test "$(cat "$SHIM_STATE/units/uwsgi-emperor")" = active
check "the virtualenv has the new pins" grep -qx 'psycopg2==2.8.6' "$V/binarycrate/lib/site-packages.txt"
check "the front end got build_number.py" test "$(num "$V/front-end/binarycrate/build_number.py")" = 000005
check "the bundle has the new front end and cavorite" sh -c '
	test "$(grep -oE "[0-9]{6}" "$1/binarycrate/build_number.py")" = 000005 && grep -q 0.4 "$1/cavorite/__init__.py"' \
	_ "$V/pypyjs-release/pypyjs-release/lib/modules"
check "the static files are collected" grep -q share "$V/static_root/dashboard/app.css"
check "the new migration is applied" grep -qx 'dashboard.0002_project_sharing' "$SHIM_STATE/db/applied"
out_has "Build number = 000005"
check "the site was checked for the new build" grep -q 'answered 200' "$out"
check "the site shows build 000005" sh -c 'curl -fsS "$1" | grep -q "Build number = 000005"' _ "$SITE"
rid=$(run_id)
rb status "$rid"
out_has "succeeded"

# failure at migrate -> rollback
restore
inject "fail binarycrate/bin/python*manage.py?migrate*" "django.db.utils.OperationalError: could not connect to server"
# shellcheck disable=SC2086
rb run $DEPLOY --yes
expect_rc 1 "deploy: a failing migration fails the run"
out_has "the migration failed (django.db.utils.OperationalError"
out_has "rolled back"
check "rollback: nginx runs again" test "$(cat "$SHIM_STATE/units/nginx")" = active
check "rollback: uwsgi-emperor runs, as before" test "$(cat "$SHIM_STATE/units/uwsgi-emperor")" = active
check "rollback: the checkout is back at Build000004" test "$(git -C "$V" describe --tags)" = Build000004
check "rollback: checkout, submodules, bundle, static files and version as before" \
	test "$(srv_state)" = "$srv0"
check "rollback: the front end's build number is 000004 again" \
	test "$(num "$V/front-end/binarycrate/build_number.py")" = 000004
check "rollback: the previous pins are installed again" grep -qx 'psycopg2==2.7.7' "$V/binarycrate/lib/site-packages.txt"
check "rollback: the database was not migrated" test "$(cat "$SHIM_STATE/db/applied")" = "$db0"
check "rollback: nginx was started again after the files were back" sh -c '
	tail -n 3 "$1" | grep -qx "systemctl start nginx"' _ "$SHIM_STATE/calls.log"
check "the site shows build 000004 again" sh -c 'curl -fsS "$1" | grep -q "Build number = 000004"' _ "$SITE"
uninject

# kill during collectstatic, then resume
restore
inject "hang binarycrate/bin/python*collectstatic*"
# shellcheck disable=SC2086
run_until_hang run $DEPLOY --yes
check "deploy: killed during collectstatic" test "$rc" = 137
rid=$(run_id)
check "killed: nginx is stopped, the new build half installed" sh -c '
	test "$(cat "$1/units/nginx")" = inactive && test "$(git -C "$2" describe --tags)" = Build000005' _ "$SHIM_STATE" "$V"
uninject
rb resume "$rid" --yes
expect_rc 0 "deploy: resume finishes the deployment"
check "resumed: the checkout is at Build000005" test "$(git -C "$V" describe --tags)" = Build000005
check "resumed: the static files are collected" grep -q share "$V/static_root/dashboard/app.css"
check "resumed: migrated" grep -qx 'dashboard.0002_project_sharing' "$SHIM_STATE/db/applied"
check "resumed: nginx runs" test "$(cat "$SHIM_STATE/units/nginx")" = active
check "resumed: the steps done before the kill did not run again" \
	test "$(grep -c 'module_bundler.py add' "$SHIM_STATE/calls.log")" = 3
check "resumed: collectstatic ran again (it had not copied anything)" \
	test "$(grep -c 'collectstatic --noinput$' "$SHIM_STATE/calls.log")" = 2
check "the site shows build 000005" sh -c 'curl -fsS "$1" | grep -q "Build number = 000005"' _ "$SITE"

# upgrade_os=true: packages upgraded and the server rebooted before the deployment
restore
printf 'linux-image-generic 4.4.0.211.217 reboot\nopenssl 1.0.2g-1ubuntu4.20\n' >"$SHIM_STATE/apt/pending"
printf 'linux-image-4.4.0-200-generic 4.4.0-200.232\n' >"$SHIM_STATE/apt/autoremovable"
boot0=$(cat "$SHIM_STATE/boot_id")
# shellcheck disable=SC2086
rb run $DEPLOY -p upgrade_os=true --yes
expect_rc 0 "deploy with upgrade_os=true succeeds"
called "apt-get -q -o DPkg::Lock::Timeout=300 update"
called "dist-upgrade"
called "autoremove"
check "the upgrades are installed" grep -qx 'linux-image-generic 4.4.0.211.217' "$SHIM_STATE/apt/installed"
check "the server rebooted once (new boot id)" \
	sh -c 'test "$(cat "$1/reboots")" = 1 && test "$(cat "$1/boot_id")" != "$2"' _ "$SHIM_STATE" "$boot0"
check "the reboot came before the deployment" sh -c '
	r=$(grep -n "^reboot" "$1" | cut -d: -f1); s=$(grep -n "stop nginx" "$1" | cut -d: -f1)
	test -n "$r" && test -n "$s" && test "$r" -lt "$s"' _ "$SHIM_STATE/calls.log"
check "deployed after the reboot" test "$(git -C "$V" describe --tags)" = Build000005
check "nginx runs" test "$(cat "$SHIM_STATE/units/nginx")" = active

# without --yes the run pauses for production.py (the template changed)
restore
# shellcheck disable=SC2086
rb run $DEPLOY
expect_rc 4 "deploy: without --yes the run pauses at the production.py confirm"
out_has "make the same changes in"
rid=$(run_id)
check "paused after the checkout, before pip" sh -c '
	test "$(git -C "$1" describe --tags)" = Build000005 && ! grep -q "pip install" "$2"' _ "$V" "$SHIM_STATE/calls.log"
rb resume "$rid" --yes
expect_rc 0 "deploy: resume --yes goes on from the confirm"
check "resumed: deployed, nginx runs" sh -c '
	grep -qx "dashboard.0002_project_sharing" "$1/db/applied" && test "$(cat "$1/units/nginx")" = active' _ "$SHIM_STATE"

# --- release: `runbook rollback` withdraws a pushed release -------------------
rb rollback "$rel_rid" --yes
expect_rc 0 "release: runbook rollback of the released run"
out_has "Withdrawing Build000005"
check "withdrawn: origin's branches and tags are as before the release" test "$(refs "$O")" = "$o0"
check "withdrawn: the clone's branches and tags are as before" test "$(refs "$W")" = "$w0"
check "withdrawn: master is checked out, build number 000004" sh -c '
	test "$(git -C "$1" symbolic-ref --short HEAD)" = master && grep -q "\"000004\"" "$1/$2"' _ "$W" "$BN"

# --- deploy over real SSH, with a reboot in the middle ------------------------
# The server is an sshd on loopback (tests/sshd.sh) whose commands act on
# the sandbox.  The reboot shim runs SB/shim/reboot-hook as the "machine"
# goes down: it kills the sshd with every connection, and the sshd listens
# again 2 s later; runbook must connect again to wait for the new boot id,
# check the site, and deploy over the new connection.
restore
printf 'linux-image-generic 4.4.0.211.217 reboot\n' >"$SHIM_STATE/apt/pending"
. "$TOP/tests/sshd.sh"
# (sshd.sh's exit trap stops its servers; the fake sites must stop too)
trap 'for p in $sites; do kill "$p" 2>/dev/null; done; sshd_agent_stop
	for _p in "$T"/ssh/*.conf; do [ -e "$_p" ] && sshd_stop "$(basename "$_p" .conf)"; done; rm -rf "$T"' EXIT
sshd_setup
sshd_start server || sshd_skip_all "sshd did not start"
sshd_pin server
cat >"$SHIM_STATE/reboot-hook" <<EOF2
#!/bin/sh
# the machine goes down: the sshd and every connection it serves; it
# listens again 2 s later, as after a boot
tree() (
	for c in \$(ps -o pid= --ppid "\$1"); do
		tree "\$c"
		[ "\$(ps -o comm= -p "\$c")" = sshd ] && echo "\$c"
	done
)
lp=\$(cat "$T/ssh/server.pid")
kill -KILL \$(tree "\$lp") "\$lp" 2>/dev/null
rm -f "$T/ssh/server.pid"
setsid sh -c 'sleep 2; exec "\$1" -f "\$2" -E "\$3"' up "$SSHD" "$T/ssh/server.conf" "$T/ssh/server.log" \
	</dev/null >/dev/null 2>&1 &
exit 0
EOF2
chmod +x "$SHIM_STATE/reboot-hook"
pid0=$(cat "$T/ssh/server.pid")
cat >"$T/ssh-deploy.yml" <<EOF2
hosts:
  binarycrate:
    address: 127.0.0.1
    port: $(sshd_port server)
    user: $SSH_USER
    state_dir: $T/remote
    sudo: true
    env:
      PATH: "$SB/bin:$TOP/tests/shims:/usr/local/bin:/usr/bin:/bin"
      SHIM_STATE: "$SB/shim"
      GIT_CONFIG_COUNT: "1"
      GIT_CONFIG_KEY_0: protocol.file.allow
      GIT_CONFIG_VALUE_0: always
vars:
  root: "$V"
  reboot_flag: "$SB/shim/apt/reboot-required"
  boot_id: "$SB/shim/boot_id"
EOF2
rb run "$DEP" --inventory "$T/ssh-deploy.yml" -p build=000005 -p site_url="$SITE" -p upgrade_os=true --yes
expect_rc 0 "ssh: deploy with a reboot succeeds"
out_has "connected to binarycrate again"
check "ssh: the server rebooted once" test "$(cat "$SHIM_STATE/reboots" 2>/dev/null)" = 1
check "ssh: the sshd was restarted by the reboot" \
	sh -c 'test -s "$1" && test "$(cat "$1")" != "$2"' _ "$T/ssh/server.pid" "$pid0"
check "ssh: the upgrade is installed" grep -qx 'linux-image-generic 4.4.0.211.217' "$SHIM_STATE/apt/installed"
check "ssh: deployed over the new connection" test "$(git -C "$V" describe --tags)" = Build000005
check "ssh: nginx runs" test "$(cat "$SHIM_STATE/units/nginx")" = active
check "ssh: the site shows build 000005" sh -c 'curl -fsS "$1" | grep -q "Build number = 000005"' _ "$SITE"
rid=$(run_id)
check "ssh: the lock on the server is released" test ! -e "$T/remote/lock"
check "ssh: the journal mirror on the server is whole" \
	cmp "$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl" "$T/remote/runs/$rid/journal.jsonl"
