#!/bin/sh
# tests/bench/archive.sh — part of `make bench` (called by
# tests/bench/run.sh, before ssh.sh): runbook's `archive` and `extract`
# steps on a local tree of mixed files against the tar pipelines with the
# same compressor:
#
#  (a) tar -cf - -C TREE . | zstd -T0 -3 -q -o OUT.tar.zst  against
#      runbook archive {path: TREE, to: OUT.tar.zst, level: 3}
#  (b) tar -czf OUT.tar.gz -C TREE .  against
#      runbook archive {path: TREE, to: OUT.tar.gz, level: 6}
#  (c) zstd -dc OUT.tar.zst | tar -xf - -C DEST  against
#      runbook extract {from: its OUT.tar.zst, to: DEST}
#  (d) tar -xzf OUT.tar.gz -C DEST  against
#      runbook extract {from: its OUT.tar.gz, to: DEST}
#
# Target (the issue): runbook no slower than the tar pipeline with the
# same compressor.  A pair is within it when runbook's median time is at
# most BENCH_ARCHIVE_SLACK (default 1.05: 5% for noise) times tar's.
#
# runbook does more than tar, and is timed doing all of it: it hashes
# every file (SHA-256, for the manifest) and the archive, fsyncs the
# archive, then reads it back and verifies it against the manifest before
# renaming it into place; an extract verifies the archive first (a full
# read and decompression), extracts into a new folder beside DEST, syncs
# that file system (`sync -f`) and renames the folder into place.  tar
# and zstd do none of that.  Two more rows time `runbook archive verify`
# alone on each of runbook's archives: the read-back share of an archive
# step and the check that opens an extract.  zstd uses every CPU in both
# (zstd -T0; runbook sets libarchive's zstd threads to the CPU count);
# gzip is single-threaded in both (tar -z runs gzip beside tar, runbook
# runs zlib in-process).  runbook's ~90 ms of startup is in its figures.
#
# The tree: BENCH_ARCHIVE_MIB MiB (default 1024) of file content, made
# deterministically (a fixed seed) by python3: 18% small source-like text
# files (512 B to 24 KiB, 128 per folder), 25% medium files (256 KiB to
# 3 MiB: text, base64 of random bytes, random bytes, log lines), 50% in 4
# large files of alternating 1 MiB blocks of random bytes and text, 7% in
# 2 sparse files (1/8 data, the rest holes; apparent size counted), a few
# symlinks and empty folders.  A run needs about 4 times the tree on disk
# (the tree, two archives, an extraction); with less free, the tree is
# scaled down and a line says so.  It is written under build/ (or
# BENCH_ARCHIVE_TMP), on a disk rather than a tmpfs, and removed at the
# end.  The page cache cannot be dropped without root: the tree is read
# once before timing, so every method reads it from memory, and every
# timed run is preceded, untimed, by `sync` (no method pays for another's
# dirty pages) and by the removal of its output.
#
# Each figure is the median of BENCH_ARCHIVE_RUNS runs (default 3), timed
# by hyperfine when present, else by a loop (BENCH_TIMER=loop forces it).
# MB/s is the tree's bytes (10^6 a MB) over the time, for extracts too.
# Takes about 6 min for 1 GiB on a 2-CPU VM (gzip is most of it).  The
# load average before and after is printed: the wall times mean little on
# a machine that is busy with something else (CPU s is steadier).  A missing
# tar, zstd, gzip or python3 fails with a line saying which; exit 1 when a
# method fails or a target is missed.
set -u
cd "$(dirname "$0")/../.." || exit 2
TOP=$(pwd)
RUNBOOK=${RUNBOOK:-$TOP/build/runbook}
RUNS=${BENCH_ARCHIVE_RUNS:-3}
MIB=${BENCH_ARCHIVE_MIB:-1024}
BASE=${BENCH_ARCHIVE_TMP:-$TOP/build}
SLACK=${BENCH_ARCHIVE_SLACK:-1.05}

die() {
	echo "bench archive: $1" >&2
	exit 2
}
[ -x "$RUNBOOK" ] || die "$RUNBOOK is missing: run make first"
for _t in tar:tar zstd:zstd gzip:gzip python3:python3 find:findutils; do
	command -v "${_t%%:*}" >/dev/null 2>&1 ||
		die "no ${_t%%:*} on PATH: install it (Debian: apt-get install ${_t#*:})"
