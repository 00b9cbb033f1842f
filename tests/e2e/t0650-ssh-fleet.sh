#!/bin/sh
# t0650 — a step on a group of SSH hosts (three sshd on 127.0.0.2/3/4,
# `groups: { app: [a, b, c] }`): one host after another by default (a
# trace file only appended to shows a's start and end before b's start,
# b's before c's), `parallel: 3` really at once (every start before any
# end: each host waits until the three have started), output lines
# prefixed `HOST | ` and live progress naming the host that finished,
# {{ host.name }} per host, one summary row per host; a serial failure on
# b leaves c untouched and the rollback undoes that step on a only; a
# parallel failure on b rolls back the hosts where the step completed;
# and a 20-step run (commands, sudo, checks, write/upload/download, the
# lock and the journal mirror) uses exactly one SSH connection per host.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start a 127.0.0.2 || sshd_skip_all "sshd did not start"
sshd_start b 127.0.0.3 || sshd_skip_all "sshd did not start"
sshd_start c 127.0.0.4 || sshd_skip_all "sshd did not start"
for h in a b c; do sshd_pin $h; done
inv=$T/inv.yml
sshd_inventory "$inv" a b c
echo "groups: { app: [a, b, c] }" >>"$inv"
D=$T/d
mkdir -p "$D"
trace=$D/trace
# line number of the first line of the trace equal to $1
at() { grep -nx -- "$1" "$trace" 2>/dev/null | head -1 | cut -d: -f1; }
before() { # LINE1 LINE2: both in the trace, LINE1 first
	_x=$(at "$1")
	_y=$(at "$2")
	[ -n "$_x" ] && [ -n "$_y" ] && [ "$_x" -lt "$_y" ]
}

rbk=$(file fleet.yml <<'EOF2'
runbook: fleet
target: app
params:
  dir: { required: true }
  failon: { default: none }
  par: { choices: ["serial", "parallel"], default: serial }
steps:
  - id: hello
    run: echo "hello from {{ host.name }}"; echo "hello {{ host.name }}" >> {{ dir }}/trace
    undo: echo "undo-hello {{ host.name }}" >> {{ dir }}/trace
  - id: serial
    when: par == "serial"
    run: |
      echo "start {{ host.name }}" >> {{ dir }}/trace
      sleep 0.3
      test {{ host.name }} != {{ failon }} || exit 9
      echo "end {{ host.name }}" >> {{ dir }}/trace
    undo: echo "undo-serial {{ host.name }}" >> {{ dir }}/trace
  - id: par
    when: par == "parallel"
    parallel: 3
    run: |
      echo "start {{ host.name }}" >> {{ dir }}/trace
      echo "line-one on {{ host.name }}"
      i=0
      while [ "$(grep -c '^start' {{ dir }}/trace)" -lt 3 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
      case {{ host.name }} in a) s=0.2 ;; b) s=0.5 ;; *) s=0.8 ;; esac
      sleep $s
      echo "line-two on {{ host.name }}"
      test {{ host.name }} != {{ failon }} || exit 9
      echo "end {{ host.name }}" >> {{ dir }}/trace
    undo: echo "undo-par {{ host.name }}" >> {{ dir }}/trace
  - id: last
    run: echo "last {{ host.name }}" >> {{ dir }}/trace
EOF2
)

# --- 1. serial (the default): one host after another --------------------------
rb run "$rbk" --inventory "$inv" -p dir="$D"
expect_rc 0 "a step on a group of three hosts, serial"
check "serial: a ends before b starts" before "end a" "start b"
check "serial: b ends before c starts" before "end b" "start c"
check "serial: every host ran the step" sh -c 'grep -qx "end a" "$1" && grep -qx "end b" "$1" && grep -qx "end c" "$1"' _ "$trace"
check "serial: the hosts in the group's order, {{ host.name }} per host" \
	test "$(grep '^hello ' "$trace" | tr '\n' ' ')" = "hello a hello b hello c "
out_has "a | hello from a"
out_has "b | hello from b"
out_has "c | hello from c"
for h in a b c; do
	check "the summary has a row for serial @$h" grep -Eq "^ *ok .* serial @$h( |$)" "$out"
done

# --- 2. parallel: 3 — at once -------------------------------------------------
# each host waits (up to 5 s) until all three have started, so every
# start comes before any end only if they really ran at the same time
rm -f "$trace"
start run "$rbk" --inventory "$inv" -p dir="$D" -p par=parallel
finish
expect_rc 0 "a step with parallel: 3"
for s in a b c; do
	for e in a b c; do
		check "parallel: start $s before end $e" before "start $s" "end $e"
	done
done
for h in a b c; do
	out_has "$h | line-one on $h"
	out_has "$h | line-two on $h"
	check "the summary has a row for par @$h" grep -Eq "^ *ok .* par @$h( |$)" "$out"
done
# a (started first) ends first, c (started last) ends last: each live
# "… ok" line must still name the host that finished
for h in a b c; do
	check "parallel: the live progress shows par @$h ending once, as itself" \
		test "$(grep -c "par @$h … ok" "$out")" = 1
done
check "parallel: no output line of one host carries another's prefix" \
	sh -c '! grep -E "^ *([abc]) \| line-.* on " "$1" | grep -Ev "^ *(a \| .* on a|b \| .* on b|c \| .* on c)$"' _ "$out"

