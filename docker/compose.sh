#!/usr/bin/env bash
# `docker compose` for one part, on a machine with Docker Hub or without it.
#   docker/compose.sh env [part]          print the image variables this machine needs (none when the official
#                                         images are present or can be pulled); all parts' images by default
#   docker/compose.sh up   <part>         engine (+ local images if needed), then `docker compose up -d --build --wait`
#   docker/compose.sh down <part> [-v]    `docker compose down` (-v: remove the part's volumes too)
#   docker/compose.sh <part> <args...>    any `docker compose <args>` in the part's folder, with the same variables
# BROKERS=3 (make docker-up PART=<part> BROKERS=3): the part's cluster, docker-compose.cluster.yml over its compose
# file (Parts B and C). `down` always names the cluster file too, so a cluster's brokers and volumes go as well.
# For each official image (the compose files' and the Dockerfile's defaults) that is neither present nor pullable,
# the matching variable of docker/offline.env is exported, so compose uses the local image built by
# docker/images.sh. With Docker Hub nothing is set and the compose files run exactly as `docker compose up` does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/docker"
SAY_PREFIX=compose
# shellcheck source=rootsafe.sh
. "$HERE/rootsafe.sh"
PARTS="sync-rest async-rabbitmq streaming-kafka"

# variable=official default, read where the defaults live: the Dockerfile's ARG and the compose files'
# ${VAR:-default} (only the files of part $1 when given, so a part pulls nothing it does not use).
official() {
    local files=("$ROOT"/*/docker-compose.yml) var def
    [ -n "${1:-}" ] && files=("$ROOT/$1/docker-compose.yml")
    echo "PYTHON_BASE_IMAGE=$(sed -n 's/^ARG PYTHON_BASE_IMAGE=//p' "$ROOT/Dockerfile")"
    for var in RABBITMQ_IMAGE KAFKA_IMAGE; do
        def=$(grep -ho "\${$var:-[^}]*}" "${files[@]}" | head -n 1 || true)
        def=${def#*:-}; def=${def%\}}
        [ -z "$def" ] || echo "$var=$def"
    done
}

available() {  # present locally, or pulled now
    docker image inspect "$1" >/dev/null 2>&1 && return 0
    timeout 120 docker pull -q "$1" >/dev/null 2>&1
}

# The variables to export: a user's own setting wins; else the local image when the official one is unavailable.
image_env() {
    local var image
    while IFS='=' read -r var image; do
        if [ -n "${!var:-}" ]; then
            echo "$var=${!var}"
        elif ! available "$image"; then
            grep "^$var=" "$HERE/offline.env"
        fi
    done < <(official "${1:-}")
}

need_part() {
    case " $PARTS " in *" ${1:-} "*) ;; *) echo "usage: $0 up|down <part> ...  (parts: $PARTS)" >&2; exit 2 ;; esac
}

load_env() {  # load_env <part>: export what image_env says, and build the local images when any is used
    local lines; lines=$(image_env "$1")
    if [ -n "$lines" ] && grep -qxFf "$HERE/offline.env" <<<"$lines"; then
        echo "compose: official images unavailable here, using local ones: $(tr '\n' ' ' <<<"$lines")" >&2
        "$HERE/images.sh" >&2
    fi
    [ -z "$lines" ] || image_vars - <<<"$lines"  # parsed, never eval'd: the values come from files a user can edit
}

files() {  # files <part> [all]: the -f options: the cluster file too with BROKERS > 1 (or "all"), where it exists
    [ -f "$ROOT/$1/docker-compose.cluster.yml" ] || return 0
    if [ "${2:-}" = all ] || [ "${BROKERS:-1}" -gt 1 ]; then echo "-f docker-compose.yml -f docker-compose.cluster.yml"; fi
}

# cluster_secrets <part>: Part B's cluster file has no default Erlang cookie (whoever holds it can run code on the
# nodes): the user's RABBITMQ_ERLANG_COOKIE, else one made once, owner-only from its first byte, in
# .run/compose/rabbitmq-cluster.cookie (labkit.stack.cluster_secrets reads the same file, for the tests' stacks).
cluster_secrets() {
    [ "$1" = async-rabbitmq ] && [ -z "${RABBITMQ_ERLANG_COOKIE:-}" ] || return 0
    local dir="$ROOT/.run/compose" f="$ROOT/.run/compose/rabbitmq-cluster.cookie"
    (umask 077 && mkdir -p "$dir")
    if [ -L "$dir" ] || [ -L "$f" ]; then refuse "$f or its folder is a symbolic link"; fi
    [ -s "$f" ] || (umask 077 && set -o noclobber && od -An -tx1 -N20 /dev/urandom | tr -d ' \n' >"$f") 2>/dev/null || true
    [ -s "$f" ] || refuse "could not make the cluster's Erlang cookie in $f"
    RABBITMQ_ERLANG_COOKIE=$(cat "$f"); export RABBITMQ_ERLANG_COOKIE
}

if [ "${1:-}" = down ] && ! docker info >/dev/null 2>&1; then
    echo "compose: no Docker engine is running: nothing to take down" >&2; exit 0
fi
"$HERE/engine.sh" >&2 || exit $?
case "${1:-}" in
    env) [ -z "${2:-}" ] || need_part "$2"; image_env "${2:-}" ;;
    # shellcheck disable=SC2046  # files: word-split on purpose
    up) need_part "${2:-}"; load_env "$2"; [ -z "$(files "$2")" ] || cluster_secrets "$2"; cd "$ROOT/$2"; exec docker compose $(files "$2") up -d --build --wait "${@:3}" ;;
    # shellcheck disable=SC2046
    down) need_part "${2:-}"; [ -z "$(files "$2" all)" ] || cluster_secrets "$2"; cd "$ROOT/$2"; exec docker compose $(files "$2" all) down "${@:3}" ;;  # images play no part
    # shellcheck disable=SC2046
    *) need_part "${1:-}"; load_env "$1"; [ -z "$(files "$1")" ] || cluster_secrets "$1"; cd "$ROOT/$1"; exec docker compose $(files "$1") "${@:2}" ;;
esac
