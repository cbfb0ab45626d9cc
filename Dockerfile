# ripple, built from this repository (the tutorial's drasi-server image, replaced).
#
#   docker build -t ripple .
#   docker run --rm -v "$PWD/config:/config:ro" -p 8080:8080 -p 8081:8081 ripple --config /config/server.yaml

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ripple

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /src/target/release/ripple /usr/local/bin/ripple
# The state store (config: state_store.path, default /data/state.redb).
VOLUME ["/data"]
# REST API and SSE reaction, as in config/server.yaml.
EXPOSE 8080 8081
ENTRYPOINT ["ripple"]
CMD ["--config", "/config/server.yaml"]
