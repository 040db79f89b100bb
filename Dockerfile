# Multi-stage build: compile with the Rust toolchain, run on a slim Debian as a non-root user.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY assets ./assets
RUN cargo build --release --locked --bin loopsmith

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data loopsmith \
    && mkdir -p /data && chown loopsmith /data
COPY --from=build /src/target/release/loopsmith /usr/local/bin/loopsmith
USER loopsmith
VOLUME /data
ENV LOOPSMITH_BIND=0.0.0.0:1984 \
    LOOPSMITH_DATABASE_URL=sqlite:///data/loopsmith.db \
    RUST_LOG=info
EXPOSE 1984
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fs http://127.0.0.1:1984/readyz || exit 1
ENTRYPOINT ["/usr/local/bin/loopsmith"]
