#!/bin/sh
# t0630 — authentication and ~/.ssh/config.  Each part lets the server
# accept only the key under test, so a pass proves that key was used:
# ssh-agent (a key away from the default paths, no identity in the
# inventory); a passphrase-protected identity (RUNBOOK_SSH_PASSPHRASE;
# without it and without a terminal, and with a wrong one: a clear
# refusal, exit 5, no hang, the passphrase never shown); the ssh config
# at $RUNBOOK_SSH_CONFIG (HostName, Port, User, IdentityFile for an alias
# used as an inventory address or as the host's name; the first value
# wins, as in OpenSSH; inventory fields win over the config).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sshd.sh"
sshd_setup
sshd_start a1 127.0.0.4 || sshd_skip_all "sshd did not start"
sshd_pin a1
PORT=$(sshd_port a1)
D=$T/d
mkdir -p "$D"

rbk=$(file touch.yml <<'EOF2'
runbook: ssh-auth
params:
  dir: { required: true }
  mark: { required: true }
steps:
  - id: remote
    run: touch {{ dir }}/{{ mark }}
EOF2
)

# --- 1. ssh-agent ------------------------------------------------------------
mkdir -p "$T/keys"
ssh-keygen -q -t ed25519 -N '' -C agent -f "$T/keys/agent_key"
sshd_authorize "$T/keys/agent_key.pub"
sshd_inventory "$T/inv.yml" a1
if sshd_agent && ssh-add -q "$T/keys/agent_key" 2>/dev/null; then
	rb run "$rbk" --inventory "$T/inv.yml" --target a1 -p dir="$D" -p mark=agent
	expect_rc 0 "ssh-agent: a key only the agent holds logs in"
	check "ssh-agent: the step ran" test -e "$D/agent"
	(unset SSH_AUTH_SOCK; rb run "$rbk" --inventory "$T/inv.yml" --target a1 -p dir="$D" -p mark=noagent; echo "$rc" >"$T/rc")
	rc=$(cat "$T/rc")
	expect_rc 5 "without SSH_AUTH_SOCK the same inventory is refused (so the agent did it)"
	check "without the agent: nothing ran" test ! -e "$D/noagent"
	check "without the agent: the message names what was tried" grep -q "$SSH_KEY" "$err"
else
	_n=$((_n + 1))
	echo "ok $_n - # SKIP ssh-agent could not start"
fi
sshd_agent_stop
unset SSH_AUTH_SOCK

# --- 2. a passphrase-protected identity -----------------------------------------
PASS='correct horse $ battery'
ssh-keygen -q -t ed25519 -N "$PASS" -C pp -f "$T/keys/pp_key"
sshd_authorize "$T/keys/pp_key.pub"
INV_EXTRA="identity: $T/keys/pp_key" sshd_inventory "$T/inv-pp.yml" a1
RUNBOOK_SSH_PASSPHRASE=$PASS rb run "$rbk" --inventory "$T/inv-pp.yml" --target a1 -p dir="$D" -p mark=pp
expect_rc 0 "a passphrase-protected identity opens with RUNBOOK_SSH_PASSPHRASE"
check "passphrase: the step ran" test -e "$D/pp"
check "the passphrase is not shown" sh -c '! grep -qF -- "$1" "$2" "$3"' _ "$PASS" "$out" "$err"
check "the passphrase is in no file of the run" sh -c '! grep -rqF -- "$1" "$2"' _ "$PASS" "$RUNBOOK_STATE_DIR"

t0=$(date +%s)
rb run "$rbk" --inventory "$T/inv-pp.yml" --target a1 -p dir="$D" -p mark=nopp
t1=$(date +%s)
expect_rc 5 "no passphrase and no terminal: refused, exit 5"
check "no passphrase: nothing ran" test ! -e "$D/nopp"
check "no passphrase: it did not wait for input" test $((t1 - t0)) -le 5
check "no passphrase: the message says the key needs a passphrase" grep -qi 'passphrase' "$err"
check "no passphrase: ... and names RUNBOOK_SSH_PASSPHRASE" grep -q 'RUNBOOK_SSH_PASSPHRASE' "$err"
err_has "$T/keys/pp_key"

RUNBOOK_SSH_PASSPHRASE='wrong passphrase 42' rb run "$rbk" --inventory "$T/inv-pp.yml" --target a1 -p dir="$D" -p mark=badpp
expect_rc 5 "a wrong passphrase: refused, exit 5"
check "wrong passphrase: nothing ran" test ! -e "$D/badpp"
check "wrong passphrase: the message says the passphrase does not open the key" grep -qi 'passphrase' "$err"
err_has "$T/keys/pp_key"
err_lacks "wrong passphrase 42"

# --- 3. ~/.ssh/config ($RUNBOOK_SSH_CONFIG) ----------------------------------------
ssh-keygen -q -t ed25519 -N '' -C cfg -f "$HOME/.ssh/cfg_key"
ssh-keygen -q -t ed25519 -N '' -C wrong -f "$T/keys/wrong_key"
sshd_authorize "$HOME/.ssh/cfg_key.pub"
CLOSED=$(sshd_closed_port 127.0.0.4)
cat >"$RUNBOOK_SSH_CONFIG" <<EOF2
# the operator's ssh config
Host myalias
    HostName 127.0.0.4
    Port $PORT
    User $SSH_USER
    IdentityFile ~/.ssh/cfg_key

Host badalias
    HostName 127.0.0.4
    Port $CLOSED
    User nosuchuser
    IdentityFile $T/keys/wrong_key

Host *
    User nobody-at-all
    Port $CLOSED
EOF2
cat >"$T/inv-alias.yml" <<EOF2
hosts:
  viaaddr: { address: myalias }
  myalias: { transport: ssh }
  over: { address: badalias, port: $PORT, user: $SSH_USER, identity: $HOME/.ssh/cfg_key }
EOF2
rb plan "$rbk" --inventory "$T/inv-alias.yml" --target viaaddr -p dir="$D" -p mark=x
expect_rc 0 "plan with a config alias"
out_has "ssh $SSH_USER@127.0.0.4:$PORT"

rb run "$rbk" --inventory "$T/inv-alias.yml" --target viaaddr -p dir="$D" -p mark=viaaddr
expect_rc 0 "config: an inventory address that is a Host alias connects (HostName, Port, User, IdentityFile ~/…)"
check "config alias as address: the step ran" test -e "$D/viaaddr"

rb run "$rbk" --inventory "$T/inv-alias.yml" --target myalias -p dir="$D" -p mark=byname
expect_rc 0 "config: a host named like the alias, transport ssh, connects"
check "config alias as name: the step ran" test -e "$D/byname"

rb run "$rbk" --inventory "$T/inv-alias.yml" --target over -p dir="$D" -p mark=over
expect_rc 0 "config: the inventory's port, user and identity win over the config's"
check "inventory over config: the step ran" test -e "$D/over"
