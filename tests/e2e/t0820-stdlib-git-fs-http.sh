#!/bin/sh
# t0820 — the git, fs and http modules of the stdlib against real things:
# git repositories made here (a bare origin, clones, a tag, a submodule
# reached through a file:// URL), real files, and a real HTTP server on
# 127.0.0.1 (a python3 script on a free port, stopped at exit).
#   git: fetch + checkout + merge + tag + push (branch and tag) + submodules
#        succeed and leave the expected refs on both sides; a rollback puts
#        everything back (HEAD on the branch it was on, master back on the
#        remote, the tag gone on both sides, the submodule deinitialized);
#        the checks catch an existing tag, a dirty work tree, a conflict, an
#        unknown ref, a rejected push, and a push undo whose lease is stale
#        (someone pushed on top: rollback stops for a human, exit 3).
#   fs:  move/copy succeed, refuse to overwrite, and are undone on rollback;
#        free-space, exists and absent fail with hints.
#   http: wait polls until 2xx + pattern, gives up at its deadline with the
#        last answer; expect fails on a wrong status or body.
#   plan --check runs the probes (the server sees the request) and changes
#   nothing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"
export RUNBOOK_PATH="$TOP/stdlib"
# the tests' commits and tags need an identity; the submodule's URL is a
# local path, which git refuses unless told (CVE-2022-39253)
export GIT_AUTHOR_NAME=Tester GIT_AUTHOR_EMAIL=tester@example.org
export GIT_COMMITTER_NAME=Tester GIT_COMMITTER_EMAIL=tester@example.org
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=protocol.file.allow GIT_CONFIG_VALUE_0=always
export GIT_CONFIG_NOSYSTEM=1

# --- the HTTP server ----------------------------------------------------------
cat >"$T/server.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[3])
import httpd
portfile, log = sys.argv[1], open(sys.argv[2], "a")
seen = {}
class H(httpd.Handler):
    content_type = "text/plain"
    def do_GET(self):
        log.write(self.path + "\n"); log.flush()
        path = self.path.split("?")[0]
        n = seen[path] = seen.get(path, 0) + 1
        if path.startswith("/flaky/") and n <= 2:
            return self.answer(503, "starting\n")
        if path.startswith("/flaky/") or path == "/ok":
            return self.answer(200, "status: ok\nversion 2.0\n")
        return self.answer(404, "not found\n")
httpd.serve(H, portfile)
EOF
python3 "$T/server.py" "$T/port" "$T/http.log" "$TOP/tests" &
srv_pid=$!
trap 'kill "$srv_pid" 2>/dev/null; rm -rf "$T"' EXIT
wait_for "$T/port" || { echo "Bail out! the HTTP server did not start"; exit 1; }
port=$(cat "$T/port")
base="http://127.0.0.1:$port"
# a port nothing listens on
closed=$(free_port)

# --- the repositories ---------------------------------------------------------
g="$T/g"
mkdir -p "$g"
G() { git -C "$@" >/dev/null 2>&1; }
git init -q --bare -b master "$g/sub.git"
git init -q --bare -b master "$g/origin.git"
git clone -q "$g/sub.git" "$g/subseed" 2>/dev/null
echo one >"$g/subseed/lib.txt" && G "$g/subseed" add lib.txt && G "$g/subseed" commit -m "lib 1"
G "$g/subseed" push origin master
git clone -q "$g/origin.git" "$g/seed" 2>/dev/null
printf 'line one\nline two\n' >"$g/seed/README"
G "$g/seed" add README && G "$g/seed" commit -m init
G "$g/seed" submodule add "file://$g/sub.git" lib && G "$g/seed" commit -m "add lib"
G "$g/seed" push origin master
G "$g/seed" branch develop && G "$g/seed" push origin develop
G "$g/seed" checkout -b conflict && sed -i 's/line two/line 2 from conflict/' "$g/seed/README"
G "$g/seed" commit -am "conflicting change" && G "$g/seed" push origin conflict
G "$g/seed" checkout master && G "$g/seed" checkout -b feature
echo feature >"$g/seed/feature.txt" && G "$g/seed" add feature.txt && G "$g/seed" commit -m "feature 1"
G "$g/seed" push origin feature
# the work clone: on develop, the submodule not initialized
git clone -q "$g/origin.git" "$g/work" 2>/dev/null
G "$g/work" checkout develop
# the feature moves on after the clone: merging it needs a fetch
echo more >>"$g/seed/feature.txt" && G "$g/seed" commit -am "feature 2" && G "$g/seed" push origin feature
feature_tip=$(git -C "$g/seed" rev-parse feature)
master0=$(git -C "$g/origin.git" rev-parse master)
develop0=$(git -C "$g/work" rev-parse HEAD)

