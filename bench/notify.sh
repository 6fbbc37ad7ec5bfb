#!/usr/bin/env bash
# Notifications against pgbench on the same PostgreSQL server: domain events
# (points credited), published to NATS JetStream as the ledger's outbox
# does, each turned into a stored inbox message and a signed webhook
# delivery accepted by a local receiver; against pgbench's tpcb-like
# transaction, in the same run. See bench/README.md.
#
#   bench/notify.sh                          # 3 runs of 20,000 events
#   RUNS=1 EVENTS=5000 bench/notify.sh       # a quick check
#
# Settings (environment):
#   PG               server URL, trust auth, no database   (postgres://postgres@127.0.0.1:5432)
#   NATS             NATS with JetStream                    (nats://127.0.0.1:4222)
#   EVENTS           events per run                         (20000)
#   MEMBERS          members the events are spread over     (1000)
#   PGBENCH_CLIENTS  pgbench's client counts                (8 16 32)
#   SECONDS_PER_RUN  length of each pgbench part            (20)
#   RUNS             repetitions; the table shows medians   (3)
#
# Progress goes to stderr; the Markdown table alone goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

PG="${PG:-postgres://postgres@127.0.0.1:5432}"
PG="${PG%/}"
NATS="${NATS:-nats://127.0.0.1:4222}"
EVENTS="${EVENTS:-20000}"
MEMBERS="${MEMBERS:-1000}"
read -ra PGBENCH_CLIENTS <<<"${PGBENCH_CLIENTS:-8 16 32}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"
RUNS="${RUNS:-3}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PARTS=(identity ledger mechanics rewards notifications gateway)
PGBENCH_DB="ql_bench_tpcb_$$"
STREAM="QL_BENCH_NOTIFY_$$"

say() { printf '%s\n' "$*" >&2; }
die() { say "notify.sh: $*"; exit 1; }

for tool in cargo psql pgbench curl awk sed sort; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
for n in "${PGBENCH_CLIENTS[@]}" "$SECONDS_PER_RUN" "$RUNS" "$EVENTS" "$MEMBERS"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "client counts, SECONDS_PER_RUN, RUNS, EVENTS and MEMBERS must be positive integers"
done

BENCH=notify
# shellcheck source=bench/postgres.sh
source "$ROOT/bench/postgres.sh"
open_scratch

say "building questline and notify-load (release)"
(cd "$ROOT" && cargo build --release --locked -q -p questline -p questline-bench --bin questline --bin notify-load)

prepare_databases
# The engine on NATS, on a stream of its own, so events come from outside.
export QUESTLINE__BUS__KIND=nats QUESTLINE__BUS__NATS_URL="$NATS" \
    QUESTLINE__BUS__STREAM="$STREAM" QUESTLINE__BUS__SUBJECT_PREFIX="qlbench$$"

# shellcheck source=bench/engine.sh
source "$ROOT/bench/engine.sh"
start_engine 182
TENANT="$(sed -n 's/.*"tenant_id": "\(.*\)".*/\1/p' "$SCRATCH/data/demo.json")"

value() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { printf '%s\n' "$@" | median; }
runs() { printf '%s, ' "$@" | sed 's/, $//'; }
pgbench_tps() {
    pgbench -n -b tpcb-like -c "$1" -j 2 -T "$SECONDS_PER_RUN" "$PG/$PGBENCH_DB" 2>/dev/null |
        sed -n 's/^tps = \([0-9]*\).*/\1/p' | head -1
}
# notify RUN_NAME EVENTS
notify() {
    "$TARGET/release/notify-load" --nats-url "$NATS" --stream "$STREAM" --subject-prefix "qlbench$$" \
        --notifications http://127.0.0.1:18255 --identity http://127.0.0.1:18251 --api-key "$KEY" \
        --tenant-id "$TENANT" --database-url "$PG/$(db_of notifications)" \
        --events "$2" --members "$MEMBERS" --run "$1"
}

say "warming up"
notify warm 1000 >/dev/null

declare -a PGB EPS RATIO INBOX HOOKS INBOX_RATIO
for run in $(seq "$RUNS"); do
    best=0 best_c=0
    for c in "${PGBENCH_CLIENTS[@]}"; do
        settle; tps="$(pgbench_tps "$c" || true)"
        [[ -n "$tps" ]] || die "pgbench failed at $c clients"
        if (( tps > best )); then best="$tps" best_c="$c"; fi
    done
    settle; out="$(notify "run$run" "$EVENTS")" || die "notify-load failed"
    [[ "$(value bad_signatures "$out")" == 0 ]] || die "deliveries with bad signatures: $out"
    eps="$(value eps "$out")"
    say "run $run: pgbench $best TPS at $best_c clients | notifications: $out"
    PGB+=("$best"); EPS+=("$eps")
    INBOX+=("$(awk -v n="$EVENTS" -v s="$(value inbox_s "$out")" 'BEGIN { printf "%.0f", n / s }')")
    HOOKS+=("$(awk -v n="$EVENTS" -v s="$(value webhooks_s "$out")" 'BEGIN { printf "%.0f", n / s }')")
    RATIO+=("$(awk -v a="$eps" -v b="$best" 'BEGIN { printf "%.2f", a / b }')")
    INBOX_RATIO+=("$(awk -v a="${INBOX[-1]}" -v b="$best" 'BEGIN { printf "%.2f", a / b }')")
done

cat <<TABLE
| Figure ($EVENTS events over $MEMBERS members per run, medians of $RUNS runs) | value |
|---|---:|
| pgbench tpcb-like, TPS at its best of ${PGBENCH_CLIENTS[*]} clients (reference) | $(med "${PGB[@]}") (runs: $(runs "${PGB[@]}")) |
| events/s into stored inbox messages | $(med "${INBOX[@]}") (runs: $(runs "${INBOX[@]}")) |
| events/s into signed webhook deliveries, each accepted by the receiver | $(med "${HOOKS[@]}") (runs: $(runs "${HOOKS[@]}")) |
| events/s into both, the slower of the two | $(med "${EPS[@]}") (runs: $(runs "${EPS[@]}")) |
| ratio inbox messages / pgbench | $(med "${INBOX_RATIO[@]}") (runs: $(runs "${INBOX_RATIO[@]}")) |
| **ratio notifications (both) / pgbench** | **$(med "${RATIO[@]}")** (runs: $(runs "${RATIO[@]}")) |
TABLE
