#!/bin/sh
# tests/bench/ssh.sh — part of `make bench` (called at the end of
# tests/bench/run.sh): 100 trivial steps over SSH to a loopback OpenSSH
# server started with the test harness (tests/sshd.sh), four ways:
#
#  (a) ssh, a new connection per step: 100 x `ssh ... host true`
#  (b) ssh over a ControlMaster connection (the master is started first and
#      not counted), then 100 x `ssh ... host true` through it
#  (c) ansible-playbook, 100 `ansible.builtin.command: "true"` tasks,
#      gather_facts: false, once with pipelining on and once off
#  (d) runbook run, a runbook of 100 `run: 'true'` steps on an inventory
#      host: the total / 100, and the marginal cost of a step
#      ((100-step run - 1-step run) / 99), since runbook connects once
#
# Every method logs in as the same user.  As root that is a dedicated
# user, runbook-bench, with /bin/sh as its login shell (created here when
# missing): root's own login shell may read startup files on every
# command (here: bash and a .bashrc that runs `pyenv init`, ~80 ms), which
# would swamp every figure.  The clients (ssh, ansible, runbook) run as
# the invoking user, with HOME in the sandbox.  As any other user, that
# user logs in as itself, and its login shell's startup files are part of
# every figure (a note says so).
#
# Host keys are checked against the sandbox's known_hosts by every method,
# ansible included (host_key_checking on, StrictHostKeyChecking=yes).
# Ansible keeps its defaults otherwise (ssh with its ControlPersist master,
# the default stdout callback) but for its interpreter, named
# (/usr/bin/python3: no discovery), and its folders: ANSIBLE_HOME, the
# local and the remote temp in the sandbox.  Its master is closed after
# each run, so every timed run of every method starts without a
# connection.  runbook runs with -q, its state folder in the sandbox.
#
# Each figure is the median of BENCH_SSH_RUNS timed runs (default 3), after
# an untimed warm-up (one connection for (a), one pass of the loop for (b),
# a 1-task playbook for (c), a 1-step run for (d)); ansible has its own
# BENCH_SSH_ANSIBLE_RUNS, default 2 (the median of two is their mean):
# with 3, the bench took 2m45s to 3m on a 2-CPU VM, ~100 s of it ansible
# and ~60 s a new ssh connection per step; with 2, about 2m15s.  Prints
# ms per step (3 significant digits) and the ratios to runbook.  A missing
# sshd, ssh, ssh-keygen, ansible-playbook or python3 skips with one line
# and exit 0; a method that fails exits 1.
set -u
STEPS=100
RUNS=${BENCH_SSH_RUNS:-3}
# ansible: 2 runs (their mean) unless told, to stay under 3 minutes
ARUNS=${BENCH_SSH_ANSIBLE_RUNS:-2}
BENCH_USER=runbook-bench

skip() {
	echo "bench ssh: skipped: $1"
	exit 0
}
SSHD=${SSHD:-/usr/sbin/sshd}
[ -x "$SSHD" ] || skip "no sshd ($SSHD; openssh-server)"
for _t in ssh ssh-keygen ansible-playbook python3; do
	command -v "$_t" >/dev/null 2>&1 || skip "no $_t"
done

. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_skip_all() { skip "$1"; }
if [ ! -x "$RUNBOOK" ]; then
	echo "bench ssh: $RUNBOOK is missing: run make first" >&2
	exit 2
fi

