#!/bin/sh
# t0710 — archive and extract steps on SSH hosts (a real sshd on
# loopback).  A remote tree (modes, nested folders, symlinks, a hard link,
# names with a space, a newline, a byte that is not UTF-8, a 1 GiB sparse
# file) archived into tar.zst and zip on the operator's side: the archive
# and its manifest 0600, `runbook archive verify` passes, the captures
# archive.entries/bytes/sha256 are the archive's; extracted to other
# remote folders, the trees are equal (content, modes, mtimes, symlink
# targets, the hard link, holes kept by tar.zst); the same through sudo
# (the remote tar runs under `sudo -n`, seen by a shim).  Nothing staged
# on the target (no new file in the remote area, its home or /tmp, its
# size flat), and runbook's peak RSS bounded (64 MiB; 192 MiB with zstd's
# workers) while ~300 MB of random
# data is archived (tar.zst, tar.gz) and extracted.  One SSH connection
# for a run of archives, extracts (one with strip: 1) and commands.  The
# connection cut in the middle of an archive and of an extract: exit 1,
# interrupted, no archive nor manifest, `to` untouched; `runbook resume`
# re-runs the step.  An archive that outlives its timeout leaves nothing.
# Failures on the remote side (a missing folder, a non-empty `to` without
# overwrite) and rollbacks that put back what an extract replaced.  A
# damaged archive (a flipped byte, a truncated file, no manifest, a
# manifest that lies about an entry) is refused before anything is
# written remotely, and so is one that would write outside `to` (a '..'
# name, a file through the archive's own symlink, a hard link outside).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
umask 022
sshd_start web 127.0.0.2 || sshd_skip_all "sshd did not start"
sshd_pin web
inv=$T/inv.yml
sshd_inventory "$inv" web
RD=$T/remote  # the host's side: trees, extraction folders
LD=$T/local   # the operator's side: archives, runbooks
mkdir -p "$RD" "$LD/out"
now() { date +%s; }

# tree_sig DIR [--no-links] [--no-root] [SKIP...]: one line per entry (names as
# Python bytes reprs, so newlines and odd bytes stay on one line): type,
# permission bits, and for files size, mtime and SHA-256, for symlinks the
# target; then the groups of hard-linked names (unless --no-links);
# --no-root: not the line of DIR itself
tree_sig() {
	python3 - "$@" <<'PY'
import hashlib, os, stat, sys
root = os.fsencode(sys.argv[1]); args = sys.argv[2:]
links, rootline = True, True
while args and args[0].startswith('--'):
    if args[0] == '--no-links':
        links = False
    elif args[0] == '--no-root':
        rootline = False
    args = args[1:]
skip = set(os.fsencode(a) for a in args)
lines, inodes = [], {}
def content(p, size):
    # the SHA-256 of every 4 KiB block that is not all zeros, with its
    # offset: the same for equal contents however they are stored, and
    # the holes of a sparse file are never read
    h = hashlib.sha256()
    fd = os.open(p, os.O_RDONLY)
    try:
        off = 0
        while off < size:
            try:
                off = os.lseek(fd, off, os.SEEK_DATA) // 4096 * 4096
            except OSError:
                break
            end = os.lseek(fd, off, os.SEEK_HOLE)
            os.lseek(fd, off, os.SEEK_SET)
            while off < end:
                b = os.read(fd, min(1 << 20, end - off))
                if not b:
                    break
                for i in range(0, len(b), 4096):
                    blk = b[i:i + 4096]
                    if blk.count(0) != len(blk):
                        h.update(b'%d:' % (off + i) + blk)
                off += len(b)
    finally:
        os.close(fd)
    return h.hexdigest()
def walk(rel):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    name = rel or b'.'
    m = oct(stat.S_IMODE(st.st_mode))
    if stat.S_ISDIR(st.st_mode):
        if rel or rootline:
            lines.append('d %r %s' % (name, m))
        for n in sorted(os.listdir(p)):
            r = os.path.join(rel, n) if rel else n
            if r not in skip:
                walk(r)
    elif stat.S_ISLNK(st.st_mode):
        lines.append('l %r -> %r' % (name, os.readlink(p)))
    elif stat.S_ISREG(st.st_mode):
        lines.append('f %r %s %d %d %s' % (name, m, st.st_size, int(st.st_mtime), content(p, st.st_size)))
        if st.st_nlink > 1:
            inodes.setdefault(st.st_ino, []).append(name)
    else:
        lines.append('? %r %s' % (name, m))
walk(b'')
print('\n'.join(lines))
if links:
    for g in sorted(sorted(v) for v in inodes.values()):
        print('hardlinks %r' % (g,))
PY
}
# same_tree A B [ARGS]: tree_sig equal (the diff goes to stderr)
same_tree() {
	_a=$1 _b=$2
	shift 2
	tree_sig "$_a" "$@" >"$T/sig-a" && tree_sig "$_b" "$@" >"$T/sig-b" && diff "$T/sig-a" "$T/sig-b" >&2
}
# leftovers DIR...: temporary names of archive/extract left anywhere below
# (an empty .rb-undone- file is not one: it records that an undo ran)
leftovers() { find "$@" \( -name '*.rb-tmp-*' -o -name '*.rb-new-*' -o \( -name '*.rb-undone-*' ! \( -type f -empty \) \) \) 2>/dev/null; }
# kept NAME: what an extract left beside DIR/NAME, but the undo's marker
kept() { ls -A "$1" | grep -F ".$2.rb-" | grep -v '\.rb-undone-' || true; }
no_leftovers() { test -z "$(leftovers "$@")"; }

