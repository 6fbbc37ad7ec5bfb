#!/usr/bin/env bash
# The ledger against pgbench on the same PostgreSQL server, and on SQLite:
# see bench/README.md for what each figure means.
#
#   bench/ledger.sh                     # 3 runs of 20 s each, 32 clients
#   RUNS=1 SECONDS_PER_RUN=10 bench/ledger.sh
#
# Settings (environment):
#   PG               server URL, trust auth, no database   (postgres://postgres@127.0.0.1:5432)
#   CLIENTS          pgbench clients and ledger-load closed-loop clients   (32)
#   SECONDS_PER_RUN  length of every measured part         (20)
#   RUNS             repetitions; the table shows medians  (3)
#   WALLETS          member wallets in the ledger's workload (1000)
#   BINARIES         a directory holding a ledger-load built earlier, measured
#                    as it is (nothing is built): two builds side by side
#
# Progress goes to stderr; the Markdown table alone goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PG="${PG%/}"
CLIENTS="${CLIENTS:-32}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"
RUNS="${RUNS:-3}"
WALLETS="${WALLETS:-1000}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGBENCH_DB="ql_bench_pgbench_$$"
LEDGER_DB="ql_bench_ledger_$$"

say() { printf '%s\n' "$*" >&2; }
die() { say "ledger.sh: $*"; exit 1; }

for tool in cargo psql pgbench awk sed sort; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
for n in "$CLIENTS" "$SECONDS_PER_RUN" "$RUNS" "$WALLETS"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "CLIENTS, SECONDS_PER_RUN, RUNS and WALLETS must be positive integers"
done

admin() { psql -X -q -v ON_ERROR_STOP=1 "$PG/postgres" "$@"; }

# Before every measured part: no part pays for the dirty pages of the one
# before it (see bench/README.md).
settle() { admin -c "CHECKPOINT" >&2 && sync; }

drop_databases() {
    local db
    for db in "$PGBENCH_DB" "$LEDGER_DB"; do
        admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
            admin -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 ||
            say "could not drop database $db"
    done
}

SCRATCH=""
cleanup() {
    drop_databases
    if [[ -n "$SCRATCH" ]]; then rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

admin -Atc "SELECT 1" >/dev/null || die "cannot reach PostgreSQL at the PG server URL"
SCRATCH="$(mktemp -d)"

if [[ -n "${BINARIES:-}" ]]; then
    BIN="$BINARIES/ledger-load"
    say "measuring $BIN"
else
    say "building ledger-load (release)..."
    (cd "$ROOT" && cargo build --quiet --release -p questline-bench)
    TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
    BIN="$TARGET_DIR/release/ledger-load"
fi
[[ -x "$BIN" ]] || die "ledger-load was not built"

# A numeric field of ledger-load's JSON line.
field() { sed -n "s/.*\"$1\":\([-0-9.]*\).*/\1/p" <<<"$2"; }
half() { awk -v x="$1" 'BEGIN { printf "%.1f", x / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Runs ledger-load with the given arguments; prints its JSON line.
load() {
    local out json
    settle
    # --relay: the outbox relay runs, as it does in the service.
    out="$(RUST_LOG="${RUST_LOG:-warn}" "$BIN" --relay --wallets "$WALLETS" --seconds "$SECONDS_PER_RUN" "$@")"
    sed '$d' <<<"$out" | sed 's/^/    /' >&2
    json="$(tail -n 1 <<<"$out")"
    [[ "$json" == '{"mode":'* ]] || die "no result line from ledger-load"
    printf '%s\n' "$json"
}

REFUSED=0 FAILED=0
# Adds a ledger-load result's refusals and failures to the totals.
count() {
    local refused failed
    refused="$(field refused "$1")" failed="$(field failed "$1")"
    REFUSED=$((REFUSED + refused)) FAILED=$((FAILED + failed))
    if [[ "$failed" != 0 ]]; then
        say "    WARNING: $failed requests failed (not refusals); these figures are suspect"
    fi
}

declare -a PGB_TPS=() PG_TPS=() PG_P50=() PG_P99=() PG_HALF_RATE=() PG_HALF_P99=() RATIO=()
declare -a SL_TPS=() SL_P50=() SL_P99=() SL_HALF_RATE=() SL_HALF_P99=()

for run in $(seq 1 "$RUNS"); do
    say "== run $run of $RUNS"
    drop_databases
    admin -c "CREATE DATABASE $PGBENCH_DB" -c "CREATE DATABASE $LEDGER_DB"

    say "  pgbench: initialising (scale 10), then tpcb-like, $CLIENTS clients, ${SECONDS_PER_RUN} s"
    init_out="$(pgbench -i -s 10 -q "$PG/$PGBENCH_DB" 2>&1)" || { say "$init_out"; die "pgbench -i failed"; }
    settle
    pgb_out="$(pgbench -n -b tpcb-like -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" "$PG/$PGBENCH_DB" 2>&1)" ||
        { say "$pgb_out"; die "pgbench failed"; }
    pgb_tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$pgb_out" | tail -n 1)"
    [[ -n "$pgb_tps" ]] || { say "$pgb_out"; die "no tps figure in pgbench's output"; }
    say "    tps = $pgb_tps"
    PGB_TPS+=("$pgb_tps")

    say "  ledger on PostgreSQL: closed loop, $CLIENTS clients"
    json="$(load --database-url "$PG/$LEDGER_DB" --clients "$CLIENTS")"
    tps="$(field tps "$json")"
    PG_TPS+=("$tps") PG_P50+=("$(field p50_ms "$json")") PG_P99+=("$(field p99_ms "$json")")
    RATIO+=("$(ratio "$tps" "$pgb_tps")")
    count "$json"
    rate="$(half "$tps")"
    say "  ledger on PostgreSQL: open loop at half the peak, $rate/s"
    json="$(load --database-url "$PG/$LEDGER_DB" --clients "$CLIENTS" --rate "$rate")"
    PG_HALF_RATE+=("$(field tps "$json")") PG_HALF_P99+=("$(field p99_ms "$json")")
    count "$json"

    sqlite="sqlite://$SCRATCH/ledger-$run.db?mode=rwc"
    say "  ledger on SQLite: closed loop, $CLIENTS clients"
    json="$(load --database-url "$sqlite" --clients "$CLIENTS")"
    tps="$(field tps "$json")"
    SL_TPS+=("$tps") SL_P50+=("$(field p50_ms "$json")") SL_P99+=("$(field p99_ms "$json")")
    count "$json"
    rate="$(half "$tps")"
    say "  ledger on SQLite: open loop at half the peak, $rate/s"
    json="$(load --database-url "$sqlite" --clients "$CLIENTS" --rate "$rate")"
    SL_HALF_RATE+=("$(field tps "$json")") SL_HALF_P99+=("$(field p99_ms "$json")")
    count "$json"

    drop_databases
done

pg_version="$(admin -Atc "SHOW server_version" | awk '{ print $1 }')"
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]]; then commit="$commit + local changes"; fi

