# One image for both Cloud Run services (api and worker): AGENT_ROLE picks the app at start.
# Built in the cloud by `make build ENV=x`; rolled out by `make deploy ENV=x`.
# Classic Dockerfile syntax only (no BuildKit-only features), so any Docker builder works.

# --- build stage: the app's runtime dependencies in a venv, nothing else ---------------------
FROM python:3.11.14-slim-trixie AS deps

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
# Only the lock: this layer is rebuilt when a dependency changes, not when the code does.
# requirements/app.txt pins every package the app needs with the hashes of its files
# (`make lock`): pip refuses a file whose hash is not there, brings in nothing the lock does
# not name, and builds nothing from source.
COPY requirements/app.txt ./requirements.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps --only-binary :all: \
        --requirement requirements.txt

# --- runtime stage -------------------------------------------------------------------------
FROM python:3.11.14-slim-trixie

# PORT: Cloud Run sets it (8080); DATA_DIR: the only writable place for local backends.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080 \
    DATA_DIR=/tmp/agents

RUN groupadd --system --gid 10001 agents \
    && useradd --system --uid 10001 --gid agents --home-dir /home/agents --create-home \
        --shell /usr/sbin/nologin agents

COPY --from=deps /opt/venv /opt/venv
WORKDIR /srv
COPY container/entrypoint.sh ./container/entrypoint.sh
COPY app/ ./app/
# Ship the app as bytecode: without it every cold start compiles app/ again (~45 ms), since
# PYTHONDONTWRITEBYTECODE keeps a running instance from writing it.
RUN python -m compileall -q app

USER 10001:10001
EXPOSE 8080
# gunicorn's graceful stop (8 s) fits inside Cloud Run's 10 s between SIGTERM and SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bin/sh", "/srv/container/entrypoint.sh"]
