# tests/sshd.sh — sourced after tests/lib.sh by the SSH tests: real OpenSSH
# servers on loopback, each with its own host key, all accepting one user
# key generated for the test.  Nothing outside $T is touched: HOME is
# moved into the sandbox, so ~/.ssh/known_hosts, ~/.ssh/config and the
# default identities are the test's own.
#
#   sshd_setup                  keys, HOME=$T/home, $SSH_USER, $SSH_KEY
#   sshd_start NAME [ADDR]      starts a server (ADDR default 127.0.0.1) on
#                               a free port: $SSHD_PORT; its pid is in
#                               $T/ssh/NAME.pid, its log $T/ssh/NAME.log
#   sshd_stop NAME              kills the server and every session of it
#   sshd_drop NAME              kills its connections, keeps it listening
#   sshd_port NAME              prints the server's port
#   sshd_fingerprint NAME       prints its host key's SHA256 fingerprint
#   sshd_pin NAME               pins its key in ~/.ssh/known_hosts
#   sshd_inventory FILE NAME... writes an inventory with these hosts
#                               (extra host fields from $INV_EXTRA)
#   sshd_skip_all REASON        when no sshd can run: one "ok # skip" line
#   sshd_authorize PUB...       the servers accept exactly these public keys
#                               (default: $SSH_KEY.pub)
#   sshd_closed_port [ADDR]     prints a port nothing listens on
#   sshd_agent                  starts ssh-agent on $T/agent.sock, exports
#                               SSH_AUTH_SOCK (stopped at exit)
#   sshd_gone PATTERN [SECS]    waits (default 5 s) until no process's
#                               command line matches PATTERN (pgrep -f)
SSHD=${SSHD:-/usr/sbin/sshd}

sshd_skip_all() {
	echo "ok 1 # skip $1"
	exit 0
}

sshd_setup() {
	[ -x "$SSHD" ] || sshd_skip_all "no sshd (openssh-server) on this machine"
	command -v ssh-keygen >/dev/null || sshd_skip_all "no ssh-keygen"
	mkdir -p "$T/ssh" "$T/home/.ssh"
	chmod 700 "$T/home" "$T/home/.ssh"
	export HOME="$T/home"
	unset SSH_AUTH_SOCK
	export RUNBOOK_SSH_CONFIG="$HOME/.ssh/config"
	SSH_USER=$(id -un)
	SSH_KEY="$HOME/.ssh/id_ed25519"
	ssh-keygen -q -t ed25519 -N '' -C runbook-test -f "$SSH_KEY" || sshd_skip_all "ssh-keygen failed"
	cp "$SSH_KEY.pub" "$T/ssh/authorized_keys"
	chmod 600 "$T/ssh/authorized_keys"
	# sshd wants its privilege separation folder when started as root
	if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi
}

sshd_start() {
	_name=$1
	_addr=${2:-127.0.0.1}
	_d="$T/ssh"
	[ -f "$_d/$_name.key" ] || ssh-keygen -q -t ed25519 -N '' -C "$_name" -f "$_d/$_name.key"
	_tries=0
	while [ $_tries -lt 5 ]; do
		_tries=$((_tries + 1))
		SSHD_PORT=$(free_port "$_addr")
		cat >"$_d/$_name.conf" <<EOF
ListenAddress $_addr:$SSHD_PORT
HostKey $_d/$_name.key
PidFile $_d/$_name.pid
AuthorizedKeysFile $_d/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 100:30:200
MaxSessions 100
ClientAliveInterval 0
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
		rm -f "$_d/$_name.pid"
		"$SSHD" -f "$_d/$_name.conf" -E "$_d/$_name.log" 2>>"$_d/$_name.log"
		_w=0
		while [ $_w -lt 100 ] && [ ! -s "$_d/$_name.pid" ]; do
			sleep 0.05
			_w=$((_w + 1))
		done
		if [ -s "$_d/$_name.pid" ]; then
			echo "$SSHD_PORT" >"$_d/$_name.port"
			echo "$_addr" >"$_d/$_name.addr"
			return 0
		fi
	done
	echo "# sshd $_name did not start:" >&2
	sed 's/^/#   /' "$_d/$_name.log" >&2
	return 1
}

sshd_port() { cat "$T/ssh/$1.port"; }

# The sshd processes under PID (per-connection monitors and sessions),
# not the commands they run: killing them drops the connections the way a
# crashed server or a dead network does, and the commands live on.
_sshd_tree() (
	# a subshell: the recursion must not share the loop variable
	for _c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		_sshd_tree "$_c"
		[ "$(ps -o comm= -p "$_c" 2>/dev/null)" = sshd ] && echo "$_c"
	done
)

# Kills the listener and every connection it serves.
sshd_stop() {
	_d="$T/ssh"
	if [ -s "$_d/$1.pid" ]; then
		_lp=$(cat "$_d/$1.pid")
		# shellcheck disable=SC2046
		kill -KILL $(_sshd_tree "$_lp") "$_lp" 2>/dev/null
	fi
	rm -f "$_d/$1.pid"
	return 0
}

