# syntax=docker/dockerfile:1
# The `questline` binary in a small non-root image. One image runs every part:
# the pod's args pick it (`serve identity`, `serve gateway`, `migrate`, ...).
#   docker build -t questline/questline:0.1.0 .

# Bookworm to match the runtime's glibc (distroless cc-debian12).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target dir live in BuildKit caches, so the binary is copied
# out of the cache mount within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p questline \
 && install -D -m 0755 target/release/questline /out/questline

# glibc and libgcc, nothing else; runs as uid/gid 65532. The binary needs no
# TLS roots or data files: PostgreSQL, NATS and the OTLP collector are reached
# over the network, and no SQLite data directory is used in a cluster.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="questline" \
      org.opencontainers.image.description="Questline gamification and loyalty engine: gRPC services and the REST gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/questline /usr/local/bin/questline
USER 65532:65532
# gRPC: identity 50051, ledger 50052, mechanics 50053, rewards 50054,
# notifications 50055; gateway HTTP 8080; admin (/metrics, /livez, /readyz) 9101-9106.
EXPOSE 50051 50052 50053 50054 50055 8080 9101-9106
ENTRYPOINT ["/usr/local/bin/questline"]
CMD ["serve", "gateway"]
