#!/bin/sh
# t0700 — the archive and extract steps on the local host, both ways of
# reading and writing a folder: libarchive's own (no sudo) and `tar`
# through sudo (we run as root, so sudo -n works):
#  - a round trip in every format (tar.zst, tar.gz, tar, zip) of a tree
#    with every kind of entry (modes 0600/0755/4755, nested and empty
#    folders, an empty file, relative/absolute/dangling symlinks, a hard
#    link, a fifo, a socket, names with spaces, a newline, bytes that are
#    not UTF-8, a leading dash, unicode, a file owned by 1234:5678, a
#    sparse file): contents, modes, owners, mtimes, link targets, hard
#    links, sparseness, the archive small; sockets (and fifos in zip)
#    left out with a warning; archive and manifest 0600; relative `to`
#    taken from the runbook's folder; a 2.2 GB sparse file
#  - the captures archive.entries/bytes/sha256 against `runbook archive
#    verify` and sha256sum; the manifest against the source files
#  - exclusions (*.log, cache/, a/**/tmp, /top-only), in the archive's
#    listing and in what is restored; a hard link whose other name is
#    excluded
#  - `archive verify` / `archive list` (text, json); a damaged archive, a
#    tampered manifest, a missing manifest: refused, `to` untouched
#  - crafted archives (with a matching manifest) whose entries would land
#    outside `to`: refused before anything is written
#  - strip; overwrite false/true; the previous contents kept beside `to`
#    and put back by the built-in undo on rollback (or `to` removed)
#  - kill -9 in the middle of an archive (and of an extract), then
#    resume; a timeout in the middle of an archive (gzip, zstd's threads,
#    the holes of a sparse file); failures before anything is written
#  - plan and lint of archive and extract steps
# Crafted archives and tree descriptions come from tests/fixtures/archive.
. "$(dirname "$0")/../lib.sh"
umask 022
FX=$TOP/tests/fixtures/archive
R=$T/rb # the runbooks' folder: relative archive paths land in $R/out
mkdir -p "$R/out" "$T/elsewhere"
# rb from a folder that is not the runbook's: relative operator paths
# must not depend on it
rbx() { (cd "$T/elsewhere" && rb "$@" && echo "$rc" >"$T/.rc"); rc=$(cat "$T/.rc"); }
has_sudo=0
sudo -n true 2>/dev/null && has_sudo=1
skip() { _n=$((_n + 1)); echo "ok $_n - # SKIP $1"; }
# beside DIR: the names next to DIR that start with .NAME.rb- (temporary
# and kept folders of an extract)
# (but the empty .rb-undone- file an undo leaves to say it ran)
beside() { (cd "$(dirname "$1")" && ls -A | grep -F ".$(basename "$1").rb-" | grep -v '\.rb-undone-' || true); }
# state DIR: everything under DIR (names, types, modes, links, sizes, contents)
state() { python3 "$FX/tree.py" "$@" 2>&1; }
blocks() { stat -c %b "$1" 2>/dev/null || echo 999999999; }

# --- the tree ----------------------------------------------------------------
# mktree DIR SPARSE_MB
mktree() {
	d=$1
	mkdir -p "$d/a/b/c" "$d/empty" "$d/modes"
	printf 'deep\n' >"$d/a/b/c/deep.txt"
	printf 'secret\n' >"$d/modes/f600"
	printf '#!/bin/sh\necho hi\n' >"$d/modes/f755"
	printf 'suid\n' >"$d/modes/suid"
	chmod 600 "$d/modes/f600"
	chmod 755 "$d/modes/f755"
	chmod 4755 "$d/modes/suid"
	chmod 750 "$d/modes"
	chmod 700 "$d/a/b"
	: >"$d/empty.txt"
	ln -s a/b/c/deep.txt "$d/rel-link"
	ln -s /etc/hostname "$d/abs-link"
	ln -s no/such/target "$d/dangling"
	ln "$d/a/b/c/deep.txt" "$d/hard"
	mkfifo "$d/fifo"
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/sock"
	printf 'spaces\n' >"$d/with  spaces .txt"
	printf 'nl\n' >"$d/new
line"
	printf 'bytes\n' >"$d/$(printf 'bad\377name')"
	printf 'dash\n' >"$d/-leading-dash"
	printf 'uni\n' >"$d/ünïcødé-☃"
	printf 'owned\n' >"$d/owned"
	chown 1234:5678 "$d/owned"
	truncate -s "${2}M" "$d/sparse"
	printf 'head' | dd of="$d/sparse" conv=notrunc 2>/dev/null
	printf 'middle' | dd of="$d/sparse" bs=1 seek=$(($2 * 524288)) conv=notrunc 2>/dev/null
	printf 'tail' | dd of="$d/sparse" bs=1 seek=$(($2 * 1048576 - 4)) conv=notrunc 2>/dev/null
	# fixed mtimes, the folders last (creating an entry changes its folder's)
	find "$d" ! -type d -exec touch -h -d '2021-02-03 04:05:06' {} +
	touch -h -d '2020-01-02 03:04:05' "$d/modes/f600" "$d/rel-link"
	find "$d" -depth -type d -exec touch -d '2019-05-06 07:08:09' {} +
}
SRC=$T/src
mktree "$SRC" 64
# the entries an archive holds: all but the socket (zip: and the fifo)
n_tar=23
n_zip=22

