#!/bin/sh
# tests/sandbox/binarycrate.sh SB — the sandbox of the BinaryCrate runbooks
# (runbooks/binarycrate-release.yml, runbooks/binarycrate-deploy.yml).
#
# Real git everywhere; what cannot exist on a test machine is a fake that
# records its calls in $SHIM_STATE/calls.log (through tests/shims/_shim.sh,
# so `inject` works on it) and keeps its state in the sandbox:
#
#   SB/git/*.git                bare repositories: binarycrate-mvp2 (the
#                               "origin"), and its submodules cavorite,
#                               historygraph, pypyjs-release
#       origin: master = develop-at-release = tag Build000004 (annotated),
#       build_number.py "000004"; develop has one more commit (a migration,
#       a production_template.py change, a requirement bump, a new
#       cavorite commit) — what the next release brings
#   SB/work/binarycrate-mvp2    the operator's clone (master checked out,
#                               develop tracking origin/develop)
#   SB/srv/binarycrate-mvp2     the server's checkout, detached at
#                               Build000004 with its submodules, deployed:
#     binarycrate/bin/pip       fake virtualenv pip: `install -r FILE` pins
#                               the name==version lines into
#                               binarycrate/lib/site-packages.txt; `freeze`
#     binarycrate/bin/python    fake virtualenv python running
#                               binarycrate/manage.py: collectstatic
#                               [--noinput] [--dry-run] (copies the app's
#                               static/ and the pypyjs lib into static_root/,
#                               "N static files copied …, M unmodified."),
#                               migrate [--noinput] (applies the checkout's
#                               migrations to the "database"
#                               SHIM_STATE/db/applied), showmigrations
#     binarycrate/bin/fab       fake fabric: development.create_version_file
#                               writes binarycrate/binarycrate/settings/version.py
#     pypyjs-release/pypyjs-release/tools/module_bundler.py (tracked in the
#                               pypyjs-release submodule) add/preload into
#                               lib/modules/ and its index.json
#   SB/bin/python               the system python: records the call, runs python3
#   SB/shim/units               nginx and uwsgi-emperor active
#   SB/shim/db/applied          the migrations the database has
#   SB/shim/boot_id, SB/shim/apt/   for the reboot and apt-get shims
#   SB/site.py                  a fake web site for the http checks:
#       python3 SB/site.py ROOT PORTFILE [UNITS_DIR] serves on 127.0.0.1 a
#       page with "Build number = N", N read from ROOT's build_number.py;
#       with UNITS_DIR, only while units nginx and uwsgi-emperor are active
#       (502 otherwise)
set -eu
SB=$1
TOP=$(cd "$(dirname "$0")/../.." && pwd)
S=$SB/shim
mkdir -p "$SB/git" "$SB/work" "$SB/srv" "$SB/bin" "$S/units" "$S/db" "$SB/tmp"

export GIT_AUTHOR_NAME="BinaryCrate Dev" GIT_AUTHOR_EMAIL=dev@binarycrate.test
export GIT_COMMITTER_NAME="BinaryCrate Dev" GIT_COMMITTER_EMAIL=dev@binarycrate.test
# the submodules have local (file) URLs, which git refuses by default
git() { command git -c protocol.file.allow=always -c init.defaultBranch=master -c advice.detachedHead=false "$@"; }

# --- the fakes' shared header: record the call (and apply injected faults)
shimhead() { # shimhead NAME
	printf '#!/bin/sh\n. "%s/tests/shims/_shim.sh"\nshim_begin %s "$@"\n' "$TOP" "$1"
}

# --- submodule repositories --------------------------------------------------
mkrepo() { # mkrepo NAME: a work dir SB/tmp/NAME whose origin is SB/git/NAME.git
	git init -q --bare "$SB/git/$1.git"
	git init -q "$SB/tmp/$1"
	git -C "$SB/tmp/$1" remote add origin "$SB/git/$1.git"
}
commit() { # commit DIR MESSAGE
	git -C "$1" add -A
	git -C "$1" commit -q -m "$2"
}

