#!/usr/bin/env bash
# Bring up a local Docker Engine in swarm mode for legato's swarm/deploy tests.
#
# Idempotent: every step checks first and does nothing when already done.
#   1. install Debian's docker.io and busybox-static if missing (apt-get update first)
#   2. start dockerd in the background if no daemon answers (vfs storage driver,
#      no iptables; retried with --bridge=none if the default bridge cannot be made)
#   3. wait for the daemon, then `docker swarm init --advertise-addr 127.0.0.1`
#      unless this node is already a swarm manager
#   4. create the image legato-test/busybox:latest with `docker import` from a
#      rootfs holding busybox-static (nothing is pulled from any registry)
#
# dockerd runs with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 so swarm tasks use the
# local image and never try to contact a registry before starting a container.
#
# Environment:
#   LEGATO_DOCKERD_LOG   dockerd log file (default /var/log/legato-dockerd.log)
#   LEGATO_TEST_IMAGE    image to create (default legato-test/busybox:latest)
#   DOCKER_WAIT_SECONDS  how long to wait for the daemon (default 60)
set -euo pipefail

LOG=${LEGATO_DOCKERD_LOG:-/var/log/legato-dockerd.log}
IMAGE=${LEGATO_TEST_IMAGE:-legato-test/busybox:latest}
WAIT=${DOCKER_WAIT_SECONDS:-60}
SOCK=/var/run/docker.sock

say() { echo "docker-setup: $*"; }
die() {
    echo "docker-setup: ERROR: $*" >&2
    if [[ -f "$LOG" ]]; then
        echo "docker-setup: last lines of $LOG:" >&2
        tail -n 25 "$LOG" >&2 || true
    fi
    exit 1
}

# The daemon is reached through the default unix socket; a DOCKER_HOST pointing
# elsewhere (e.g. a dead socket left by a test) must not confuse the checks here.
unset DOCKER_HOST DOCKER_CONTEXT
docker_cli() { docker -H "unix://$SOCK" "$@"; }

# --- 1. packages -----------------------------------------------------------
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if ((${#need[@]})); then
    [[ $(id -u) -eq 0 ]] || die "need root to install ${need[*]}"
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
        >/tmp/legato-docker-apt.log 2>&1 || {
        tail -n 20 /tmp/legato-docker-apt.log >&2
        die "apt-get install ${need[*]} failed"
    }
fi
command -v docker >/dev/null 2>&1 || die "no docker CLI after installing docker.io"

# --- 2. daemon -------------------------------------------------------------
daemon_up() { docker_cli info >/dev/null 2>&1; }

start_dockerd() {
    # "$@": extra flags
    mkdir -p "$(dirname "$LOG")"
    say "starting dockerd $* (log: $LOG)"
    DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 nohup dockerd \
        --host "unix://$SOCK" \
        --storage-driver=vfs \
        --iptables=false \
        --ip6tables=false \
        "$@" >>"$LOG" 2>&1 </dev/null &
    DOCKERD_PID=$!
    echo "$DOCKERD_PID" >/var/run/legato-dockerd.pid
}

wait_daemon() {
    local deadline=$((SECONDS + WAIT))
    while ((SECONDS < deadline)); do
        daemon_up && return 0
        if [[ -n "${DOCKERD_PID:-}" ]] && ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            return 1 # it died
        fi
        sleep 1
    done
    return 1
}

if daemon_up; then
    say "dockerd already answers on $SOCK"
else
    # A stale pid file from a daemon that died keeps dockerd from starting again.
    if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    start_dockerd
    if ! wait_daemon; then
        if grep -qiE "bridge|docker0" "$LOG" 2>/dev/null && ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            say "dockerd failed around the default bridge; retrying with --bridge=none"
            start_dockerd --bridge=none
            wait_daemon || die "dockerd did not come up (also with --bridge=none)"
        else
            die "dockerd did not answer on $SOCK within ${WAIT}s"
        fi
    fi
    say "dockerd is up ($(docker_cli version --format '{{.Server.Version}}' 2>/dev/null))"
fi

# --- 3. swarm --------------------------------------------------------------
state=$(docker_cli info --format '{{.Swarm.LocalNodeState}}')
if [[ "$state" != "active" ]]; then
    say "docker swarm init --advertise-addr 127.0.0.1"
    docker_cli swarm init --advertise-addr 127.0.0.1 >/dev/null ||
        die "docker swarm init failed"
fi
control=$(docker_cli info --format '{{.Swarm.ControlAvailable}}')
[[ "$control" == "true" ]] || die "this node is in a swarm but is not a manager"
say "swarm manager: $(docker_cli info --format '{{.Swarm.NodeID}}')"

# --- 4. test image ---------------------------------------------------------
if docker_cli image inspect "$IMAGE" >/dev/null 2>&1; then
    say "image $IMAGE already present"
else
    busybox=""
    for candidate in /bin/busybox /usr/bin/busybox; do
        if [[ -x "$candidate" ]] && file -L "$candidate" 2>/dev/null | grep -q "statically linked"; then
            busybox=$candidate
            break
        fi
    done
    # `file` may be missing; dpkg knows where busybox-static put its binary.
    if [[ -z "$busybox" ]]; then
        busybox=$(dpkg -L busybox-static 2>/dev/null | grep -E '/busybox$' | head -n1 || true)
    fi
    [[ -n "$busybox" && -x "$busybox" ]] || die "no static busybox binary found"
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs"/{bin,sbin,etc,tmp,proc,sys,dev,root,var/run}
    chmod 1777 "$rootfs/tmp"
    cp "$busybox" "$rootfs/bin/busybox"
    for applet in $("$busybox" --list); do
        [[ "$applet" == busybox ]] && continue
        ln -sf busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    say "importing $IMAGE from a busybox-static rootfs"
    tar -C "$rootfs" -c . | docker_cli import \
        --change 'CMD ["/bin/sh"]' \
        --change 'ENV PATH=/bin:/sbin' \
        --message "legato test image: busybox-static rootfs" \
        - "$IMAGE" >/dev/null || die "docker import failed"
fi

# --- 5. smoke test: a container starts on the default bridge ----------------
# (A dockerd started elsewhere with --bridge=none deletes docker0 under a running
# daemon; containers then fail with "could not find bridge docker0".)
smoke() { docker_cli run --rm "$IMAGE" true >/tmp/legato-docker-smoke.log 2>&1; }
if ! smoke; then
    cat /tmp/legato-docker-smoke.log >&2
    own=$(cat /var/run/legato-dockerd.pid 2>/dev/null || true)
    if [[ -n "$own" ]] && kill -0 "$own" 2>/dev/null; then
        say "container smoke test failed; restarting the dockerd this script started"
        kill "$own"
        for _ in $(seq 1 30); do kill -0 "$own" 2>/dev/null || break; sleep 1; done
        start_dockerd
        wait_daemon || die "dockerd did not come back after the restart"
        smoke || die "containers still cannot start (see above)"
    else
        die "a container cannot start on this daemon (see above)"
    fi
fi
say "ready: $(docker_cli image inspect --format '{{.Id}}' "$IMAGE" | cut -c1-19) $IMAGE"