done
mkdir -p "$BASE" || die "cannot create $BASE"

# --- space: about 4 times the tree ----------------------------------------------
avail_mib=$(df -Pk "$BASE" | awk 'NR == 2 { printf "%d", $4 / 1024 }')
if [ "$avail_mib" -lt $((4 * MIB)) ]; then
	new=$((avail_mib / 4 / 16 * 16))
	[ "$new" -ge 64 ] || die "only $avail_mib MiB free under $BASE: too little for even a 64 MiB tree (4 x 64 MiB needed)"
	echo "bench archive: only $avail_mib MiB free under $BASE, and a run needs ~4 x the tree:" \
		"the tree is scaled down from $MIB MiB to $new MiB" >&2
	MIB=$new
fi

W=$(mktemp -d "$BASE/bench-archive.XXXXXX") || die "cannot create a folder under $BASE"
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM HUP PIPE
TREE=$W/tree
STATE=$W/state

fail() {
	echo "bench archive: $1" >&2
	[ $# -gt 1 ] && [ -s "$2" ] && sed 's/^/  /' "$2" | tail -30 >&2
	exit 1
}

# a word for sh, and a scalar for YAML
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
yq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

# --- the tree ----------------------------------------------------------------------
cat >"$W/gen.py" <<'EOF'
import base64, os, random, sys

root, total = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261122)
kw = ["int", "static", "const", "char", "return", "if", "else", "for", "while", "struct",
      "void", "size_t", "unsigned", "NULL", "break", "case", "switch", "goto", "sizeof"]
letters = "abcdefghijklmnopqrstuvwxyz"
vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) +
         rng.choice(["", "_t", "_id", "s", "_len"]) for _ in range(3000)]
tmpl = ["{i}{k} {v} = {w}({x}, {n});", "{i}if ({v} {op} {w}) {{", "{i}return {v}->{w};", "{i}}}",
        "{i}/* {v} {w} {x} {y} */", "{i}{v}[{n}] = {w} {op} {x};", "{i}for ({k} {v} = 0; {v} < {w}; {v}++)",
        "{i}{k} {v}({k} {w}, {k} *{x});", "", "{i}{v}({w}, \"{x} {y}: %d\\n\", {n});"]
ops = ["+", "-", "==", "!=", "<", ">=", "&&", "|", "<<"]
pool = []  # source-like lines, drawn at random into text
for _ in range(40000):
    pool.append(rng.choice(tmpl).format(
        i="\t" * rng.randint(0, 3), k=rng.choice(kw), v=rng.choice(vocab), w=rng.choice(vocab),
        x=rng.choice(vocab), y=rng.choice(vocab), n=rng.randint(0, 4096), op=rng.choice(ops)) + "\n")

def text(n):
    out, size = [], 0
    while size < n:
        ls = rng.choices(pool, k=256)
        out.extend(ls)
        size += sum(map(len, ls))
    return "".join(out).encode()[:n]