mkrepo cavorite
mkdir -p "$SB/tmp/cavorite/cavorite"
printf '"""cavorite: a virtual DOM for pypyjs"""\nVERSION = "0.3"\n' >"$SB/tmp/cavorite/cavorite/__init__.py"
printf 'def t(tag, attrs, children):\n    return (tag, attrs, children)\n' >"$SB/tmp/cavorite/cavorite/dom.py"
commit "$SB/tmp/cavorite" "cavorite 0.3"
git -C "$SB/tmp/cavorite" push -q origin master

mkrepo historygraph
mkdir -p "$SB/tmp/historygraph/historygraph"
printf '"""historygraph: replicated documents"""\nVERSION = "0.1"\n' >"$SB/tmp/historygraph/historygraph/__init__.py"
commit "$SB/tmp/historygraph" "historygraph 0.1"
git -C "$SB/tmp/historygraph" push -q origin master

mkrepo pypyjs-release
P=$SB/tmp/pypyjs-release/pypyjs-release
mkdir -p "$P/tools" "$P/lib"
printf 'pypyjs.vm.js\n' >"$P/lib/pypyjs.js"
# bundled modules are built on the server, not tracked
printf 'pypyjs-release/lib/modules/\n' >"$SB/tmp/pypyjs-release/.gitignore"
cat >"$P/tools/module_bundler.py" <<'EOF'
"""Fake pypyjs module_bundler (sandbox): `add ARCHIVE_DIR SRC_DIR` copies
SRC_DIR's .py files into ARCHIVE_DIR/NAME (NAME = SRC_DIR's last part) and
lists them in ARCHIVE_DIR/index.json; `preload ARCHIVE_DIR NAME` marks a
bundled module for preloading."""
import json
import os
import shutil
import sys


def load(archive):
    try:
        with open(os.path.join(archive, "index.json")) as f:
            return json.load(f)
    except IOError:
        return {"modules": {}, "preload": []}


