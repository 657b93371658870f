# Market Spine in one image: the Dagster UI and daemon (`dagster dev`) plus the API, on the
# embedded defaults. Production splits these into the Helm chart's webserver, daemon and
# run-launcher pods; the same image serves each.
#
# Only the API is published: the Dagster UI listens on the container's loopback (its GraphQL
# API has no authentication), so it is reached from inside the container or through a tunnel.
# Everything runs as the unprivileged user `spine`, and the platform writes its files private
# to it (umask 077).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 --user-group spine \
    && mkdir /data && chown spine:spine /data && chmod 0700 /data
WORKDIR /app
COPY pyproject.toml requirements.lock Makefile README.md ./
COPY market_spine ./market_spine
COPY market_spine_dbt ./market_spine_dbt
COPY deploy/profiles ./deploy/profiles
RUN make install && chown -R spine:spine /app
USER spine
ENV MARKET_SPINE_HOME=/data \
    MARKET_SPINE_API_HOST=0.0.0.0
VOLUME /data
EXPOSE 8000
CMD [".venv/bin/market-spine", "up"]
