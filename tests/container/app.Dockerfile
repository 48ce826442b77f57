# The sample app (tests/app) as users ship it: CMD ["npm", "start"], with
# lastcall copied from its image and put in front as the ENTRYPOINT.
# Built by tests/integration/test_container.sh with tests/ as the context.
ARG LASTCALL_IMAGE=localhost/lastcall:test
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${LASTCALL_IMAGE} AS lastcall

FROM ${DEBIAN_IMAGE}
RUN apt-get update -qq \
	&& apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY app/ ./
COPY --from=lastcall /lastcall /lastcall
ENV HOST=0.0.0.0 PORT=8080 npm_config_update_notifier=false npm_config_loglevel=error
EXPOSE 8080 9797
ENTRYPOINT ["/lastcall", "run", "--"]
CMD ["npm", "start"]
