#!/bin/bash
# Writes /etc/rabbitmq/rabbitmq.conf from the environment the official image reads, then runs the command.
# RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS / RABBITMQ_DEFAULT_VHOST create that user (vhost) on the first
# boot of an empty data volume, as in the official image. guest/guest (the default when no user is given) can
# only log in from inside the container.
set -euo pipefail
conf="${ENTRYPOINT_CONF:-/etc/rabbitmq/rabbitmq.conf}"  # a test writes elsewhere
# default_pass is a secret: the file is owner-only (0600) from its first byte, also over an older, wider one.
(umask 077; rm -f "$conf.tmp"; {
    echo "# written by docker-entrypoint.sh at container start"
    echo "loopback_users.guest = true"
    echo "listeners.tcp.default = 5672"
    echo "management.tcp.port = 15672"
    echo "log.console = true"
    echo "log.file = false"
    [ -n "${RABBITMQ_DEFAULT_USER:-}" ] && echo "default_user = ${RABBITMQ_DEFAULT_USER}"
    [ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && echo "default_pass = ${RABBITMQ_DEFAULT_PASS}"
    [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ] && echo "default_vhost = ${RABBITMQ_DEFAULT_VHOST}"
    true
} > "$conf.tmp" && mv -f "$conf.tmp" "$conf")
exec "$@"