# --- the remote tree ------------------------------------------------------------
S=$RD/src
mkdir -p "$S/a/b/c" "$S/empty" "$S/private" "$S/bin"
printf 'hello\n' >"$S/a.txt"
chmod 0640 "$S/a.txt"
printf '#!/bin/sh\necho run\n' >"$S/bin/run.sh"
chmod 0755 "$S/bin/run.sh"
printf 'deep\n' >"$S/a/b/c/deep.txt"
printf 'secret\n' >"$S/private/key"
chmod 0600 "$S/private/key"
chmod 0700 "$S/private"
chmod 0750 "$S/a/b"
: >"$S/empty.file"
ln -s a.txt "$S/link"
ln -s ../../a.txt "$S/a/b/up"
ln -s /no/such/target "$S/dangling"
ln "$S/a.txt" "$S/a/hard"
printf 'space\n' >"$S/sp ace.txt"
printf 'newline\n' >"$S/new
line"
printf 'latin1\n' >"$S/caf$(printf '\351').txt"
printf 'dash\n' >"$S/-dash"
printf 'quotes\n' >"$S/it's \"q\" \$x"
# 1 GiB with data at both ends: holes in between
truncate -s 1G "$S/sparse.img"
printf 'head' | dd of="$S/sparse.img" conv=notrunc status=none
printf 'tail' >>"$S/sparse.img"
touch -d '2021-03-04 05:06:07' "$S/a/b/c/deep.txt"
check "the source's sparse file is sparse (a test premise)" test "$(stat -c %b "$S/sparse.img")" -lt 1024
nsrc=$(find "$S" -printf . | wc -c) # entries, the folder itself included
# the comparison itself: a sparse file and a dense copy compare equal,
# one changed byte does not
mkdir -p "$T/p1" "$T/p2"
truncate -s 10M "$T/p1/f"
printf 'tail' >>"$T/p1/f"
cp --sparse=never "$T/p1/f" "$T/p2/f"
touch -r "$T/p1/f" "$T/p2/f"
check "tree comparison: sparse and dense copies of one content are equal (a test premise)" same_tree "$T/p1" "$T/p2"
printf 'X' | dd of="$T/p2/f" bs=1 seek=5000000 conv=notrunc status=none
touch -r "$T/p1/f" "$T/p2/f"
not_same_tree() { ! same_tree "$@" 2>/dev/null; }
check "tree comparison: one changed byte in a hole differs (a test premise)" not_same_tree "$T/p1" "$T/p2"
rm -rf "$T/p1" "$T/p2"

# --- 1. round trip: tar.zst and zip, verify, extract, compare -------------------
cat >"$LD/rt.yml" <<'EOF2'
runbook: archive-rt
target: web
params:
  src: { required: true }
  out: { required: true }
  dst: { required: true }
steps:
  - id: zst
    archive: { path: "{{ src }}", to: "{{ out }}/tree.tar.zst" }
  - id: zst-caps
    on: local
    run: printf '%s %s %s\n' {{ archive.entries }} {{ archive.bytes }} {{ archive.sha256 }} > {{ out }}/zst.caps
  - id: zip
    archive: { path: "{{ src }}", to: "{{ out }}/tree.zip", exclude: [sparse.img] }
  - id: zip-caps
    on: local
    run: printf '%s %s %s\n' {{ archive.entries }} {{ archive.bytes }} {{ archive.sha256 }} > {{ out }}/zip.caps
  - id: x-zst
    extract: { from: "{{ out }}/tree.tar.zst", to: "{{ dst }}/zst" }
  - id: x-zip
    extract: { from: "{{ out }}/tree.zip", to: "{{ dst }}/zip" }
EOF2
mkdir -p "$RD/dst"
rb run "$LD/rt.yml" --inventory "$inv" -p src="$S" -p out="$LD/out" -p dst="$RD/dst"
expect_rc 0 "archive to tar.zst and zip over SSH, extract both back"
rid=$(run_id)
check "the output says each archive was verified" \
	sh -c 'grep -q "into .*tree.tar.zst .*verified" "$1" && grep -q "into .*tree.zip .*verified, 1 excluded" "$1"' _ "$out"
Z=$LD/out/tree.tar.zst
P=$LD/out/tree.zip
for f in "$Z" "$P"; do
	b=$(basename "$f")
	check "$b and its manifest exist" test -s "$f" -a -s "$f.manifest.json"
	check "$b is 0600" test "$(stat -c %a "$f")" = 600
	check "$b.manifest.json is 0600" test "$(stat -c %a "$f.manifest.json")" = 600
	rb archive verify "$f"
	expect_rc 0 "runbook archive verify $b"
	out_has "verified against"