# --- cleanup: ControlMasters, then the servers, then the sandbox ------------
# (this replaces the EXIT trap of tests/sshd.sh, and does what it does)
cm_pid=
close_masters() { # $1: a folder of ControlMaster sockets
	for _s in "$1"/*; do
		[ -S "$_s" ] && ssh -F /dev/null -o ControlPath="$_s" -O exit bench >/dev/null 2>&1
	done
	return 0
}
cleanup() {
	if [ -n "$cm_pid" ]; then
		ssh -F /dev/null -o ControlPath="$T/cm/master" -O exit bench >/dev/null 2>&1
		kill "$cm_pid" 2>/dev/null
		wait "$cm_pid" 2>/dev/null
	fi
	[ -d "$T/ansible/cp" ] && close_masters "$T/ansible/cp"
	command -v sshd_agent_stop >/dev/null 2>&1 && sshd_agent_stop # as tests/sshd.sh's own trap
	for _p in "$T"/ssh/*.conf; do [ -e "$_p" ] && sshd_stop "$(basename "$_p" .conf)"; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() {
	echo "bench ssh: $1" >&2
	[ $# -gt 1 ] && [ -s "$2" ] && sed 's/^/  /' "$2" | tail -30 >&2
	exit 1
}

# --- the login user ------------------------------------------------------------
note=
note2=
if [ "$(id -u)" = 0 ]; then
	if ! getent passwd "$BENCH_USER" >/dev/null 2>&1; then
		command -v useradd >/dev/null 2>&1 || skip "no useradd to create the $BENCH_USER user"
		useradd -m -s /bin/sh "$BENCH_USER" || skip "cannot create the $BENCH_USER user"
	fi
	if [ "$(getent passwd "$BENCH_USER" | cut -d: -f7)" != /bin/sh ]; then
		usermod -s /bin/sh "$BENCH_USER" || skip "cannot give $BENCH_USER the login shell /bin/sh"
	fi
	# unlocked (sshd refuses a "!" password with UsePAM no) but passwordless
	if [ "$(getent shadow "$BENCH_USER" | cut -d: -f2)" != '*' ]; then
		usermod -p '*' "$BENCH_USER" || skip "cannot unlock the $BENCH_USER user"
	fi
	LOGIN_USER=$BENCH_USER
else
	LOGIN_USER=$(id -un)
	note="note: not root, so logging in as $LOGIN_USER: its login shell's startup files are in every figure"
fi
LOGIN_SHELL=$(getent passwd "$LOGIN_USER" | cut -d: -f7)

# --- the server --------------------------------------------------------------
sshd_setup
# shellcheck disable=SC2034 # sshd_inventory writes it
SSH_USER=$LOGIN_USER
sshd_start h1 || skip "sshd did not start (see above)"
sshd_pin h1
PORT=$(sshd_port h1)
# sshd reads AuthorizedKeysFile as the login user; what that user writes
# (runbook's state_dir, ansible's remote_tmp) is made its own
chmod 711 "$T" "$T/ssh"
chmod 644 "$T/ssh/authorized_keys"
mkdir -p "$T/remote-h1" "$T/ansible-remote" "$T/cm" "$T/ansible/tmp" "$T/ansible/cp"
if [ "$LOGIN_USER" != "$(id -un)" ]; then
	chown "$LOGIN_USER" "$T/remote-h1" "$T/ansible-remote" || fail "cannot chown to $LOGIN_USER"
fi

KH=$HOME/.ssh/known_hosts
# ssh takes ~ from the password database, not $HOME: every file is named
SSH="ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i $SSH_KEY -o UserKnownHostsFile=$KH"
SSH="$SSH -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o LogLevel=ERROR"
SSH="$SSH -p $PORT -l $LOGIN_USER"

# --- timing helpers ------------------------------------------------------------
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'; }
median() { # numbers as arguments
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
sig3() { # 3 significant digits
	awk -v x="$1" 'BEGIN { a = x < 0 ? -x : x
		if (a >= 100) printf "%.0f", x; else if (a >= 10) printf "%.1f", x
		else if (a >= 1) printf "%.2f", x; else if (a >= 0.1) printf "%.3f", x; else printf "%.3g", x }'
}
per() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.4f", t / n }'; }

# --- (a) ssh, a new connection per step ----------------------------------------
ssh_loop() { # $@: extra ssh options
	_i=0
	while [ $_i -lt $STEPS ]; do
		$SSH "$@" 127.0.0.1 true </dev/null >>"$T/ssh.out" 2>&1 || return 1
		_i=$((_i + 1))
	done
}
$SSH 127.0.0.1 true </dev/null >"$T/ssh.out" 2>&1 || fail "ssh to the loopback sshd failed:" "$T/ssh.out"
samples=
r=0
while [ $r -lt "$RUNS" ]; do
	t0=$(now)
	ssh_loop || fail "ssh (new connection) failed:" "$T/ssh.out"
	t1=$(now)
	samples="$samples $(ms "$t0" "$t1")"
	r=$((r + 1))
done
# shellcheck disable=SC2086
t_new=$(median $samples)

# --- (b) ssh over a ControlMaster ----------------------------------------------
CM="$T/cm/master"
$SSH -M -N -o ControlPath="$CM" -o ControlPersist=no 127.0.0.1 </dev/null >"$T/cm.out" 2>&1 &
cm_pid=$!
_w=0
until $SSH -o ControlPath="$CM" -O check 127.0.0.1 >/dev/null 2>&1; do
	_w=$((_w + 1))
	[ $_w -lt 200 ] && ! gone "$cm_pid" || fail "the ControlMaster did not start:" "$T/cm.out"
	sleep 0.05
done
ssh_loop -o ControlPath="$CM" -o ControlMaster=no || fail "ssh (ControlMaster) failed:" "$T/ssh.out"
samples=
r=0
while [ $r -lt "$RUNS" ]; do
	t0=$(now)
	ssh_loop -o ControlPath="$CM" -o ControlMaster=no || fail "ssh (ControlMaster) failed:" "$T/ssh.out"
	t1=$(now)
	samples="$samples $(ms "$t0" "$t1")"
	r=$((r + 1))
done
# shellcheck disable=SC2086
t_cm=$(median $samples)
$SSH -o ControlPath="$CM" -O exit 127.0.0.1 >/dev/null 2>&1
kill "$cm_pid" 2>/dev/null
wait "$cm_pid" 2>/dev/null
cm_pid=

# --- (c) ansible-playbook -----------------------------------------------------------
A=$T/ansible
export ANSIBLE_CONFIG="$A/ansible.cfg" ANSIBLE_HOME="$A" ANSIBLE_LOCAL_TEMP="$A/tmp"
export ANSIBLE_REMOTE_TEMP="$T/ansible-remote" ANSIBLE_SSH_CONTROL_PATH_DIR="$A/cp"
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_HOST_KEY_CHECKING=True
# A server that does not run as root cannot hand out a terminal (it fails
# to chown the pty), and ansible asks for one (ssh -tt) to run a module
# without pipelining: then it is told not to.
usetty=True
if [ "$(id -u)" != 0 ]; then
	usetty=False
	note2="note: ansible without pipelining runs with usetty = False (this sshd, not root, cannot give a pty)"
fi
cat >"$A/ansible.cfg" <<EOF
[defaults]
home = $A
local_tmp = $A/tmp
remote_tmp = $T/ansible-remote
host_key_checking = True
retry_files_enabled = False
interpreter_python = /usr/bin/python3
[ssh_connection]
control_path_dir = $A/cp
usetty = $usetty
EOF
cat >"$A/inventory.yml" <<EOF
all:
  hosts:
    h1:
      ansible_host: 127.0.0.1
      ansible_port: $PORT
      ansible_user: $LOGIN_USER
      ansible_ssh_private_key_file: $SSH_KEY
      ansible_ssh_common_args: >-
        -F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=$KH
        -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes
      ansible_python_interpreter: /usr/bin/python3
EOF
playbook() { # $1: tasks, $2: file
	{
		echo "- hosts: h1"
		echo "  gather_facts: false"
		echo "  tasks:"
		_i=0
		while [ $_i -lt "$1" ]; do
			echo '    - ansible.builtin.command: "true"'
			_i=$((_i + 1))
		done
	} >"$2"
}
playbook 1 "$A/one.yml"
playbook $STEPS "$A/steps.yml"
ansible_run() { # $1: True/False, $2: playbook
	ANSIBLE_PIPELINING=$1 ansible-playbook -i "$A/inventory.yml" "$2" </dev/null >"$A/out" 2>&1
	_st=$?
	close_masters "$A/cp"
	[ $_st = 0 ] && grep -q 'failed=0' "$A/out"
}
for pipe in True False; do
	ansible_run $pipe "$A/one.yml" || fail "ansible-playbook (pipelining $pipe) failed:" "$A/out"
	samples=
	r=0
	while [ $r -lt "$ARUNS" ]; do
		t0=$(now)
		ANSIBLE_PIPELINING=$pipe ansible-playbook -i "$A/inventory.yml" "$A/steps.yml" </dev/null >"$A/out" 2>&1
		st=$?
		t1=$(now)
		close_masters "$A/cp"
		[ $st = 0 ] && grep -q "ok=$STEPS .*failed=0" "$A/out" ||
			fail "ansible-playbook (pipelining $pipe) failed:" "$A/out"
		samples="$samples $(ms "$t0" "$t1")"
		r=$((r + 1))
	done
	# shellcheck disable=SC2086
	eval "t_ans_$pipe=\$(median $samples)"
done

# --- (d) runbook ----------------------------------------------------------------------
sshd_inventory "$T/inventory.yml" h1
runbook_file() { # $1: steps, $2: file
	{
		echo "runbook: bench-ssh-$1"
		echo "description: $1 trivial steps on an SSH host"
		echo "steps:"
		_i=1
		while [ $_i -le "$1" ]; do
			printf "  - id: s%d\n    run: 'true'\n" $_i
			_i=$((_i + 1))
		done
	} >"$2"
}
runbook_file 1 "$T/one.yml"
runbook_file $STEPS "$T/steps.yml"
rb_run() { "$RUNBOOK" run -q -i "$T/inventory.yml" -t h1 "$1" </dev/null >"$T/rb.out" 2>&1; }
rb_run "$T/one.yml" || fail "runbook (1 step) failed:" "$T/rb.out"
s1=
s100=
r=0
while [ $r -lt "$RUNS" ]; do # interleaved, so that drift hits both alike
	t0=$(now)
	rb_run "$T/one.yml" || fail "runbook (1 step) failed:" "$T/rb.out"
	t1=$(now)
	rb_run "$T/steps.yml" || fail "runbook ($STEPS steps) failed:" "$T/rb.out"
	t2=$(now)
	s1="$s1 $(ms "$t0" "$t1")"
	s100="$s100 $(ms "$t1" "$t2")"
	r=$((r + 1))
done
# shellcheck disable=SC2086
t_rb1=$(median $s1)
# shellcheck disable=SC2086
t_rb=$(median $s100)

# --- the figures ------------------------------------------------------------------------
p_new=$(per "$t_new" $STEPS)
p_cm=$(per "$t_cm" $STEPS)
# shellcheck disable=SC2154
p_aon=$(per "$t_ans_True" $STEPS)
# shellcheck disable=SC2154
p_aoff=$(per "$t_ans_False" $STEPS)
p_rb=$(per "$t_rb" $STEPS)
p_rbm=$(awk -v a="$t_rb" -v b="$t_rb1" -v n="$STEPS" 'BEGIN { printf "%.4f", (a - b) / (n - 1) }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%s", a / b; else printf "0" }'; }
row() { printf '  %-52s %8s ms/step\n' "$1" "$(sig3 "$2")"; }
rrow() {
	printf '  %-32s %10s %10s\n' "$1" "$(sig3 "$(ratio "$2" "$p_rb")")x" "$(sig3 "$(ratio "$2" "$p_rbm")")x"
}

echo "ssh benchmark: $STEPS steps of \`true\` on a loopback sshd ($(ssh -V 2>&1 | cut -d, -f1))"
echo "  login user $LOGIN_USER, login shell $LOGIN_SHELL; clients run as $(id -un)"
[ -n "$note" ] && echo "  $note"
[ -n "$note2" ] && echo "  $note2"
if [ "$ARUNS" -lt 3 ]; then
	aruns="ansible: $ARUNS, to stay under 3 min; BENCH_SSH_ANSIBLE_RUNS=3 for more"
else
	aruns="ansible: $ARUNS"
fi
echo "  median of $RUNS timed runs ($aruns); every method after an untimed warm-up"
row "ssh, a new connection per step" "$p_new"
row "ssh over a ControlMaster (master not counted)" "$p_cm"
row "ansible-playbook, pipelining on" "$p_aon"
row "ansible-playbook, pipelining off" "$p_aoff"
row "runbook run, total / $STEPS (connects once)" "$p_rb"
row "runbook run, marginal ((${STEPS}-step - 1-step) / $((STEPS - 1)))" "$p_rbm"
printf '  %-52s %8s ms\n' "  (runbook run of 1 step, total)" "$(sig3 "$t_rb1")"
printf '%-34s %10s %10s\n' "ratios, ms per step over runbook's:" "total/$STEPS" "marginal"
rrow "ansible (pipelining on)/runbook" "$p_aon"
rrow "ansible (pipelining off)/runbook" "$p_aoff"
rrow "ssh-new/runbook" "$p_new"
rrow "controlmaster/runbook" "$p_cm"
exit 0
