# tests/pg.sh — a real PostgreSQL cluster for the tests: sourced by
# tests/sandbox.sh (so by the end-to-end tests; pg_need there finds the
# server and pg_stop_at_exit stops it) and by the sandbox scripts that make
# a cluster (tests/sandbox/postgres-major-upgrade.sh).  Functions only; they
# run the programs of $PG_BIN, as the OS user postgres (the server refuses
# root), so the cluster's folders must be postgres's.
#
#   as_pg CMD...   CMD as the OS user postgres
#   pg_init DIR PORT SOCKDIR [INITDB_ARGS...]
#                  a new cluster in DIR (initdb -U postgres --no-sync and
#                  INITDB_ARGS) that serves PORT on 127.0.0.1, its sockets
#                  in SOCKDIR; fails when initdb does
#   pg_start DIR LOG   starts DIR's server, LOG its log; returns once it
#                  accepts connections, fails when it does not start

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres -- "$@"; fi
}

pg_init() {
	_pgd=$1 _pgport=$2 _pgsock=$3
	shift 3
	as_pg "$PG_BIN/initdb" -D "$_pgd" -U postgres --no-sync "$@" >/dev/null || return 1
	cat >>"$_pgd/postgresql.conf" <<EOF
port = $_pgport
listen_addresses = '127.0.0.1'
unix_socket_directories = '$_pgsock'
EOF
}

pg_start() { as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$2" -w start >/dev/null; }
