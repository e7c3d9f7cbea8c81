#!/usr/bin/env bash
# Make a local stand-in for python:3.11-slim from Debian's own packages, once per machine.
#
# No container registry is reachable here, but Debian's mirrors are: `debootstrap`
# builds a minimal bookworm root file system with Debian's python3.11 (plus venv,
# CA certificates, netbase and tzdata, as the official slim image has), and
# `docker import` turns it into an image. `python` is linked to python3, so the
# Dockerfile runs on it unchanged (`--build-arg PYTHON_IMAGE=<this tag>`).
#
# The tag carries a hash of this recipe: an image built from the same recipe is reused
# (that is the cache, kept in the Docker engine across test runs and checkouts), a
# changed recipe builds a new one. Prints the tag on stdout; progress goes to stderr.
#
# Environment:
#   DEBIAN_MIRROR      a Debian mirror (default: debootstrap's own default)
#   LEGATO_BASE_REPO   image repository for the tag (default legato-base/python)
set -euo pipefail

SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates,netbase,tzdata
MIRROR=${DEBIAN_MIRROR:-}
REPO=${LEGATO_BASE_REPO:-legato-base/python}

say() { echo "base-image: $*" >&2; }
die() { echo "base-image: ERROR: $*" >&2; exit 1; }

# The recipe is this file without its comments: a changed comment reuses the image.
recipe_hash=$(grep -v '^[[:space:]]*#' "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)
tag="$REPO:3.11-$SUITE-$recipe_hash"

unset DOCKER_HOST DOCKER_CONTEXT
if docker image inspect "$tag" >/dev/null 2>&1; then
    say "reusing $tag"
    echo "$tag"
    exit 0
fi

[[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
        >/tmp/legato-debootstrap-apt.log 2>&1 || {
        tail -n 20 /tmp/legato-debootstrap-apt.log >&2
        die "apt-get install debootstrap failed"
    }
fi

rootfs=$(mktemp -d /var/tmp/legato-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs" # it becomes the image's /, which every user must be able to enter
start=$SECONDS
say "debootstrap $SUITE ($PACKAGES)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" ${MIRROR:+"$MIRROR"} \
    >/tmp/legato-debootstrap.log 2>&1 || {
    tail -n 30 /tmp/legato-debootstrap.log >&2
    die "debootstrap failed (log: /tmp/legato-debootstrap.log)"
}

# What python:3.11-slim gives a Dockerfile: `python` on PATH, a UTF-8 locale, and no
# package lists or caches (a later `apt-get update` fetches fresh ones).
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
# No manuals, documentation (but copyright notices) or translations, now or from the
# packages an image built on this one installs: every byte is copied per container
# on a storage driver without copy-on-write.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/legato-slim" <<'END'
path-exclude /usr/share/man/*
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/info/*
END
find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
find "$rootfs/usr/share/man" "$rootfs/usr/share/info" -mindepth 1 -delete
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
"$rootfs/usr/bin/python3" -c 'import sys, venv, ssl; assert sys.version_info[:2] == (3, 11)' ||
    die "the root file system has no working python3.11"

say "docker import -> $tag"
tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "legato base: Debian $SUITE minbase + $PACKAGES (debootstrap)" \
    - "$tag" >/dev/null || die "docker import failed"
say "built $tag in $((SECONDS - start)) s"
echo "$tag"
