#!/usr/bin/env bash
# Track against pgbench on the same PostgreSQL server: first-time events,
# each judged by the demo programme's rules and ending in a durable ledger
# credit, against pgbench's tpcb-like transaction, same run, same clients.
# See bench/README.md for what each figure means.
#
#   bench/track.sh                      # 3 runs of 20 s each, 32 clients
#   RUNS=1 SECONDS_PER_RUN=10 bench/track.sh
#
# Settings (environment):
#   PG               server URL, trust auth, no database   (postgres://postgres@127.0.0.1:5432)
#   CLIENTS          pgbench clients and track-load connections   (32)
#   SECONDS_PER_RUN  length of every measured part         (20)
#   RUNS             repetitions; the table shows medians  (3)
#   MEMBERS          members the events are spread over    (1000)
#
# Progress goes to stderr; the Markdown table alone goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PG="${PG%/}"
CLIENTS="${CLIENTS:-32}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"
RUNS="${RUNS:-3}"
MEMBERS="${MEMBERS:-1000}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PARTS=(identity ledger mechanics rewards notifications gateway)
PGBENCH_DB="ql_bench_tpcb_$$"

say() { printf '%s\n' "$*" >&2; }
die() { say "track.sh: $*"; exit 1; }

for tool in cargo psql pgbench curl awk sed sort; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
for n in "$CLIENTS" "$SECONDS_PER_RUN" "$RUNS" "$MEMBERS"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "CLIENTS, SECONDS_PER_RUN, RUNS and MEMBERS must be positive integers"
done

admin() { psql -X -q -v ON_ERROR_STOP=1 "$PG/postgres" "$@"; }
# Before every measured part: no part pays for the dirty pages of the one before it.
settle() { admin -c "CHECKPOINT" >&2 && sync; }
db_of() { printf 'ql_bench_track_%s_%s' "$1" "$$"; }

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
trap cleanup EXIT
trap 'exit 130' INT TERM

admin -Atc "SELECT 1" >/dev/null || die "cannot reach PostgreSQL at the PG server URL"
SCRATCH="$(mktemp -d)"

say "building questline and track-load (release)"
(cd "$ROOT" && cargo build --release --locked -q -p questline -p questline-bench --bin questline --bin track-load)

say "preparing pgbench (scale 10) and the engine's databases"
admin -c "CREATE DATABASE $PGBENCH_DB" >/dev/null
pgbench -i -q -s 10 "$PG/$PGBENCH_DB" >/dev/null 2>&1 || die "pgbench -i failed"
for part in "${PARTS[@]}"; do
    admin -c "CREATE DATABASE $(db_of "$part")" >/dev/null
    upper="$(tr '[:lower:]' '[:upper:]' <<<"$part")"
    export "QUESTLINE__${upper}__DATABASE_URL=$PG/$(db_of "$part")"
done

# shellcheck source=bench/engine.sh
source "$ROOT/bench/engine.sh"
start_engine 181

value() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { printf '%s\n' "$@" | median; }

# track EVENT_PREFIX SECONDS [track-load options...]
track() {
    "$TARGET/release/track-load" --mechanics http://127.0.0.1:18153 --identity http://127.0.0.1:18151 \
        --api-key "$KEY" --members "$MEMBERS" --fresh --event-id "$1" \
        --clients "$CLIENTS" --seconds "$2" "${@:3}"
}
pgbench_tps() {
    pgbench -n -b tpcb-like -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" "$PG/$PGBENCH_DB" 2>/dev/null |
        sed -n 's/^tps = \([0-9]*\).*/\1/p' | head -1
}

say "warming up (members signed up, first events)"
track "warm" 5 >/dev/null

declare -a PGB TPS P50 P99 HALF RATIO
for run in $(seq "$RUNS"); do
    settle; pgb="$(pgbench_tps)"
    settle; peak="$(track "peak-$run" "$SECONDS_PER_RUN")"
    rate="$(awk -v t="$(value tps "$peak")" 'BEGIN { printf "%.0f", t / 2 }')"
    settle; half="$(track "half-$run" "$SECONDS_PER_RUN" --rate "$rate")"
    [[ "$(value failed "$peak")" == 0 && "$(value failed "$half")" == 0 ]] ||
        die "some events failed: $peak | $half"
    say "run $run: pgbench $pgb TPS | Track $peak | at $rate/s: $half"
    PGB+=("$pgb"); TPS+=("$(value tps "$peak")"); P50+=("$(value p50_ms "$peak")")
    P99+=("$(value p99_ms "$peak")"); HALF+=("$(value p99_ms "$half")")
    RATIO+=("$(awk -v a="${TPS[-1]}" -v b="$pgb" 'BEGIN { printf "%.2f", a / b }')")
done

cat <<TABLE
| Figure ($CLIENTS clients, ${SECONDS_PER_RUN} s, medians of $RUNS runs) | value |
|---|---:|
| pgbench tpcb-like, TPS (reference) | $(med "${PGB[@]}") |
| Track, first-time events with their credit, /s | $(med "${TPS[@]}") |
| **ratio Track / pgbench** | **$(med "${RATIO[@]}")** (runs: $(printf '%s, ' "${RATIO[@]}" | sed 's/, $//')) |
| p50 / p99 at peak, ms | $(med "${P50[@]}") / $(med "${P99[@]}") |
| **p99 at half of peak (open loop), ms** | **$(med "${HALF[@]}")** (runs: $(printf '%s, ' "${HALF[@]}" | sed 's/, $//')) |
TABLE
