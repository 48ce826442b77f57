# lastcall: one static binary (musl) in an empty image.
#
#   podman build -t lastcall .        (docker build works the same)
#
# One image for both architectures (a manifest list):
#   podman build --platform linux/amd64,linux/arm64 \
#       --build-arg BUILDPLATFORM=linux/amd64 --manifest lastcall .
#   docker buildx build --platform linux/amd64,linux/arm64 -t lastcall .  (untried)
# podman 4.3 does not set $BUILDPLATFORM for FROM (the builder would be of
# the target's platform, emulated): pass the build machine's own, as above
# on amd64. docker sets it.
#
# The builder runs the same `make static` as a Debian machine does, from
# Debian's source packages, on the build machine's own platform: for
# another architecture it cross-compiles (make static ARCH=arm64), no
# emulation. Each final image takes the binary of its architecture.
# The final image holds /lastcall and an empty
# /tmp (the default control socket's directory) and nothing else. It runs
# under any UID (65532 unless the pod says otherwise). Three ways to use it:
#
#   COPY --from=lastcall /lastcall /lastcall      in your app's image, then
#       ENTRYPOINT ["/lastcall", "run", "--"]
#   an init container: args ["install", "/shared"] copies the binary into an
#       emptyDir that the app container runs it from (distroless apps)
#   a sidecar container: args ["sidecar", ...]
#
# See deploy/ for the manifests.
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM --platform=$BUILDPLATFORM ${DEBIAN_IMAGE} AS build
# The architecture the image is for (set by the engine; amd64 when not).
ARG TARGETARCH
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends make >/dev/null
WORKDIR /src
# The libraries first: this layer is rebuilt only when the build script
# changes, not with every change to lastcall's sources.
COPY Makefile ./
COPY helper/static.sh helper/apt-sources.sh ./helper/
RUN make static-libs BUILD=/build ARCH=${TARGETARCH:-amd64}
COPY helper ./helper
ARG VERSION=0.1.0
RUN make static BUILD=/build ARCH=${TARGETARCH:-amd64} VERSION=${VERSION} \
	&& mkdir -p /out/tmp && chmod 1777 /out/tmp \
	&& cp "$(make -s static-dir BUILD=/build ARCH=${TARGETARCH:-amd64})/lastcall" /out/lastcall

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="lastcall" \
      org.opencontainers.image.description="Graceful shutdown for Kubernetes pods: PID 1, drain, preStop, sidecar, readiness gate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="scratch"
COPY --from=build /out/ /
USER 65532:65532
ENTRYPOINT ["/lastcall"]
CMD ["--help"]