# --- 3. serial failure on b: c never runs, only a's step is undone ---------------
rm -f "$trace"
rb run "$rbk" --inventory "$inv" -p dir="$D" -p failon=b
expect_rc 1 "serial: the step fails on b"
check "serial failure: c never started the step" sh -c '! grep -qx "start c" "$1"' _ "$trace"
check "serial failure: b started and did not end" sh -c 'grep -qx "start b" "$1" && ! grep -qx "end b" "$1"' _ "$trace"
check "serial failure: the failing step is undone on a only" test "$(grep '^undo-serial' "$trace" | tr '\n' ' ')" = "undo-serial a "
check "serial failure: the earlier step is undone on every host" \
	sh -c 'for h in a b c; do grep -qx "undo-hello $h" "$1" || exit 1; done' _ "$trace"
check "serial failure: on a, the failing step's undo before the earlier one's" before "undo-serial a" "undo-hello a"
check "serial failure: the last step ran nowhere" sh -c '! grep -q "^last" "$1"' _ "$trace"
check "the summary: serial @a ok" grep -Eq "^ *ok .* serial @a( |$)" "$out"
check "the summary: serial @b failed" grep -Eq "^ *failed .* serial @b( |$)" "$out"
check "the summary: serial @c not run" grep -Eq "^ *not run .* serial @c( |$)" "$out"
out_has "rolled back"

# --- 4. parallel failure on b: a and c finish, both are undone ----------------------
rm -f "$trace"
start run "$rbk" --inventory "$inv" -p dir="$D" -p par=parallel -p failon=b
finish
expect_rc 1 "parallel: the step fails on b"
check "parallel failure: a and c (already started) finished" sh -c 'grep -qx "end a" "$1" && grep -qx "end c" "$1"' _ "$trace"
check "parallel failure: the step is undone where it completed (a and c), not on b" \
	test "$(grep '^undo-par' "$trace" | sort | tr '\n' ' ')" = "undo-par a undo-par c "
check "parallel failure: the earlier step is undone on every host" \
	sh -c 'for h in a b c; do grep -qx "undo-hello $h" "$1" || exit 1; done' _ "$trace"
check "parallel failure: on c, the failing step's undo before the earlier one's" before "undo-par c" "undo-hello c"
check "parallel failure: the last step ran nowhere" sh -c '! grep -q "^last" "$1"' _ "$trace"
check "the summary: par @b failed" grep -Eq "^ *failed .* par @b( |$)" "$out"
check "the summary: par @a and par @c are listed" sh -c 'grep -Eq " par @a( |$)" "$1" && grep -Eq " par @c( |$)" "$1"' _ "$out"

# --- 5. one SSH connection per host for a 20-step run ----------------------------
# Counted on the servers' side: at LogLevel INFO sshd logs one "Accepted
# publickey for USER from ADDR port N" line per authenticated connection
# (never per channel), whatever the client multiplexes on it: commands,
# sudo, checks, SFTP, the remote lock and the journal mirror.  The log is
# read before and after the run, so connections of earlier parts of the
# test do not count.
for h in a b c; do
	sshd_loglevel $h INFO || echo "# sshd $h did not come back after SIGHUP" >&2
done
{
	cat <<'EOF2'
runbook: fleet-twenty
target: app
params:
  dir: { required: true }
steps:
EOF2
	i=1
	while [ $i -le 6 ]; do
		echo "  - { id: s$i, parallel: 3, run: 'echo $i >> {{ dir }}/twenty-{{ host.name }}' }"
		i=$((i + 1))
	done
	cat <<'EOF2'
  - { id: s7, sudo: true, parallel: 3, run: "id -u >> {{ dir }}/twenty-{{ host.name }}" }
  - { id: s8, parallel: 3, run: "true", check: "test -s {{ dir }}/twenty-{{ host.name }}" }
EOF2
	while [ $i -le 14 ]; do
		printf '  - { id: s%s, parallel: 3, write: { path: "{{ dir }}/w%s-{{ host.name }}", content: "{{ host.name }}\\n" } }\n' $((i + 2)) $i
		i=$((i + 1))
	done
	cat <<'EOF2'
  - { id: s17, parallel: 3, upload: { src: fleet.yml, dest: "{{ dir }}/up1-{{ host.name }}" } }
  - { id: s18, parallel: 3, upload: { src: fleet.yml, dest: "{{ dir }}/up2-{{ host.name }}" } }
  - { id: s19, parallel: 3, download: { src: "{{ dir }}/w14-{{ host.name }}", dest: "dl-{{ host.name }}" } }
  - { id: s20, sudo: true, parallel: 3, write: { path: "{{ dir }}/sw-{{ host.name }}", content: "x\n" } }
EOF2
} >"$T/twenty.yml"
for h in a b c; do sshd_logins $h >"$T/logins-$h"; done
t0=$(date +%s)
start run "$T/twenty.yml" --inventory "$inv" -p dir="$D"
finish
t1=$(date +%s)
expect_rc 0 "a 20-step run on the three hosts, parallel: 3 (commands, sudo, a check, 8 writes, 2 uploads, a download)"
# 20 steps of 3 hosts at once, each a few remote commands of ~0.1 s
check "the 20-step run took less than 20 s ($((t1 - t0)) s)" test $((t1 - t0)) -lt 20
check "the 20 steps ran on every host" \
	sh -c 'for h in a b c; do test "$(wc -l <"$1/twenty-$h")" = 7 && test "$(cat "$2/dl-$h")" = $h && test -e "$1/sw-$h" || exit 1; done' _ "$D" "$T"
# (sshd writes its log line as it accepts; give it a moment to flush)
sleep 0.2
for h in a b c; do
	n=$(( $(sshd_logins $h) - $(cat "$T/logins-$h") ))
	check "host $h: exactly one SSH connection for the whole run ($n)" test "$n" = 1
done