# --- 1. round trips: every format, both ways ------------------------------------
cat >"$R/rt-local.yml" <<'EOF2'
runbook: roundtrip
params:
  src: { required: true }
  name: { required: true }
  dst: { required: true }
  caps: { required: true }
steps:
  - id: snap
    archive: { path: "{{ src }}", to: "out/{{ name }}" }
  - id: record
    run: printf '%s %s %s\n' {{ archive.entries }} {{ archive.bytes }} {{ archive.sha256 }} > {{ caps }}
  - id: restore
    extract: { from: "out/{{ name }}", to: "{{ dst }}" }
EOF2
sed 's/^    archive:/    sudo: true\n    archive:/; s/^    extract:/    sudo: true\n    extract:/' \
	"$R/rt-local.yml" >"$R/rt-sudo.yml"

for how in local sudo; do
	if [ $how = sudo ] && [ $has_sudo = 0 ]; then
		skip "sudo -n does not work here: no round trips through sudo"
		continue
	fi
	for F in tar.zst tar.gz tar zip; do
		A=$R/out/$how.$F
		D=$T/dst-$how-$F
		rbx run "$R/rt-$how.yml" -p src="$SRC" -p name="$how.$F" -p dst="$D" -p caps="$T/caps-$how-$F"
		expect_rc 0 "$how $F: archive then extract"
		check "$how $F: archive and manifest land in the runbook's folder, mode 0600" \
			test "$(stat -c %a "$A")" = 600 -a "$(stat -c %a "$A.manifest.json")" = 600
		if [ $F = zip ]; then zo=--zip n=$n_zip; else zo= n=$n_tar; fi
		state "$SRC" $zo --no-root-mtime >"$T/want"
		state "$D" $zo --no-root-mtime >"$T/got"
		check "$how $F: restored tree = source (content, type, mode, owner, mtime, links$([ $F = zip ] || echo ', hard links'))" \
			cmp "$T/want" "$T/got"
		[ -s "$T/want" ] && ! cmp -s "$T/want" "$T/got" && diff "$T/want" "$T/got" | head -10 | sed 's/^/#   /'
		check "$how $F: the folder's own mtime and mode are restored" \
			test "$(stat -c %Y.%a "$SRC")" = "$(stat -c %Y.%a "$D")"
		# zip has no sparse map: through tar -x (sudo) the holes come
		# back as zeros (documented); libarchive's own writer skips them
		if [ $F = zip ] && [ $how = sudo ]; then
			check "$how $F: the sparse file comes back whole (zip keeps no holes)" cmp "$SRC/sparse" "$D/sparse"
		else
			check "$how $F: the sparse file is still sparse ($(blocks "$D/sparse") blocks)" test "$(blocks "$D/sparse")" -lt 2048
		fi
		check "$how $F: the archive is small ($(stat -c %s "$A") bytes for 64 MiB)" test "$(stat -c %s "$A")" -lt 2097152
		check "$how $F: the socket is left out with a warning" grep -q 'warning: .*sock' "$out"
		if [ $F = zip ]; then
			check "$how $F: the fifo is left out with a warning" grep -q 'warning: left out fifo' "$out"
		else
			check "$how $F: the fifo is kept, said in a warning" grep -q 'warning: kept fifo' "$out"
		fi
		# the captures, against verify, sha256sum and the file's size
		ce= cb= cs=
		[ -f "$T/caps-$how-$F" ] && read -r ce cb cs <"$T/caps-$how-$F"
		check "$how $F: {{ archive.entries }} is $n" test "$ce" = "$n"
		check "$how $F: {{ archive.bytes }} is the archive's size" test "$cb" = "$(stat -c %s "$A")"
		check "$how $F: {{ archive.sha256 }} is sha256sum's" test "$cs" = "$(sha256sum <"$A" | cut -d' ' -f1)"
		rb archive verify "$A"
		check "$how $F: archive verify exits 0 and says what the captures said" \
			sh -c '[ "$1" = 0 ] && grep -qF "$2 entries, " "$4" && grep -qF "archive $3 bytes, sha256 $5" "$4"' \
			_ "$rc" "$ce" "$cb" "$out" "$cs"
		check "$how $F: the manifest is JSON" python3 -m json.tool "$A.manifest.json"
		python3 "$FX/mancheck.py" "$A.manifest.json" "$SRC" "$n" >"$T/mc" 2>&1
		check "$how $F: the manifest's sizes, SHA-256s and links are the source's" test $? = 0
		sed 's/^/#   /' "$T/mc" | head -5
	done
