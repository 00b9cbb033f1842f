#!/bin/sh
# t0400 — the run journal: STATE/runs/RUN_ID/ holds journal.jsonl, exact
# copies of the runbook and its modules, params.json (secrets left out)
# and logs/, folders 0700 and files 0600.  Every journal line is a JSON
# object with consecutive seq, time, event and a CRC-32 seeded with
# crc32(nonce) (recomputed here in python); the events of a small run
# come in order.  A secret never reaches any file of the state folder.
# Replay: a torn last line is ignored by status, dropped with a warning
# and cut by resume (the journal stays valid); a corrupt line anywhere
# else is refused (exit 2, FILE:LINE named, nothing runs); an empty
# journal is a clear error.  Bytes that are not UTF-8 in a capture or a
# param survive a resume exactly.
. "$(dirname "$0")/../lib.sh"


# py_check "what" PYTHON-ARGS...: one assertion made by a python script
# (exit 0 = pass); its output is shown when it fails.
py_check() {
	what=$1
	shift
	if python3 "$@" >"$T/.py" 2>&1; then
		_report 0 "$what"
	else
		_report 1 "$what"
		sed 's/^/#   py: /' "$T/.py" | head -20
	fi
}

# the only run folder of runbook $1 under $RUNBOOK_STATE_DIR
run_dir_of() {
	ls -d "$RUNBOOK_STATE_DIR"/runs/"$1"-* 2>/dev/null | head -1
}

# jcheck.py JOURNAL: every line a JSON object starting with seq, seq
# 1, 2, 3…, a time, an event, the nonce in run_start, and a CRC that
# zlib computes the same: crc32(bytes before ,"crc":, crc32(nonce)).
cat >"$T/jcheck.py" <<'EOF2'
import json, re, sys, zlib

path = sys.argv[1]
data = open(path, 'rb').read()
if not data:
    sys.exit('the journal is empty')
if not data.endswith(b'\n'):
    sys.exit('the journal does not end with a newline (torn tail left behind)')

def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError('duplicate key')
    return dict(pairs)

seed = None
lines = data.split(b'\n')[:-1]
for n, line in enumerate(lines, 1):
    where = '%s:%d' % (path, n)
    if not line.startswith(b'{"seq":'):
        sys.exit(where + ': does not start with {"seq":')
    k = line.rfind(b',"crc":"')
    if k < 0 or not re.fullmatch(rb',"crc":"[0-9a-f]{8}"\}', line[k:]):
        sys.exit(where + ': does not end with ,"crc":"xxxxxxxx"}')
    try:
        rec = json.loads(line.decode('utf-8'), object_pairs_hook=no_dups)
    except Exception as e:
        sys.exit(where + ': not strict JSON: %s' % e)
    if not isinstance(rec, dict):
        sys.exit(where + ': not an object')
    if rec.get('seq') != n:
        sys.exit(where + ': seq %r, wanted %d' % (rec.get('seq'), n))
    if not isinstance(rec.get('event'), str) or not rec['event']:
        sys.exit(where + ': no event')
    if not re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', str(rec.get('time'))):
        sys.exit(where + ': bad time %r' % rec.get('time'))
    if n == 1:
        if rec['event'] != 'run_start':
            sys.exit(where + ': the first record is not run_start')
        nonce = rec.get('nonce', '')
        if not re.fullmatch(r'[0-9a-f]{16}', nonce):
            sys.exit(where + ': bad nonce %r' % nonce)
        seed = zlib.crc32(nonce.encode())
    elif 'nonce' in rec or rec['event'] == 'run_start':
        sys.exit(where + ': a second run_start or nonce')
    want = '%08x' % zlib.crc32(line[:k], seed)
    if rec['crc'] != want:
        sys.exit(where + ': crc %s, zlib computes %s' % (rec['crc'], want))
print(len(lines), 'records ok')
EOF2
jvalid() { py_check "$1" "$T/jcheck.py" "$2"; }

