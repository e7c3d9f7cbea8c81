#!/usr/bin/env bash
# Start what the tests talk to, if it is not already up: PostgreSQL, Redis, dockerd,
# and install Debian's Chromium for the browser tests (Playwright drives it; it never
# downloads a browser of its own).
# Uses the machines' usual commands; idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "services: starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
pg_isready -h 127.0.0.1 -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 60); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
echo "services: redis $(redis-cli -h 127.0.0.1 -p 6379 ping)"

if ! command -v chromium >/dev/null 2>&1; then
    echo "services: installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "services: $(chromium --version 2>/dev/null || echo 'chromium missing')"

bash "$here/docker-setup.sh"
