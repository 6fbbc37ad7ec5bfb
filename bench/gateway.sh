#!/usr/bin/env bash
# What the REST gateway costs: `POST /v1/events` through the gateway (wrk,
# HTTP/1.1 keep-alive) against the same `Track` over direct gRPC
# (track-load), on one `questline dev` (release build, SQLite), same run,
# same event, same number of connections. See bench/README.md.
#
#   bench/gateway.sh                          # 5 runs of 15 s, 32 connections
#   RUNS=1 SECONDS_PER_RUN=5 bench/gateway.sh
#
# Settings (environment): CLIENTS (32), SECONDS_PER_RUN (15), RUNS (5).
# Progress goes to stderr; the Markdown table alone goes to stdout.
set -euo pipefail
shopt -s inherit_errexit

CLIENTS="${CLIENTS:-32}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-15}"
RUNS="${RUNS:-5}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

say() { printf '%s\n' "$*" >&2; }
die() { say "gateway.sh: $*"; exit 1; }

for tool in cargo wrk curl awk sed sort; do
    command -v "$tool" >/dev/null || die "$tool is not installed (wrk: Debian's wrk package)"
done

say "building questline and track-load (release)"
(cd "$ROOT" && cargo build --release --locked -q -p questline -p questline-bench --bin questline --bin track-load)

SCRATCH="$(mktemp -d)"
ENGINE=""
cleanup() {
    if [[ -n "$ENGINE" ]]; then kill "$ENGINE" 2>/dev/null || true; wait "$ENGINE" 2>/dev/null || true; fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

# shellcheck source=bench/engine.sh
source "$ROOT/bench/engine.sh"
start_engine 180
MEMBER="$(sed -n 's/.*"member_id": "\(.*\)".*/\1/p' "$SCRATCH/data/demo.json")"
[[ -n "$MEMBER" ]] || die "the demo has no member; see $SCRATCH/engine.log"

BODY="{\"event_id\":\"bench-replay\",\"member_id\":\"$MEMBER\",\"type\":\"purchase\",\"attributes\":{\"amount\":100}}"
# The first send earns; every later one is the replay both halves measure.
curl -sf -X POST http://127.0.0.1:18080/v1/events -H "X-Api-Key: $KEY" \
    -H 'content-type: application/json' -d "$BODY" >/dev/null

cat >"$SCRATCH/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = "$KEY"
LUA

# wrk's figures: requests/s and the 50th and 99th percentiles, in ms.
rest_half() {
    wrk -t2 -c"$CLIENTS" -d"${SECONDS_PER_RUN}s" --latency -s "$SCRATCH/post.lua" \
        http://127.0.0.1:18080/v1/events >"$SCRATCH/wrk.txt"
    grep -q "Non-2xx" "$SCRATCH/wrk.txt" && die "the gateway refused some requests: $(cat "$SCRATCH/wrk.txt")"
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { tps = $2 }
        $1 == "50.000%" || $1 == "50%" { p50 = ms($2) }
        $1 == "99.000%" || $1 == "99%" { p99 = ms($2) }
        END { printf "tps=%.0f p50_ms=%.2f p99_ms=%.2f\n", tps, p50, p99 }' "$SCRATCH/wrk.txt"
}

grpc_half() {
    "$TARGET/release/track-load" --mechanics http://127.0.0.1:18053 --identity http://127.0.0.1:18051 \
        --api-key "$KEY" --member-id "$MEMBER" --clients "$CLIENTS" --seconds "$SECONDS_PER_RUN"
}

value() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -a REST_TPS REST_P50 REST_P99 GRPC_TPS GRPC_P50 GRPC_P99 RATIO
for run in $(seq "$RUNS"); do
    # Alternate which half goes first, so neither always gets the cooler machine.
    if (( run % 2 )); then rest="$(rest_half)"; grpc="$(grpc_half)"; else grpc="$(grpc_half)"; rest="$(rest_half)"; fi
    say "run $run: gateway $rest | gRPC $grpc"
    REST_TPS+=("$(value tps "$rest")"); REST_P50+=("$(value p50_ms "$rest")"); REST_P99+=("$(value p99_ms "$rest")")
    GRPC_TPS+=("$(value tps "$grpc")"); GRPC_P50+=("$(value p50_ms "$grpc")"); GRPC_P99+=("$(value p99_ms "$grpc")")
    RATIO+=("$(awk -v r="${REST_TPS[-1]}" -v g="${GRPC_TPS[-1]}" 'BEGIN { printf "%.2f", r / g }')")
done

med() { printf '%s\n' "$@" | median; }
cat <<TABLE
| Figure ($CLIENTS connections, ${SECONDS_PER_RUN} s, medians of $RUNS runs) | gateway (REST) | direct gRPC |
|---|---:|---:|
| requests/s | $(med "${REST_TPS[@]}") | $(med "${GRPC_TPS[@]}") |
| p50, ms | $(med "${REST_P50[@]}") | $(med "${GRPC_P50[@]}") |
| p99, ms | $(med "${REST_P99[@]}") | $(med "${GRPC_P99[@]}") |
| **ratio gateway / gRPC, requests/s** | **$(med "${RATIO[@]}")** (runs: $(printf '%s, ' "${RATIO[@]}" | sed 's/, $//')) | |
TABLE