rev() { git -C "$1" rev-parse -q --verify "$2" 2>/dev/null; }
remote_has() { git -C "$g/origin.git" rev-parse -q --verify "$1" >/dev/null 2>&1; }

flow=$(file git-flow.yml <<'EOF'
runbook: git-flow
params:
  repo: { required: true }
  fail: { default: "no", choices: ["no", "yes"] }
steps:
  - id: fetch
    uses: git.fetch
    with: { repo: "{{ repo }}" }
  - id: co
    uses: git.checkout
    with: { repo: "{{ repo }}", ref: master }
  - id: merge
    uses: git.merge
    with: { repo: "{{ repo }}", branch: origin/feature, message: "Merge feature for 1.1.0" }
  - id: tag
    uses: git.tag
    with: { repo: "{{ repo }}", tag: "1.1.0", message: "Release 1.1.0" }
  - id: push-master
    uses: git.push
    with: { repo: "{{ repo }}", ref: master }
  - id: push-tag
    uses: git.push
    with: { repo: "{{ repo }}", ref: "1.1.0" }
  - id: subs
    uses: git.submodules
    with: { repo: "{{ repo }}" }
  - id: gate
    run: test {{ fail }} = no
    probe: true
EOF
)

# a failure after everything: the rollback takes it all back
rb run "$flow" -p repo="$g/work" -p fail=yes
expect_rc 1 "git: a failure at the end rolls back"
out_has "rolled back"
check "the fetch happened (and is not undone)" test "$(rev "$g/work" origin/feature)" = "$feature_tip"
out_has "is not undone: it only added objects"
check "HEAD is back on develop" test "$(git -C "$g/work" symbolic-ref --short HEAD)" = develop
check "HEAD is back at its commit" test "$(rev "$g/work" HEAD)" = "$develop0"
check "local master is back (merge undone)" test "$(rev "$g/work" master)" = "$master0"
check "the remote's master is back" test "$(rev "$g/origin.git" master)" = "$master0"
check "the tag is gone locally" test -z "$(rev "$g/work" refs/tags/1.1.0)"
check "the tag is gone on the remote" sh -c '! git -C "$1" rev-parse -q --verify refs/tags/1.1.0' _ "$g/origin.git"
check "the submodule is deinitialized again" sh -c 'git -C "$1" submodule status | grep -q "^-"' _ "$g/work"
check "the submodule's files are gone again" test ! -e "$g/work/lib/lib.txt"

# the same, succeeding
rb run "$flow" -p repo="$g/work"
expect_rc 0 "git: fetch, checkout, merge, tag, push, submodules"
check "master is checked out" test "$(git -C "$g/work" symbolic-ref --short HEAD)" = master
check "master has a merge commit of the feature" \
	test "$(git -C "$g/work" rev-parse master^2)" = "$feature_tip"
check "the merge commit has the given message" sh -c 'git -C "$1" log -1 --format=%s | grep -qx "Merge feature for 1.1.0"' \
	_ "$g/work"
check "the remote's master is the local master" test "$(rev "$g/origin.git" master)" = "$(rev "$g/work" master)"
check "the tag is annotated" test "$(git -C "$g/work" cat-file -t refs/tags/1.1.0)" = tag
check "the tag names the merge" test "$(rev "$g/work" 'refs/tags/1.1.0^{commit}')" = "$(rev "$g/work" master)"
check "the remote has the tag object" test "$(rev "$g/origin.git" refs/tags/1.1.0)" = "$(rev "$g/work" refs/tags/1.1.0)"
check "the submodule is initialized and up to date" sh -c 'git -C "$1" submodule status | grep -q "^ "' _ "$g/work"
check "the submodule's files are there" test "$(cat "$g/work/lib/lib.txt")" = one

# the same again: the tag exists, the step refuses; the rollback leaves the
# release alone (nothing of it was made by this run)
tagobj=$(rev "$g/work" refs/tags/1.1.0)
rb run "$flow" -p repo="$g/work"
expect_rc 1 "git.tag: an existing tag fails the step"
out_has "tag 1.1.0 exists already: a release cannot be tagged twice"
check "the tag is untouched" test "$(rev "$g/work" refs/tags/1.1.0)" = "$tagobj"
check "the remote's tag is untouched" test "$(rev "$g/origin.git" refs/tags/1.1.0)" = "$tagobj"
check "the remote's master is untouched" test "$(rev "$g/origin.git" master)" = "$(rev "$g/work" master)"

