#!/usr/bin/env bash
# Track against pgbench on the same PostgreSQL server: first-time events,
# each judged by the demo programme's rules and ending in a durable ledger
# credit, against pgbench's tpcb-like transaction, in the same run. Each
# side runs at several client counts and is compared at its own best: the
# cost of an event against the cost of a transaction, on the same cores.
# See bench/README.md for what each figure means.
#
#   bench/track.sh                      # 3 runs, 20 s per part
#   RUNS=1 SECONDS_PER_RUN=10 CLIENTS=32 bench/track.sh   # a quick check
#   RATES="50 200 400 800" bench/track.sh                 # CPU and latency by rate
#
# Settings (environment):
#   PG               server URL, trust auth, no database   (postgres://postgres@127.0.0.1:5432)
#   PGBENCH_CLIENTS  pgbench's client counts               (8 16 32)
#   TRACK_CLIENTS    track-load's gRPC connection counts   (32 64 128 256)
#   CLIENTS          one count for both sides instead of the two lists
#   SECONDS_PER_RUN  length of every measured part         (20)
#   RUNS             repetitions; the table shows medians  (3)
#   MEMBERS          members the events are spread over    (1000)
#   RATES            instead of the sweep: each side held at each of these
#                    rates (open loop), the machine's CPU per event against
#                    per pgbench transaction, and Track's p50/p99
#   BINARIES         a directory holding questline and track-load built
#                    earlier, measured as they are (nothing is built): two
#                    builds compared side by side on the same day
#
# Progress goes to stderr; the Markdown table alone goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PG="${PG%/}"
PGBENCH_CLIENTS="${CLIENTS:-${PGBENCH_CLIENTS:-8 16 32}}"
TRACK_CLIENTS="${CLIENTS:-${TRACK_CLIENTS:-32 64 128 256}}"
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
read -ra PGBENCH_CLIENTS <<<"$PGBENCH_CLIENTS"
read -ra TRACK_CLIENTS <<<"$TRACK_CLIENTS"
for n in "${PGBENCH_CLIENTS[@]}" "${TRACK_CLIENTS[@]}" "$SECONDS_PER_RUN" "$RUNS" "$MEMBERS"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "client counts, SECONDS_PER_RUN, RUNS and MEMBERS must be positive integers"
done
[[ ${#PGBENCH_CLIENTS[@]} -gt 0 && ${#TRACK_CLIENTS[@]} -gt 0 ]] || die "no client counts given"

BENCH=track
# shellcheck source=bench/postgres.sh
source "$ROOT/bench/postgres.sh"
open_scratch

if [[ -n "${BINARIES:-}" ]]; then
    RELEASE="$BINARIES"
    say "measuring the binaries in $RELEASE"
else
    RELEASE="$TARGET/release"
    say "building questline and track-load (release)"
    (cd "$ROOT" && cargo build --release --locked -q -p questline -p questline-bench --bin questline --bin track-load)
fi

prepare_databases

# shellcheck source=bench/engine.sh
source "$ROOT/bench/engine.sh"
start_engine 181

value() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { printf '%s\n' "$@" | median; }

# track EVENT_PREFIX CLIENTS SECONDS [track-load options...]
track() {
    "$RELEASE/track-load" --mechanics http://127.0.0.1:18153 --identity http://127.0.0.1:18151 \
        --api-key "$KEY" --members "$MEMBERS" --fresh --event-id "$1" \
        --clients "$2" --seconds "$3" "${@:4}"
}
# pgbench_tps CLIENTS
pgbench_tps() {
    pgbench -n -b tpcb-like -c "$1" -j 2 -T "$SECONDS_PER_RUN" "$PG/$PGBENCH_DB" 2>/dev/null |
        sed -n 's/^tps = \([0-9]*\).*/\1/p' | head -1
}
# best "clients value" pairs: the pair with the highest value
best() { printf '%s\n' "$@" | sort -k2 -g | tail -1; }

say "warming up (members signed up, first events)"
track "warm" "${TRACK_CLIENTS[0]}" 5 >/dev/null

# The machine's busy CPU time so far, in clock ticks (every process).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# held_cpu RATE COMMAND...: runs COMMAND (a part held at RATE per second
# for SECONDS_PER_RUN) and prints the machine's CPU per unit of work in ms,
# sampled from its fourth second to two seconds before its end, past the
# start-up (the load generator signs its members up first).
held_cpu() {
    local rate="$1" window=$((SECONDS_PER_RUN - 5)) sample
    shift
    sample="$SCRATCH/cpu.$rate"
    (sleep 3; b0="$(busy_ticks)"; sleep "$window"; echo "$b0 $(busy_ticks)" >"$sample") &
    local sampler=$!
    "$@" >"$SCRATCH/held.out"
    wait "$sampler"
    awk -v hz="$(getconf CLK_TCK)" -v r="$rate" -v w="$window" \
        '{ printf "%.2f", ($2 - $1) / hz / (r * w) * 1000 }' "$sample"
}
if [[ -n "${RATES:-}" ]]; then
    (( SECONDS_PER_RUN >= 8 )) || die "RATES needs SECONDS_PER_RUN of 8 or more"
    printf '| events or transactions /s (open loop, %s s each) | Track p50 / p99, ms | CPU per event, ms | CPU per pgbench transaction, ms | ratio |\n|---:|---:|---:|---:|---:|\n' "$SECONDS_PER_RUN"
    for rate in $RATES; do
        [[ "$rate" =~ ^[1-9][0-9]*$ ]] || die "RATES must be positive integers"
        settle; pgb="$(held_cpu "$rate" pgbench -n -b tpcb-like -c 16 -j 2 -R "$rate" -T "$SECONDS_PER_RUN" "$PG/$PGBENCH_DB")"
        settle; ours="$(held_cpu "$rate" track "rate-$rate" "${TRACK_CLIENTS[-1]}" "$SECONDS_PER_RUN" --rate "$rate")"
        held="$(cat "$SCRATCH/held.out")"
        [[ "$(value failed "$held")" == 0 ]] || die "some events failed: $held"
        say "at $rate/s: $held, CPU per event $ours ms, per pgbench transaction $pgb ms"
        printf '| %s | %s / %s | %s | %s | %s |\n' "$rate" "$(value p50_ms "$held")" "$(value p99_ms "$held")" \
            "$ours" "$pgb" "$(awk -v a="$ours" -v b="$pgb" 'BEGIN { printf "%.2f", a / b }')"
    done
    exit 0
fi

# Per client count, every run's figure, for the sweep's rows.
declare -A PGB_AT TPS_AT
declare -a PGB TPS BEST_AT P50 P99 HALF RATIO EQUAL
for run in $(seq "$RUNS"); do
    pgb_pairs=() track_pairs=() peaks=()
    for c in "${PGBENCH_CLIENTS[@]}"; do
        # Each pgbench client is a server connection, beside the engine's pools.
        settle; tps="$(pgbench_tps "$c" || true)"
        [[ -n "$tps" ]] || die "pgbench failed at $c clients (PostgreSQL's max_connections?)"
        pgb_pairs+=("$c $tps"); PGB_AT[$c]+="$tps "
    done
    for c in "${TRACK_CLIENTS[@]}"; do
        settle; peak="$(track "peak-$run-$c" "$c" "$SECONDS_PER_RUN")" || die "track-load failed at $c clients"
        [[ "$(value failed "$peak")" == 0 ]] || die "some events failed: $peak"
        track_pairs+=("$c $(value tps "$peak")"); TPS_AT[$c]+="$(value tps "$peak") "
        peaks+=("$c $peak")
    done
    read -r pgb_c pgb <<<"$(best "${pgb_pairs[@]}")"
    read -r top_c top <<<"$(best "${track_pairs[@]}")"
    peak="$(printf '%s\n' "${peaks[@]}" | awk -v c="$top_c" '$1 == c { $1 = ""; print }')"
    rate="$(awk -v t="$top" 'BEGIN { printf "%.0f", t / 2 }')"
    settle; half="$(track "half-$run" "$top_c" "$SECONDS_PER_RUN" --rate "$rate")" || die "track-load failed at $rate/s"
    [[ "$(value failed "$half")" == 0 ]] || die "some events failed: $half"
    say "run $run: pgbench ${pgb_pairs[*]} | Track ${track_pairs[*]} | at $rate/s: $half"
    PGB+=("$pgb"); TPS+=("$top"); BEST_AT+=("$top_c/$pgb_c")
    P50+=("$(value p50_ms "$peak")"); P99+=("$(value p99_ms "$peak")"); HALF+=("$(value p99_ms "$half")")
    RATIO+=("$(awk -v a="$top" -v b="$pgb" 'BEGIN { printf "%.2f", a / b }')")
    # Equal clients: the first count both lists hold, if any.
    for c in "${TRACK_CLIENTS[@]}"; do
        p="$(printf '%s\n' "${pgb_pairs[@]}" | awk -v c="$c" '$1 == c { print $2 }')"
        t="$(printf '%s\n' "${track_pairs[@]}" | awk -v c="$c" '$1 == c { print $2 }')"
        if [[ -n "$p" ]]; then EQUAL+=("$c $(awk -v a="$t" -v b="$p" 'BEGIN { printf "%.2f", a / b }')"); break; fi
    done
done

sweep() { # sweep ARRAY_NAME COUNTS...
    local -n at="$1"; shift
    local c
    for c in "$@"; do
        # shellcheck disable=SC2086
        printf '%s at %s; ' "$(med ${at[$c]})" "$c"
    done | sed 's/; $//'
}
runs() { printf '%s, ' "$@" | sed 's/, $//'; }
equal_c="$(printf '%s\n' "${EQUAL[@]:-}" | awk 'NF { print $1; exit }')"

cat <<TABLE
| Figure (${SECONDS_PER_RUN} s per part, medians of $RUNS runs) | value |
|---|---:|
| pgbench tpcb-like, TPS by clients (reference) | $(sweep PGB_AT "${PGBENCH_CLIENTS[@]}") |
| Track, first-time events with their credit, /s by clients | $(sweep TPS_AT "${TRACK_CLIENTS[@]}") |
| **ratio Track / pgbench, each at its best** | **$(med "${RATIO[@]}")** (runs: $(runs "${RATIO[@]}"); Track/pgbench clients: $(runs "${BEST_AT[@]}")) |
TABLE
if [[ -n "$equal_c" ]]; then
    printf '| ratio at %s clients each | %s (runs: %s) |\n' "$equal_c" \
        "$(med $(printf '%s\n' "${EQUAL[@]}" | awk '{ print $2 }'))" \
        "$(runs $(printf '%s\n' "${EQUAL[@]}" | awk '{ print $2 }'))"
fi
cat <<TABLE
| p50 / p99 at Track's best, ms | $(med "${P50[@]}") / $(med "${P99[@]}") |
| **p99 at half of Track's best (open loop), ms** | **$(med "${HALF[@]}")** at $(awk -v t="$(med "${TPS[@]}")" 'BEGIN { printf "%.0f", t / 2 }') events/s (runs: $(runs "${HALF[@]}")) |
TABLE