done
check "nothing landed in the process's cwd" test -z "$(ls -A "$T/elsewhere")"
check "the extract of a folder that did not exist keeps an empty file as its 'previous contents'" \
	sh -c 'for f in "$1"/.dst-local-tar.zst.rb-prev-*-restore; do [ -f "$f" ] && [ ! -s "$f" ] || exit 1; done' _ "$T"

# --- 1b. a 2.2 GB sparse file ------------------------------------------------------
BIG=$T/big
mkdir -p "$BIG"
truncate -s 2200M "$BIG/huge.img"
printf 'A' | dd of="$BIG/huge.img" conv=notrunc 2>/dev/null
printf 'B' | dd of="$BIG/huge.img" bs=1 seek=1073741824 conv=notrunc 2>/dev/null
printf 'C' | dd of="$BIG/huge.img" bs=1 seek=$((2200 * 1048576 - 1)) conv=notrunc 2>/dev/null
cat >"$R/big.yml" <<EOF2
runbook: big
steps:
  - id: snap
    archive: { path: $BIG, to: out/big.tar.zst }
  - id: restore
    extract: { from: out/big.tar.zst, to: $T/big-dst }
EOF2
rbx run "$R/big.yml"
expect_rc 0 "a 2.2 GB sparse file: archive then extract"
byte() { dd if="$1" bs=1 skip="$2" count=1 2>/dev/null; }
check "2.2 GB: the archive is small ($(stat -c %s "$R/out/big.tar.zst") bytes)" test "$(stat -c %s "$R/out/big.tar.zst")" -lt 65536
check "2.2 GB: the manifest marks the file sparse, with its whole size" \
	grep -q '"path": "huge.img".*"size": 2306867200.*"sparse": true' "$R/out/big.tar.zst.manifest.json"
check "2.2 GB: the restored file has the whole size" test "$(stat -c %s "$T/big-dst/huge.img")" = 2306867200
check "2.2 GB: ...its bytes at 0, 1 GiB and the end" \
	test "$(byte "$T/big-dst/huge.img" 0)$(byte "$T/big-dst/huge.img" 1073741824)$(byte "$T/big-dst/huge.img" 2306867199)" = ABC
check "2.2 GB: ...and it is still sparse ($(blocks "$T/big-dst/huge.img") blocks)" test "$(blocks "$T/big-dst/huge.img")" -lt 2048

# --- 2. exclusions -------------------------------------------------------------------
G=$T/gx
mkdir -p "$G/a/x/y/tmp" "$G/a/tmp" "$G/b/tmp" "$G/cache" "$G/sub/cache" "$G/sub/top-only" "$G/top-only"
for f in app.log sub/deep.log keep.txt a/x/y/tmp/f a/tmp/f b/tmp/f cache/f sub/cache/f sub/top-only/f \
	top-only/f logfile x.log.txt sub/cachefile b/cache; do
	echo "$f" >"$G/$f"
done
cat >"$T/gx.want" <<'EOF2'
.
a
a/x
a/x/y
b
b/cache
b/tmp
b/tmp/f
keep.txt
logfile
sub
sub/cachefile
sub/top-only
sub/top-only/f
x.log.txt
EOF2
cat >"$R/gx-local.yml" <<EOF2
runbook: exclusions
params:
  name: { required: true }
steps:
  - id: snap
    archive:
      path: $G
      to: "out/{{ name }}"
      exclude: ["*.log", "cache/", "a/**/tmp", "/top-only"]
  - id: restore
    extract: { from: "out/{{ name }}", to: "$T/gx-{{ name }}" }
EOF2
sed 's/^    archive:/    sudo: true\n    archive:/; s/^    extract:/    sudo: true\n    extract:/' \
	"$R/gx-local.yml" >"$R/gx-sudo.yml"
for how in local sudo; do
	if [ $how = sudo ] && [ $has_sudo = 0 ]; then
		skip "no sudo: no exclusions through tar"
		continue
	fi
	rbx run "$R/gx-$how.yml" -p name="gx-$how.tar"
	expect_rc 0 "$how: an archive with exclusions"
	out_has "excluded"
	rb archive list "$R/out/gx-$how.tar"
	sed '$d' "$out" | awk '{print $NF}' | LC_ALL=C sort >"$T/gx.list"
	check "$how: archive list shows exactly what the globs leave (*.log at any depth, cache/ folders only, a/**/tmp, /top-only at the top)" \
		cmp "$T/gx.want" "$T/gx.list"
	diff "$T/gx.want" "$T/gx.list" | sed 's/^/#   /' | head -10
	(cd "$T/gx-gx-$how.tar" 2>/dev/null && find . | sed 's|^\./||' | LC_ALL=C sort) >"$T/gx.got"
	check "$how: ...and exactly that is restored" cmp "$T/gx.want" "$T/gx.got"