done
# shellcheck disable=SC2046
set -- $(cat "$LD/out/zst.caps" 2>/dev/null) x x x
check "archive.bytes is the size of tree.tar.zst ($2)" test "$2" = "$(stat -c %s "$Z")"
check "archive.sha256 is the SHA-256 of tree.tar.zst" test "$3" = "$(sha256sum "$Z" | cut -d' ' -f1)"
check "archive.entries is the manifest's count ($1)" grep -q "\"count\": $1," "$Z.manifest.json"
check "archive.entries counts every entry of the tree ($1 for $nsrc)" test "$1" = "$nsrc"
# shellcheck disable=SC2046
set -- $(cat "$LD/out/zip.caps" 2>/dev/null) x x x
check "zip: archive.bytes and archive.sha256 are the zip's" \
	test "$2:$3" = "$(stat -c %s "$P"):$(sha256sum "$P" | cut -d' ' -f1)"
check "zip: the excluded sparse file is not in it ($1 entries)" test "$1" = $((nsrc - 1))
check "the step log says one was excluded" grep -rq '1 excluded' "$RUNBOOK_STATE_DIR/runs/$rid/logs"
check "tar.zst: the extracted tree equals the source (content, modes, mtimes, symlinks, hard link)" \
	same_tree "$S" "$RD/dst/zst"
check "tar.zst: the hard link is a hard link again" \
	test "$(stat -c %i "$RD/dst/zst/a.txt")" = "$(stat -c %i "$RD/dst/zst/a/hard")"
check "tar.zst: the 1 GiB file is sparse again ($(stat -c %b "$RD/dst/zst/sparse.img" 2>/dev/null) blocks)" \
	test "$(stat -c %b "$RD/dst/zst/sparse.img")" -lt 1024
check "tar.zst: the archive of 1 GiB of holes is small ($(stat -c %s "$Z") bytes)" test "$(stat -c %s "$Z")" -lt 100000
check "zip: the extracted tree equals the source, but for the excluded file (hard link as a copy)" \
	same_tree "$S" "$RD/dst/zip" --no-links sparse.img
check "zip: the excluded file was not extracted" test ! -e "$RD/dst/zip/sparse.img"
check "the odd names came back byte for byte" \
	test -f "$RD/dst/zst/new
line" -a -f "$RD/dst/zst/caf$(printf '\351').txt" -a -f "$RD/dst/zip/caf$(printf '\351').txt" -a -f "$RD/dst/zst/it's \"q\" \$x"
check "'to' did not exist: its previous state is kept as an empty .rb-prev- file" \
	test -f "$RD/dst/.zst.rb-prev-$rid-x-zst" -a ! -s "$RD/dst/.zst.rb-prev-$rid-x-zst"
check "no temporary file or folder is left (operator side, host side)" no_leftovers "$LD" "$RD"
rb archive list "$Z"
expect_rc 0 "runbook archive list"
check "archive list: the name with a newline is one line, escaped" grep -qF 'new\nline' "$out"
check "archive list: the hard link is listed as one" grep -q 'link to' "$out"

# --- 2. through sudo: the remote tar runs under sudo -n --------------------------
# A second server whose sessions find a sudo shim first on PATH: it logs
# its arguments, then runs the real sudo (this test's user may be root:
# sudo itself proves nothing, the shim's log does).
if sudo -n true >/dev/null 2>&1; then
	mkdir -p "$T/shim"
	realsudo=$(command -v sudo)
	cat >"$T/shim/sudo" <<EOF2
#!/bin/sh
printf '%s\n' "\$*" >>"$T/sudo.log"
exec "$realsudo" "\$@"
EOF2
	chmod 755 "$T/shim/sudo"
	sshd_start adm 127.0.0.3 || echo "# sshd adm did not start" >&2
	echo "SetEnv PATH=$T/shim:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" >>"$T/ssh/adm.conf"
	sshd_loglevel adm ERROR # (re-reads the config)
	sshd_pin adm
	INV_EXTRA='sudo: true' sshd_inventory "$T/inv-sudo.yml" adm
	sed 's/^target: web/target: adm/' "$LD/rt.yml" >"$LD/rt-sudo.yml"
	mkdir -p "$RD/sdst" "$LD/sout"
	rb run "$LD/rt-sudo.yml" --inventory "$T/inv-sudo.yml" -p src="$S" -p out="$LD/sout" -p dst="$RD/sdst"
	expect_rc 0 "sudo host: archive to tar.zst and zip, extract both"
	# (the shim logs each script whole: its first line is sudo's options)
	check "sudo: the remote side of every archive and extract went through sudo -n ($(grep -c '^-n -- ' "$T/sudo.log") calls)" \
		test "$(grep -c '^-n -- ' "$T/sudo.log")" -ge 4
	check "sudo: the tar that archives ran under sudo" grep -q -- '-cf - \.$' "$T/sudo.log"
	check "sudo: the tar that extracts ran under sudo" grep -q -- 'tar -xpf -' "$T/sudo.log"
	check "sudo: the tar.zst verifies" "$RUNBOOK" archive verify "$LD/sout/tree.tar.zst"
	check "sudo: the zip verifies" "$RUNBOOK" archive verify "$LD/sout/tree.zip"
	sed -n '/"entries"/,$p' "$Z.manifest.json" >"$T/m1"
	sed -n '/"entries"/,$p' "$LD/sout/tree.tar.zst.manifest.json" >"$T/m2"
	check "sudo: the tar.zst holds what the one without sudo holds (same manifest entries)" diff "$T/m1" "$T/m2"
	check "sudo: the archive on the operator side is 0600" test "$(stat -c %a "$LD/sout/tree.tar.zst")" = 600
	check "sudo, tar.zst: the extracted tree equals the source" same_tree "$S" "$RD/sdst/zst"
	check "sudo, tar.zst: the 1 GiB file is sparse again" test "$(stat -c %b "$RD/sdst/zst/sparse.img")" -lt 1024
	check "sudo, zip: the extracted tree equals the source (but the excluded file)" \
		same_tree "$S" "$RD/sdst/zip" --no-links sparse.img
	check "sudo: no temporary file or folder is left" no_leftovers "$LD" "$RD"
	sshd_stop adm
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP no passwordless sudo"
fi

