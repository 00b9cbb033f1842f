# tests/shims/_compose.sh — `docker compose` (v2) and `docker-compose` (v1),
# sourced by the docker and docker-compose shims after _docker.sh.
#
# The shim does not read compose files (it only requires that the files
# given with -f exist): the sandbox declares each project's services.
#
# State under $SHIM_STATE:
#   compose/PROJECT/services  lines "SERVICE CONTAINER": the project's
#                             services in order and the container each one
#                             runs in (PROJECT_SERVICE_1 for compose v1 and
#                             PROJECT-SERVICE-1 for v2 when the compose file
#                             names none — write whichever the test expects).
#                             The container's config files (health check,
#                             mounts, image) are containers/CONTAINER/* as
#                             for docker; they survive `down` like the
#                             compose file would recreate them.
#   compose/PROJECT/volumes   lines VOLUME: the project's named volumes
#                             (removed by `down -v`)
#   compose/PROJECT/log       what the shim did, one line per service and
#                             action: "up SERVICE created|recreated|started|
#                             running", "pull SERVICE", "stop SERVICE",
#                             "start SERVICE", "restart SERVICE",
#                             "down SERVICE", "down -v VOLUME"
#   compose/PROJECT/pulled    lines SERVICE, one per pull (also `up --pull always`)
# A test declares a project with
#   mkdir -p $SHIM_STATE/compose/pryv && echo "mongodb pryvio_mongodb" > $SHIM_STATE/compose/pryv/services
#
# The project is -p/--project-name, else $COMPOSE_PROJECT_NAME, else the
# name of the folder of the first -f file (lowercased, characters other
# than a-z 0-9 _ - dropped), else of the current folder.  An -f file that
# does not exist fails like compose ("open FILE: no such file or
# directory"); so does a project with no services file (a message that
# says what to declare).
#
# Commands (global options -f/--file, -p/--project-name, --project-directory,
# --env-file, --profile, --ansi, --progress are accepted before it):
#   up -d [--pull always|missing|never] [--force-recreate] [--no-recreate]
#        [--no-deps] [--remove-orphans] [--wait] [--no-start] [SERVICE...]
#        creates the missing containers, starts the stopped ones, recreates
#        all of them with --force-recreate; --wait waits until every
#        container with a health check is healthy (fails if one is
#        unhealthy).  Without -d it fails at once: a real `up` would attach
#        and never return.  --no-start creates the missing containers
#        stopped (log: "up SERVICE created-stopped").
#   down [-v] [--remove-orphans]   removes the containers (and -v the volumes)
#   start|stop|restart [SERVICE...]  (start: "service "S" has no container to
#        start" when its container does not exist)
#   pull [-q] [SERVICE...]   also appends each service's image (its
#        container's image file, default CONTAINER:latest) to $SHIM_STATE/images
#   ps [-a] [-q] [--services] [--status S | --filter status=S] [--format F] [SERVICE...]
#        default: the running containers; F: {{.Name}} {{.Service}}
#        {{.State}} {{.Health}} {{.Status}}
#   config --services | --images | -q   the declared services / their
#        images / a valid config
#   exec [-T] [-e K=V] [-w DIR] SERVICE CMD ARGS...   docker exec in the
#        service's container (docker-compose v1 without -T and without a
#        terminal: "the input device is not a TTY")
#   logs [SERVICE...], rm [-f] [-s] [SERVICE...] (-s stops them first), version
compose_main() {
	_flavour=$1
	shift
	files= project=${COMPOSE_PROJECT_NAME:-}
	while [ $# -gt 0 ]; do
		case "$1" in
		-f | --file) files="$files
$2"; shift ;;
		--file=*) files="$files
${1#--file=}" ;;
		-p | --project-name) project=$2; shift ;;
		--project-name=*) project=${1#--project-name=} ;;
		--project-directory | --env-file | --profile | --ansi | --progress) shift ;;
		--project-directory=* | --env-file=* | --profile=* | --ansi=* | --progress=* | --compatibility | --verbose | --no-ansi) ;;
		-*) echo "compose shim: unsupported global option $1" >&2; exit 2 ;;
		*) break ;;
		esac
		shift
	done
	sub=${1:-}
	[ $# -gt 0 ] && shift
	case "$sub" in
	version | --version)
		if [ "$_flavour" = docker-compose-v1 ]; then echo "docker-compose version 1.29.2, build 5becea4c (shim)"
		else echo "Docker Compose version v2.21.0 (shim)"; fi
		return 0 ;;
	esac
	[ -n "$files" ] || files=${COMPOSE_FILE:-}
	first=
	if [ -n "$files" ]; then
		while IFS= read -r f; do
			[ -n "$f" ] || continue
			[ -n "$first" ] || first=$f
			if [ ! -f "$f" ]; then
				echo "open $f: no such file or directory" >&2
				exit 1
			fi
		done <<EOF
