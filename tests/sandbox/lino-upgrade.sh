#!/bin/sh
# tests/sandbox/lino-upgrade.sh SB — a Lino site as getlino lays it out, for
# runbooks/lino-upgrade.yml (tests/e2e/t0865-rb-lino.sh):
#
#   SB/usr/local/lino/lino_local/mysite/     the project folder (param project)
#     manage.py          a fake Lino/Django manage.py (python, below)
#     make_snapshot.sh   Lino's template: dump2py snapshot + zip -r snapshot.zip
#     pull.sh            "git pull + pip install -U": copies SB/upstream into env
#     env/               the virtualenv: bin/activate, bin/python (the real
#                        python3), bin/pip (freeze = env/installed.txt), and
#                        the "code": lino/VERSION, lino/SCHEMA (the database
#                        structure this code expects), lino/static/
#     default.db         the "database": "schema ID" then one row per line
#     static_root/       what collectstatic copied
#   SB/upstream/         the next release that pull.sh installs (24.3.0, a
#                        changed structure "B", new static files)
#   SB/shim/units/       apache2, supervisor, nginx: active
#
# The fake manage.py keeps Lino's behaviour where the runbook relies on it:
#   dump2py [-o] [-s] DIR   restore.py (the structure) + data.txt (rows);
#                           refuses an existing DIR without -o; -s: no data
#                           (a "simulated" snapshot: only restore.py)
#   run DIR/restore.py [--noinput]
#                           without --noinput asks and (no terminal) aborts;
#                           flushes the database, then loads the rows into the
#                           structure of the current code; prints "Deferred …",
#                           "Trying to save N deferred objects" and "Done
#                           manage.py run …"; when the structures differ and
#                           $SHIM_STATE/lino/unsaved holds N, it ends with
#                           "Abandoned with N unsaved objects" (exit 1),
#                           leaving the rows it saved
#   install [--noinput], buildindexes, collectstatic [--noinput] [--dry-run] [--clear],
#   checkdata [-f], check   checkdata, buildindexes and dump2py (with data)
#                           fail like Django ("no such column") when the
#                           database's structure is not the code's
# Each call is logged in $SHIM_STATE/calls.log as "manage.py ARGS" and obeys
# $SHIM_STATE/inject like a shim (fail, failonce, hang); a hang in
# `run …restore.py` happens after the database was flushed, as a kill in
# the middle of a real restore leaves it.
set -eu
SB=$1
PRJ=$SB/usr/local/lino/lino_local/mysite
ENV=$PRJ/env
UP=$SB/upstream
mkdir -p "$PRJ" "$ENV/bin" "$ENV/lino/static" "$UP/lino/static" "$SB/shim/units" "$PRJ/static_root"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(python3 -c 'import sys; print(sys.executable)')

# --- the virtualenv and the code -------------------------------------------
cat >"$ENV/bin/activate" <<EOF
# This file must be used with "source bin/activate" (sandbox virtualenv)
VIRTUAL_ENV="$ENV"
export VIRTUAL_ENV
PATH="\$VIRTUAL_ENV/bin:\$PATH"
export PATH
EOF
ln -s "$PY" "$ENV/bin/python"
cat >"$ENV/bin/pip" <<'EOF'
#!/bin/sh
# sandbox pip: `pip freeze` lists env/installed.txt
d=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
freeze) cat "$d/installed.txt" ;;
*) echo "pip (sandbox): only 'freeze'" >&2; exit 1 ;;
esac
EOF
chmod +x "$ENV/bin/pip"
printf '%s\n' "Django==4.2.9" "lino==24.1.0" "lino-noi==24.1.0" "lino-xl==24.1.0" >"$ENV/installed.txt"
echo 24.1.0 >"$ENV/lino/VERSION"
printf '%s\n' "A" "contacts.Partner: name" "tickets.Ticket: partner summary state" >"$ENV/lino/SCHEMA"
echo "/* lino 24.1.0 */" >"$ENV/lino/static/lino.css"
echo "// lino 24.1.0" >"$ENV/lino/static/lino.js"
cp "$ENV/lino/static/"* "$PRJ/static_root/"

# the next release
printf '%s\n' "Django==4.2.11" "lino==24.3.0" "lino-noi==24.3.0" "lino-xl==24.3.0" >"$UP/installed.txt"
echo 24.3.0 >"$UP/lino/VERSION"
printf '%s\n' "B" "contacts.Partner: name email" "tickets.Ticket: partner summary state priority" >"$UP/lino/SCHEMA"
echo "/* lino 24.3.0 */" >"$UP/lino/static/lino.css"
echo "// lino 24.3.0" >"$UP/lino/static/lino.js"
echo "// new in 24.3.0" >"$UP/lino/static/dashboard.js"

