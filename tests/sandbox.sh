# tests/sandbox.sh — sourced after tests/lib.sh by the end-to-end tests of
# the stdlib modules and the shipped runbooks.  A sandbox is a folder that
# plays the target host: the runbook's paths point into it, and the
# commands that cannot exist on a test machine are the shims of
# tests/shims/, which keep their state in it (see tests/shims/_shim.sh).
#
#   sandbox NAME   makes $SB (=$T/sb) and $SHIM_STATE (=$SB/shim), runs
#                  tests/sandbox/NAME.sh (if any) to build the target's
#                  files, and renders tests/sandbox/NAME.yml (if any) into
#                  $INV (=$SB/inventory.yml): @SB@ becomes $SB, @TOP@ the
#                  repository.  The shims come first on PATH both in the
#                  inventory's env and in this shell.
#   inject RULE    adds a line to $SHIM_STATE/inject ("fail GLOB [MSG]",
#                  "failonce GLOB [MSG]", "hang GLOB")
#   uninject       removes every rule
#   called TEXT    passes when some call in calls.log contains TEXT
#   not_called TEXT
#   calls          prints calls.log
#   digest DIR...  one line per file/link/folder under DIRs (path, type,
#                  mode, content hash or link target), calls.log and the
#                  inject file left out: two equal digests = nothing changed
#   run_until_hang [--wait SECONDS] ARGS...  starts build/runbook ARGS in
#                  the background, waits (up to SECONDS, 30 unless given)
#                  until a shim hangs (an injected "hang": its pid in
#                  $SHIM_STATE/hanging), then kills runbook with SIGKILL and
#                  the hanging step's process group with it (a crash of the
#                  operator's machine); $rc is 137
#   kill_hanging   kills the process group of a shim that hangs, if any
#
# Real servers on loopback.  Each is stopped at exit, even on INT, TERM or
# HUP (starting or registering one makes those signals end the test):
#   (free_port is tests/lib.sh's)
#   redis_start NAME [ARGS...]  a redis-server (ARGS added to its options)
#                  on a free loopback port, its files in $T/redis/NAME (log,
#                  redis.pid); returns once it accepts connections; sets $port
#   redis_stop NAME  stops the server whose pid is in $T/redis/NAME/redis.pid
#                  (redis_start's, or one a test started itself) and waits
#                  until it has ended
#   redis_snapshot PORT PASSWORD DB  every key of database DB (PASSWORD
#                  "" for none), one line per key and part of its value (set
#                  members and hash fields one per line, so their order does
#                  not matter), and whether it expires — sorted, so two equal
#                  snapshots are two databases holding the same data (its
#                  work files: $T/snap.keys, .types, .values)
#   pg_need PROG   $PG_BIN: the bindir of the newest PostgreSQL installed
#                  (unless set), $PG_MAJ its major version; $T opened to the
#                  server (711).  Without PROG in $PG_BIN, or without the OS
#                  user postgres, the test is one "not ok" and ends.  Then
#                  as_pg, pg_init and pg_start of tests/pg.sh make clusters.
#   pg_stop_at_exit DIR...  the clusters in DIR... (made yet or not) are
#                  stopped (-m immediate) at exit
#
# Sourcing this file replaces tests/lib.sh's EXIT trap with sandbox_exit:
# sandbox_cleanup stops those servers (the pid files under $T/redis, the
# clusters of pg_stop_at_exit) and a step left hanging; a runbook still
# running in the background (lib.sh's start, $bgpid) is killed; $T is
# removed (kept with KEEP_T=1, to look into a failure).  A test that uses
# them and sets an EXIT trap of its own (or sources tests/sshd.sh, which
# does) calls sandbox_cleanup in that trap.
SHIMS="$TOP/tests/shims"
. "$TOP/tests/pg.sh"
_pg_at_exit=
sandbox_exit() {
	sandbox_cleanup
	# only while it is still a child of ours: a pid that finish reaped
	# may belong to another process by now
	if [ -n "${bgpid:-}" ] && [ "$(ps -o ppid= -p "$bgpid" 2>/dev/null | tr -d ' ')" = $$ ]; then
		kill -KILL "$bgpid" 2>/dev/null
		wait "$bgpid" 2>/dev/null
	fi
	[ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap sandbox_exit EXIT

sandbox() {
	SB="$T/sb"
	SHIM_STATE="$SB/shim"
	INV="$SB/inventory.yml"
	export SB SHIM_STATE INV
	mkdir -p "$SHIM_STATE"
	PATH="$SHIMS:$PATH"
	export PATH
	if [ -f "$TOP/tests/sandbox/$1.sh" ]; then
		sh "$TOP/tests/sandbox/$1.sh" "$SB" || { echo "Bail out! sandbox $1 failed"; exit 1; }
	fi
	if [ -f "$TOP/tests/sandbox/$1.yml" ]; then
		sed -e "s|@SB@|$SB|g" -e "s|@TOP@|$TOP|g" "$TOP/tests/sandbox/$1.yml" >"$INV"
	fi
}

inject() { printf '%s\n' "$*" >>"$SHIM_STATE/inject"; }
uninject() { rm -f "$SHIM_STATE/inject" "$SHIM_STATE/hanging"; }
calls() { cat "$SHIM_STATE/calls.log" 2>/dev/null; }
called() { check "called: $1" grep -qF -- "$1" "$SHIM_STATE/calls.log"; }
not_called() { check "not called: $1" sh -c '! grep -qF -- "$1" "$2" 2>/dev/null' _ "$1" "$SHIM_STATE/calls.log"; }

digest() {
	for _d in "$@"; do
		(cd "$_d" 2>/dev/null && find . -path ./shim/calls.log -prune -o -path ./shim/inject -prune -o \
			-path ./shim/hanging -prune -o -print | LC_ALL=C sort | while IFS= read -r _f; do
			if [ -L "$_f" ]; then
				printf '%s l %s\n' "$_f" "$(readlink "$_f")"
			elif [ -d "$_f" ]; then
				printf '%s d %s\n' "$_f" "$(stat -c %a "$_f")"
			else
				printf '%s f %s %s\n' "$_f" "$(stat -c %a "$_f")" "$(md5sum <"$_f" | cut -c1-32)"
			fi
		done)
	done
}

run_until_hang() {
	_limit=300
	if [ "${1:-}" = --wait ]; then
		_limit=$(($2 * 10))
		shift 2
	fi
	rm -f "$SHIM_STATE/hanging"
	${RUNBOOK_WRAP:-} "$RUNBOOK" "$@" >"$out" 2>"$err" </dev/null &
	_rb=$!
	_i=0
	while [ ! -s "$SHIM_STATE/hanging" ] && [ $_i -lt $_limit ] && kill -0 $_rb 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -9 $_rb 2>/dev/null
	# (bash reports the kill on stderr: not for the test's output)
	{ wait $_rb; } 2>/dev/null
	rc=$?
	# the step's process group outlives runbook, as on a real crash; end
	# it, or resume would (rightly) wait for it
	kill_hanging
	return 0
}

kill_hanging() {
	_pid=$(cat "${SHIM_STATE:-/nonexistent}/hanging" 2>/dev/null)
	_pg=$(ps -o pgid= -p "${_pid:-0}" 2>/dev/null | tr -d ' ')
	if [ -n "$_pg" ] && [ "$_pg" != "$(ps -o pgid= -p $$ | tr -d ' ')" ]; then
		kill -9 "-$_pg" 2>/dev/null # dash: no "--" before a negative pid
		_i=0
		while ! group_gone "$_pg" && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
	fi
	rm -f "${SHIM_STATE:-/nonexistent}/hanging"
}

# A port taken by someone else makes the server exit: another is tried.
# (repl-diskless-sync-delay 0: else the server waits 5 s for more replicas
# before it streams the snapshot of redis-cli --rdb)
redis_start() {
	_rdir=$T/redis/$1
	shift
	mkdir -p "$_rdir"
	trap 'exit 1' INT TERM HUP
	for _try in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		: >"$_rdir/log"
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --repl-diskless-sync-delay 0 \
			--dir "$_rdir" --logfile "$_rdir/log" --daemonize no "$@" >/dev/null 2>&1 &
		_pid=$!
		_i=0
		while kill -0 $_pid 2>/dev/null && ! grep -q 'Ready to accept connections' "$_rdir/log" &&
			[ $_i -lt 200 ]; do
			sleep 0.05
			_i=$((_i + 1))
		done
		if kill -0 $_pid 2>/dev/null && grep -q 'Ready to accept connections' "$_rdir/log"; then
			echo $_pid >"$_rdir/redis.pid"
			return 0
		fi
		kill $_pid 2>/dev/null
		wait $_pid 2>/dev/null
	done
	echo "Bail out! cannot start redis-server"
	exit 1
}

redis_stop() {
	[ -s "$T/redis/$1/redis.pid" ] || return 0
	_pid=$(cat "$T/redis/$1/redis.pid")
	kill "$_pid" 2>/dev/null
	_i=0
	while ! gone "$_pid" && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
	rm -f "$T/redis/$1/redis.pid"
}

# (redis-cli with PASSWORD, if any, through the environment)
_redis_cli() {
	_rpw=$1
	shift
	if [ -n "$_rpw" ]; then REDISCLI_AUTH=$_rpw redis-cli "$@"; else redis-cli "$@"; fi
}

redis_snapshot() {
	_p=$1 _a=$2 _db=$3
	: >"$T/snap.keys"
	_cur=0
	while :; do
		_r=$(_redis_cli "$_a" -p "$_p" -n "$_db" --csv SCAN "$_cur" COUNT 1000)
		printf '%s\n' "$_r" | awk -F '","' '{ for (i = 2; i <= NF; i++) { k = $i
			if (i == NF) k = substr(k, 1, length(k) - 1); print "\"" k "\"" } }' >>"$T/snap.keys"
		_cur=$(printf '%s\n' "$_r" | awk -F '","' '{ c = $1; gsub(/[^0-9]/, "", c); print c }')
		[ "$_cur" = 0 ] && break
	done
	sort -u -o "$T/snap.keys" "$T/snap.keys"
	awk '{ print "TYPE " $0 }' "$T/snap.keys" | _redis_cli "$_a" -p "$_p" -n "$_db" --csv >"$T/snap.types"
	paste -d ' ' "$T/snap.types" "$T/snap.keys" | awk '{ t = $1; k = substr($0, length($1) + 2)
		c["\"string\""] = "GET"; c["\"list\""] = "LRANGE"; c["\"set\""] = "SMEMBERS"
		c["\"zset\""] = "ZRANGE"; c["\"hash\""] = "HGETALL"; c["\"stream\""] = "XRANGE"
		a["\"list\""] = " 0 -1"; a["\"zset\""] = " 0 -1 WITHSCORES"; a["\"stream\""] = " - +"
		print c[t] " " k a[t]; print "PTTL " k }' |
		_redis_cli "$_a" -p "$_p" -n "$_db" --csv >"$T/snap.values"
	paste -d ' ' "$T/snap.types" "$T/snap.keys" | awk -v vals="$T/snap.values" '
		{ t = $1; k = substr($0, length($1) + 2)
		  getline v < vals; getline ttl < vals
		  if (t == "\"set\"" || t == "\"hash\"") {
			  sub(/^"/, "", v); sub(/"$/, "", v); n = split(v, e, "\",\"")
			  if (t == "\"set\"") for (i = 1; i <= n; i++) print k "\tset\t" e[i]
			  else for (i = 1; i < n; i += 2) print k "\thash\t" e[i] "=" e[i + 1]
		  } else print k "\t" t "\t" v
		  print k "\tttl\t" (ttl + 0 > 0 ? "expires" : ttl) }' | LC_ALL=C sort
}

pg_need() {
	PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
	if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/$1" ] || ! id postgres >/dev/null 2>&1; then
		echo "not ok 1 - the PostgreSQL server is not installed (Debian: apt-get install postgresql)"
		exit 0
	fi
	PG_MAJ=$("$PG_BIN/postgres" --version | sed -n 's/^postgres (PostgreSQL) \([0-9]*\).*/\1/p')
	chmod 711 "$T"
}

pg_stop_at_exit() {
	for _d in "$@"; do
		_pg_at_exit="$_pg_at_exit$_d
"
	done
	trap 'exit 1' INT TERM HUP
}

sandbox_cleanup() {
	kill_hanging
	for _f in "$T"/redis/*/redis.pid; do
		[ -s "$_f" ] && redis_stop "$(basename "$(dirname "$_f")")"
	done
	printf '%s' "$_pg_at_exit" | while IFS= read -r _d; do
		[ -f "$_d/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$_d" -m immediate -w stop >/dev/null 2>&1
	done
	return 0
}