# ---------------------------------------------------------------------------
# 1. A small run: the folder, the copies, params.json, the journal
# ---------------------------------------------------------------------------
mkdir -p "$T/rb/modules"
# the module with CRLF line ends and no final newline: copied byte for byte
printf 'module: files\r\n# un module \303\251crit \303\240 la main\r\nactions:\r\n  put:\r\n    params:\r\n      path: { required: true }\r\n      line: { default: "x" }\r\n    steps:\r\n      - id: write\r\n        run: printf %%s {{ line }} > {{ path }}\r\n# no newline after this' >"$T/rb/modules/files.yml"
cat >"$T/rb/jr.yml" <<'EOF2'
# a runbook whose copy must be exact — comments, blank lines, trailing blanks   

runbook: jr
params:
  dir: { required: true }
  color: { default: blue }
  pw: { secret: true, env: RB_JR_PW }
preconditions:
  - name: the folder exists
    id: dir-ok
    run: test -d {{ dir }}
steps:
  - id: one
    run: echo one
  - id: never
    when: false
    run: echo never
  - confirm: Go on?
    id: gate
  - id: put
    uses: files.put
    with: { path: "{{ dir }}/put.txt" }
  - id: last
    run: echo last
finally:
  - id: fin
    run: echo fin
# ünïcödé comment at the end, and no final newline
EOF2
printf '# ✓' >>"$T/rb/jr.yml"

RB_JR_PW=jr-secret-1xq rb run "$T/rb/jr.yml" -p dir="$T" --yes
expect_rc 0 "a small run with a module, a skipped step, a confirm and finally"
rd=$(run_dir_of jr)
rid=$(basename "${rd:-none}")
check "the run folder is STATE/runs/RUN_ID" test -d "$rd"
out_has "$rid"
check "the run folder is 0700" test "$(stat -c %a "$rd")" = 700
check "journal.jsonl, runbook.yml, params.json, modules/files.yml and logs/ are there" \
	test -f "$rd/journal.jsonl" -a -f "$rd/runbook.yml" -a -f "$rd/params.json" -a -f "$rd/modules/files.yml" -a -d "$rd/logs"
check "every folder of the run is 0700" sh -c '[ -z "$(find "$1" -type d ! -perm 700)" ]' _ "$rd"
check "every file of the run is 0600" sh -c '[ -n "$(find "$1" -type f)" ] && [ -z "$(find "$1" -type f ! -perm 600)" ]' _ "$rd"
check "no temporary file is left behind" sh -c '[ -z "$(find "$1" -name "*.tmp*")" ]' _ "$rd"
check "the step logs are logs/NN-ID.log" test -f "$rd/logs/00-dir-ok.log" -a -f "$rd/logs/01-one.log" -a -f "$rd/logs/04-put.write.log" -a -f "$rd/logs/06-fin.log"
check "runbook.yml is byte for byte the runbook" cmp "$T/rb/jr.yml" "$rd/runbook.yml"
check "modules/files.yml is byte for byte the module (CRLF, no final newline)" cmp "$T/rb/modules/files.yml" "$rd/modules/files.yml"
jvalid "every journal line: JSON, seq 1.., time, event, zlib CRC seeded by the nonce" "$rd/journal.jsonl"

py_check "the events of the run, in order" - "$rd/journal.jsonl" <<'EOF2'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], 'rb').read().decode().splitlines()]
got = [(r['event'], r.get('step', r.get('phase'))) for r in recs]
want = [
    ('run_start', None),
    ('step_pid', 'dir-ok'), ('precondition', 'dir-ok'),
    ('phase', 'steps'),
    ('step_start', 'one'), ('step_pid', 'one'), ('step_end', 'one'),
    ('step_skip', 'never'),
    ('step_start', 'gate'), ('confirm_ask', 'gate'), ('confirm_answer', 'gate'), ('step_end', 'gate'),
    ('group_enter', 'put'),
    ('step_start', 'put.write'), ('step_pid', 'put.write'), ('step_end', 'put.write'),
    ('step_start', 'last'), ('step_pid', 'last'), ('step_end', 'last'),
    ('phase', 'finally'),
    ('step_start', 'fin'), ('step_pid', 'fin'), ('step_end', 'fin'),
    ('run_end', None),
]
if got != want:
    print('got: ', got)
    print('want:', want)
    sys.exit(1)