# --- the database --------------------------------------------------------------
cat >"$PRJ/default.db" <<'EOF'
schema A
contacts.Partner|1|Rumma & Ko
contacts.Partner|2|Bäckerei Mießen
tickets.Ticket|1|1|printer does not print|open
tickets.Ticket|2|2|BROKEN|open
tickets.Ticket|3|7|invoice layout|closed
EOF

# --- the project's scripts -------------------------------------------------------
cat >"$PRJ/make_snapshot.sh" <<'EOF'
#!/bin/sh
# Make a snapshot of a Lino database (Lino's template, sandbox paths).
set -e
cd "$(dirname "$0")"
. env/bin/activate
if [ -d snapshot ]; then
	rm -r snapshot
fi
python manage.py dump2py snapshot
if [ -f snapshot.zip ]; then
	rm snapshot.zip
fi
zip -qr snapshot.zip snapshot
EOF
cat >"$PRJ/pull.sh" <<EOF
#!/bin/sh
# Update the Python environment (sandbox): what "git pull" in the
# repositories and "pip install -U" do, here a copy of the next release.
set -e
cd "\$(dirname "\$0")"
. env/bin/activate
echo "Updating repositories in env/repositories ..."
cp -R "$UP/." env/
echo "Successfully installed \$(tr '\n' ' ' <env/installed.txt)"
EOF
chmod +x "$PRJ/make_snapshot.sh" "$PRJ/pull.sh"

cat >"$PRJ/manage.py" <<'EOF'
#!/usr/bin/env python3
"""Fake manage.py of a Lino site (sandbox, see tests/sandbox/lino-upgrade.sh)."""
import fnmatch, os, shutil, sys, time

PRJ = os.path.dirname(os.path.abspath(__file__))
CODE = os.path.join(os.path.realpath(os.path.join(PRJ, "env")), "lino")
DB = os.path.join(PRJ, "default.db")
STATE = os.environ.get("SHIM_STATE")
if not STATE:
    sys.exit("manage.py: SHIM_STATE is not set (this is a sandbox site)")
args = sys.argv[1:]
line = "manage.py " + " ".join(args)
PID = os.getpid()


def out(*a):
    print(*a, flush=True)


def hang():
    with open(os.path.join(STATE, "hanging"), "w") as f:
        f.write("%d\n" % PID)
    while True:
        time.sleep(1)


def inject(point):
    """The shims' protocol (tests/shims/_shim.sh): fail, failonce, hang.
    point "start": fail/failonce; point "middle": hang."""
    path = os.path.join(STATE, "inject")
    if not os.path.exists(path):
        return
    rules = open(path).read().splitlines()
    for i, rule in enumerate(rules):
        kind, _, rest = rule.partition(" ")
        glob, _, msg = rest.partition(" ")
        if not fnmatch.fnmatchcase(line, glob):
            continue
        if kind in ("fail", "failonce") and point == "start":
            if kind == "failonce":
                del rules[i]
                open(path, "w").write("".join(r + "\n" for r in rules))
            print(msg or "manage.py: injected failure", file=sys.stderr)
            sys.exit(1)
        if kind == "hang" and point == "middle":
            hang()
        return


def code_schema():
    lines = open(os.path.join(CODE, "SCHEMA")).read().splitlines()
    return lines[0], lines[1:]


def db_read():
    lines = open(DB).read().splitlines()
    return lines[0].split()[1], lines[1:]


def need_db():
    sid, models = code_schema()
    dbid, _ = db_read()
    if dbid != sid:
        col = models[-1].split()[-1]
        print("django.db.utils.OperationalError: no such column: tickets_ticket.%s" % col, file=sys.stderr)
        sys.exit(1)


def restore_py():
    sid, models = code_schema()
    text = "# -*- coding: UTF-8 -*-\n# generated by dump2py\nSCHEMA = %r\n" % sid
    return text + "".join("# %s\n" % m for m in models)


with open(os.path.join(STATE, "calls.log"), "a") as f:
    f.write(line + "\n")
inject("start")
os.chdir(PRJ)
cmd = args[0] if args else "help"
opts = [a for a in args[1:] if a.startswith("-")]
pos = [a for a in args[1:] if not a.startswith("-")]
noinput = "--noinput" in opts or "--no-input" in opts

if cmd == "check":
    code_schema()
    out("System check identified no issues (0 silenced).")
elif cmd == "dump2py":
    flags = "".join(o.lstrip("-") for o in opts if not o.startswith("--"))
    overwrite = "o" in flags or "--overwrite" in opts
    simulate = "s" in flags
    d = pos[0]
    if os.path.exists(d) and not overwrite:
        sys.exit("CommandError: Specified output_dir %s already exists. Delete it yourself if you dont need it." % d)
    if not simulate:
        need_db()
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "restore.py"), "w").write(restore_py())
    if not simulate:
        _, rows = db_read()
        open(os.path.join(d, "data.txt"), "w").write("".join(r + "\n" for r in rows))
        out("Wrote %d objects to %s/restore.py and siblings." % (len(rows), d))
    else:
        out("Wrote %s/restore.py (simulated: no data)." % d)
