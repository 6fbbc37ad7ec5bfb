# Sourced by bench/track.sh and bench/notify.sh: the PostgreSQL side they
# share — a scale-10 pgbench database and one database per part of the
# engine, named after the run (`ql_bench_<BENCH>_<part>_<pid>`), dropped
# with the engine and SCRATCH when the script exits. Needs PG, PARTS,
# PGBENCH_DB, BENCH, say() and die().

admin() { psql -X -q -v ON_ERROR_STOP=1 "$PG/postgres" "$@"; }
# Before every measured part: no part pays for the dirty pages of the one before it.
settle() { admin -c "CHECKPOINT" >&2 && sync; }
db_of() { printf 'ql_bench_%s_%s_%s' "$BENCH" "$1" "$$"; }

SCRATCH=""
ENGINE=""
cleanup() {
    if [[ -n "$ENGINE" ]]; then kill "$ENGINE" 2>/dev/null || true; wait "$ENGINE" 2>/dev/null || true; fi
    local db part dbs=("$PGBENCH_DB")
    for part in "${PARTS[@]}"; do dbs+=("$(db_of "$part")"); done
    for db in "${dbs[@]}"; do
        admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || say "could not drop database $db"
    done
    if [[ -n "$SCRATCH" ]]; then rm -rf "$SCRATCH"; fi
}

# Checks the server answers, then makes SCRATCH; cleanup runs on exit.
open_scratch() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    admin -Atc "SELECT 1" >/dev/null || die "cannot reach PostgreSQL at the PG server URL"
    SCRATCH="$(mktemp -d)"
}

# pgbench's database, and each part's, exported as that part's database URL.
prepare_databases() {
    local part upper
    say "preparing pgbench (scale 10) and the engine's databases"
    admin -c "CREATE DATABASE $PGBENCH_DB" >/dev/null
    pgbench -i -q -s 10 "$PG/$PGBENCH_DB" >/dev/null 2>&1 || die "pgbench -i failed"
    for part in "${PARTS[@]}"; do
        admin -c "CREATE DATABASE $(db_of "$part")" >/dev/null
        upper="$(tr '[:lower:]' '[:upper:]' <<<"$part")"
        export "QUESTLINE__${upper}__DATABASE_URL=$PG/$(db_of "$part")"
    done
}