def b64(n):
    return base64.encodebytes(rng.randbytes(n * 3 // 4 + 3))[:n]

def rand(n):
    return rng.randbytes(n)

clock = [1700000000]
def log(n):
    out, size = [], 0
    while size < n:
        clock[0] += rng.randint(0, 3)
        line = "t=%d level=%s req=%08x path=/api/%s/%s status=%d dur=%dms\n" % (
            clock[0], rng.choice(["info", "info", "info", "warn", "error"]), rng.getrandbits(32),
            rng.choice(vocab[:50]), rng.choice(vocab[:200]), rng.choice([200, 200, 200, 204, 404, 500]),
            rng.randint(1, 900))
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]

def write(path, data):
    with open(path, "wb") as f:
        f.write(data)

small_b, med_b, large_b = total * 18 // 100, total * 25 // 100, total * 50 // 100
sparse_b = total - small_b - med_b - large_b
# small source-like files, 128 to a module of 4 folders
used, i = 0, 0
while used < small_b:
    d = os.path.join(root, "src", "mod%03d" % (i // 128), "sub%d" % (i % 4))
    if i % 128 < 4:
        os.makedirs(d, exist_ok=True)
    n = min(rng.randint(512, 24576), small_b - used)
    write(os.path.join(d, "%s_%d.c" % (rng.choice(vocab), i)), text(n))
    used, i = used + n, i + 1
# medium files of four kinds
for d in ("data", "logs", "assets", "big", "vm"):
    os.makedirs(os.path.join(root, d))
kinds = [("data", ".txt", text), ("data", ".b64", b64), ("assets", ".bin", rand), ("logs", ".log", log)]
used, i = 0, 0
while used < med_b:
    folder, ext, fn = kinds[i % 4]
    n = min(rng.randint(256 << 10, 3 << 20), med_b - used)
    write(os.path.join(root, folder, "f%04d%s" % (i, ext)), fn(n))
    used, i = used + n, i + 1
# 4 large files: 1 MiB blocks, random and text in turn
per = large_b // 4
for j in range(4):
    with open(os.path.join(root, "big", "blob%d.img" % j), "wb") as f:
        left, k = per if j < 3 else large_b - 3 * per, 0
        while left > 0:
            n = min(1 << 20, left)
            f.write(rand(n) if k % 2 == 0 else text(n))
            left, k = left - n, k + 1
# 2 sparse files: 4 extents of data (1/8 of the size), holes between
per = sparse_b // 2
for j in range(2):
    size = per if j == 0 else sparse_b - per
    with open(os.path.join(root, "vm", "disk%d.raw" % j), "wb") as f:
        for e in range(4):
            f.seek(e * (size // 4))
            f.write(rand(size // 32) if e % 2 else text(size // 32))
        f.truncate(size)
os.symlink("../big/blob0.img", os.path.join(root, "data", "latest.img"))
os.symlink("mod000", os.path.join(root, "src", "current"))
os.symlink("nowhere/at/all", os.path.join(root, "logs", "dangling"))
os.makedirs(os.path.join(root, "empty", "a", "b"))
EOF
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
echo "bench archive: making a $MIB MiB tree of mixed files in $W ..." >&2
mkdir "$TREE" || fail "cannot create $TREE"
python3 "$W/gen.py" "$TREE" $((MIB * 1048576)) >"$W/gen.out" 2>&1 || fail "making the tree failed:" "$W/gen.out"
sync
# warm the page cache: every method reads the tree from memory
find "$TREE" -type f -exec cat {} + >/dev/null
BYTES=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
NFILES=$(find "$TREE" -type f | wc -l)
NDIRS=$(find "$TREE" -type d | wc -l)
NLINKS=$(find "$TREE" -type l | wc -l)
DISK_KIB=$(du -sk "$TREE" | cut -f1)
CPUS=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
# what an extraction must reproduce: names, types, sizes of files, link targets
listing() {
	(cd "$1" && find . \( -type d -printf '%p d\n' \) -o \( -type l -printf '%p l %l\n' \) -o -printf '%p %y %s\n') |
		LC_ALL=C sort
}
listing "$TREE" >"$W/tree.list"

# --- timing ----------------------------------------------------------------------------
if [ "${BENCH_TIMER:-}" != loop ] && command -v hyperfine >/dev/null 2>&1; then
	tool=hyperfine
else
	tool="a loop of runs"
fi
# timeit KEY PREPARE COMMAND: RUNS runs of COMMAND, each after PREPARE and
# `sync` (untimed); into $W/t.KEY the median wall seconds and the mean CPU
# seconds (user + system, of every process of the command)
timeit() {
	_key=$1 _prep="$2; sync" _cmd=$3
	echo "bench archive: timing $_key ..." >&2
	if [ "$tool" = hyperfine ]; then
		if ! hyperfine --runs "$RUNS" --style none --prepare "$_prep" --export-json "$W/h.json" \
			"$_cmd" >"$W/h.out" 2>&1; then
			# its output is gone: once more, to show what the command says
			sh -c "$_prep" >/dev/null 2>&1
			sh -c "$_cmd" >>"$W/h.out" 2>&1
			fail "$_key failed: $_cmd" "$W/h.out"
		fi
		python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["median"], r["user"] + r["system"])' "$W/h.json" >"$W/t.$_key"
	else
		python3 - "$RUNS" "$_prep" "$_cmd" "$W/h.out" >"$W/t.$_key" <<'PY' || fail "$_key failed: $_cmd" "$W/h.out"
import resource, statistics, subprocess, sys, time
runs, prep, cmd, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
wall, cpu = [], []
for _ in range(runs):
    subprocess.run(["sh", "-c", prep], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    with open(out, "w") as f:
        rc = subprocess.run(["sh", "-c", cmd], stdout=f, stderr=f).returncode
    wall.append(time.perf_counter() - t)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    if rc:
        sys.exit(1)
print(statistics.median(wall), statistics.mean(cpu))
PY
	fi
}
same_tree() { # KEY DIR: the extraction holds what the tree holds
	listing "$2" >"$W/dest.list"
	cmp -s "$W/tree.list" "$W/dest.list" || {
		diff "$W/tree.list" "$W/dest.list" | head -20 >"$W/diff.out"
		fail "$1: $2 does not hold what the tree holds:" "$W/diff.out"
	}
}
size_of() { wc -c <"$1" | tr -d ' '; }

RB="$(q "$RUNBOOK") --state-dir $(q "$STATE") --yes run -q"
for z in zst gz; do
	if [ $z = zst ]; then lv=3; else lv=6; fi
	cat >"$W/archive-$z.yml" <<EOF
runbook: bench-archive-$z
description: the tree into a .tar.$z
steps:
  - id: pack
    archive: { path: $(yq "$TREE"), to: $(yq "$W/rb.tar.$z"), level: $lv }
EOF
	cat >"$W/extract-$z.yml" <<EOF
runbook: bench-extract-$z
description: runbook's .tar.$z into a new folder
steps:
  - id: unpack
    extract: { from: $(yq "$W/rb.tar.$z"), to: $(yq "$W/rb-dest") }
EOF
done

T=$(q "$TREE")
# one compressor at a time: its archives go before the next's are made
# (a tree, two archives and one extraction on disk at most)
for z in zst gz; do
	TAR_OUT=$(q "$W/tar.tar.$z")
	RB_OUT=$(q "$W/rb.tar.$z")
	TAR_DEST=$(q "$W/tar-dest")
	RB_DEST=$(q "$W/rb-dest")
	RB_CLEAN="rm -rf $(q "$STATE") $RB_DEST $(q "$W")/.rb-dest.rb-*"
	if [ $z = zst ]; then
		timeit tar-a-$z "rm -f $TAR_OUT" "tar -cf - -C $T . | zstd -T0 -3 -q -o $TAR_OUT"
	else
		timeit tar-a-$z "rm -f $TAR_OUT" "tar -czf $TAR_OUT -C $T ."
	fi
	timeit rb-a-$z "rm -f $RB_OUT $RB_OUT.manifest.json; $RB_CLEAN" "$RB $(q "$W/archive-$z.yml")"
	[ -s "$W/tar.tar.$z" ] || fail "tar made no $W/tar.tar.$z"
	if [ ! -s "$W/rb.tar.$z" ] || [ ! -s "$W/rb.tar.$z.manifest.json" ]; then
		fail "runbook made no $W/rb.tar.$z and manifest"
	fi
	size_of "$W/tar.tar.$z" >"$W/s.tar-a-$z"
	size_of "$W/rb.tar.$z" >"$W/s.rb-a-$z"
	size_of "$W/rb.tar.$z.manifest.json" >"$W/s.manifest-$z"
	timeit rb-verify-$z ":" "$(q "$RUNBOOK") archive verify $RB_OUT"
	if [ $z = zst ]; then
		timeit tar-x-$z "rm -rf $TAR_DEST; mkdir $TAR_DEST" "zstd -dc $TAR_OUT | tar -xf - -C $TAR_DEST"
	else
		timeit tar-x-$z "rm -rf $TAR_DEST; mkdir $TAR_DEST" "tar -xzf $TAR_OUT -C $TAR_DEST"
	fi
	same_tree "tar -x of .tar.$z" "$W/tar-dest"
	rm -rf "$W/tar-dest"
	timeit rb-x-$z "$RB_CLEAN" "$RB $(q "$W/extract-$z.yml")"
	same_tree "runbook extract of .tar.$z" "$W/rb-dest"
	rm -rf "$W/rb-dest" "$W"/.rb-dest.rb-* "$STATE" "$W/tar.tar.$z" "$W/rb.tar.$z" "$W/rb.tar.$z.manifest.json"
done

# --- the table -------------------------------------------------------------------------
t() { awk '{ print $1 }' "$W/t.$1"; }
cpu() { awk '{ printf "%.2f", $2 }' "$W/t.$1"; }
mbs() { awk -v b="$BYTES" -v s="$(t "$1")" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print "-" }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
row() { # KEY LABEL [archive]
	if [ $# -gt 2 ]; then
		_sz=$(cat "$W/s.$1")
		_a=$(mb "$_sz")
		_r=$(awk -v b="$BYTES" -v s="$_sz" 'BEGIN { printf "%.2fx", b / s }')
	else
		_a=''
		_r=''
	fi
	printf '  %-40s %8.2f %7s %8s %9s %7s\n' "$2" "$(t "$1")" "$(cpu "$1")" "$(mbs "$1")" "$_a" "$_r" | sed 's/ *$//'
}
status=0
pair() { # LABEL TAR-KEY RB-KEY TAR-NAME
	_ratio=$(awk -v a="$(t "$3")" -v b="$(t "$2")" 'BEGIN { printf "%.2f", a / b }')
	if awk -v r="$_ratio" -v s="$SLACK" 'BEGIN { exit !(r <= s) }'; then
		_v="within target"
	else
		_v="MISSED: slower than $4"
		status=1
	fi
	printf '  %-20s runbook %7.2f s, %-15s %7.2f s: %5sx  %s\n' "$1" "$(t "$3")" "$4" "$(t "$2")" "$_ratio" "$_v"
}

echo "archive benchmark: $(mb "$BYTES") MB tree ($BYTES bytes of content, $(awk -v k="$DISK_KIB" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }') MB on disk):" \
	"$NFILES files, $NDIRS folders, $NLINKS symlinks; $CPUS CPUs"
echo "  $(zstd --version 2>&1 | sed -n 's/.*\(v[0-9][0-9.]*\).*/zstd \1/p'), $(tar --version | head -1)," \
	"$(gzip --version | head -1), runbook $("$RUNBOOK" --version 2>&1 | awk '{ print $NF }')" \
	"($(pkg-config --modversion libarchive 2>/dev/null | sed 's/^/libarchive /'))"
echo "  median of $RUNS runs ($tool); page cache warmed by reading the tree once (no root to drop it);" \
	"each run after an untimed sync"
echo "  load average before: ${LOAD0:-?}, after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)"
printf '  %-40s %8s %7s %8s %9s %7s\n' "method" "seconds" "CPU s" "MB/s" "size MB" "ratio"
row tar-a-zst "tar -cf - | zstd -T0 -3" a
row rb-a-zst "runbook archive .tar.zst (level 3)" a
row rb-verify-zst "  (runbook archive verify of it)"
row tar-a-gz "tar -czf (gzip -6)" a
row rb-a-gz "runbook archive .tar.gz (level 6)" a
row rb-verify-gz "  (runbook archive verify of it)"
row tar-x-zst "zstd -dc | tar -xf -"
row rb-x-zst "runbook extract .tar.zst"
row tar-x-gz "tar -xzf"
row rb-x-gz "runbook extract .tar.gz"
echo "  size MB: the archive, without runbook's manifest beside it ($(mb "$(cat "$W/s.manifest-zst")") MB);" \
	"ratio: tree bytes / archive bytes"
echo "  seconds: wall, the median; CPU s: user + system of all its processes, the mean; MB/s: tree bytes / seconds"
echo "runbook / tar, time (target: no slower, <= ${SLACK}x):"
pair "archive .tar.zst" tar-a-zst rb-a-zst "tar | zstd -T0"
pair "archive .tar.gz" tar-a-gz rb-a-gz "tar -czf"
pair "extract .tar.zst" tar-x-zst rb-x-zst "zstd -dc | tar"
pair "extract .tar.gz" tar-x-gz rb-x-gz "tar -xzf"
exit $status