# --- 3 + 5. nothing staged on the target, memory flat: ~300 MB of random data -----
B=$RD/big
mkdir -p "$B"
for i in 1 2 3; do head -c 100000000 /dev/urandom >"$B/r$i"; done
RHOME=$(getent passwd "$SSH_USER" | cut -d: -f6)
cat >"$LD/big.yml" <<'EOF2'
runbook: archive-big
target: web
params:
  src: { required: true }
  to: { required: true }
steps:
  - id: big
    archive: { path: "{{ src }}", to: "{{ to }}" }
EOF2
# a sampler, while the archive runs: new names anywhere in the remote
# area, in the remote home and in /tmp (names of archives or temporary
# files only there: other programs use /tmp), and the remote area's size
touch "$T/mark"
sleep 1 # (mtimes have a second's resolution on some filesystems)
rm -f "$T/stop-sampler"
(
	while [ ! -e "$T/stop-sampler" ]; do
		du -sk "$RD" | cut -f1 >>"$T/du"
		find "$RD" -newer "$T/mark" >>"$T/new-remote" 2>/dev/null
		find "$RHOME" /tmp /var/tmp -maxdepth 1 -newer "$T/mark" \
			\( -name '*rb-tmp*' -o -name '*.tar*' -o -name '*.zip' -o -name '*.zst' \) >>"$T/new-elsewhere" 2>/dev/null
		sleep 0.1
	done
) &
sampler=$!
du0=$(du -sk "$RD" | cut -f1)
RUNBOOK_WRAP="/usr/bin/time -o $T/rss -f %M ${RUNBOOK_WRAP:-}" \
	rb run "$LD/big.yml" --inventory "$inv" -p src="$B" -p to="$LD/out/big.tar.zst"
touch "$T/stop-sampler"
wait "$sampler"
expect_rc 0 "archive ~300 MB of random data over SSH into tar.zst"
check "the big archive verifies" "$RUNBOOK" archive verify "$LD/out/big.tar.zst"
check "the big archive holds the 3 files and the folder" grep -q '"count": 4,' "$LD/out/big.tar.zst.manifest.json"
check "the sampler ran during the archive ($(wc -l <"$T/du" 2>/dev/null) samples)" test "$(wc -l <"$T/du")" -ge 3
check "nothing new appeared in the remote area during the archive" test ! -s "$T/new-remote"
check "no archive or temporary file appeared in the remote home, /tmp or /var/tmp" test ! -s "$T/new-elsewhere"
dumax=$(sort -n "$T/du" | tail -1)
check "the remote area did not grow ($du0 KiB, at most $dumax KiB seen)" test "$dumax" -le $((du0 + 64))
rss=$(tail -1 "$T/rss" 2>/dev/null)
if plain_binary; then
	# zstd's workers (at most 4) hold ~35 MB of job buffers each,
	# whatever the archive's size: bounded by the thread count
	check "peak RSS while archiving 300 MB into tar.zst: ${rss:-?} KiB < 192 MiB (zstd workers)" test "${rss:-999999}" -lt 196608
fi

# --- 4. one SSH connection for a run of archives, extracts and commands ----------
sshd_loglevel web INFO || echo "# sshd web did not come back after SIGHUP" >&2
cat >"$LD/one.yml" <<'EOF2'
runbook: archive-one-conn
target: web
params:
  src: { required: true }
  out: { required: true }
  dst: { required: true }
steps:
  - { id: r1, run: "echo one > {{ dst }}/r1" }
  - { id: a1, archive: { path: "{{ src }}/a", to: "{{ out }}/one-a.tar.gz" } }
  - { id: r2, run: "test -d {{ src }}" }
  - { id: a2, archive: { path: "{{ src }}/bin", to: "{{ out }}/one-bin.tar" } }
  - { id: x1, extract: { from: "{{ out }}/one-a.tar.gz", to: "{{ dst }}/one-a" } }
  - { id: r3, run: "test -f {{ dst }}/one-a/b/c/deep.txt" }
  - { id: x2, extract: { from: "{{ out }}/one-bin.tar", to: "{{ dst }}/one-bin" } }
  - { id: r4, run: "cat {{ dst }}/r1" }
  - { id: a3, archive: { path: "{{ src }}/../pkg", to: "{{ out }}/pkg.tar.gz" } }
  - { id: x3, extract: { from: "{{ out }}/pkg.tar.gz", to: "{{ dst }}/app", strip: 1 } }
