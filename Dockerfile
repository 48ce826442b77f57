# lastcall image. Build: docker build -t lastcall .
# Use it in an app image:  COPY --from=lastcall /lastcall /lastcall
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
	build-essential pkg-config libcurl4-openssl-dev libcjson-dev \
	libmicrohttpd-dev libmnl-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY helper ./helper
RUN make && strip build/lastcall

# Dynamic for now: the runtime stage carries the libraries it links.
# A static binary in a FROM scratch image is the goal of the packaging work.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
	libcurl4 libcjson1 libmicrohttpd12 libmnl0 && rm -rf /var/lib/apt/lists/*
LABEL org.opencontainers.image.title="lastcall" \
      org.opencontainers.image.description="Graceful shutdown for Kubernetes pods: PID 1, drain, preStop"
COPY --from=build /src/build/lastcall /lastcall
ENTRYPOINT ["/lastcall"]
CMD ["--help"]