done

# a hard link whose other name is excluded: the name that is kept holds the content
mkdir -p "$T/hx/logs"
echo data >"$T/hx/logs/a.log"
ln "$T/hx/logs/a.log" "$T/hx/keep.txt"
cat >"$R/hx.yml" <<EOF2
runbook: hardlink-excluded
steps:
  - id: snap
    archive: { path: $T/hx, to: out/hx.tar, exclude: [logs/] }
  - id: restore
    extract: { from: out/hx.tar, to: $T/hx-dst }
EOF2
rbx run "$R/hx.yml"
expect_rc 0 "a hard link whose other name is excluded: archived and restored"
check "...the kept name is a regular file with the content" test "$(cat "$T/hx-dst/keep.txt" 2>/dev/null)" = data
check "...and the excluded folder is not restored" test ! -e "$T/hx-dst/logs"

# --- 3. verify, list, damaged and tampered archives, a missing manifest ---------------
A=$R/out/local.tar.zst
rb archive list "$A"
expect_rc 0 "archive list"
out_has "rel-link -> a/b/c/deep.txt"
out_has "abs-link -> /etc/hostname"
check "list: a newline in a name is shown escaped" grep -qF 'new\nline' "$out"
check "list: the suid file as -rwsr-xr-x" grep -q '^-rwsr-xr-x .* modes/suid$' "$out"
check "list: the fifo as p…" grep -q '^prw-r--r-- .* fifo$' "$out"
check "list: the owner 1234/5678 of a user-less file" grep -q ' 1234/5678 .* owned$' "$out"
check "list: the sparse file marked" grep -q ' 67108864 .* sparse (sparse)$' "$out"
check "list: the hard link" grep -Eq '^h.* (hard link to a/b/c/deep.txt|a/b/c/deep.txt link to hard)$' "$out"
ce= cb= cs=
[ -f "$T/caps-local-tar.zst" ] && read -r ce cb cs <"$T/caps-local-tar.zst"
check "list: its last line counts the entries and gives the archive's size and hash" \
	sh -c 'tail -n 1 "$1" | grep -Eqx "$2 entries, 6710893[0-9] bytes of content; archive $3 bytes, sha256 $4"' _ "$out" "$ce" "$cb" "$cs"
rb archive list "$A" --format json
expect_rc 0 "archive list --format json"
check "list json: one JSON object per entry, names that are not UTF-8 kept byte for byte" python3 -c '
import json, sys
ents = [json.loads(l) for l in open(sys.argv[1])]
paths = {e["path"] for e in ents}
sys.exit(0 if len(ents) == int(sys.argv[2]) and "bad\udcffname" in paths and "new\nline" in paths else 1)' "$out" "$n_tar"
rb archive verify "$A" --format json
expect_rc 2 "archive verify takes no --format"

# a small archive for the refusals: $T/vic/to holds a marker, overwrite: true
cp "$R/out/gx-local.tar" "$R/out/good.tar"
cp "$R/out/gx-local.tar.manifest.json" "$R/out/good.tar.manifest.json"
cat >"$R/ex-local.yml" <<'EOF2'
runbook: restore
params:
  a: { required: true }
  to: { required: true }
steps:
  - id: restore
    extract: { from: "{{ a }}", to: "{{ to }}", overwrite: true }
EOF2
sed 's/^    extract:/    sudo: true\n    extract:/' "$R/ex-local.yml" >"$R/ex-sudo.yml"
V=$T/vic
reset_vic() {
	rm -rf "$V"
	mkdir -p "$V/to/inner" "$V/outside"
	echo keep >"$V/to/marker"
	echo inner >"$V/to/inner/file"
	echo victim >"$V/victim"
	echo victim >"$V/outside/victim"
	chmod 600 "$V/victim" "$V/outside/victim"
	state "$V" --no-root-mtime >"$T/vic.before"
}
vic_same() { state "$V" --no-root-mtime >"$T/vic.after" && cmp -s "$T/vic.before" "$T/vic.after"; }

