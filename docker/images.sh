#!/usr/bin/env bash
# `make docker-images`: the local images of docker/offline.env, from Debian's packages and Maven Central only
# (no image registry). Idempotent: an image is rebuilt only when its inputs changed (a hash of its build context
# is kept as the label foodlab.inputs); the Kafka jars are cached under .cache/, the debootstrap tarball in root's
# state directory (/var/lib/foodlab/docker: as root nothing is written in, or run from, the checkout; the jars are
# fetched as the checkout's owner, and debootstrap checks the mirror against Debian's archive keyring).
#   minbase      foodlab/debian-minbase:bookworm  debootstrap --variant=minbase (python3, venv, CA) + docker import
#   python base  PYTHON_BASE_IMAGE                venv at /usr/local, host CA bundle, PIP_CERT
#   rabbitmq     RABBITMQ_IMAGE                   Debian's rabbitmq-server + management, env-driven entrypoint
#   kafka        KAFKA_IMAGE                      Debian's openjdk-17-jre-headless + the Kafka jars (Maven)
# Exit codes as docker/engine.sh (3: no engine on this machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/docker"
SAY_PREFIX=docker-images
# shellcheck source=rootsafe.sh
. "$HERE/rootsafe.sh"
MINBASE="${MINBASE_IMAGE:-foodlab/debian-minbase:bookworm}"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
INCLUDE=python3,python3-venv,ca-certificates
image_vars "$HERE/offline.env"  # parsed, not sourced: root runs no shell from the checkout

say() { echo "docker-images: $*"; }

# Sourced by a test (IMAGES_SH_LIB=1): functions only.
if [ -z "${IMAGES_SH_LIB:-}" ]; then
    "$HERE/engine.sh" || exit $?
fi
# Root's own files go where only root writes; a user builds in the checkout's .cache/ as before.
if [ "$(id -u)" -eq 0 ]; then CACHE=$(state_dir); else CACHE="$ROOT/.cache/docker"; fi

t_all=$SECONDS

build_minbase() {
    local tarball="$CACHE/debian-$SUITE-minbase.tar" rootfs="$CACHE/rootfs.partial"
    if [ ! -s "$tarball" ]; then
        if [ "$(id -u)" -ne 0 ] || ! command -v debootstrap >/dev/null; then
            echo "docker-images: unavailable: the base image needs debootstrap run as root (apt-get install debootstrap)" >&2
            exit 3
        fi
        local args; args=$(debootstrap_args "$SUITE" "$rootfs" "$MIRROR" minbase "$INCLUDE")
        say "debootstrap $SUITE (minbase + $INCLUDE) from $MIRROR, signatures checked against $DEBIAN_KEYRING, once (about 2 min) ..."
        rm -rf "$rootfs"; mkdir -p "$CACHE"
        local t0=$SECONDS
        local argv; mapfile -t argv <<<"$args"
        debootstrap "${argv[@]}" >"$CACHE/debootstrap.log" 2>&1 \
            || { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" --numeric-owner -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
        rm -rf "$rootfs"
        say "debootstrap took $((SECONDS - t0)) s; cached as $tarball"
    fi
    local sum; sum=$(sha256sum "$tarball" | cut -c1-16)
    if [ "$(label "$MINBASE")" != "$sum" ]; then
        say "importing $MINBASE"
        docker import --change "LABEL foodlab.inputs=$sum" --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' \
            "$tarball" "$MINBASE" >/dev/null
    fi
}

label() { docker image inspect -f '{{index .Config.Labels "foodlab.inputs"}}' "$1" 2>/dev/null || true; }

# build NAME CONTEXT_DIR: docker build unless the image carries the hash of this context (and of the base image).
build() {
    local name="$1" ctx="$2" sum
    sum=$( { (cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum); docker image inspect -f '{{.Id}}' "$MINBASE"; } \
           | sha256sum | cut -c1-16)
    if [ "$(label "$name")" = "$sum" ]; then
        say "$name is up to date"
        return 0
    fi
    say "building $name ..."
    local t0=$SECONDS
    docker build -q --build-arg MINBASE="$MINBASE" --label "foodlab.inputs=$sum" -t "$name" "$ctx" >/dev/null
    say "built $name in $((SECONDS - t0)) s"
}

# A build context holding the files a Dockerfile copies (hard links, so the jars are not copied).
stage() {
    local dir="$CACHE/context/$1"
    [ -L "$HERE/$1" ] && refuse "$HERE/$1 is a symbolic link"  # root would copy what it points at
    rm -rf "$dir"; mkdir -p "$dir"
    cp -a "$HERE/$1/." "$dir/"
    echo "$dir"
}

# kafka_libs: the jars, by the native runtime's own Maven fetch (streaming_kafka.lab.broker.native), cached in
# .cache/kafka-<v>/; run as the checkout's owner (the .venv's): root never runs a user's interpreter. Prints the
# folder, which must be that cache (and no link).
kafka_libs() {
    local libs
    libs=$(cd "$ROOT" && as_tree_owner "$ROOT/.venv" "$ROOT/.venv/bin/python" -c '
import contextlib, sys
from streaming_kafka.lab.broker.native import Broker
from common.settings import get_settings
broker = Broker(get_settings())
with contextlib.redirect_stdout(sys.stderr):
    broker.fetch_jars()
print(broker.libs)') || exit 1
    case "$libs" in "$ROOT"/.cache/kafka-*/libs) ;; *) refuse "the Kafka jars are not in the checkout's .cache/: $libs" ;; esac
    [ -d "$libs" ] && [ ! -L "$libs" ] || refuse "$libs is not a directory"
    echo "$libs"
}

[ -n "${IMAGES_SH_LIB:-}" ] && return 0

build_minbase

# The three images only share the base: they are built side by side (each apt-get waits on the mirror as much
# as on the CPU), and the script fails when any one of them fails.
(
    ctx=$(stage python-base)
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
    build "$PYTHON_BASE_IMAGE" "$ctx"
) & python_base=$!

( build "$RABBITMQ_IMAGE" "$HERE/rabbitmq" ) & rabbitmq=$!

(
    libs=$(kafka_libs)
    ctx=$(stage kafka)
    cp -al "$libs" "$ctx/libs" 2>/dev/null || cp -a "$libs" "$ctx/libs"
    rm -f "$ctx/libs/.complete"
    build "$KAFKA_IMAGE" "$ctx"
) & kafka=$!

failed=0
for job in "$python_base" "$rabbitmq" "$kafka"; do
    wait "$job" || failed=$?
done
[ "$failed" -eq 0 ] || exit "$failed"

say "ready in $((SECONDS - t_all)) s: $PYTHON_BASE_IMAGE $RABBITMQ_IMAGE $KAFKA_IMAGE"