def save(archive, index):
    tmp = os.path.join(archive, "index.json.tmp")
    with open(tmp, "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
    os.rename(tmp, os.path.join(archive, "index.json"))


def main(argv):
    if len(argv) != 4 or argv[1] not in ("add", "preload"):
        sys.stderr.write("usage: module_bundler.py add|preload ARCHIVE_DIR PATH|NAME\n")
        return 2
    cmd, archive, arg = argv[1], argv[2], argv[3]
    if not os.path.isdir(archive):
        os.makedirs(archive)
    index = load(archive)
    if cmd == "add":
        src = arg.rstrip("/")
        name = os.path.basename(src)
        if not os.path.isdir(src):
            sys.stderr.write("module_bundler: no such directory: %s\n" % arg)
            return 1
        files = []
        for top, _dirs, names in os.walk(src):
            for n in sorted(names):
                if not n.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(top, n), src)
                dest = os.path.join(archive, name, rel)
                if not os.path.isdir(os.path.dirname(dest)):
                    os.makedirs(os.path.dirname(dest))
                shutil.copyfile(os.path.join(top, n), dest)
                files.append(rel)
        index["modules"][name] = sorted(files)
        save(archive, index)
        print("added %s (%d files)" % (name, len(files)))
    else:
        if arg not in index["modules"]:
            sys.stderr.write("module_bundler: %s is not in the bundle: add it first\n" % arg)
            return 1
        if arg not in index["preload"]:
            index["preload"].append(arg)
        save(archive, index)
        print("preloading %s" % arg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
EOF
commit "$SB/tmp/pypyjs-release" "pypyjs release 0.4"
git -C "$SB/tmp/pypyjs-release" push -q origin master

# --- the main repository ---------------------------------------------------
mkrepo binarycrate-mvp2
R=$SB/tmp/binarycrate-mvp2
mkdir -p "$R/binarycrate/binarycrate/settings" "$R/binarycrate/dashboard/migrations" \
	"$R/binarycrate/dashboard/static/dashboard" "$R/front-end/binarycrate"
cat >"$R/.gitignore" <<'EOF'
# the virtualenv
binarycrate/bin/
binarycrate/lib/
binarycrate/include/
# secrets: made by hand from production_template.py
binarycrate/binarycrate/settings/production.py
# written on the server by the deployment
binarycrate/binarycrate/settings/version.py
front-end/binarycrate/build_number.py
static_root/
EOF
printf 'Django==1.11.29\nFabric==1.14.0\npsycopg2==2.7.7\n' >"$R/requirements.txt"
printf '#!/usr/bin/env python\nimport sys\nfrom django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n' \
	>"$R/binarycrate/manage.py"
: >"$R/binarycrate/binarycrate/__init__.py"
: >"$R/binarycrate/binarycrate/settings/__init__.py"
printf 'BUILD_NUMBER = "000004"\n' >"$R/binarycrate/binarycrate/settings/build_number.py"
printf 'from .base import *\nDEBUG = False\nSECRET_KEY = "CHANGE ME"\nALLOWED_HOSTS = ["dev.binarycrate.com"]\n' \
	>"$R/binarycrate/binarycrate/settings/production_template.py"
: >"$R/binarycrate/dashboard/__init__.py"
: >"$R/binarycrate/dashboard/migrations/__init__.py"
printf 'class Migration: pass  # initial\n' >"$R/binarycrate/dashboard/migrations/0001_initial.py"
printf 'body { color: #333; }\n' >"$R/binarycrate/dashboard/static/dashboard/app.css"
printf 'from build_number import BUILD_NUMBER\nprint("Build Number " + BUILD_NUMBER)\n' >"$R/front-end/binarycrate/main.py"
: >"$R/front-end/binarycrate/__init__.py"
git -C "$R" submodule add -q "$SB/git/cavorite.git" cavorite
git -C "$R" submodule add -q "$SB/git/historygraph.git" historygraph
git -C "$R" submodule add -q "$SB/git/pypyjs-release.git" pypyjs-release
commit "$R" "Build number 000004"
git -C "$R" tag -a -m "Build 000004" Build000004
git -C "$R" branch develop
git -C "$R" push -q origin master develop Build000004

# what the next release brings, on develop
git -C "$R" checkout -q develop
printf '"""cavorite: a virtual DOM for pypyjs"""\nVERSION = "0.4"\n' >"$SB/tmp/cavorite/cavorite/__init__.py"
commit "$SB/tmp/cavorite" "cavorite 0.4"
git -C "$SB/tmp/cavorite" push -q origin master
git -C "$R/cavorite" pull -q origin master
printf 'class Migration: pass  # project sharing\n' >"$R/binarycrate/dashboard/migrations/0002_project_sharing.py"
printf 'SHARING_SECRET = "CHANGE ME"\n' >>"$R/binarycrate/binarycrate/settings/production_template.py"
printf 'Django==1.11.29\nFabric==1.14.0\npsycopg2==2.8.6\nrequests==2.25.1\n' >"$R/requirements.txt"
printf 'body { color: #222; }\n.share { display: none; }\n' >"$R/binarycrate/dashboard/static/dashboard/app.css"
commit "$R" "Project sharing"
git -C "$R" push -q origin develop

# --- the operator's clone ----------------------------------------------------
W=$SB/work/binarycrate-mvp2
git clone -q "$SB/git/binarycrate-mvp2.git" "$W"
git -C "$W" config user.name "Release Operator"
git -C "$W" config user.email ops@binarycrate.test
git -C "$W" branch -q --track develop origin/develop

# --- the server's checkout, deployed at Build000004 -------------------------
V=$SB/srv/binarycrate-mvp2
git clone -q "$SB/git/binarycrate-mvp2.git" "$V"
git -C "$V" checkout -q Build000004
git -C "$V" submodule update -q --init --recursive
mkdir -p "$V/binarycrate/bin" "$V/binarycrate/lib"
printf 'from .production_template import *\nSECRET_KEY = "s3cr3t"\n' \
	>"$V/binarycrate/binarycrate/settings/production.py"

{ shimhead binarycrate/bin/pip; cat <<'EOF'; } >"$V/binarycrate/bin/pip"
# fake virtualenv pip: the installed set is binarycrate/lib/site-packages.txt
venv=$(cd "$(dirname "$0")/.." && pwd)
db=$venv/lib/site-packages.txt
touch "$db"
case "${1:-}" in
install)
	[ "${2:-}" = -r ] && [ -f "${3:-}" ] || { echo "pip: usage: pip install -r FILE" >&2; exit 2; }
	new=
	for req in $(grep -v '^#' "$3" | tr -d ' \r'); do
		name=${req%%==*}
		lname=$(printf '%s' "$name" | tr 'A-Z' 'a-z')
		if grep -qix -- "$req" "$db"; then
			echo "Requirement already satisfied: $req in $venv/lib/python2.7/site-packages"
			continue
		fi
		echo "Collecting $req"
		awk -v n="$lname" 'tolower(substr($0, 1, index($0, "==") - 1)) != n' "$db" >"$db.tmp"
		echo "$req" >>"$db.tmp"
		sort -f "$db.tmp" >"$db" && rm -f "$db.tmp"
		new="$new ${name}-${req#*==}"
	done
	[ -n "$new" ] && echo "Successfully installed$new"
	exit 0
	;;