$files
EOF
	else
		for f in compose.yaml compose.yml docker-compose.yml docker-compose.yaml; do
			[ -f "$f" ] && { first=$f; break; }
		done
		if [ -z "$first" ]; then
			echo "no configuration file provided: not found" >&2
			exit 1
		fi
	fi
	if [ -z "$project" ]; then
		d=$(cd "$(dirname "$first")" && pwd)
		project=$(basename "$d" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-')
	fi
	P=$SHIM_STATE/compose/$project
	if [ ! -f "$P/services" ]; then
		echo "compose shim: project '$project' has no services: declare them in $P/services (lines 'SERVICE CONTAINER')" >&2
		exit 1
	fi

	# options and services of the subcommand
	detach=0 pull= force=0 norecreate=0 wait=0 vols=0 all=0 quiet=0 only_services=0 status= format=
	notty=0 cq=0 nostart=0 stopfirst=0 images=0
	sel=
	while [ $# -gt 0 ]; do
		case "$1" in
		-d | --detach) detach=1 ;;
		--pull) pull=$2; shift ;;
		--pull=*) pull=${1#--pull=} ;;
		--force-recreate) force=1 ;;
		--no-recreate) norecreate=1 ;;
		--wait) wait=1; detach=1 ;;
		-v | --volumes) vols=1 ;;
		-a | --all) all=1 ;;
		-q | --quiet) quiet=1; cq=1 ;;
		--services) only_services=1 ;;
		--status) status=$2; shift ;;
		--status=*) status=${1#--status=} ;;
		--filter) status=${2#status=}; shift ;;
		--filter=*) status=${1#--filter=}; status=${status#status=} ;;
		--no-start) nostart=1; detach=1 ;;
		-s | --stop) stopfirst=1 ;;
		--images) images=1 ;;
		--format) format=$2; shift ;;
		--format=*) format=${1#--format=} ;;
		-T | --no-TTY) notty=1 ;;
		-t | --timeout) shift ;;
		--timeout=*) ;;
		--no-deps | --remove-orphans | --build | --no-build | --quiet-pull | -f | --force | \
			--ignore-pull-failures | --no-color | --no-log-prefix | --include-deps) ;;
		-e | --env | -w | --workdir | -u | --user | --rmi)
			if [ "$sub" = exec ]; then break; fi
			shift ;;
		-*) echo "compose shim: $sub: unsupported option $1" >&2; exit 2 ;;
		*)
			if [ "$sub" = exec ]; then break; fi
			sel="$sel $1" ;;
		esac
		shift
	done

	# the services the command is about, as "SERVICE CONTAINER" lines
	targets=$(mktemp "${TMPDIR:-/tmp}/compose-shim.XXXXXX") || exit 1
	trap 'rm -f "$targets"' EXIT
	if [ -n "$sel" ]; then
		for s in $sel; do
			line=$(awk -v s="$s" '$1 == s' "$P/services")
			if [ -z "$line" ]; then
				echo "no such service: $s" >&2
				exit 1
			fi
			printf '%s\n' "$line" >>"$targets"
		done
	else
		grep -v '^[[:space:]]*$' "$P/services" >"$targets"
	fi
	log() { printf '%s\n' "$*" >>"$P/log"; }

	case "$sub" in
	up)
		if [ $detach = 0 ]; then
			echo "compose shim: 'up' without -d attaches to the containers and never returns: use up -d" >&2
			exit 1
		fi
		while read -r s c; do
			if [ "$pull" = always ]; then
				echo "$s" >>"$P/pulled"
				c_image "$c" >>"$SHIM_STATE/images"
				log pull "$s"
				echo " $s Pulled" >&2
			fi
			if [ $nostart = 1 ]; then
				if ! c_exists "$c"; then
					c_create "$c"
					c_stop "$c"
					log up "$s" created-stopped
					echo " Container $c  Created" >&2
				fi
			elif ! c_exists "$c"; then
				c_create "$c"
				log up "$s" created
				echo " Container $c  Started" >&2
			elif [ $force = 1 ] && [ $norecreate = 0 ]; then
				c_create "$c"
				log up "$s" recreated
				echo " Container $c  Recreated" >&2
			elif [ "$(c_state "$c")" != running ]; then
				c_start "$c"
				log up "$s" started
				echo " Container $c  Started" >&2
			else
				log up "$s" running
				echo " Container $c  Running" >&2
			fi
		done <"$targets"
		if [ $wait = 1 ]; then
			while read -r s c; do
				c_has_health "$c" || continue
				i=0
				while [ "$(c_health "$c")" = starting ] && [ $i -lt 1000 ]; do i=$((i + 1)); done
				if [ "$(c_health "$c")" != healthy ]; then
					echo "container $c is unhealthy" >&2
					exit 1
				fi
			done <"$targets"
		fi
		;;
	down)
		while read -r s c; do
			if c_exists "$c"; then
				c_remove "$c"
				log down "$s"
				echo " Container $c  Removed" >&2
			fi
		done <"$targets"
		if [ $vols = 1 ] && [ -f "$P/volumes" ]; then
			while read -r v; do
				[ -n "$v" ] || continue
				if [ -d "$D_V/$v" ]; then
					rm -rf "${D_V:?}/$v"
					log down -v "$v"
					echo " Volume $v  Removed" >&2
				fi
			done <"$P/volumes"
		fi
		;;
	start)
		while read -r s c; do
			if ! c_exists "$c"; then
				echo "service \"$s\" has no container to start" >&2
				exit 1
			fi
		done <"$targets"
		while read -r s c; do
			c_start "$c"
			log start "$s"
			echo " Container $c  Started" >&2
		done <"$targets"
		;;
	stop)
		while read -r s c; do
			c_exists "$c" || continue
			c_stop "$c"
			log stop "$s"
			echo " Container $c  Stopped" >&2
		done <"$targets"
		;;
	restart)
		while read -r s c; do
			c_exists "$c" || continue
			c_restart "$c"
			log restart "$s"
			echo " Container $c  Started" >&2
		done <"$targets"
		;;
	pull)
		while read -r s c; do
			echo "$s" >>"$P/pulled"
			c_image "$c" >>"$SHIM_STATE/images"
			log pull "$s"
			[ $quiet = 1 ] || echo " $s Pulled" >&2
		done <"$targets"
		;;
	ps)
		[ $only_services = 1 ] || [ $quiet = 1 ] || [ -n "$format" ] || echo "NAME   SERVICE   STATUS"
		while read -r s c; do
			c_exists "$c" || continue
			st=$(c_state "$c")
			if [ -n "$status" ]; then
				[ "$st" = "$status" ] || continue
			elif [ $all = 0 ]; then
				[ "$st" = running ] || continue
			fi
			if [ $only_services = 1 ]; then echo "$s"
			elif [ $quiet = 1 ]; then c_id "$c"; echo
			elif [ -n "$format" ]; then
				h= stt=
				case "$format" in *.Health*) c_has_health "$c" && h=$(c_health "$c") ;; esac
				case "$format" in *.Status*) stt=$(c_status "$c") ;; esac
				printf '%s\n' "$format" | sed -e "s/{{ *\.Name *}}/$c/g" -e "s/{{ *\.Service *}}/$s/g" \
					-e "s/{{ *\.State *}}/$st/g" -e "s/{{ *\.Health *}}/$h/g" -e "s/{{ *\.Status *}}/$stt/g"
			else
				echo "$c   $s   $(c_status "$c")"
			fi
		done <"$targets"
		;;
	config)
		if [ $only_services = 1 ]; then
			cut -d' ' -f1 "$targets"
		elif [ $images = 1 ]; then
			while read -r s c; do c_image "$c"; done <"$targets"
		elif [ $cq = 0 ]; then
			cat "$first"
		fi
		;;
	exec)
		if [ $# -lt 2 ]; then
			echo "compose shim: exec needs SERVICE CMD" >&2
			exit 1
		fi
		# options after the service-less break: -e/-w/-u come before SERVICE
		while [ $# -gt 0 ]; do
			case "$1" in
			-e | --env) export "${2?}"; shift ;;
			-w | --workdir) shift ;;
			-u | --user) shift ;;
			-T | --no-TTY) notty=1 ;;
			-*) ;;
			*) break ;;
			esac
			shift
		done
		s=$1
		shift
		c=$(awk -v s="$s" '$1 == s {print $2}' "$P/services")
		if [ -z "$c" ]; then
			echo "no such service: $s" >&2
			exit 1
		fi
		if ! c_exists "$c" || [ "$(c_state "$c")" != running ]; then
			echo "service \"$s\" is not running" >&2
			exit 1
		fi
		# v1 allocates a terminal unless -T; v2 notices there is none
		if [ "$_flavour" = docker-compose-v1 ] && [ $notty = 0 ] && [ ! -t 0 ]; then
			echo "the input device is not a TTY" >&2
			exit 1
		fi
		rm -f "$targets"
		c_exec "$c" "$@"
		;;
	logs)
		while read -r s c; do
			[ -f "$D_C/$c/logs" ] && sed "s/^/$s  | /" "$D_C/$c/logs"
		done <"$targets"
		;;
	rm)
		while read -r s c; do
			c_exists "$c" || continue
			[ $stopfirst = 1 ] && c_stop "$c"
			[ "$(c_state "$c")" = running ] && continue
			c_remove "$c"
			log rm "$s"
		done <"$targets"
		;;
	*)
		echo "compose shim: unsupported command '$sub'" >&2
		exit 2
		;;
	esac
	exit 0
}