EOF2
# a package whose files are under one top folder, extracted with strip: 1
mkdir -p "$RD/pkg/app-1.0/bin"
printf 'readme\n' >"$RD/pkg/app-1.0/README"
printf '#!/bin/sh\n' >"$RD/pkg/app-1.0/bin/app"
chmod 0755 "$RD/pkg/app-1.0/bin/app" "$RD/pkg/app-1.0"
sshd_logins web >"$T/logins0"
rb run "$LD/one.yml" --inventory "$inv" -p src="$S" -p out="$LD/out" -p dst="$RD/dst"
expect_rc 0 "a run of 3 archives, 3 extracts and 4 commands"
both_same() { same_tree "$S/a" "$RD/dst/one-a" --no-links && same_tree "$S/bin" "$RD/dst/one-bin"; }
check "the extracts hold what was archived" both_same
check "strip: 1: the package's files are in 'to' without their top folder" \
	test -f "$RD/dst/app/README" -a -x "$RD/dst/app/bin/app" -a ! -e "$RD/dst/app/app-1.0"
check "strip: 1: 'to' is the top folder's mode (0755), not mktemp's 0700 ($(stat -c %a "$RD/dst/app"))" \
	test "$(stat -c %a "$RD/dst/app")" = 755
check "strip: 1: the tree under 'to' equals the package's top folder" same_tree "$RD/pkg/app-1.0" "$RD/dst/app" --no-root
sleep 0.2
n=$(($(sshd_logins web) - $(cat "$T/logins0")))
check "exactly one SSH connection for the whole run ($n)" test "$n" = 1

# --- 6a. the connection cut in the middle of an archive, then resume -------------
cat >"$LD/cut.yml" <<'EOF2'
runbook: archive-cut
target: web
params:
  src: { required: true }
  to: { required: true }
  dir: { required: true }
steps:
  - { id: before, run: "echo once >> {{ dir }}/before" }
  - id: snap
    archive: { path: "{{ src }}", to: "{{ to }}" }
  - { id: after, run: "echo once >> {{ dir }}/after" }
EOF2
C=$LD/out/cut.tar.gz
start run "$LD/cut.yml" --inventory "$inv" -p src="$B" -p to="$C" -p dir="$RD"
# cut once the archive's temporary file has grown past 2 MB (a limit of
# two minutes: under valgrind the stream starts late)
_w=0
while [ $_w -lt 2400 ]; do
	f=$(ls "$C".rb-tmp-?????? 2>/dev/null | head -1)
	[ -n "$f" ] && [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -gt 2000000 ] && break
	sleep 0.05
	_w=$((_w + 1))
done
check "the archive was under way when the connection was cut" test -n "$f"
t0=$(now)
sshd_cut web
finish
took=$(($(now) - t0))
rid=$(run_id)
expect_rc 1 "the connection cut mid-archive: exit 1"
check "runbook exited promptly after the cut (${took}s)" test "$took" -le 3
check "the output says the connection was lost" grep -qi 'lost the connection' "$out"
check "the archive step is reported interrupted" grep -Eq '^ *interrupted .*snap' "$out"
check "the journal says the archive step was interrupted" \
	grep -Eq '"event":"step_end","step":"snap",[^}]*"status":"interrupted"' "$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl"
check "no archive under its final name" test ! -e "$C"
check "no manifest under its final name" test ! -e "$C.manifest.json"
check "no temporary file of the archive is left" no_leftovers "$LD"
check "the step after it did not run" test ! -e "$RD/after"
RUNBOOK_WRAP="/usr/bin/time -o $T/rss2 -f %M ${RUNBOOK_WRAP:-}" rb resume "$rid"
expect_rc 0 "resume reconnects and re-runs the interrupted archive"
check "the archive exists now" test -s "$C" -a -s "$C.manifest.json"
check "... and verifies" "$RUNBOOK" archive verify "$C"
check "the step before ran once" test "$(cat "$RD/before" 2>/dev/null)" = once
check "the step after ran once" test "$(cat "$RD/after" 2>/dev/null)" = once
check "no temporary file is left after the resume" no_leftovers "$LD"
rss=$(tail -1 "$T/rss2" 2>/dev/null)
if plain_binary; then
	check "peak RSS while archiving 300 MB into tar.gz: ${rss:-?} KiB < 64 MiB" test "${rss:-999999}" -lt 65536
fi
rb status "$rid"
check "status: the run succeeded" grep -Eq 'state +succeeded' "$out"

