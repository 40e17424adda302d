# claude-proxy container image: built in the official Rust image, run in a
# distroless image as a non-root user with nothing but the binary.
#
#   docker build --build-arg GIT_COMMIT=$(git rev-parse --short HEAD) -t claude-proxy .
#   docker run -p 3000:3000 -e PROXY_ACCESS_KEY=... -v claude-proxy-data:/data claude-proxy
#
# config.json and the request store live in the /data volume; the container
# refuses to start without PROXY_ACCESS_KEY (it listens on 0.0.0.0).

FROM rust:1-bookworm AS build
ARG GIT_COMMIT=
ENV CLAUDE_PROXY_COMMIT=${GIT_COMMIT}
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p claude-proxy --bin claude-proxy \
 && mkdir -p /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/claude-proxy /usr/local/bin/claude-proxy
COPY --from=build --chown=65532:65532 /data /data
ENV HOST=0.0.0.0 \
    PORT=3000 \
    CONFIG_PATH=/data/config.json \
    DATA_DIR=/data \
    LOG_FORMAT=json
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
USER nonroot:nonroot
# The binary checks itself: no HTTP client in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/claude-proxy", "health"]
ENTRYPOINT ["/usr/local/bin/claude-proxy"]
CMD ["serve"]
