#!/bin/sh
# tests/sandbox/postgres-major-upgrade.sh SB — a PostgreSQL server for the
# tests of runbooks/postgres-major-upgrade.yml (tests/e2e/t0885-rb-postgres-
# major-upgrade.sh).  Test machines have one PostgreSQL version (15 on
# Debian 12), so the "upgrade" is 15 -> 15 between two data directories: it
# runs the real pg_upgrade, pg_dumpall, initdb and pg_ctl, which is the
# mechanics of a major upgrade.
#
#   SB/pg/old        the old cluster (initdb -E UTF8 --locale=C.UTF-8 -k, so
#                    the new one must be made with the same settings), its
#                    connection settings in postgresql.conf: port
#                    $PG_OLD_PORT on 127.0.0.1, sockets in SB/pg/run.
#                    Started (log SB/pg/log/old.log) and filled: role app,
#                    database shop (owner app: customers 50 rows, orders
#                    1000 rows, a sequence and an index) and database crm
#                    (schema sales, table leads 123 rows).
#   SB/pg/new        absent: the runbook makes the new cluster there
#   SB/pg/bin-old    the "old" bindir: a link to $PG_BIN (default
#                    /usr/lib/postgresql/15/bin), the version installed
#   SB/pg/bin-new    the "new" bindir: links to the same programs,
#                    except pg_upgrade, a wrapper around the real one that
#                    plays a fault after a successful upgrade when
#                    SB/pg/fault says so:
#                      fail       exit 1 (pg_upgrade failed after it wrote)
#                      lose-rows  delete 100 rows of shop.orders in the new
#                                 cluster (the verification must see it)
#                      hang       write its pid to $SHIM_STATE/hanging
#                                 (for run_until_hang) and sleep until
#                                 killed
#   SB/pg/backup     backup_dir (empty), SB/pg/work workdir (empty)
# Everything under SB/pg belongs to the postgres OS user, who runs the
# servers (they refuse root).  The test stops the servers at exit.
set -eu
SB=$1
: "${PG_OLD_PORT:?set PG_OLD_PORT to a free port}"
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
. "$(dirname "$0")/../pg.sh"
# the servers run as postgres: it must reach SB, and write SB/shim/hanging
chmod 755 "$SB"
mkdir -p "$SB/shim" "$SB/pg/run" "$SB/pg/log" "$SB/pg/backup" "$SB/pg/work" "$SB/pg/bin-new"
chmod 777 "$SB/shim"

ln -s "$PG_BIN" "$SB/pg/bin-old"
for f in "$PG_BIN"/*; do
	ln -s "$f" "$SB/pg/bin-new/${f##*/}"
done
rm "$SB/pg/bin-new/pg_upgrade"
sed -e "s|@SB@|$SB|g" -e "s|@B@|$PG_BIN|g" >"$SB/pg/bin-new/pg_upgrade" <<'EOF'
#!/bin/sh
# test double: the real pg_upgrade, then the fault named in @SB@/pg/fault
case " $* " in *" --check "*) exec @B@/pg_upgrade "$@" ;; esac
@B@/pg_upgrade "$@" || exit $?
case $(cat @SB@/pg/fault 2>/dev/null) in
fail)
	echo "pg_upgrade: injected failure" >&2
	exit 1
	;;
lose-rows)
	# the new cluster, privately (no TCP), loses rows the old one has
	@B@/pg_ctl -D @SB@/pg/new -w -l @SB@/pg/log/fault.log \
		-o "-c listen_addresses= -k @SB@/pg/run -p 65011" start >/dev/null || exit 1
	@B@/psql -X -q -h @SB@/pg/run -p 65011 -U postgres -d shop \
		-c 'delete from orders where id <= 100' || exit 1
	@B@/pg_ctl -D @SB@/pg/new -w stop >/dev/null || exit 1
	;;
hang)
	echo $$ >@SB@/shim/hanging
	while :; do sleep 1; done
	;;
esac
exit 0
EOF
chmod 755 "$SB/pg/bin-new/pg_upgrade"
chown -R postgres "$SB/pg"

pg_init "$SB/pg/old" "$PG_OLD_PORT" "$SB/pg/run" -A trust -E UTF8 --locale=C.UTF-8 -k
pg_start "$SB/pg/old" "$SB/pg/log/old.log"
psql -X -q -h 127.0.0.1 -p "$PG_OLD_PORT" -U postgres -v ON_ERROR_STOP=1 -d postgres <<'EOF'
create role app login password 'app-pw';
create database shop owner app;
create database crm;
EOF
psql -X -q -h 127.0.0.1 -p "$PG_OLD_PORT" -U app -v ON_ERROR_STOP=1 -d shop <<'EOF'
create table customers (id serial primary key, name text not null);
insert into customers (name) select 'customer ' || i from generate_series(1, 50) i;
create table orders (id serial primary key, customer int references customers, total numeric(10, 2));
insert into orders (customer, total) select 1 + i % 50, i * 1.5 from generate_series(1, 1000) i;
create index orders_customer on orders (customer);
create sequence invoice_no start 1000;
EOF
psql -X -q -h 127.0.0.1 -p "$PG_OLD_PORT" -U postgres -v ON_ERROR_STOP=1 -d crm <<'EOF'
create schema sales;
create table sales.leads (id int primary key, email text);
insert into sales.leads select i, 'lead' || i || '@example.org' from generate_series(1, 123) i;
EOF
