# Market Spine in one image: the Dagster UI and daemon (`dagster dev`) plus the API, on the
# embedded defaults. Production splits these into the Helm chart's webserver, daemon and
# run-launcher pods; the same image serves each.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml requirements.lock Makefile README.md ./
COPY market_spine ./market_spine
COPY market_spine_dbt ./market_spine_dbt
COPY workspace.yaml dagster.yaml ./
RUN make install
ENV MARKET_SPINE_HOME=/data \
    MARKET_SPINE_API_HOST=0.0.0.0
VOLUME /data
EXPOSE 3000 8000
CMD [".venv/bin/market-spine", "up"]