cp "$R/out/good.tar" "$R/out/dmg.tar"
cp "$R/out/good.tar.manifest.json" "$R/out/dmg.tar.manifest.json"
mid=$(($(stat -c %s "$R/out/dmg.tar") / 2))
b=$(dd if="$R/out/dmg.tar" bs=1 skip=$mid count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "\\$(printf %03o $((255 - ${b:-0})))" | dd of="$R/out/dmg.tar" bs=1 seek=$mid conv=notrunc 2>/dev/null
rb archive verify "$R/out/dmg.tar"
expect_rc 1 "verify: one byte flipped in the middle of the archive"
err_has "does not verify: the SHA-256 of $R/out/dmg.tar is"
err_has "the archive is damaged or not the one the manifest describes"
reset_vic
rb run "$R/ex-local.yml" -p a="$R/out/dmg.tar" -p to="$V/to"
expect_rc 1 "extract of the damaged archive fails"
out_has "the archive is damaged"
check "damaged: 'to' untouched, nothing left beside it" vic_same

# a tampered manifest: one entry's SHA-256, then one entry's size (still valid JSON)
python3 - "$R/out/good.tar.manifest.json" "$R/out/tsha.tar.manifest.json" "$R/out/tsize.tar.manifest.json" <<'EOF2'
import sys
s = open(sys.argv[1]).read()
i = s.index('{"path": "keep.txt"')
line = s[i:s.index("}", i) + 1]
sha = line.split('"sha256": "')[1][:64]
open(sys.argv[2], "w").write(s.replace(line, line.replace(sha, "0" * 64)))
open(sys.argv[3], "w").write(s.replace(line, line.replace('"size": 9,', '"size": 10,')))
EOF2
cp "$R/out/good.tar" "$R/out/tsha.tar"
cp "$R/out/good.tar" "$R/out/tsize.tar"
check "the tampered manifests are still JSON" sh -c 'python3 -m json.tool "$1" && python3 -m json.tool "$2"' _ \
	"$R/out/tsha.tar.manifest.json" "$R/out/tsize.tar.manifest.json"
check "the tampered manifests differ from the original" sh -c '! cmp -s "$1" "$3" && ! cmp -s "$2" "$3"' _ \
	"$R/out/tsha.tar.manifest.json" "$R/out/tsize.tar.manifest.json" "$R/out/good.tar.manifest.json"
rb archive verify "$R/out/tsha.tar"
expect_rc 1 "verify: a manifest whose entry has another SHA-256"
err_has "the content of 'keep.txt' does not match its manifest"
rb archive verify "$R/out/tsize.tar"
expect_rc 1 "verify: a manifest whose entry has another size"
err_has "'keep.txt' has 9 bytes in the archive, 10 in its manifest"
for tm in tsha tsize; do
	reset_vic
	rb run "$R/ex-local.yml" -p a="$R/out/$tm.tar" -p to="$V/to"
	expect_rc 1 "extract refuses the archive with a tampered manifest ($tm)"
	out_has "keep.txt"
	check "$tm: 'to' untouched, nothing left beside it" vic_same
done

cp "$R/out/good.tar" "$R/out/nomf.tar"
rb archive verify "$R/out/nomf.tar"
expect_rc 1 "verify: no manifest"
err_has "has no manifest ($R/out/nomf.tar.manifest.json): runbook only trusts archives it can verify"
rb archive list "$R/out/nomf.tar"
expect_rc 0 "list reads an archive without a manifest"
reset_vic
rb run "$R/ex-local.yml" -p a="$R/out/nomf.tar" -p to="$V/to"
expect_rc 1 "extract refuses an archive without a manifest"
out_has "has no manifest"
check "no manifest: 'to' untouched, nothing left beside it" vic_same

# --- 4. entries that would land outside 'to' ------------------------------------------
# Each crafted tar gets a manifest that matches it, so that what is refused
# is the entry, not a damaged archive.
E=$T/evil
mkdir -p "$E"
for kind in dotdot abs symlink hardlink dotslash dblslash hlthrough; do
	case $kind in
	dotdot) entry="../evil" ;;
	abs) entry="abs-evil" ;;
	symlink) entry="lnk/evil" ;;
	hardlink) entry="../victim" ;;
	# names are shown as runbook spells them: one '/', no '.' components
	dotslash | hlthrough | dblslash) entry="d/lnk/victim" ;;
	esac
	python3 "$FX/evil.py" $kind "$E/$kind.tar" "$V/outside" &&
		python3 "$FX/manifest.py" "$RUNBOOK" "$E/$kind.tar" tar
	rb archive verify "$E/$kind.tar"
	expect_rc 0 "$kind: the crafted archive matches its manifest"
	for how in local sudo; do
		if [ $how = sudo ] && [ $has_sudo = 0 ]; then
			skip "no sudo"
			continue
		fi
		reset_vic
		rb run "$R/ex-$how.yml" -p a="$E/$kind.tar" -p to="$V/to"
		expect_rc 1 "$how $kind: extract fails"
		check "$how $kind: refused before anything is written, naming '$entry'" \
			sh -c 'grep -q "refused" "$1" && grep -qF -- "$2" "$1"' _ "$out" "$entry"
		check "$how $kind: nothing outside 'to' changed (victims intact, no new file), 'to' untouched, no .rb-new- left" vic_same
		cmp -s "$T/vic.before" "$T/vic.after" || diff "$T/vic.before" "$T/vic.after" | sed 's/^/#   /' | head -6
	done