EOF2

py_check "step N starts, then ends, before step N+1 starts (numbers increase)" - "$rd/journal.jsonl" <<'EOF2'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], 'rb').read().decode().splitlines()]
open_step, last_num, phase = None, 0, None
for r in recs:
    e, s = r['event'], r.get('step')
    if e == 'step_start':
        assert open_step is None, 'seq %d: %s starts while %s is open' % (r['seq'], s, open_step)
        assert r['number'] > last_num, 'seq %d: number %d after %d' % (r['seq'], r['number'], last_num)
        assert r['attempt'] == 1 and r['host'] == 'local', r
        open_step, last_num = s, r['number']
    elif e == 'step_end':
        assert open_step == s, 'seq %d: %s ends while %s is open' % (r['seq'], s, open_step)
        open_step = None
    elif e in ('step_pid', 'confirm_ask', 'confirm_answer'):
        assert open_step == s or (e == 'step_pid' and phase is None), 'seq %d: %s of %s outside it' % (r['seq'], e, s)
    elif e in ('step_skip', 'phase', 'run_end', 'precondition', 'group_enter'):
        assert open_step is None, 'seq %d: %s while %s is open' % (r['seq'], e, open_step)
        if e == 'phase':
            phase = r['phase']
assert open_step is None, 'a step never ended: %s' % open_step
EOF2

py_check "run_start: nonce, run id, runbook, the files' sha256, params without the secret" - "$rd/journal.jsonl" "$rid" "$T/rb/jr.yml" "$T/rb/modules/files.yml" "$T" <<'EOF2'
import hashlib, json, sys
path, rid, rbf, modf, dir_ = sys.argv[1:6]
recs = [json.loads(l) for l in open(path, 'rb').read().decode().splitlines()]
s = recs[0]
assert s['event'] == 'run_start' and len(s['nonce']) == 16, s
assert s['run'] == rid, (s['run'], rid)
assert s['runbook'] == 'jr' and s['target'] == 'local', s
files = {f['role']: f for f in s['files']}
sha = lambda p: hashlib.sha256(open(p, 'rb').read()).hexdigest()
assert files['runbook']['sha256'] == sha(rbf) and files['runbook']['copy'] == 'runbook.yml', files
assert files['module']['sha256'] == sha(modf) and files['module']['copy'] == 'modules/files.yml', files
p = {x['name']: x for x in s['params']}
assert p['dir']['value'] == dir_ and p['color']['value'] == 'blue', p
assert p['pw'].get('secret') is True and 'value' not in p['pw'], p
ends = {r['step']: r for r in recs if r['event'] == 'step_end'}
assert ends['one']['status'] == 'ok' and ends['one']['rc'] == 0 and ends['one']['stdout'] == 'one\n', ends['one']
skip = [r for r in recs if r['event'] == 'step_skip'][0]
assert 'when' in skip['reason'], skip
ans = [r for r in recs if r['event'] == 'confirm_answer'][0]
assert '--yes' in ans['answer'], ans
ask = [r for r in recs if r['event'] == 'confirm_ask'][0]
assert ask['text'] == 'Go on?', ask
pre = [r for r in recs if r['event'] == 'precondition'][0]
assert pre['status'] == 'ok', pre
end = recs[-1]
assert end['event'] == 'run_end' and end['status'] == 'succeeded' and end['exit'] == 0, end
EOF2

py_check "params.json: the resolved values, the secret named without its value" - "$rd/params.json" "$T" <<'EOF2'
import json, sys
p = {x['name']: x for x in json.load(open(sys.argv[1]))}
assert p['dir']['value'] == sys.argv[2] and p['dir']['source'] == '-p', p
assert p['color']['value'] == 'blue' and p['color']['source'] == 'default', p
assert p['pw'].get('secret') is True and 'value' not in p['pw'], p
EOF2
check "the secret's value is in no file of the state folder" sh -c '! grep -rqF jr-secret-1xq "$1"' _ "$RUNBOOK_STATE_DIR"

