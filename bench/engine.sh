# Sourced by bench/gateway.sh and bench/track.sh: starts the release
# `questline dev` in $SCRATCH on ports of its own — the gateway on
# <prefix>80, the services on <prefix>51 to <prefix>55 — with no rate limit
# in the way of the load, and waits until it answers. Sets ENGINE (its pid)
# and KEY (the demo's API key). Needs TARGET (or RELEASE, the binaries' directory), SCRATCH and die().
start_engine() {
    local prefix="$1" i=1 part
    export "QUESTLINE__GATEWAY__LISTEN=127.0.0.1:${prefix}80" QUESTLINE__GATEWAY__ADMIN_LISTEN=
    export QUESTLINE__GATEWAY__RATE_LIMIT_PER_SECOND=1000000
    export QUESTLINE__TELEMETRY__LOG=warn
    for part in IDENTITY LEDGER MECHANICS REWARDS NOTIFICATIONS; do
        export "QUESTLINE__${part}__LISTEN=127.0.0.1:${prefix}5$i" "QUESTLINE__${part}__ADMIN_LISTEN="
        i=$((i + 1))
    done
    (cd "$SCRATCH" && exec "${RELEASE:-$TARGET/release}/questline" dev) >"$SCRATCH/engine.log" 2>&1 &
    ENGINE=$!
    for _ in $(seq 240); do
        [[ -f "$SCRATCH/data/demo.json" ]] && curl -sf "http://127.0.0.1:${prefix}80/healthz" >/dev/null && break
        sleep 0.5
    done
    KEY="$(sed -n 's/.*"api_key": "\(.*\)".*/\1/p' "$SCRATCH/data/demo.json" 2>/dev/null || true)"
    [[ -n "$KEY" ]] || die "questline dev did not start; see $SCRATCH/engine.log"
}