done

# --- 5. strip -------------------------------------------------------------------------
P=$T/parent
mkdir -p "$P/top/sub"
echo x >"$P/top/x.txt"
echo y >"$P/top/sub/y.txt"
chmod 640 "$P/top/x.txt"
cat >"$R/strip-local.yml" <<EOF2
runbook: strip
params:
  to: { required: true }
steps:
  - id: snap
    archive: { path: $P, to: out/strip.tar.gz }
  - id: restore
    extract: { from: out/strip.tar.gz, to: "{{ to }}", strip: 1 }
EOF2
sed 's/^    extract:/    sudo: true\n    extract:/' "$R/strip-local.yml" >"$R/strip-sudo.yml"
for how in local sudo; do
	if [ $how = sudo ] && [ $has_sudo = 0 ]; then
		skip "no sudo"
		continue
	fi
	rbx run "$R/strip-$how.yml" -p to="$T/stripped-$how"
	expect_rc 0 "$how: extract with strip: 1"
	state "$P/top" --no-root >"$T/want"
	state "$T/stripped-$how" --no-root >"$T/got"
	check "$how strip: the top folder's contents, without it" cmp "$T/want" "$T/got"
done

# --- 6. overwrite, the previous contents, the built-in undo ---------------------------
X=$R/out/good.tar # holds keep.txt, b/tmp/f, ...
cat >"$R/ow-false-local.yml" <<'EOF2'
runbook: no-overwrite
params:
  to: { required: true }
steps:
  - id: restore
    extract: { from: out/good.tar, to: "{{ to }}" }
EOF2
cat >"$R/ow-true-local.yml" <<'EOF2'
runbook: overwrite
params:
  to: { required: true }
  new: { required: true }
  fail: { default: "no" }
steps:
  - id: replace
    extract: { from: out/good.tar, to: "{{ to }}", overwrite: true }
  - id: create
    extract: { from: out/good.tar, to: "{{ new }}" }
  - id: later
    run: test {{ fail }} = no
EOF2
for f in false true; do
	sed 's/^    extract:/    sudo: true\n    extract:/' "$R/ow-$f-local.yml" >"$R/ow-$f-sudo.yml"
done
(cd "$T/gx-gx-local.tar" && find . | LC_ALL=C sort) >"$T/x.list"
for how in local sudo; do
	if [ $how = sudo ] && [ $has_sudo = 0 ]; then
		skip "no sudo"
		continue
	fi
	O=$T/ow-$how
	mkdir -p "$O/to/old"
	echo old >"$O/to/old/file"
	state "$O/to" >"$T/old.state"
	rbx run "$R/ow-false-$how.yml" -p to="$O/to"
	expect_rc 1 "$how: extract into a folder that is not empty, overwrite false: the step fails"
	out_has "is not empty: give 'overwrite: true'"
	check "$how: ...'to' untouched" sh -c 'python3 "$1/tree.py" "$2" | cmp -s - "$3"' _ "$FX" "$O/to" "$T/old.state"
	check "$how: ...nothing left beside it" test -z "$(beside "$O/to")"

	mkdir -p "$O/empty"
	rbx run "$R/ow-false-$how.yml" -p to="$O/empty"
	expect_rc 0 "$how: an empty folder is no obstacle (overwrite false)"

	rbx run "$R/ow-true-$how.yml" -p to="$O/to" -p new="$O/new"
	expect_rc 0 "$how: overwrite true replaces 'to'; an absent 'to' is created"
	rid=$(run_id)
	(cd "$O/to" 2>/dev/null && find . | LC_ALL=C sort) | cmp -s - "$T/x.list"
	check "$how: 'to' holds the archive's contents" test $? = 0
	check "$how: what 'to' held is kept as .to.rb-prev-$rid-replace" \
		sh -c 'python3 "$1/tree.py" "$2" | cmp -s - "$3"' _ "$FX" "$O/.to.rb-prev-$rid-replace" "$T/old.state"
	check "$how: 'new' did not exist: an empty file .new.rb-prev-$rid-create" \
		sh -c '[ -f "$1" ] && [ ! -s "$1" ]' _ "$O/.new.rb-prev-$rid-create"
	check "$how: no .rb-new- folder left" sh -c '! ls -A "$1" | grep -q rb-new' _ "$O"

	rm -rf "$O"
	mkdir -p "$O/to/old"
	echo old >"$O/to/old/file"
	state "$O/to" >"$T/old.state"
	rbx run "$R/ow-true-$how.yml" -p to="$O/to" -p new="$O/new" -p fail=yes
	expect_rc 1 "$how: a later step fails after both extracts"
	out_has "rolled back"
	check "$how: rollback: 'to' holds its old contents again" \
		sh -c 'python3 "$1/tree.py" "$2" | cmp -s - "$3"' _ "$FX" "$O/to" "$T/old.state"
	check "$how: rollback: 'new', which did not exist, is gone" test ! -e "$O/new"
	check "$how: rollback: nothing left beside them" test -z "$(beside "$O/to")$(beside "$O/new")"