# --- 6b. an archive that outlives its timeout --------------------------------------
sed 's/^    archive: /    timeout: 1s\n    archive: /' "$LD/cut.yml" >"$LD/slow.yml"
rm -f "$RD/before" "$RD/after"
t0=$(now)
rb run "$LD/slow.yml" --inventory "$inv" -p src="$B" -p to="$LD/out/slow.tar.gz" -p dir="$RD"
took=$(($(now) - t0))
expect_rc 1 "an archive that outlives its timeout: exit 1"
check "it ended within a few seconds (${took}s)" test "$took" -le 5
check "the step is reported failed, timed out" grep -Eq 'snap .*failed.*timed out' "$out"
check "timeout: no archive, no manifest, no temporary file" \
	sh -c 'test ! -e "$1" -a ! -e "$1.manifest.json" && test -z "$(ls "$1".* 2>/dev/null)"' _ "$LD/out/slow.tar.gz"
check "timeout: the step after it did not run" test ! -e "$RD/after"

# --- 6c. the connection cut in the middle of an extract, then resume -------------
cat >"$LD/xcut.yml" <<'EOF2'
runbook: extract-cut
target: web
params:
  from: { required: true }
  to: { required: true }
  dir: { required: true }
steps:
  - id: put
    extract: { from: "{{ from }}", to: "{{ to }}" }
  - { id: after, run: "echo once >> {{ dir }}/xafter" }