# Medians, rounded for the table: rates to 0.1, milliseconds and ratios to 0.01.
r1() { median "$@" | awk '$1 == "n/a" { print; next } { printf "%.1f\n", $1 }'; }
r2() { median "$@" | awk '$1 == "n/a" { print; next } { printf "%.2f\n", $1 }'; }
# Every run's figure in run order, after the median when there was more than one run.
runs() {
    (($# > 1)) || return 0
    printf '%s\n' "$@" | awk 'BEGIN { printf " (runs: " } END { printf ")" }
        { printf "%s", (NR > 1 ? ", " : "") ($1 == "n/a" ? $1 : sprintf("%.2f", $1)) }'
}
cat <<EOF
### Ledger vs pgbench — medians of $RUNS run(s)

$CLIENTS clients, ${SECONDS_PER_RUN} s per measured part, $WALLETS wallets; PostgreSQL $pg_version; $(nproc) cores; commit $commit.

| Figure | PostgreSQL | SQLite |
|---|---:|---:|
| pgbench tpcb-like, TPS | $(r1 "${PGB_TPS[@]}") | — |
| ledger transfers/s at peak (closed loop) | $(r1 "${PG_TPS[@]}") | $(r1 "${SL_TPS[@]}") |
| ratio ledger / pgbench | $(r2 "${RATIO[@]}")$(runs "${RATIO[@]}") | — |
| p50 / p99 at peak, ms | $(r2 "${PG_P50[@]}") / $(r2 "${PG_P99[@]}") | $(r2 "${SL_P50[@]}") / $(r2 "${SL_P99[@]}") |
| achieved rate at half peak (open loop), /s | $(r1 "${PG_HALF_RATE[@]}") | $(r1 "${SL_HALF_RATE[@]}") |
| p99 at half peak, ms | $(r2 "${PG_HALF_P99[@]}")$(runs "${PG_HALF_P99[@]}") | $(r2 "${SL_HALF_P99[@]}")$(runs "${SL_HALF_P99[@]}") |

Refused for insufficient funds (counted as completed): $REFUSED. Failed requests: $FAILED.
EOF
