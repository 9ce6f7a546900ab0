#!/bin/bash
# Cheap Kafka healthcheck (no JVM): send one ApiVersions request (v0) and expect the broker to answer it
# without error. The broker only answers on its listeners once it has started.
#   kafka-ready.sh [host] [port]      (default 127.0.0.1 9092); exit 0 ready, 1 not.
# 127.0.0.1, not localhost: bash tries ::1 first, which a container without IPv6 cannot even connect from.
# Plain bash + coreutils, so the same line works in the official apache/kafka image (see the README).
set -u
{ exec 3<>"/dev/tcp/${1:-127.0.0.1}/${2:-9092}"; } 2>/dev/null || exit 1
# size=12 | api_key=18 (ApiVersions) | api_version=0 | correlation_id=7 | client_id="hc"
printf '\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x07\x00\x02hc' >&3
reply=$(timeout 3 head -c 10 <&3 | od -An -tx1 | tr -d ' \n')
# bytes 4-7: correlation id 7; bytes 8-9: error code 0
[ "${reply:8:12}" = "000000070000" ]
