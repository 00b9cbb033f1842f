# tests/shims/_mongo.sh — the MongoDB data the mongo shims share, sourced
# by mongodump, mongorestore, mongosh, mongo and bsondump after _shim.sh.
#
# State under $SHIM_STATE:
#   mongo/DB/COLL.json   a collection: one document per line (any text; two
#                        equal lines are the same _id for mongorestore)
#   mongo-version        the server version the shell reports (default 6.0.4)
#   mongo-faults         lines that make the tools misbehave (first word):
#     dump-short DB.COLL N      mongodump writes only N documents of COLL but
#                               reports them all (a truncated dump)
#     dump-nometa DB.COLL       mongodump writes no COLL.metadata.json
#     dump-hang-after DB.COLL   mongodump hangs after writing COLL (its pid in
#                               $SHIM_STATE/hanging, as an injected hang)
#     restore-fail DB.COLL N    mongorestore fails N documents of COLL
#                               ("E11000 duplicate key", still exit 0)
#     restore-failonce DB.COLL N  the same, once (the line is then removed)
#     restore-hang-after DB.COLL  mongorestore hangs after restoring COLL
# A test seeds a database with
#   mkdir -p $SHIM_STATE/mongo/app && printf '{"_id":1}\n{"_id":2}\n' > $SHIM_STATE/mongo/app/users.json
M=$SHIM_STATE/mongo

# fault KIND DB.COLL: the rest of the matching fault line ("" when it has
# no argument); fails when there is no such fault
fault() {
	[ -f "$SHIM_STATE/mongo-faults" ] || return 1
	_l=$(awk -v k="$1" -v n="$2" '$1 == k && $2 == n {print "+" $3; exit}' "$SHIM_STATE/mongo-faults")
	[ -n "$_l" ] || return 1
	printf '%s\n' "${_l#+}"
}

hang_here() {
	echo $$ >"$SHIM_STATE/hanging"
	while :; do sleep 1; done
}

# lines FILE: the number of documents in a collection or bson file
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# the time prefix of mongo-tools log lines
stamp() { date -u '+%Y-%m-%dT%H:%M:%S.000+0000'; }

# collections DB: the collection names of DB, sorted
collections() {
	[ -d "$M/$1" ] || return 0
	for _f in "$M/$1"/*.json; do
		[ -f "$_f" ] || continue
		_b=${_f##*/}
		printf '%s\n' "${_b%.json}"
	done | LC_ALL=C sort
}

bad_option() {
	_o=${1#-}
	_o=${_o#-}
	echo "error parsing command line options: unknown option \"${_o%%=*}\"" >&2
	echo "try '${_shim_name} --help' for more information" >&2
	exit 3
}
