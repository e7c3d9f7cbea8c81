# A stand-in for the official redis image, made from Debian's redis-server on the
# local base (no registry is reachable here): `redis-server ARGS` runs as the redis
# user in /data without protected mode (as the official image does), redis-cli is on
# PATH for the health check. Built by tests/deploy/images.py with --network host (apt).
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