# --- git: the checks catch what goes wrong --------------------------------------
git clone -q "$g/origin.git" "$g/w2" 2>/dev/null
one=$(file git-one.yml <<'EOF'
runbook: git-one
params:
  repo: { required: true }
  ref: { default: master }
  branch: { default: origin/conflict }
  what: { choices: [checkout, merge, push] }
steps:
  - id: co
    when: what == "checkout"
    uses: git.checkout
    with: { repo: "{{ repo }}", ref: "{{ ref }}" }
  - id: merge
    when: what == "merge"
    uses: git.merge
    with: { repo: "{{ repo }}", branch: "{{ branch }}", no_ff: "false" }
  - id: push
    when: what == "push"
    uses: git.push
    with: { repo: "{{ repo }}", ref: "{{ ref }}" }
EOF
)
w2head=$(rev "$g/w2" HEAD)
echo dirty >>"$g/w2/README"
rb run "$one" -p repo="$g/w2" -p what=checkout -p ref=develop
expect_rc 1 "git.checkout: a dirty work tree is refused"
out_has "commit or stash the changes in $g/w2 first"
check "HEAD did not move" test "$(git -C "$g/w2" symbolic-ref --short HEAD)" = master
check "the change is still there" grep -q dirty "$g/w2/README"
G "$g/w2" checkout -- README

rb run "$one" -p repo="$g/w2" -p what=checkout -p ref=nosuchbranch
expect_rc 1 "git.checkout: an unknown ref fails"
out_has "no branch, tag or commit nosuchbranch"
check "HEAD did not move" test "$(rev "$g/w2" HEAD)" = "$w2head"

sed -i 's/line two/line 2 from w2/' "$g/w2/README" && G "$g/w2" commit -am "local change"
w2head=$(rev "$g/w2" HEAD)
rb run "$one" -p repo="$g/w2" -p what=merge
expect_rc 1 "git.merge: a conflict fails the step"
out_has "README conflicts: the merge was aborted and nothing changed"
check "HEAD did not move" test "$(rev "$g/w2" HEAD)" = "$w2head"
check "no merge is left in progress" test ! -e "$g/w2/.git/MERGE_HEAD"
check "the work tree is clean" test -z "$(git -C "$g/w2" status --porcelain --untracked-files=no)"

# someone else pushes to master: w2's master is behind
echo later >"$g/work/later.txt" && G "$g/work" add later.txt && G "$g/work" commit -m later && G "$g/work" push origin master
rb run "$one" -p repo="$g/w2" -p what=push
expect_rc 1 "git.push: a non-fast-forward push is refused by the remote"
out_has "someone pushed meanwhile"
check "the remote's master is untouched" test "$(rev "$g/origin.git" master)" = "$(rev "$g/work" master)"

rb run "$one" -p repo="$g/w2" -p what=push -p ref=nosuch
expect_rc 1 "git.push: an unknown ref fails"
out_has "nothing to push: create the branch or tag first"

# the push's undo is refused when someone pushed on top meanwhile
G "$g/w2" reset -q --hard origin/master
G "$g/w2" checkout -q -b hotfix && echo fix >"$g/w2/fix.txt" && G "$g/w2" add fix.txt && G "$g/w2" commit -m fix
git clone -q "$g/origin.git" "$g/other" 2>/dev/null
lease=$(file git-lease.yml <<'EOF'
runbook: git-lease
params:
  repo: { required: true }
  other: { required: true }
steps:
  - id: push
    uses: git.push
    with: { repo: "{{ repo }}", ref: hotfix }
  - id: someone-else
    run: |
      cd {{ other }} && git fetch -q origin && git checkout -q -b hotfix origin/hotfix &&
      echo more >> fix.txt && git commit -qam "more fix" && git push -q origin hotfix
    probe: true
  - id: fail
    run: "false"
    probe: true
EOF
)
rb run "$lease" -p repo="$g/w2" -p other="$g/other"
expect_rc 3 "git.push: an undo whose lease is stale stops the rollback"
out_has "someone pushed to refs/heads/hotfix after this run: it was left alone"
check "the other push is kept on the remote" test "$(rev "$g/origin.git" hotfix)" = "$(rev "$g/other" hotfix)"