elif cmd == "run":
    script = pos[0]
    src = os.path.dirname(script) or "."
    out("Started manage.py %s (using mysite.settings) --> PID %d" % (" ".join(args), PID))
    if not noinput:
        out("We are going to flush your database (%s)." % DB)
        sys.stdout.write("Are you sure (y/n) ? ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() != "y":
            sys.exit("User abort.")
    text = open(script).read()
    src_schema = text.split("SCHEMA = ")[1].split("\n")[0].strip("'\"")
    rows = open(os.path.join(src, "data.txt")).read().splitlines()
    sid, _ = code_schema()
    # flush: the tables are dropped and made again
    open(DB, "w").write("schema %s\n" % sid)
    inject("middle")
    unsaved = 0
    p = os.path.join(STATE, "lino", "unsaved")
    if src_schema != sid and os.path.exists(p):
        unsaved = int(open(p).read().strip() or 0)
    saved = rows[: len(rows) - unsaved] if unsaved else rows
    deferred = [r for r in saved if r.startswith("tickets.Ticket")]
    for r in deferred:
        f = r.split("|")
        out("Deferred Ticket #%s : {'partner': ['Partner instance with id %s does not exist.']}" % (f[1], f[2]))
    with open(DB, "a") as f:
        for r in saved:
            f.write(r + "\n")
    out("Trying to save %d deferred objects." % len(deferred))
    if unsaved:
        print("Abandoned with %d unsaved objects." % unsaved, file=sys.stderr)
        print("Exception: Abandoned with %d unsaved objects." % unsaved, file=sys.stderr)
        sys.exit(1)
    out("Loaded %d objects" % len(saved))
    out("Done manage.py %s (PID %d)" % (" ".join(args), PID))
elif cmd == "install":
    if not noinput:
        sys.stdout.write("Install Python requirements of mysite? [y or n] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() != "y":
            sys.exit("User abort.")
    out("Requirement already satisfied: lino==%s" % open(os.path.join(CODE, "VERSION")).read().strip())
elif cmd == "buildindexes":
    need_db()
    sid, _ = code_schema()
    open(os.path.join(PRJ, "index.txt"), "w").write("schema %s\n" % sid)
    out("Built search indexes for schema %s." % sid)
elif cmd == "collectstatic":
    dry = "--dry-run" in opts or "-n" in opts
    clear = "--clear" in opts or "-c" in opts
    if not noinput:
        out("You have requested to collect static files at the destination location as specified in your settings.")
        sys.stdout.write("Type 'yes' to continue, or 'no' to cancel: ")
        sys.stdout.flush()
        if sys.stdin.readline().strip() != "yes":
            sys.exit("CommandError: Collecting static files cancelled.")
    src = os.path.join(CODE, "static")
    dst = os.path.join(PRJ, "static_root")
    os.makedirs(dst, exist_ok=True)
    if clear and not dry:
        for n in os.listdir(dst):
            os.remove(os.path.join(dst, n))
            out("Deleting '%s'" % n)
    copied = same = 0
    for n in sorted(os.listdir(src)):
        a, b = os.path.join(src, n), os.path.join(dst, n)
        if os.path.exists(b) and open(a, "rb").read() == open(b, "rb").read():
            same += 1
            continue
        copied += 1
        if dry:
            out("Pretending to copy '%s'" % a)
        else:
            shutil.copyfile(a, b)
            out("Copying '%s'" % a)
    out("\n%d static files copied to '%s', %d unmodified." % (copied, dst, same))
elif cmd == "checkdata":
    need_db()
    fix = "-f" in opts or "--fix" in opts
    sid, rows = db_read()
    bad = [r for r in rows if r.split("|")[-2:-1] == ["BROKEN"]]
    if fix and bad:
        rows = [r.replace("|BROKEN|", "|(summary was empty)|") for r in rows]
        open(DB, "w").write("schema %s\n" % sid + "".join(r + "\n" for r in rows))
        out("Found %d and fixed %d data problems in Tickets." % (len(bad), len(bad)))
    else:
        out("Found %d and fixed 0 data problems in Tickets." % len(bad))
    out("Done manage.py checkdata (PID %d)" % PID)
else:
    sys.exit("Unknown command: %r" % cmd)
EOF

# --- the services --------------------------------------------------------------
for u in apache2 supervisor nginx; do echo active >"$SB/shim/units/$u"; done
