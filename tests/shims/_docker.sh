# tests/shims/_docker.sh — containers and volumes, sourced by the docker
# and docker-compose shims (after _shim.sh).  The state layout is
# described in tests/shims/docker's header.
D_C=$SHIM_STATE/containers
D_V=$SHIM_STATE/volumes

# c_exists NAME: the container exists (it has a state file; a folder with
# config files only is a container that compose will create)
c_exists() { [ -f "$D_C/$1/state" ]; }
c_state() { cat "$D_C/$1/state" 2>/dev/null; }
c_id() { printf '%s' "$1" | md5sum | cut -c1-12; }
c_image() { cat "$D_C/$1/image" 2>/dev/null || echo "$1:latest"; }
c_has_health() { [ -f "$D_C/$1/health" ] || [ -f "$D_C/$1/healthcheck" ]; }

# the health as docker reports it now; while "starting" with a polls
# counter, each look counts down and the last one turns it into the
# healthcheck's final status
c_health() {
	_h=$(cat "$D_C/$1/health" 2>/dev/null)
	# seeded with a healthcheck and no health yet: up long enough to be FINAL
	if [ -z "$_h" ] && [ -f "$D_C/$1/healthcheck" ]; then
		_h=$(cut -d' ' -f2 "$D_C/$1/healthcheck")
		[ -n "$_h" ] || _h=healthy
	fi
	if [ "$_h" = starting ] && [ -f "$D_C/$1/polls" ]; then
		_p=$(cat "$D_C/$1/polls")
		_p=$((_p - 1))
		if [ "$_p" -le 0 ]; then
			rm -f "$D_C/$1/polls"
			_h=$(cut -d' ' -f2 "$D_C/$1/healthcheck" 2>/dev/null)
			[ -n "$_h" ] || _h=healthy
			printf '%s\n' "$_h" >"$D_C/$1/health"
		else
			printf '%s\n' "$_p" >"$D_C/$1/polls"
		fi
	fi
	printf '%s\n' "${_h:-}"
}

# what a start does to the health: a container with a healthcheck begins
# "starting" for N looks
c_health_reset() {
	if [ -f "$D_C/$1/healthcheck" ]; then
		_n=$(cut -d' ' -f1 "$D_C/$1/healthcheck")
		echo starting >"$D_C/$1/health"
		printf '%s\n' "${_n:-1}" >"$D_C/$1/polls"
	fi
}

c_set() { printf '%s\n' "$2" >"$D_C/$1/state"; }

# c_hook NAME start|stop: runs containers/NAME/on-start or on-stop when a
# test put one there (e.g. to start or stop a real redis-server that the
# container stands for), its output on stderr; a failing hook fails the
# command, as a container that cannot start would
c_hook() {
	[ -x "$D_C/$1/on-$2" ] || return 0
	"$D_C/$1/on-$2" >&2 || {
		echo "Error response from daemon: $1: the on-$2 hook failed" >&2
		exit 1
	}
}

c_start() {
	[ "$(c_state "$1")" = running ] && return 0
	c_hook "$1" start
	c_set "$1" running
	c_health_reset "$1"
	_s=$(cat "$D_C/$1/starts" 2>/dev/null || echo 0)
	echo $((_s + 1)) >"$D_C/$1/starts"
}

c_stop() {
	[ "$(c_state "$1")" = running ] || return 0
	c_hook "$1" stop
	c_set "$1" exited
	rm -f "$D_C/$1/polls"
}

c_restart() {
	[ "$(c_state "$1")" = running ] && c_hook "$1" stop
	c_set "$1" exited
	rm -f "$D_C/$1/polls"
	c_start "$1"
}

# c_create NAME: (re)create the container from its config files, running
c_create() {
	mkdir -p "$D_C/$1"
	rm -f "$D_C/$1/state" "$D_C/$1/polls"
	[ -f "$D_C/$1/healthcheck" ] && rm -f "$D_C/$1/health"
	_s=$(cat "$D_C/$1/creations" 2>/dev/null || echo 0)
	echo $((_s + 1)) >"$D_C/$1/creations"
	c_start "$1"
}

# c_remove NAME: the container is gone; its config files stay (the
# compose file would create it again the same way)
c_remove() {
	rm -f "$D_C/$1/state" "$D_C/$1/polls"
	[ -f "$D_C/$1/healthcheck" ] && rm -f "$D_C/$1/health"
	return 0
}

