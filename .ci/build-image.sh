#!/usr/bin/env bash
# Build legato's image (`make image`) with nothing downloaded during the build itself
# but Debian's git package.
#
#   1. base: $PYTHON_IMAGE if set (e.g. python:3.11-slim where a registry answers),
#      else the Debian-made stand-in of .ci/base-image.sh (built once per machine);
#   2. wheelhouse: every wheel of the locked dependency set ($LOCK_FILE), plus the
#      build backend, downloaded once per lock into $LEGATO_CACHE_DIR and verified
#      against the lock's hashes;
#   3. context: only what the image needs, sent as a tar on stdin, so a checkout's
#      .venv or .git never reaches the daemon, whichever builder the CLI uses;
#   4. docker build --network host: the runtime stage installs git with apt, and with
#      dockerd run as here (--iptables=false) the default bridge has no way out;
#   5. `docker run --rm IMAGE --version` must answer.
#
# Environment:
#   IMAGE            tag(s) to build, space-separated (default legato:latest)
#   PYTHON_IMAGE     base image (default: the local Debian-made one)
#   LOCK_FILE        the locked dependency set (default requirements.lock)
#   LEGATO_CACHE_DIR wheelhouse cache (default ~/.cache/legato)
#   BUILD_NETWORK    network for RUN steps (default host)
#   PYTHON           the Python whose pip downloads the wheels (default .venv/bin/python)
#   BUILD_LOG        where docker build's output goes (default /tmp/legato-image-build.log)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-legato:latest}
LOCK_FILE=${LOCK_FILE:-requirements.lock}
CACHE=${LEGATO_CACHE_DIR:-$HOME/.cache/legato}
NETWORK=${BUILD_NETWORK:-host}
PY=${PYTHON:-.venv/bin/python}
BUILD_LOG=${BUILD_LOG:-/tmp/legato-image-build.log}
BUILD_REQS=("setuptools>=69" "wheel") # pyproject's [build-system] requires

say() { echo "build-image: $*" >&2; }
die() { echo "build-image: ERROR: $*" >&2; exit 1; }
unset DOCKER_HOST DOCKER_CONTEXT
[[ -x "$PY" ]] || PY=python3
start=$SECONDS

# --- 1. base -----------------------------------------------------------------------
base=${PYTHON_IMAGE:-}
if [[ -z "$base" ]]; then
    base=$(bash .ci/base-image.sh)
fi
say "base image $base"

# --- 2. lock and wheelhouse ----------------------------------------------------------
work=$(mktemp -d /var/tmp/legato-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
lock="$work/requirements.lock"
[[ -f "$LOCK_FILE" ]] || die "no $LOCK_FILE: run make lock"
cp "$LOCK_FILE" "$lock"
key=$(cat "$lock" <(printf '%s\n' "${BUILD_REQS[@]}") | sha256sum | cut -c1-16)
wheels="$CACHE/wheelhouse-$key"
if [[ -f "$wheels/.complete" ]]; then
    say "reusing wheelhouse $wheels"
else
    say "downloading the locked wheels into $wheels"
    rm -rf "$wheels" && mkdir -p "$wheels"
    "$PY" -m pip download -q --only-binary=:all: --no-deps --require-hashes \
        -r "$lock" -d "$wheels" 2>&1 | grep -v "is ignored" >&2 || true
    "$PY" -m pip download -q --only-binary=:all: -d "$wheels" "${BUILD_REQS[@]}" 2>&1 |
        grep -v "is ignored" >&2 || true
    count=$(grep -cE '^[A-Za-z0-9_.-]+==' "$lock")
    have=$(find "$wheels" -name '*.whl' | wc -l)
    ((have >= count)) || die "wheelhouse has $have wheels for $count locked packages"
    touch "$wheels/.complete"
fi

# --- 3. context ------------------------------------------------------------------------
ctx="$work/context"
mkdir -p "$ctx/deploy/wheelhouse"
tar -c --exclude=__pycache__ --exclude='*.pyc' \
    pyproject.toml README.md app tasks pieces agents swarm deploy/Dockerfile |
    tar -x -C "$ctx" # what deploy/Dockerfile.dockerignore lets through
cp "$lock" "$ctx/requirements.lock"
cp "$wheels"/*.whl "$ctx/deploy/wheelhouse/"

# --- 4. build --------------------------------------------------------------------------
tags=()
old=()
for tag in $IMAGE; do
    tags+=(-t "$tag")
    old+=("$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)")
done
first=${IMAGE%% *}
say "docker build ${tags[*]} (FROM $base)"
build_start=$SECONDS
tar -C "$ctx" -c . | docker build --force-rm --network "$NETWORK" --build-arg PYTHON_IMAGE="$base" \
    -f deploy/Dockerfile "${tags[@]}" - >"$BUILD_LOG" 2>&1 || {
    tail -n 40 "$BUILD_LOG" >&2
    die "docker build failed (log: $BUILD_LOG)"
}
new=$(docker image inspect --format '{{.Id}}' "$first")
# The images this one replaces, and the builder stages of earlier builds (the legacy
# builder leaves them untagged; the newest one is the cache of the next build):
# removed when nothing else uses them.
for id in "${old[@]}"; do
    if [[ -n "$id" && "$id" != "$new" ]]; then docker rmi "$id" >/dev/null 2>&1 || true; fi
done
docker images -q --no-trunc -f dangling=true -f label=org.legato.stage=builder |
    tail -n +2 | xargs -r docker rmi >/dev/null 2>&1 || true

# --- 5. smoke ---------------------------------------------------------------------------
version=$(docker run --rm "$first" --version) || die "docker run $first --version failed"
say "built ${IMAGE} ($version) in $((SECONDS - build_start)) s; total $((SECONDS - start)) s"