EOF2
start run "$LD/xcut.yml" --inventory "$inv" -p from="$LD/out/big.tar.zst" -p to="$RD/bigback" -p dir="$RD"
# cut once tar -x on the host has begun to write its new folder (a limit
# of two minutes: under valgrind the stream starts late)
_w=0
while [ $_w -lt 6000 ]; do
	d=$(ls -d "$RD"/.bigback.rb-new-?????? 2>/dev/null | head -1)
	[ -n "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ] && break
	sleep 0.02
	_w=$((_w + 1))
done
check "the extract was under way when the connection was cut" test -n "$d"
sshd_cut web
finish
rid=$(run_id)
expect_rc 1 "the connection cut mid-extract: exit 1"
check "the extract step is reported interrupted" grep -Eq '^ *interrupted .*put' "$out"
check "the journal says the extract step was interrupted" \
	grep -Eq '"event":"step_end","step":"put",[^}]*"status":"interrupted"' "$RUNBOOK_STATE_DIR/runs/$rid/journal.jsonl"
check "'to' was not created" test ! -e "$RD/bigback"
# the host's tar sees its input end and removes its half-written folder
_w=0
while [ -n "$(leftovers "$RD")" ] && [ $_w -lt 100 ]; do
	sleep 0.05
	_w=$((_w + 1))
done
check "the half-written .rb-new- folder is removed on the host" no_leftovers "$RD"
check "the step after it did not run" test ! -e "$RD/xafter"
RUNBOOK_WRAP="/usr/bin/time -o $T/rss3 -f %M ${RUNBOOK_WRAP:-}" rb resume "$rid"
expect_rc 0 "resume re-runs the interrupted extract"
rss=$(tail -1 "$T/rss3" 2>/dev/null)
if plain_binary; then
	check "peak RSS while extracting 300 MB from tar.zst: ${rss:-?} KiB < 64 MiB" test "${rss:-999999}" -lt 65536
fi
check "the extracted tree equals the archived one" same_tree "$B" "$RD/bigback"
check "the step after ran once" test "$(cat "$RD/xafter" 2>/dev/null)" = once
check "no temporary folder is left after the resume" no_leftovers "$RD" "$LD"
rm -rf "$B" "$RD/bigback" "$LD/out/big.tar.zst" "$LD/out/big.tar.zst.manifest.json" "$C" "$C.manifest.json"

# --- 7. failures on the remote side ------------------------------------------------
# (extracts of a small archive from here on: the tree under $S/a)
SM=$LD/out/one-a.tar.gz
cat >"$LD/fail.yml" <<'EOF2'
runbook: archive-fail
target: web
params:
  src: { required: true }
  to: { required: true }
  dir: { required: true }
steps:
  - id: snap
    archive: { path: "{{ src }}", to: "{{ to }}" }
  - { id: after, run: "touch {{ dir }}/fail-after" }
EOF2
rb run "$LD/fail.yml" --inventory "$inv" -p src="$RD/no such dir" -p to="$LD/out/none.tar.zst" -p dir="$RD"
expect_rc 1 "archive of a folder that does not exist: exit 1"
check "the message names the folder" grep -qF "$RD/no such dir" "$out"
check "the message says it is not a folder / does not exist" grep -Eqi 'not a folder|no such|does not exist' "$out"
check "no archive and no manifest" test ! -e "$LD/out/none.tar.zst" -a ! -e "$LD/out/none.tar.zst.manifest.json"
check "no temporary file is left" no_leftovers "$LD"
check "the step after it did not run" test ! -e "$RD/fail-after"

cat >"$LD/x.yml" <<'EOF2'
runbook: extract-into
target: web
params:
  from: { required: true }
  to: { required: true }
  dir: { required: true }
  ow: { default: "no", choices: ["yes", "no"] }
  fail: { default: "no", choices: ["yes", "no"] }
steps:
  - id: keep
    when: ow == "no"
    extract: { from: "{{ from }}", to: "{{ to }}" }
  - id: replace
    when: ow == "yes"
    extract: { from: "{{ from }}", to: "{{ to }}", overwrite: true }
  - id: look
    run: test -f "{{ to }}/b/c/deep.txt"
  - id: boom
    when: fail == "yes"
    run: "exit 7"
  - { id: after, run: "touch {{ dir }}/x-after" }
EOF2
OLD=$RD/old
mkdir -p "$OLD/sub"
printf 'old one\n' >"$OLD/one"
printf 'old two\n' >"$OLD/sub/two"
chmod 0711 "$OLD/sub"
ln -s one "$OLD/l"
tree_sig "$OLD" >"$T/old.sig"
ino_old=$(stat -c %i "$OLD")
rb run "$LD/x.yml" --inventory "$inv" -p from="$SM" -p to="$OLD" -p dir="$RD"
expect_rc 1 "extract into a non-empty folder without overwrite: exit 1"
out_has "is not empty: give 'overwrite: true'"
check "the message names the folder" grep -qF "$OLD" "$out"
tree_sig "$OLD" >"$T/old-after.sig" 2>/dev/null
check "the folder is unchanged (same folder, same tree)" \
	sh -c 'test "$(stat -c %i "$1")" = "$2" && diff "$3" "$4"' _ "$OLD" "$ino_old" "$T/old.sig" "$T/old-after.sig"
check "nothing was left beside it (.rb-new-, .rb-prev-)" test -z "$(ls -A "$RD" | grep -F '.old.rb-')"
check "the steps after it did not run" test ! -e "$RD/x-after"

rb run "$LD/x.yml" --inventory "$inv" -p from="$SM" -p to="$OLD" -p dir="$RD" -p ow=yes -p fail=yes
expect_rc 1 "extract with overwrite, then a failing step: exit 1"
rid=$(run_id)
out_has "rolled back"
check "the extract had replaced the folder (the step after it saw the new tree)" \
	grep -Eq '^ *ok .*look' "$out"
tree_sig "$OLD" >"$T/old-after.sig" 2>/dev/null
check "the rollback put the previous contents back" diff "$T/old.sig" "$T/old-after.sig"
check "the rollback removed the kept copy (.rb-prev-) and the undone tree" \
	test -z "$(kept "$RD" old)"
check "... leaving an empty .rb-undone- file, which tells a second undo it ran" \
	sh -c 'for f in "$1"/.old.rb-undone-*; do test -f "$f" -a ! -s "$f" || exit 1; done' _ "$RD"
check "the step after the failure did not run" test ! -e "$RD/x-after"

rb run "$LD/x.yml" --inventory "$inv" -p from="$SM" -p to="$RD/fresh" -p dir="$RD" -p fail=yes
expect_rc 1 "extract into a new folder, then a failing step: exit 1"
out_has "rolled back"
check "the rollback removed the folder that did not exist before" test ! -e "$RD/fresh"
check "... and its empty .rb-prev- marker" test -z "$(kept "$RD" fresh)"

# --- 8. a damaged archive is refused before anything is written remotely ---------
# each variant: a copy of the small archive and its manifest, then damaged;
# extracted with overwrite over $OLD, after a step that writes a mark
cat >"$LD/bad.yml" <<'EOF2'
runbook: extract-bad
target: web
params:
  from: { required: true }
  to: { required: true }
  dir: { required: true }
steps:
  - { id: mark, run: "echo connected > {{ dir }}/bad-mark" }
  - id: put
    extract: { from: "{{ from }}", to: "{{ to }}", overwrite: true }
  - { id: after, run: "touch {{ dir }}/bad-after" }
EOF2
zsize=$(stat -c %s "$SM")
damage() { # VARIANT FILE
	cp "$SM" "$2"
	cp "$SM.manifest.json" "$2.manifest.json"
	case $1 in
	flipped)
		python3 -c 'import sys
f = open(sys.argv[1], "r+b"); n = int(sys.argv[2]) // 2
f.seek(n); b = f.read(1); f.seek(n); f.write(bytes([b[0] ^ 0xff])); f.close()' "$2" "$zsize" ;;
	truncated) truncate -s $((zsize - 100)) "$2" ;;
	no-manifest) rm -f "$2.manifest.json" ;;
	lying-manifest)
		# one file's SHA-256 changed: the archive's own hash still matches
		python3 -c 'import sys, re
p = sys.argv[1]; lines = open(p, "rb").read().split(b"\n")
for i, l in enumerate(lines):
    if b"\"path\": \"b/c/deep.txt\"" in l:
        lines[i] = re.sub(rb"(\"sha256\": \")([0-9a-f])", lambda m: m.group(1) + (b"0" if m.group(2) != b"0" else b"1"), l)