# the "Status" column of docker ps
c_status() {
	if [ "$(c_state "$1")" = running ]; then
		_st="Up 2 minutes"
		if c_has_health "$1"; then
			case "$(c_health "$1")" in
			healthy) _st="$_st (healthy)" ;;
			unhealthy) _st="$_st (unhealthy)" ;;
			*) _st="$_st (health: starting)" ;;
			esac
		fi
		printf '%s\n' "$_st"
	else
		echo "Exited (0) 1 minute ago"
	fi
}

# c_uses_volume NAME VOLUME: a mount of NAME is the named volume VOLUME
c_uses_volume() {
	[ -f "$D_C/$1/mounts" ] || return 1
	while read -r _cp _src; do
		[ "$_src" = "$2" ] && return 0
	done <"$D_C/$1/mounts"
	return 1
}

# containers: every existing container, sorted
containers() {
	[ -d "$D_C" ] || return 0
	for _d in "$D_C"/*; do
		[ -f "$_d/state" ] && printf '%s\n' "${_d##*/}"
	done | LC_ALL=C sort
}

# c_rewrite NAME ARG: ARG with a mounted container path replaced by the
# host path it is mounted from (the longest mount wins)
c_rewrite() {
	_arg=$2 _best= _host=
	if [ -f "$D_C/$1/mounts" ]; then
		while read -r _cp _src; do
			[ -n "$_cp" ] || continue
			case "$_arg" in
			"$_cp" | "$_cp"/*)
				if [ ${#_cp} -gt ${#_best} ]; then
					_best=$_cp
					case "$_src" in
					/*) _host=$_src ;;
					*) _host=$D_V/$_src ;;
					esac
				fi
				;;
			esac
		done <"$D_C/$1/mounts"
	fi
	if [ -n "$_best" ]; then
		printf '%s%s\n' "$_host" "${_arg#"$_best"}"
	else
		printf '%s\n' "$_arg"
	fi
}

# c_rewrite_script NAME SCRIPT: the script of `sh -c SCRIPT` with every
# mounted CONTAINER_PATH that starts a word (after a space, a quote, =, <,
# >, ; or the start) replaced by its host path
c_rewrite_script() {
	_s=$2
	while read -r _cp _src; do
		[ -n "$_cp" ] || continue
		case "$_src" in
		/*) _host=$_src ;;
		*) _host=$D_V/$_src ;;
		esac
		_s=$(printf '%s\n' "$_s" | sed "s#\(^\|[[:space:]\"'=<>;]\)$_cp\([/[:space:]\"';]\|\$\)#\1$_host\2#g")
	done <"$D_C/$1/mounts"
	printf '%s\n' "$_s"
}

# c_exec NAME [-e K=V]... [-w DIR] CMD ARGS...: the command runs here, with
# its mounted paths rewritten, and CONTAINER=NAME in its environment
c_exec() {
	_cn=$1
	shift
	if ! c_exists "$_cn"; then
		echo "Error response from daemon: No such container: $_cn" >&2
		exit 1
	fi
	if [ "$(c_state "$_cn")" != running ]; then
		echo "Error response from daemon: container $_cn is not running" >&2
		exit 1
	fi
	_cmd=$1
	shift
	# a program named by its path inside the image (/app/bin/mongodb/bin/
	# mongodump) is the shim of the same name here
	case "$_cmd" in
	*/*) [ -x "$_cmd" ] || _cmd=${_cmd##*/} ;;
	esac
	_n=$# _prev=
	while [ "$_n" -gt 0 ]; do
		if [ "$_prev" = -c ] && [ -f "$D_C/$_cn/mounts" ]; then
			case "${_cmd##*/}" in
			sh | bash | dash) _a=$(c_rewrite_script "$_cn" "$1") ;;
			*) _a=$(c_rewrite "$_cn" "$1") ;;
			esac
		else
			_a=$(c_rewrite "$_cn" "$1")
		fi
		_prev=$1
		shift
		set -- "$@" "$_a"
		_n=$((_n - 1))
	done
	CONTAINER=$_cn
	export CONTAINER
	exec "$_cmd" "$@"
}