# ---------------------------------------------------------------------------
# 2. A secret echoed, captured, derived, shown: in no file, before and
#    after a resume (which reads it again from the environment)
# ---------------------------------------------------------------------------
SECRET='Zq9-s3cr3t-Vw7'
cat >"$T/sec.yml" <<'EOF2'
runbook: sec
params:
  dir: { required: true }
  pw: { secret: true, env: RB_SEC_PW }
vars:
  url: "https://admin:{{ pw }}@db.example.org/"
steps:
  - id: echo
    run: |
      echo "pw={{ pw }}"
      echo "on stderr {{ pw }}" >&2
      echo "url {{ url }}"
    capture: { tok: 'pw=(.*)' }
  - note: "the note shows {{ pw }}"
  - confirm: "confirm with {{ pw }}?"
  - id: diag
    run: 'echo "oops {{ pw }}"'
    diagnose:
      - match: 'oops (?<what>.*)'
        hint: "it said {{ what }}"
        fail: false
  - id: gate
    run: 'echo "gate {{ pw }}"; test -e {{ dir }}/sec-go'
  - id: again
    run: 'echo "again {{ pw }}"; test {{ pw }} = "$EXPECTED" && touch {{ dir }}/sec-ok'
finally:
  - id: fin
    run: 'echo "finally {{ pw }}"'
EOF2
EXPECTED=$SECRET RB_SEC_PW=$SECRET rb run "$T/sec.yml" -p dir="$T" --yes -v
expect_rc 1 "the secret run stops at its gate"
srd=$(run_dir_of sec)
check "the secret is in no file under the state folder" sh -c '! grep -rqF -- "$1" "$2"' _ "$SECRET" "$RUNBOOK_STATE_DIR"
check "the echoed line is journaled, masked" grep -qF '"stdout":"pw=***' "$srd/journal.jsonl"
check "the capture is journaled masked, and marked so" grep -qF '"captures":{"tok":"***"},"masked":["tok"]' "$srd/journal.jsonl"
check "the log of the step has the line, masked" grep -qxF 'pw=***' "$srd/logs/01-echo.log"
touch "$T/sec-go"
EXPECTED=$SECRET RB_SEC_PW=$SECRET rb resume "$(basename "${srd:-none}")" -v
expect_rc 0 "the secret run resumes"
check "the resumed step got the real secret again (from the environment)" test -e "$T/sec-ok"
check "after the resume the secret is still in no file under the state folder" sh -c '! grep -rqF -- "$1" "$2"' _ "$SECRET" "$RUNBOOK_STATE_DIR"
jvalid "the resumed secret run's journal is valid" "$srd/journal.jsonl"
# a secret given with -p (not from the environment) is not written either
SECRET2='Kp4-other-s3cret'
EXPECTED=$SECRET2 rb run "$T/sec.yml" -p dir="$T" -p pw="$SECRET2" --yes
expect_rc 0 "the secret run with the secret given by -p"
check "a secret given with -p is in no file under the state folder" sh -c '! grep -rqF -- "$1" "$2"' _ "$SECRET2" "$RUNBOOK_STATE_DIR"

# ---------------------------------------------------------------------------
# 3. A torn last record after kill -9: status ignores it, resume warns,
#    cuts it off and appends; the journal is valid again
# ---------------------------------------------------------------------------
cat >"$T/k.yml" <<'EOF2'
runbook: killed
params:
  dir: { required: true }