# Drops the connections of a server but keeps it listening.
sshd_drop() {
	_lp=$(cat "$T/ssh/$1.pid")
	# shellcheck disable=SC2046
	kill -KILL $(_sshd_tree "$_lp") 2>/dev/null
	return 0
}

sshd_fingerprint() { ssh-keygen -lf "$T/ssh/$1.key.pub" | awk '{print $2}'; }

sshd_pin() {
	_addr=$(cat "$T/ssh/$1.addr")
	_port=$(cat "$T/ssh/$1.port")
	printf '[%s]:%s %s\n' "$_addr" "$_port" "$(cut -d' ' -f1,2 "$T/ssh/$1.key.pub")" >>"$HOME/.ssh/known_hosts"
}

sshd_inventory() {
	_f=$1
	shift
	echo "hosts:" >"$_f"
	for _h in "$@"; do
		printf '  %s: { address: %s, port: %s, user: %s, state_dir: %s%s }\n' "$_h" \
			"$(cat "$T/ssh/$_h.addr")" "$(cat "$T/ssh/$_h.port")" "$SSH_USER" "$T/remote-$_h" \
			"${INV_EXTRA:+, $INV_EXTRA}" >>"$_f"
	done
}

sshd_authorize() {
	[ $# -gt 0 ] || set -- "$SSH_KEY.pub"
	cat "$@" >"$T/ssh/authorized_keys"
	chmod 600 "$T/ssh/authorized_keys"
}

sshd_closed_port() { free_port "${1:-127.0.0.1}"; }

sshd_agent() {
	_a=$(ssh-agent -s -a "$T/agent.sock") || return 1
	_ap=$(printf '%s\n' "$_a" | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
	echo "$_ap" >"$T/ssh/agent.pid"
	SSH_AUTH_SOCK="$T/agent.sock"
	export SSH_AUTH_SOCK
}

sshd_agent_stop() {
	[ -s "$T/ssh/agent.pid" ] && kill "$(cat "$T/ssh/agent.pid")" 2>/dev/null
	rm -f "$T/ssh/agent.pid"
	return 0
}

sshd_gone() {
	_i=0
	_lim=$(( ${2:-5} * 20 ))
	while pgrep -f -- "$1" >/dev/null 2>&1; do
		[ $_i -ge $_lim ] && return 1
		sleep 0.05
		_i=$((_i + 1))
	done
	return 0
}

# Stop every server (and agent) of this test at exit, before the sandbox goes.
trap 'sshd_agent_stop; for _p in "$T"/ssh/*.conf; do [ -e "$_p" ] && sshd_stop "$(basename "$_p" .conf)"; done; rm -rf "$T"' EXIT

# sshd_loglevel NAME LEVEL: sets the server's LogLevel (INFO logs one
# "Accepted publickey" line per authenticated connection).  The listener
# re-reads its config on SIGHUP (it re-executes itself: same pid, same
# port, connections in progress untouched); returns once it listens again.
sshd_loglevel() {
	_d="$T/ssh"
	sed -i "s/^LogLevel .*/LogLevel $2/" "$_d/$1.conf"
	_lp=$(cat "$_d/$1.pid")
	rm -f "$_d/$1.pid"
	kill -HUP "$_lp" || return 1
	_w=0
	while [ $_w -lt 100 ] && [ ! -s "$_d/$1.pid" ]; do
		sleep 0.05
		_w=$((_w + 1))
	done
	[ -s "$_d/$1.pid" ]
}

# sshd_logins NAME: how many connections the server has authenticated
# since its LogLevel was raised to INFO or more (sshd_loglevel)
sshd_logins() { grep -c 'Accepted publickey' "$T/ssh/$1.log"; }

# sshd_cut NAME: drops every connection of a server, keeping it listening:
# kills all the sshd processes under its listener (per-connection monitor,
# session, sftp subsystem), at any depth, while the commands they run live
# on — a dead network as the client sees it.  (sshd_drop misses the
# connection's own process when it has children: its recursion shares
# the loop variable.)
_sshd_tree_all() {
	for _c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		(_sshd_tree_all "$_c")
		[ "$(ps -o comm= -p "$_c" 2>/dev/null)" = sshd ] && echo "$_c"
	done
}
sshd_cut() {
	_lp=$(cat "$T/ssh/$1.pid")
	# shellcheck disable=SC2046
	kill -KILL $(_sshd_tree_all "$_lp") 2>/dev/null
	return 0
}

# sshd_listen_on NAME PORT: moves a server to another port of its address
# (e.g. 22, as root, to see how a pin on the default port is written);
# SIGHUP, as sshd_loglevel.  Fails if the server does not listen again.
sshd_listen_on() {
	_d="$T/ssh"
	sed -i "s/^ListenAddress .*/ListenAddress $(cat "$_d/$1.addr"):$2/" "$_d/$1.conf"
	_lp=$(cat "$_d/$1.pid")
	rm -f "$_d/$1.pid"
	kill -HUP "$_lp" || return 1
	_w=0
	while [ $_w -lt 100 ] && [ ! -s "$_d/$1.pid" ]; do
		sleep 0.05
		_w=$((_w + 1))
	done
	[ -s "$_d/$1.pid" ] || return 1
	echo "$2" >"$_d/$1.port"
}