open(p, "wb").write(b"\n".join(lines))' "$2.manifest.json"
		check "$1: (the manifest was changed)" sh -c '! cmp -s "$1" "$2"' _ "$SM.manifest.json" "$2.manifest.json" ;;
	esac
}
for v in flipped truncated no-manifest lying-manifest; do
	F=$LD/out/bad-$v.tar.gz
	damage $v "$F"
	rm -f "$RD/bad-mark" "$RD/bad-after"
	rb archive verify "$F"
	expect_rc 1 "$v: runbook archive verify refuses it"
	rb run "$LD/bad.yml" --inventory "$inv" -p from="$F" -p to="$OLD" -p dir="$RD"
	expect_rc 1 "$v: the extract fails the run"
	case $v in
	flipped) check "$v: the message says the archive is damaged (its SHA-256)" grep -qi 'sha-256.*damaged' "$out" ;;
	truncated) check "$v: the message says the archive is damaged (its size)" grep -qi 'bytes.*damaged' "$out" ;;
	no-manifest) check "$v: the message says there is no manifest" grep -qi 'no manifest' "$out" ;;
	lying-manifest) check "$v: the message names the entry that does not match" grep -q "deep.txt.*does not match" "$out" ;;
	esac
	check "$v: the host was reachable (the step before ran)" test -s "$RD/bad-mark"
	tree_sig "$OLD" >"$T/old-after.sig" 2>/dev/null
	check "$v: the remote folder is unchanged" diff "$T/old.sig" "$T/old-after.sig"
	check "$v: nothing was written beside it (no .rb-new-, no .rb-prev-)" test -z "$(kept "$RD" old)"
	check "$v: the step after it did not run" test ! -e "$RD/bad-after"
	rm -f "$F" "$F.manifest.json"
done

# --- 8b. an archive that would write outside 'to' is refused ----------------------
# crafted (tar, with a manifest that matches it: it verifies): a '..'
# name, a file written through a symlink of the archive pointing
# outside, a hard link to a path outside
craft() { # VARIANT FILE: writes FILE and FILE.manifest.json
	python3 - "$@" <<'PY'
import hashlib, io, json, os, sys, tarfile
variant, out = sys.argv[1], sys.argv[2]
MT = 1700000000
ents = []
def add(name, typ, data=b'', link=None, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = typ, mode, MT, 0, 0, 'root', 'root'
    if link is not None:
        ti.linkname = link
    ti.size = len(data)
    ents.append((ti, data))
add('.', tarfile.DIRTYPE, mode=0o755)
add('ok.txt', tarfile.REGTYPE, b'fine\n')
if variant == 'dotdot':
    add('sub/../../evil-dotdot', tarfile.REGTYPE, b'evil\n')
elif variant == 'symlink':
    add('l', tarfile.SYMTYPE, link=os.path.dirname(os.path.abspath(out)), mode=0o777)
    add('l/evil-symlink', tarfile.REGTYPE, b'evil\n')
elif variant == 'hardlink':
    add('h', tarfile.LNKTYPE, link='../../evil-hardlink')
with tarfile.open(out, 'w', format=tarfile.PAX_FORMAT) as t:
    for ti, d in ents:
        t.addfile(ti, io.BytesIO(d) if ti.type == tarfile.REGTYPE else None)
raw = open(out, 'rb').read()
types = {tarfile.DIRTYPE: 'dir', tarfile.REGTYPE: 'file', tarfile.SYMTYPE: 'symlink', tarfile.LNKTYPE: 'hardlink'}
lines, total = [], 0
for ti, d in ents:
    m = {'path': ti.name, 'type': types[ti.type]}
    if ti.type == tarfile.REGTYPE:
        m['size'] = len(d)
    m['mode'] = '%04o' % ti.mode
    if ti.type == tarfile.REGTYPE:
        m['sha256'] = hashlib.sha256(d).hexdigest()
        total += len(d)
    if ti.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        m['link'] = ti.linkname
    m.update({'mtime': MT, 'uid': 0, 'gid': 0, 'user': 'root', 'group': 'root'})
    lines.append(json.dumps(m))
head = json.dumps({'manifest': 'runbook-archive', 'version': 1, 'format': 'tar', 'archive': os.path.basename(out),
                   'host': 'crafted', 'source': '/crafted', 'created': '2026-01-01T00:00:00.000Z'})[:-1]
head += ',\n"count": %d, "bytes": %d, "archive_bytes": %d, "archive_sha256": "%s",\n"entries": [\n' % (
    len(ents), total, len(raw), hashlib.sha256(raw).hexdigest())
open(out + '.manifest.json', 'w').write(head + ',\n'.join(lines) + '\n]}\n')
PY
}
mkdir -p "$RD/jail"
for v in dotdot symlink hardlink; do
	F=$LD/out/evil-$v.tar
	craft $v "$F"
	check "$v: the crafted archive verifies against its manifest (a test premise)" "$RUNBOOK" archive verify "$F"
	rm -f "$RD/bad-mark" "$RD/bad-after"
	rb run "$LD/bad.yml" --inventory "$inv" -p from="$F" -p to="$RD/jail/$v" -p dir="$RD"
	expect_rc 1 "$v: the extract fails the run"
	check "$v: the message says it is refused, naming the entry" grep -Eq "archive holds '[^']*(evil|h)[^']*'.*refused" "$out"
	check "$v: nothing was written outside 'to'" \
		sh -c 'test -z "$(find "$1" -name "evil-$2" 2>/dev/null)"' _ "$T" "$v"
	check "$v: nothing was written at all (no 'to', no .rb-new-, no .rb-prev-)" test -z "$(ls -A "$RD/jail")"
	check "$v: the step after it did not run" test ! -e "$RD/bad-after"
	rm -f "$F" "$F.manifest.json"
done