steps:
  - id: first
    run: echo first >> {{ dir }}/k-marker
  - id: long
    run: |
      if [ ! -e {{ dir }}/k-fast ]; then
        echo $$ > {{ dir }}/k-pid
        # until killed (or, should the kill miss, until k-fast appears)
        i=0
        while [ ! -e {{ dir }}/k-fast ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
      fi
      echo long >> {{ dir }}/k-marker
    check: grep -qx long {{ dir }}/k-marker
  - id: later
    run: echo later >> {{ dir }}/k-marker
EOF2
${RUNBOOK_WRAP:-} "$RUNBOOK" run "$T/k.yml" -p dir="$T" >"$out" 2>"$err" </dev/null &
rbpid=$!
if wait_for "$T/k-pid"; then
	kill -KILL "$rbpid"
	wait "$rbpid" 2>/dev/null
	rc=$?
	kill -KILL -"$(cat "$T/k-pid")" 2>/dev/null # the step, orphaned (a process group)
else
	kill -KILL "$rbpid" 2>/dev/null
	wait "$rbpid" 2>/dev/null
	rc=timeout
fi
expect_rc 137 "kill -9 while a step sleeps"
krd=$(run_dir_of killed)
kid=$(basename "${krd:-none}")
kj=$krd/journal.jsonl
jvalid "the killed run's journal is valid up to its last record" "$kj"
cp "$kj" "$T/k-before.jsonl"
nlines=$(wc -l <"$kj")
printf '{"seq":%d,"time":"2026-01-01T00:0' $((nlines + 1)) >>"$kj"
rb status "$kid"
expect_rc 0 "status reads a journal with a torn last record"
out_has "interrupted"
check "status shows the step that was running" grep -Eq '^ *2 +long +local +interrupted' "$out"
out_has "torn"
rb status
expect_rc 0 "status lists runs with a torn journal"
check "the list shows the run as interrupted" grep -Eq "^$kid +killed +local +interrupted" "$out"
touch "$T/k-fast"
# resume first waits for the killed step's process group to be gone; a
# generous limit keeps a machine whose init never reaps from hanging here
${RUNBOOK_WRAP:-} "$RUNBOOK" resume "$kid" >"$out" 2>"$err" </dev/null &
rspid=$!
i=0
while ! gone "$rspid" && [ $i -lt 1200 ]; do
	sleep 0.05
	i=$((i + 1))
done
if gone "$rspid"; then
	wait "$rspid"
	rc=$?
else
	kill -TERM "$rspid"
	wait "$rspid"
	rc="still waiting after a minute"
fi
expect_rc 0 "resume continues a run whose journal has a torn last record"
err_has "journal.jsonl:$((nlines + 1)): dropped a torn last record"
check "the steps after it ran; the finished one did not run again" test "$(cat "$T/k-marker")" = "$(printf 'first\nlong\nlater')"
check "the torn bytes are cut: the journal before it is a prefix of the new one" \
	sh -c 'head -c "$(wc -c <"$1")" "$2" | cmp -s - "$1"' _ "$T/k-before.jsonl" "$kj"
check "the record after the cut is the resume, with the next seq" \
	sh -c 'sed -n "$(($2 + 1))p" "$1" | grep -q "^{\"seq\":$(($2 + 1)),\"time\":\"[^\"]*\",\"event\":\"resume\""' _ "$kj" "$nlines"
jvalid "after the resume the whole journal is valid (CRCs, consecutive seq)" "$kj"
check "the journal is still 0600" test "$(stat -c %a "$kj")" = 600
rb status "$kid"
expect_rc 0 "status after the resume"
out_has "succeeded"

# ---------------------------------------------------------------------------
# 4. A corrupt record before the last one is refused: status and resume
#    exit 2 naming FILE:LINE, nothing runs, the journal is left alone
# ---------------------------------------------------------------------------
cat >"$T/c.yml" <<'EOF2'
runbook: corrupt
params:
  dir: { required: true }
steps:
  - id: one
    run: echo one >> {{ dir }}/c-marker
  - id: gate
    run: test -e {{ dir }}/c-go
  - id: three
    run: echo three >> {{ dir }}/c-marker
EOF2
rb run "$T/c.yml" -p dir="$T"
expect_rc 1 "a run that stops at its gate"
crd=$(run_dir_of corrupt)
cid=$(basename "${crd:-none}")
cj=$crd/journal.jsonl
cp "$cj" "$T/c-pristine.jsonl"
cn=$(wc -l <"$cj")
touch "$T/c-go" # from here on, a resume that went ahead would run step three

# damage LINE HOW: writes the pristine journal with line LINE damaged
damage() {
	python3 - "$T/c-pristine.jsonl" "$cj" "$1" "$2" <<'EOF2'
import re, sys
src, dst, n, how = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lines = open(src, 'rb').read().split(b'\n')
line = lines[n - 1]
if how == 'digit':      # one digit of the time: still JSON, the CRC fails
    m = re.search(rb'"time":"\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d', line)
    i = m.end() - 1
    line = line[:i] + bytes([48 + (line[i] - 48 + 1) % 10]) + line[i + 1:]
elif how == 'quote':    # a quote becomes a letter: not JSON any more
    i = line.index(b'"event"')
    line = line[:i] + b'x' + line[i + 1:]
elif how == 'crc':      # one hex digit of the CRC itself
    i = len(line) - 3
    line = line[:i] + (b'0' if line[i:i + 1] != b'0' else b'1') + line[i + 1:]
elif how == 'nul':      # pages of a record that never reached the disk
    line = line[:20] + b'\0' * 40 + line[60:]
elif how == 'drop':     # the line is gone: the next one has the wrong seq
    del lines[n - 1]
    open(dst, 'wb').write(b'\n'.join(lines))
    sys.exit(0)
lines[n - 1] = line
open(dst, 'wb').write(b'\n'.join(lines))
EOF2
	cp "$cj" "$T/c-damaged.jsonl"
}

# refused LINE WHY "what": status and resume refuse, naming journal.jsonl:LINE
refused() {
	rb status "$cid"
	expect_rc 2 "$3: status exits 2"
	err_has "journal.jsonl:$1: corrupt journal record: $2"
	rb resume "$cid"
	expect_rc 2 "$3: resume exits 2"
	err_has "journal.jsonl:$1: corrupt journal record: $2"
	check "$3: nothing ran" test "$(cat "$T/c-marker")" = one
	check "$3: resume left the journal as it was" cmp -s "$cj" "$T/c-damaged.jsonl"
}

damage 4 digit
refused 4 "CRC mismatch" "one byte changed in line 4"
damage 1 digit
refused 1 "CRC mismatch" "one byte changed in line 1 (run_start)"
damage $((cn - 1)) quote
refused $((cn - 1)) "not JSON" "a quote changed in the line before the last"
damage 3 crc
refused 3 "CRC mismatch" "one digit of line 3's CRC changed"
damage 5 drop
refused 5 "sequence number" "line 5 deleted"
# the last line, complete (it ends with its newline) but damaged: that is
# damage, not a write that never finished — refused too
damage "$cn" digit
refused "$cn" "CRC mismatch" "one byte changed in the last, complete line"

# the last line with NUL bytes where its pages never reached the disk
# (power lost before the fdatasync returned): a torn write, dropped
damage "$cn" nul
rb status "$cid"
expect_rc 0 "a last line holding NUL bytes is a torn write: status works"
rb resume "$cid"
expect_rc 0 "… and resume goes on"
err_has "journal.jsonl:$cn: dropped a torn last record"
check "… running what was left" test "$(cat "$T/c-marker")" = "$(printf 'one\nthree')"
jvalid "… and the journal is valid again" "$cj"
printf 'one\n' >"$T/c-marker"
cp "$T/c-pristine.jsonl" "$cj"

damage 4 digit
rb resume
expect_rc 2 "resume without a run id does not pick the corrupt run"
check "resume without a run id ran nothing" test "$(cat "$T/c-marker")" = one
rb status
expect_rc 0 "status still lists the runs"
check "the corrupt run is listed as unreadable" grep -Eq "^$cid .* unreadable" "$out"

cp "$T/c-pristine.jsonl" "$cj"
rb resume "$cid"
expect_rc 0 "the same journal undamaged: resume goes on"
check "and step three ran" test "$(cat "$T/c-marker")" = "$(printf 'one\nthree')"
jvalid "the resumed journal is valid" "$cj"

# ---------------------------------------------------------------------------
# 5. An empty journal, and one that is only a torn first line
# ---------------------------------------------------------------------------
cat >"$T/e.yml" <<'EOF2'
runbook: empty
params:
  dir: { required: true }
steps:
  - id: one
    run: echo one >> {{ dir }}/e-marker
  - id: gate
    run: test -e {{ dir }}/e-go
EOF2
rb run "$T/e.yml" -p dir="$T"
expect_rc 1 "a run that stops"
erd=$(run_dir_of empty)
eid=$(basename "${erd:-none}")
touch "$T/e-go"
: >"$erd/journal.jsonl"
rb status "$eid"
expect_rc 2 "an empty journal: status exits 2"
err_has "journal.jsonl: the journal holds no complete record"
rb resume "$eid"
expect_rc 2 "an empty journal: resume exits 2"
err_has "journal.jsonl: the journal holds no complete record"
check "an empty journal: nothing ran" test "$(cat "$T/e-marker")" = one
check "an empty journal stays empty" test ! -s "$erd/journal.jsonl"
printf '{"seq":1,"time":"2026-01-01T00:00:00.000Z","event":"run_st' >"$erd/journal.jsonl"
rb status "$eid"
expect_rc 2 "a journal that is one torn line: status exits 2"
err_has "the journal holds no complete record"
rb resume "$eid"
expect_rc 2 "a journal that is one torn line: resume exits 2"
check "a journal that is one torn line: nothing ran" test "$(cat "$T/e-marker")" = one

# ---------------------------------------------------------------------------
# 6. Bytes that are not UTF-8 — in a capture, in a step's stdout, in a
#    param — come back from the journal exactly on resume
# ---------------------------------------------------------------------------
cat >"$T/nb.yml" <<'EOF2'
runbook: bytes
params:
  dir: { required: true }
  tag: { required: true }
steps:
  - id: cap
    run: printf 'val=a\377b\303\251c\n'
    capture: { v: 'val=(.*)' }
  - id: gate
    run: test -e {{ dir }}/nb-go
  - id: use
    run: |
      printf '%s' {{ v }} > {{ dir }}/nb-capture.bin
      printf '%s' {{ steps.cap.stdout }} > {{ dir }}/nb-stdout.bin
      printf '%s' {{ tag }} > {{ dir }}/nb-tag.bin
EOF2
rb run "$T/nb.yml" -p dir="$T" -p tag="$(printf 'x\377y\200z')"
expect_rc 1 "a run that captured bytes that are not UTF-8 stops at its gate"
nrd=$(run_dir_of bytes)
nid=$(basename "${nrd:-none}")
check "the journal writes the byte as the lone surrogate \\udcff" grep -qF '"captures":{"v":"a\udcffb' "$nrd/journal.jsonl"
py_check "read with surrogateescape, the journal gives the exact bytes back" - "$nrd/journal.jsonl" <<'EOF2'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], 'rb').read().decode('utf-8').splitlines()]
end = [r for r in recs if r['event'] == 'step_end' and r['step'] == 'cap'][0]
assert end['captures']['v'].encode('utf-8', 'surrogateescape') == b'a\xffb\xc3\xa9c', end
tag = [p for p in recs[0]['params'] if p['name'] == 'tag'][0]
assert tag['value'].encode('utf-8', 'surrogateescape') == b'x\xffy\x80z', tag
EOF2
touch "$T/nb-go"
rb resume "$nid"
expect_rc 0 "the run resumes"
printf 'a\377b\303\251c' >"$T/want-capture.bin"
printf 'val=a\377b\303\251c' >"$T/want-stdout.bin"
printf 'x\377y\200z' >"$T/want-tag.bin"
check "the capture survived the resume byte for byte" cmp "$T/want-capture.bin" "$T/nb-capture.bin"
check "steps.cap.stdout survived the resume byte for byte" cmp "$T/want-stdout.bin" "$T/nb-stdout.bin"
check "the param survived the resume byte for byte" cmp "$T/want-tag.bin" "$T/nb-tag.bin"
jvalid "the journal with raw bytes is valid after the resume" "$nrd/journal.jsonl"