freeze) cat "$db" ;;
*) echo "pip: unknown command ${1:-}" >&2; exit 1 ;;
esac
EOF

{ shimhead binarycrate/bin/python; cat <<'EOF'; } >"$V/binarycrate/bin/python"
# fake virtualenv python: runs binarycrate/manage.py (collectstatic,
# migrate, showmigrations); the checkout is two folders up
root=$(cd "$(dirname "$0")/../.." && pwd)
[ "${1:-}" = binarycrate/manage.py ] || { echo "python: only binarycrate/manage.py runs here" >&2; exit 2; }
shift
cmd=${1:-}
shift || true
noinput=0 dry=0
for a in "$@"; do
	case "$a" in --noinput | --no-input) noinput=1 ;; --dry-run | -n) dry=1 ;; esac
done
# the migrations of the checked-out code, as app.name
migrations() {
	(cd "$root/binarycrate" && find . -path '*/migrations/0*.py' | sort) |
		sed 's|^\./\([^/]*\)/migrations/\(.*\)\.py$|\1.\2|'
}
db=$SHIM_STATE/db/applied
mkdir -p "$SHIM_STATE/db"
touch "$db"
case "$cmd" in
collectstatic)
	dest=$root/static_root
	if [ $noinput = 0 ]; then
		echo "You have requested to collect static files at the destination"
		echo "location as specified in your settings:"
		echo "    $dest"
		echo "Type 'yes' to continue, or 'no' to cancel: "
		read -r ans || ans=
		[ "$ans" = yes ] || { echo "CommandError: Collecting static files cancelled." >&2; exit 1; }
	fi
	copied=0 same=0
	for pair in "binarycrate/dashboard/static:" "pypyjs-release/pypyjs-release/lib:pypyjs/"; do
		src=$root/${pair%%:*}
		pre=${pair#*:}
		[ -d "$src" ] || continue
		for f in $(cd "$src" && find . -type f | sed 's|^\./||' | sort); do
			if cmp -s "$src/$f" "$dest/$pre$f"; then
				same=$((same + 1))
				continue
			fi
			copied=$((copied + 1))
			if [ $dry = 1 ]; then
				echo "Pretending to copy '$src/$f'"
			else
				mkdir -p "$(dirname "$dest/$pre$f")"
				cp "$src/$f" "$dest/$pre$f"
			fi
		done
	done
	echo
	echo "$copied static files copied to '$dest', $same unmodified."
	;;
migrate)
	echo "Operations to perform:"
	echo "  Apply all migrations: dashboard"
	echo "Running migrations:"
	n=0
	for m in $(migrations); do
		grep -qx "$m" "$db" && continue
		echo "  Applying $m... OK"
		echo "$m" >>"$db"
		n=$((n + 1))
	done
	[ $n -gt 0 ] || echo "  No migrations to apply."
	;;
showmigrations)
	app=
	for m in $(migrations); do
		a=${m%%.*}
		[ "$a" = "$app" ] || { echo "$a"; app=$a; }
		if grep -qx "$m" "$db"; then x=X; else x=' '; fi
		echo " [$x] ${m#*.}"
	done
	;;
*)
	echo "Unknown command: '$cmd'" >&2
	exit 1
	;;
esac
EOF

