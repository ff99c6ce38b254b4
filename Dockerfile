# syntax=docker/dockerfile:1
# The imx image: one image for the worker, the gateway and provisioning (the command chooses).
#   docker build -t imx:0.1.0 .
# No container engine runs on the project's machines: CI checks this file statically
# (hadolint and tests/unit/deploy/test_dockerfile.py), it is not built there.
# It carries no Java: `imx kafka up` (the local broker) is for one machine, not for the image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: the wheel (with its package data) and a virtual environment holding it.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN pip install --no-cache-dir "build==1.2.2.post1"
COPY pyproject.toml README.md ./
COPY services ./services
COPY schemas ./schemas
COPY deploy ./deploy
RUN python -m build --wheel --outdir /dist . \
    && python -m venv /opt/imx \
    && /opt/imx/bin/pip install --no-cache-dir /dist/imx-*.whl

# Final stage: the slim base, the environment, an unprivileged user; no compilers, no sources.
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/imx/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IMX_HOME=/var/lib/imx \
    IMX_WEB_PORT=6066
RUN groupadd --system --gid 10001 imx \
    && useradd --system --uid 10001 --gid imx --home-dir /var/lib/imx --create-home imx
COPY --from=build /opt/imx /opt/imx
USER 10001:10001
WORKDIR /var/lib/imx
VOLUME ["/var/lib/imx"]
EXPOSE 6066 8443
# The worker serves /metrics on IMX_WEB_PORT; the gateway's container overrides this check
# with its own /healthz (deploy/compose/compose.yaml, deploy/k8s/60-gateway.yaml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('IMX_WEB_PORT', '6066'), timeout=4)"]
ENTRYPOINT ["imx"]
CMD ["worker"]
