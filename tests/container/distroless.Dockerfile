# A shell-less app image, as distroless ones are: node, the libraries it
# loads, the sample app and an empty /tmp; no sh, no cp, no sleep. lastcall
# is not in it: an init container copies it into a shared volume (the
# init-container pattern, deploy/init-container).
# Built by tests/integration/test_container.sh with tests/ as the context.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE} AS node
# The same step as app.Dockerfile's, so the layer is shared.
RUN apt-get update -qq \
	&& apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \
	&& rm -rf /var/lib/apt/lists/*
# node, the libraries it loads, and the JavaScript files Debian's node
# loads from /usr/share/nodejs (its externalized builtins).
RUN mkdir -p /rootfs/tmp && chmod 1777 /rootfs/tmp \
	&& bins="/usr/bin/node $(ldd /usr/bin/node | grep -o '/[^ ]*')" \
	&& for f in $bins $(grep -aoh '/usr/share/nodejs/[a-z0-9./_-]*' $bins | sort -u); do \
		[ ! -e "$f" ] || cp --parents -L "$f" /rootfs; \
	done

FROM scratch
COPY --from=node /rootfs/ /
COPY app/server.js /app/server.js
ENV HOST=0.0.0.0 PORT=8080
USER 65532:65532
ENTRYPOINT ["/usr/bin/node", "/app/server.js"]