{ shimhead binarycrate/bin/fab; cat <<'EOF'; } >"$V/binarycrate/bin/fab"
# fake fabric: development.create_version_file writes the static files'
# version hash (from the checked-out commit and the bundled modules)
root=$(cd "$(dirname "$0")/../.." && pwd)
case "${1:-}" in
development.create_version_file)
	h=$( (git -C "$root" rev-parse HEAD; cat "$root/pypyjs-release/pypyjs-release/lib/modules/index.json" 2>/dev/null) |
		md5sum | cut -c1-12)
	printf 'STATIC_VERSION = "%s"\n' "$h" >"$root/binarycrate/binarycrate/settings/version.py"
	echo "[localhost] local: writing version $h"
	echo
	echo "Done."
	;;
*)
	echo "Fatal error: Task '${1:-}' not found" >&2
	exit 1
	;;
esac
EOF
chmod +x "$V/binarycrate/bin/pip" "$V/binarycrate/bin/python" "$V/binarycrate/bin/fab"

# the system python (the seed runs module_bundler.py with `sudo python`)
# (python -c, as the runbook's checks use it, is not recorded)
printf '#!/bin/sh\nif [ "${1:-}" != -c ]; then\n\t. "%s/tests/shims/_shim.sh"\n\tshim_begin python "$@"\nfi\nexec python3 "$@"\n' \
	"$TOP" >"$SB/bin/python"
chmod +x "$SB/bin/python"

# the deployment of Build000004, done by hand once (the state the server is in)
(
	cd "$V"
	export SHIM_STATE=$S PATH="$SB/bin:$PATH"
	./binarycrate/bin/pip install -r requirements.txt >/dev/null
	cp binarycrate/binarycrate/settings/build_number.py front-end/binarycrate/build_number.py
	B=pypyjs-release/pypyjs-release
	for m in cavorite/cavorite/ front-end/binarycrate/ historygraph/historygraph/; do
		python "$B/tools/module_bundler.py" add "$B/lib/modules/" "$m" >/dev/null
	done
	for m in cavorite binarycrate historygraph; do
		python "$B/tools/module_bundler.py" preload "$B/lib/modules/" "$m" >/dev/null
	done
	./binarycrate/bin/fab development.create_version_file >/dev/null
	./binarycrate/bin/python binarycrate/manage.py collectstatic --noinput >/dev/null
	./binarycrate/bin/python binarycrate/manage.py migrate --noinput >/dev/null
)
rm -f "$S/calls.log"
echo active >"$S/units/nginx"
echo active >"$S/units/uwsgi-emperor"
# the reboot shim writes a new boot id; apt-get's installed packages (a
# test adds upgrades to SB/shim/apt/pending)
echo 6e1c2a4b-0000-4000-8000-000000000001 >"$S/boot_id"
mkdir -p "$S/apt"
printf 'linux-image-generic 4.4.0.210.216\nnginx 1.10.3-0ubuntu0.16.04.5\n' >"$S/apt/installed"
: >"$S/apt/pending"
rm -rf "$SB/tmp"

# --- a fake web site for the build-number checks -----------------------------
cat >"$SB/site.py" <<'EOF'
"""python3 site.py ROOT PORTFILE [UNITS_DIR]: serves "Build number = N" (N from
ROOT's build_number.py) on 127.0.0.1, on a free port written to PORTFILE;
with UNITS_DIR, only while nginx and uwsgi-emperor are active there."""
import http.server
import os
import re
import sys

ROOT, PORTFILE = sys.argv[1], sys.argv[2]
UNITS = sys.argv[3] if len(sys.argv) > 3 else None


def unit_active(name):
    try:
        with open(os.path.join(UNITS, name)) as f:
            return f.read().strip() == "active"
    except OSError:
        return False


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if UNITS and not (unit_active("nginx") and unit_active("uwsgi-emperor")):
            self.send_response(502)
            self.end_headers()
            self.wfile.write(b"502 Bad Gateway\n")
            return
        path = os.path.join(ROOT, "binarycrate/binarycrate/settings/build_number.py")
        with open(path) as f:
            m = re.search(r"\d{6}", f.read())
        body = "<html><!-- Build number = %s --><body>BinaryCrate</body></html>\n" % (
            m.group(0) if m else "?")
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
EOF
