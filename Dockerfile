# One image definition for every part's Python services. Build context: the repository root (so common/ is
# included); each part's docker-compose.yml passes PART and picks each service's command.
# PYTHON_BASE_IMAGE: the official image by default; docker/offline.env names a local stand-in built from
# Debian's packages (`make docker-images`) for machines that cannot pull.
ARG PYTHON_BASE_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_BASE_IMAGE}
ARG PART
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY common/requirements-service.txt /tmp/requirements-service.txt
RUN test -n "$PART" || { echo "build with --build-arg PART=<part>"; exit 1; } \
    && pip install -r /tmp/requirements-service.txt \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /data /metrics && chown app /data /metrics
COPY common /app/common
COPY ${PART} /app/${PART}
ENV PYTHONPATH=/app:/app/${PART} BIND_HOST=0.0.0.0 DATA_DIR=/data
WORKDIR /app/${PART}
USER app
