# Market Spine in one image. By default it runs the embedded platform (`market-spine up`: the
# Dagster UI and daemon plus the API); production runs the same image as each service instead
# (the API, the streamer, the daemon, the webserver, the code server and the runs the
# Kubernetes launcher starts: see docs/deployment.md).
#
# Two stages: the builder installs the locked dependencies (hash-checked) into a virtualenv
# with the build tools; the runtime stage copies only that virtualenv and the code, so no
# compiler, pip cache or uv ends up in the image that runs.
#
# Only the API is published: the Dagster UI listens on the container's loopback (its GraphQL
# API has no authentication), so it is reached through the API's proxy or a tunnel.
# Everything runs as the unprivileged user `spine`, and the platform writes its files private
# to it (umask 077).
FROM python:3.11-slim AS builder
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml requirements.lock Makefile README.md ./
COPY market_spine ./market_spine
COPY market_spine_dbt ./market_spine_dbt
COPY deploy/profiles ./deploy/profiles
# The example files messages point to ("see instruments.example.toml"): an operator in the
# container finds them beside the code, in /app.
COPY *.example.toml ./
# The install also parses the dbt project once (its manifest is part of the code).
RUN make install MARKET_SPINE_HOME=/tmp/build-home && rm -rf /tmp/build-home

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 --user-group spine \
    && mkdir /data && chown spine:spine /data && chmod 0700 /data
WORKDIR /app
# The code and the virtualenv stay root's: the run user reads and executes them, never rewrites
# them (everything the platform writes goes under MARKET_SPINE_HOME).
COPY --from=builder /app /app
USER spine
ENV MARKET_SPINE_HOME=/data \
    MARKET_SPINE_API_HOST=0.0.0.0 \
    PATH=/app/.venv/bin:$PATH
VOLUME /data
EXPOSE 8000
# Liveness of the API the container serves, on the port it is configured with: /healthz answers
# without a credential.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('MARKET_SPINE_API_PORT') or '8000'; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
CMD ["market-spine", "up"]
