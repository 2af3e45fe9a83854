# Build: the official Swift image, the same setup script and release build as .ci/run.
ARG SWIFT_VERSION=6.3
FROM swift:${SWIFT_VERSION}-bookworm AS build
WORKDIR /src
COPY scripts ./scripts
RUN CALLFLOW_SETUP_NO_REDIS_SERVER=1 ./scripts/setup
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product callflow --static-swift-stdlib \
 && install -D .build/release/callflow /out/callflow

# Run: only the runtime libraries and CA certificates, as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libevent-2.1-7 libevent-pthreads-2.1-7 libsodium23 libcurl4 libsqlite3-0 libhiredis0.14 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app callflow
WORKDIR /app
COPY --from=build /out/callflow /usr/local/bin/callflow
COPY flows ./flows
COPY config.example.json ./config.example.json
COPY docker/config.json ./config.json
RUN mkdir -p /app/data && chown callflow /app/data
ENV CALLFLOW_CONFIG=/app/config.json
# A relative store.path (config.example.json's "callflow.db") goes here, so any mounted config keeps
# calls in the volume; /app itself is not writable by the callflow user.
ENV CALLFLOW_DATA_DIR=/app/data
# Live calls survive restarts in the SQLite file here: mount a volume to keep it across containers.
VOLUME /app/data
USER callflow
EXPOSE 8080
# Asks the port the config (or PORT) sets, not a fixed 8080.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["callflow", "healthcheck"]
ENTRYPOINT ["callflow"]
CMD ["serve"]
