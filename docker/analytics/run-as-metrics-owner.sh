#!/bin/sh
# Container entry of analytics-consumer (compose runs it as root, only for this): run the command as the owner of
# the bind-mounted METRICS_DIR, so metrics_output.json appears on the host owned by whoever owns
# streaming-kafka/metrics/. When root owns it (a root checkout), the folder is handed to the image's user
# `app` (uid 10001) instead: the consumer itself never runs as root.
set -eu
dir="${METRICS_DIR:-/metrics}"
uid=$(stat -c %u "$dir")
gid=$(stat -c %g "$dir")
if [ "$uid" = 0 ]; then
    chown app "$dir"
    uid=$(id -u app)
    gid=$(id -g app)
fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs "$@"