# --- fs -------------------------------------------------------------------------
f="$T/files"
mkdir -p "$f/data/sub" "$f/dest"
echo hello >"$f/data/a.txt" && echo world >"$f/data/sub/b.txt" && ln -s a.txt "$f/data/link"
fsrb=$(file fs-ops.yml <<'EOF'
runbook: fs-ops
params:
  dir: { required: true }
  fail: { default: "no", choices: ["no", "yes"] }
steps:
  - id: room
    uses: fs.free-space
    with: { path: "{{ dir }}", min_mb: "1" }
  - id: src
    uses: fs.exists
    with: { path: "{{ dir }}/data", kind: dir }
  - id: nothing-there
    uses: fs.absent
    with: { path: "{{ dir }}/dest/data" }
  - id: copy
    uses: fs.copy
    with: { from: "{{ dir }}/data", to: "{{ dir }}/dest/data" }
  - id: move
    uses: fs.move
    with: { from: "{{ dir }}/data/a.txt", to: "{{ dir }}/a.moved" }
  - id: gate
    run: test {{ fail }} = no
    probe: true
EOF
)
before=$(digest "$f")
rb run "$fsrb" -p dir="$f" -p fail=yes
expect_rc 1 "fs: a failure after copy and move rolls back"
check "the move is undone (the file is back)" test "$(cat "$f/data/a.txt")" = hello
check "the copy is removed" test ! -e "$f/dest/data"
check "everything is as before" test "$(digest "$f")" = "$before"

rb run "$fsrb" -p dir="$f"
expect_rc 0 "fs: free-space, exists, absent, copy, move"
out_has "free: "
check "the copy has the files" test "$(cat "$f/dest/data/sub/b.txt")" = world
check "the copy keeps the symlink" test "$(readlink "$f/dest/data/link")" = a.txt
check "the copy keeps the file the move took away later" test "$(cat "$f/dest/data/a.txt")" = hello
check "no temporary copy is left" test ! -e "$f/dest/data.runbook-copy"
check "the file was moved" test "$(cat "$f/a.moved")" = hello
check "the source of the move is gone" test ! -e "$f/data/a.txt"

after=$(digest "$f")
rb run "$fsrb" -p dir="$f"
expect_rc 1 "fs.absent: an existing path fails with a hint"
out_has "$f/dest/data exists and must not: move it away or remove it first"
check "nothing changed" test "$(digest "$f")" = "$after"

guards=$(file fs-guards.yml <<'EOF'
runbook: fs-guards
params:
  dir: { required: true }
  what: { choices: [move, copy, space, exists, kind] }
steps:
  - id: move
    when: what == "move"
    uses: fs.move
    with: { from: "{{ dir }}/a.moved", to: "{{ dir }}/dest/data" }
  - id: copy
    when: what == "copy"
    uses: fs.copy
    with: { from: "{{ dir }}/a.moved", to: "{{ dir }}/dest" }
  - id: space
    when: what == "space"
    uses: fs.free-space
    with: { path: "{{ dir }}", min_mb: "999999999999" }
  - id: exists
    when: what == "exists"
    uses: fs.exists
    with: { path: "{{ dir }}/nope" }
  - id: kind
    when: what == "kind"
    uses: fs.exists
    with: { path: "{{ dir }}/a.moved", kind: dir }
EOF
)
rb run "$guards" -p dir="$f" -p what=move
expect_rc 1 "fs.move: an existing destination is refused"
out_has "$f/dest/data exists already: move it away (or pick another name); nothing was changed"
rb run "$guards" -p dir="$f" -p what=copy
expect_rc 1 "fs.copy: an existing destination is refused"
out_has "$f/dest exists already"
check "nothing changed" test "$(digest "$f")" = "$after"
rb run "$guards" -p dir="$f" -p what=space
expect_rc 1 "fs.free-space: too little space fails"
out_has "999999999999 MiB on the file system of $f"
rb run "$guards" -p dir="$f" -p what=exists
expect_rc 1 "fs.exists: a missing path fails"
out_has "$f/nope must exist (kind: any) and does not"
rb run "$guards" -p dir="$f" -p what=kind
expect_rc 1 "fs.exists: a path of the wrong kind fails"
out_has "$f/a.moved must exist (kind: dir)"

