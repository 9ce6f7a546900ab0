# One image definition for every part's Python services. Build context: the repository root. The image installs
# the services (common/, the kernel, and every part's package without its lab/; .dockerignore leaves the lab out)
# editable from /app, as `make install` does on the host: the hash-pinned service dependencies first (a layer
# that changes only with the lock), then the package itself.
# Each part's docker-compose.yml passes PART (the image's working folder) and picks each service's command.
# PYTHON_BASE_IMAGE: the official image by default; docker/offline.env names a local stand-in built from
# Debian's packages (`make docker-images`) for machines that cannot pull.
ARG PYTHON_BASE_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements-service.lock /tmp/requirements-service.lock
# No build argument is declared above this layer, so the three parts share it (one install, not three).
RUN pip install --require-hashes -r /tmp/requirements-service.lock \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /data /metrics && chown app /data /metrics
COPY . /app
RUN pip install --no-deps -e /app
ARG PART
RUN test -n "$PART" || { echo "build with --build-arg PART=<part>"; exit 1; }
ENV BIND_HOST=0.0.0.0 DATA_DIR=/data
WORKDIR /app/${PART}
USER app
