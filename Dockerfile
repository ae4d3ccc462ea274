# One image for every wapipe process: `wapipe api` (the default), `wapipe worker`,
# `wapipe db upgrade`, `wapipe fake-provider`. No secret is baked in: settings come from the
# environment (deploy/wapipe.env.example lists them).

# Build stage: compilers and pip's caches stay here.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/wapipe
COPY pyproject.toml README.md ./
COPY pipeline pipeline
COPY workers workers
COPY webhooks webhooks
COPY db db
COPY fakeprovider fakeprovider
COPY inbox inbox
RUN /opt/wapipe/bin/pip install --no-cache-dir .

FROM python:3.11-slim
# A fixed uid so Kubernetes' runAsNonRoot/runAsUser and file ownership can name it.
RUN groupadd --system --gid 10001 wapipe \
    && useradd --system --uid 10001 --gid wapipe --home-dir /home/wapipe --create-home \
       --shell /usr/sbin/nologin wapipe
COPY --from=build /opt/wapipe /opt/wapipe
ENV PATH=/opt/wapipe/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WAPIPE_LOG_FORMAT=json
USER 10001:10001
WORKDIR /home/wapipe
# 8000: the API (and its /metrics); 9191: a worker's /metrics and /healthz; 8090: the fake.
EXPOSE 8000 9191 8090
# The same image runs every process, so the URL to probe is a variable: compose sets it per
# service (the worker's :9191/healthz, the fake's /_fake/healthz). The slim image has no curl.
ENV WAPIPE_HEALTHCHECK_URL=http://127.0.0.1:8000/healthz
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['WAPIPE_HEALTHCHECK_URL'], timeout=2)"]
CMD ["wapipe", "api", "--host", "0.0.0.0", "--port", "8000"]