done

# --- 7. kill -9 in the middle of an archive, then resume -------------------------------
RND=$T/rnd
mkdir -p "$RND"
i=0
while [ $i -lt 20 ]; do
	head -c 2097152 /dev/urandom >"$RND/f$i"
	i=$((i + 1))
done
cat >"$R/slow.yml" <<EOF2
runbook: slow
steps:
  - id: snap
    archive: { path: $RND, to: out/rnd.tar.gz, level: 9 }
EOF2
RUNBOOK_STATE_DIR=$T/state-crash
export RUNBOOK_STATE_DIR
python3 "$FX/killwhen.py" "$T/kw" "$R/out" '^rnd\.tar\.gz\.rb-tmp-' 0.3 \
	"$RUNBOOK" run "$R/slow.yml" >"$out" 2>"$err"
check "crash: runbook was killed while it wrote the archive ($(cat "$T/kw"))" test "$(cat "$T/kw")" = "seen -9"
check "crash: the half-written archive is there under a temporary name" \
	sh -c 'ls -A "$1" | grep -q "^rnd\.tar\.gz\.rb-tmp-"' _ "$R/out"
check "crash: no archive under its final name" test ! -e "$R/out/rnd.tar.gz"
check "crash: no manifest under its final name" test ! -e "$R/out/rnd.tar.gz.manifest.json"
rb resume
expect_rc 0 "crash: resume completes the archive, without asking"
out_has "resuming run"
rb archive verify "$R/out/rnd.tar.gz"
expect_rc 0 "crash: the resumed archive verifies"
check "crash: the temporary files of the killed attempt are gone" \
	sh -c '! ls -A "$1" | grep -q "rnd.*rb-tmp"' _ "$R/out"
check "crash: the step's log says it removed them" \
	sh -c 'cat "$1"/runs/*/logs/*.log | grep -q "left by an interrupted attempt"' _ "$RUNBOOK_STATE_DIR"

# --- 7b. kill -9 in the middle of an extract, then resume ------------------------------
cat >"$R/slowx.yml" <<EOF2
runbook: slowx
steps:
  - id: restore
    extract: { from: out/rnd.tar.gz, to: $T/rx }
EOF2
RUNBOOK_STATE_DIR=$T/state-crashx
python3 "$FX/killwhen.py" "$T/kw" "$T" '^\.rx\.rb-new-' 0 \
	"$RUNBOOK" run "$R/slowx.yml" >"$out" 2>"$err"
check "crash: runbook was killed while it extracted into .rx.rb-new- ($(cat "$T/kw"))" test "$(cat "$T/kw")" = "seen -9"
check "crash: 'to' was not created" test ! -e "$T/rx"
rb resume
expect_rc 0 "crash: resume completes the extract"
state "$RND" --no-root-mtime >"$T/want"
state "$T/rx" --no-root-mtime >"$T/got"
check "crash: the resumed extract is whole" cmp "$T/want" "$T/got"
check "crash: the half-done .rx.rb-new- folder of the killed attempt is gone" \
	sh -c '! ls -A "$1" | grep -q "^\.rx\.rb-new-"' _ "$T"
rm -rf "$T"/.rx.rb-* "$T/rx"
RUNBOOK_STATE_DIR=$T/state