# --- http -----------------------------------------------------------------------
web=$(file web.yml <<'EOF'
runbook: web
params:
  url: { required: true }
  pattern: { default: "" }
  timeout: { default: "20" }
  what: { default: wait, choices: [wait, expect] }
steps:
  - id: wait
    when: what == "wait"
    uses: http.wait
    with: { url: "{{ url }}", pattern: "{{ pattern }}", timeout: "{{ timeout }}", interval: "1" }
  - id: expect
    when: what == "expect"
    uses: http.expect
    with: { url: "{{ url }}", pattern: "{{ pattern }}" }
EOF
)
rb run "$web" -p url="$base/flaky/a" -p pattern='^version 2\.0$'
expect_rc 0 "http.wait: waits until 2xx and the pattern matches"
out_has "answered 200 (attempt 3)"
check "the server saw three requests" test "$(grep -c '^/flaky/a$' "$T/http.log")" = 3

rb run "$web" -p url="$base/ok" -p pattern='version 3' -p timeout=2
expect_rc 1 "http.wait: a body that never matches fails at the deadline"
out_has "did not answer as expected within 2 s (last: HTTP 200, but no line of the body matches the pattern)"

rb run "$web" -p url="$base/missing" -p timeout=1
expect_rc 1 "http.wait: a 404 fails at the deadline"
out_has "(last: HTTP 404)"

rb run "$web" -p url="http://127.0.0.1:$closed/" -p timeout=1
expect_rc 1 "http.wait: nothing listening fails at the deadline"
out_has "(last: curl: (7)"

rb run "$web" -p what=expect -p url="$base/ok" -p pattern='^status: ok$'
expect_rc 0 "http.expect: 2xx and the body matches"
rb run "$web" -p what=expect -p url="$base/ok" -p pattern='version 3'
expect_rc 1 "http.expect: a body that does not match fails"
out_has "answers, but not with the expected content"
rb run "$web" -p what=expect -p url="$base/missing" -p pattern=.
expect_rc 1 "http.expect: a 404 fails"
out_has "answered 404, not 2xx"
rb run "$web" -p what=expect -p url="http://127.0.0.1:$closed/" -p pattern=.
expect_rc 1 "http.expect: nothing listening fails"
out_has "nothing answers at that address"

rb run "$web" -p url="http://127.0.0.1:$port/a b"
expect_rc 1 "http.wait: a URL with a space is refused when the step starts"
out_has "does not match the pattern 'https?://\S+'"
check "no request was made" sh -c '! grep -q "^/a" "$1"' _ "$T/http.log"

# --- plan --check runs the probes and changes nothing ---------------------------
probes=$(file probes.yml <<'EOF'
runbook: probes
params:
  dir: { required: true }
  repo: { required: true }
  url: { required: true }
steps:
  - id: up
    uses: http.expect
    with: { url: "{{ url }}", pattern: "status: ok" }
  - id: room
    uses: fs.free-space
    with: { path: "{{ dir }}", min_mb: "1" }
  - id: there
    uses: fs.exists
    with: { path: "{{ dir }}/a.moved", kind: file }
  - id: co
    uses: git.checkout
    with: { repo: "{{ repo }}", ref: develop }
  - id: mv
    uses: fs.move
    with: { from: "{{ dir }}/a.moved", to: "{{ dir }}/a.back" }
EOF
)
before=$(digest "$f" "$g/work")
: >"$T/http.log"
rb plan "$probes" -p dir="$f" -p repo="$g/work" -p url="$base/ok?plan" --check
expect_rc 0 "plan --check: the probes pass"
check "the HTTP probe ran under plan --check" grep -qx '/ok?plan' "$T/http.log"
out_has "git checkout -q 'develop' --"
check "plan --check changed nothing" test "$(digest "$f" "$g/work")" = "$before"
check "HEAD did not move" test "$(git -C "$g/work" symbolic-ref --short HEAD)" = master
: >"$T/http.log"
rb plan "$probes" -p dir="$f" -p repo="$g/work" -p url="$base/ok?plan"
expect_rc 0 "plan: without --check"
check "plan alone runs no probe" test ! -s "$T/http.log"
rb plan "$probes" -p dir="$f/nope" -p repo="$g/work" -p url="$base/ok" --check
check "plan --check reports a failing probe" test "$rc" != 0
out_has "must exist"

for m in git http; do
	"$RUNBOOK" lint --strict "$TOP/stdlib/$m.yml" >"$out" 2>"$err"
	rc=$?
	expect_rc 0 "lint --strict stdlib/$m.yml: no warning"
done
# fs.yml: its older ensure-dir action has a chmod step lint warns about
"$RUNBOOK" lint "$TOP/stdlib/fs.yml" >"$out" 2>"$err"
rc=$?
expect_rc 0 "lint stdlib/fs.yml"
check "lint: no warning about the new fs actions" sh -c '! grep -v "step .chmod." "$1" | grep -q warning:' _ "$err"
