#!/bin/sh
# Install what `make` (build) or `make test` (test) needs from Debian's
# packages: with apt-get when root, with `sudo -n` when allowed, otherwise
# name the exact packages and fail.  Idempotent: installs only what is missing.
set -u
what=${1:-build}
need=""
have_pkg() { pkg-config --exists "$1" 2>/dev/null; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }
# PyYAML and jsonschema (t0520 validates the JSON Schemas with them), in
# Debian's python3 or the python3 on PATH, as the test looks for them
have_pymods() {
	for p in /usr/bin/python3 python3; do
		have_cmd "$p" && "$p" -c 'import yaml, jsonschema' >/dev/null 2>&1 && return 0
	done
	return 1
}

have_cmd cc || need="$need gcc"
have_cmd make || need="$need make"
have_cmd pkg-config || need="$need pkg-config"
have_pkg yaml-0.1 || need="$need libyaml-dev"
have_pkg libpcre2-8 || need="$need libpcre2-dev"
have_pkg libssh2 || need="$need libssh2-1-dev"
have_pkg libarchive || need="$need libarchive-dev"
have_pkg libcrypto || need="$need libssl-dev"
if [ "$what" = test ] || [ "$what" = bench ]; then
	have_cmd python3 || need="$need python3"
	have_cmd script || need="$need bsdutils"
fi
if [ "$what" = test ] || [ "$what" = bench ]; then
	# the SSH tests start their own sshd on loopback
	[ -x /usr/sbin/sshd ] || need="$need openssh-server"
	have_cmd ssh-keygen || need="$need openssh-client"
	have_cmd sudo || need="$need sudo"
	have_cmd pgrep || need="$need procps"
fi
if [ "$what" = test ]; then
	have_pymods || need="$need python3-yaml python3-jsonschema"
	# the stdlib and the shipped runbooks are tested against real git,
	# curl, rsync, openssl, Redis servers and PostgreSQL clusters the tests
	# start on loopback
	for c in git curl rsync openssl unzip; do have_cmd $c || need="$need $c"; done
	have_cmd redis-server || need="$need redis-server"
	have_cmd redis-cli || need="$need redis-tools"
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
fi
if [ "$what" = fuzz ]; then
	# libFuzzer and the sanitizers' runtime come with clang's compiler-rt
	have_cmd clang || need="$need clang"
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
		need="$need libclang-rt-dev"
fi
if [ "$what" = bench ]; then
	have_cmd hyperfine || need="$need hyperfine"
	have_cmd ansible-playbook || need="$need ansible-core"
	have_cmd zstd || need="$need zstd"
fi
[ -z "$need" ] && exit 0

if [ "$(id -u)" = 0 ]; then
	apt=""
elif sudo -n true 2>/dev/null; then
	apt="sudo -n"
else
	echo "runbook: missing packages:$need" >&2
	echo "runbook: install them with: sudo apt-get install -y$need" >&2
	exit 1
fi
echo "runbook: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
$apt apt-get update -qq >/dev/null || exit 1
# shellcheck disable=SC2086
$apt apt-get install -y -qq --no-install-recommends $need >/dev/null || exit 1