# --- 8. a timeout in the middle of an archive -----------------------------------------
# 60 MB of text that gzip -9 works hard on: several seconds to compress
mkdir -p "$T/txt"
seq 1 8000000 >"$T/txt/numbers"
# elapsed RUNBOOK-ARGS...: rbx, and the time it took in ms in $ms
elapsed() {
	t0=$(date +%s%N)
	rbx "$@"
	ms=$((($(date +%s%N) - t0) / 1000000))
}
tmo_runbook() { # NAME PATH TO LEVEL
	cat >"$R/$1.yml" <<EOF2
runbook: $1
steps:
  - id: snap
    timeout: 1s
    archive: { path: $2, to: $3, level: $4 }
EOF2
}
tmo_runbook tmo "$T/txt" out/tmo.tar.gz 9
elapsed run "$R/tmo.yml"
expect_rc 1 "timeout: the archive step fails"
out_has "timed out after 1.0s"
plain_binary && check "timeout: it ends soon after the 1 s limit (took $ms ms)" test $ms -lt 2000
check "timeout: no archive, no manifest, no temporary file" sh -c '! ls -A "$1" | grep -q "^tmo"' _ "$R/out"
# zstd with its threads: compressing goes on after the last block is handed over
mkdir -p "$T/z16"
head -c 16000000 /dev/urandom >"$T/z16/random"
tmo_runbook tmo-zst "$T/z16" out/tmo-zst.tar.zst 19
elapsed run "$R/tmo-zst.yml"
expect_rc 1 "timeout with zstd -19: the archive step fails"
out_has "timed out after 1.0s"
# the deadline is checked between blocks; a zstd job at level 19 is not
# interruptible (seconds of work): bounded, but not to the millisecond
plain_binary && check "timeout with zstd -19: it ends within a zstd job of the 1 s limit (took $ms ms)" test $ms -lt 10000
check "timeout with zstd -19: nothing left" sh -c '! ls -A "$1" | grep -q "^tmo-zst"' _ "$R/out"
# the holes of a sparse file count too: 2.2 GB of them (between two bytes
# of data) deflated into a zip
mkdir -p "$T/holes"
truncate -s 2200M "$T/holes/holes.img"
printf 'A' | dd of="$T/holes/holes.img" conv=notrunc 2>/dev/null
printf 'C' | dd of="$T/holes/holes.img" bs=1 seek=$((2200 * 1048576 - 1)) conv=notrunc 2>/dev/null
tmo_runbook tmo-sparse "$T/holes" out/tmo-sparse.zip 1
elapsed run "$R/tmo-sparse.yml"
expect_rc 1 "timeout on a sparse file in a zip: the archive step fails"
plain_binary && check "timeout on a sparse file: it ends soon after the 1 s limit (took $ms ms)" test $ms -lt 2000
check "timeout on a sparse file: nothing left" sh -c '! ls -A "$1" | grep -q "^tmo-sparse"' _ "$R/out"
rm -rf "$T/txt" "$T/z16" "$T/holes"

# --- 9. failures before anything is written --------------------------------------------
cat >"$R/fails.yml" <<EOF2
runbook: fails
params:
  path: { required: true }
  to: { required: true }
steps:
  - id: snap
    archive: { path: "{{ path }}", to: "{{ to }}" }
EOF2
rbx run "$R/fails.yml" -p path="$T/no-such-folder" -p to=out/none.tar
expect_rc 1 "archive of a folder that does not exist fails"
out_has "$T/no-such-folder"
mkdir -p "$R/out/dir.tar"
rbx run "$R/fails.yml" -p path="$G" -p to=out/dir.tar
expect_rc 1 "archive onto a folder fails"
out_has "is a folder: give the archive's file name"
rbx run "$R/fails.yml" -p path="$G" -p to=out/x.rar
expect_rc 1 "archive to a name whose format cannot be told (known at run time) fails"
out_has "cannot tell the archive's format from"
check "failures: no temporary file left" sh -c '! ls -A "$1" | grep -q "rb-tmp"' _ "$R/out"

# --- 10. plan and lint ------------------------------------------------------------------
cat >"$R/planned.yml" <<'EOF2'
runbook: planned
steps:
  - id: snap
    archive: { path: /srv/data, to: backups/data.tar.zst, exclude: ["*.log", cache/] }
  - id: snap-zip
    archive: { path: /srv/data, to: backups/data.zip, level: 9 }
  - id: restore
    extract: { from: backups/data.tar.zst, to: /srv/restored, strip: 1, overwrite: true }
  - id: report
    run: echo "{{ archive.entries }} {{ archive.bytes }} {{ archive.sha256 }}"
    probe: true
EOF2
rb plan "$R/planned.yml"
expect_rc 0 "plan of archive and extract steps"
out_has "archive /srv/data → backups/data.tar.zst (tar.zst, excluding *.log cache/)"
out_has "archive /srv/data → backups/data.zip (zip, level 9)"
out_has "extract backups/data.tar.zst → /srv/restored (strip 1, overwrite)"
out_has "put back what the extract replaced"
check "plan ran nothing" test ! -e "$R/backups"
rb lint "$R/planned.yml"
expect_rc 0 "lint of archive and extract steps"
check "lint: no 'no undo' / 'no check' warning for archive or extract" \
	sh -c '! grep -Eq "no undo|no check" "$1" "$2"' _ "$out" "$err"
