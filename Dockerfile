# syntax=docker/dockerfile:1
#
# NeuroScreen images: one Dockerfile, one target per process.
#
# The three services are one Python project with one runtime lock, so they share
# one builder stage and one virtual environment; each target below only adds its
# command, port and health check. Build one target with
#   docker build --target screening -t neuroscreen-screening:1.0.0 .
# or all of them with `docker compose build`. Targets: migrate, screening,
# notify, notify-api, intake (the default, last).
#
# The base is pinned by digest (issue 18): a re-pushed tag cannot change what we
# build on. The digest is the one public Dockerfiles pin for this tag; it was not
# checked against Docker Hub from the build machine (no registry access there).
# Check and refresh it with
#   docker buildx imagetools inspect python:3.11.14-slim-trixie
# (the "Digest:" line, the multi-platform index) and keep the tag beside it.
ARG PYTHON_IMAGE=python:3.11.14-slim-trixie@sha256:193fdd0bbcb3d2ae612bd6cc3548d2f7c78d65b549fcaa8af75624c47474444d

# --- builder: a virtual environment from the lock, then the project itself ---
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /src
RUN python -m venv /opt/venv

# Dependencies first: this layer is rebuilt only when the lock changes.
# --require-hashes: every file pip downloads must match a hash in the lock, so a
# tampered or substituted package fails the build (issue 18).
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --requirement requirements.lock

# The project without dependencies: every version comes from the lock above.
# README.md is the package's long description (pyproject `readme`).
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY cli ./cli
RUN pip install --no-cache-dir --no-deps . \
    && pip check

# --- runtime: the venv only; no compiler, no pip cache, no sources ---
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    NEUROSCREEN_DATA_DIR=/var/lib/neuroscreen

# A fixed numeric uid/gid so Kubernetes can verify runAsNonRoot and volumes can
# be owned by it. The data dir only holds the embedded (SQLite) default; with
# PostgreSQL and Redis nothing is written there, so it can be a tmpfs.
RUN groupadd --system --gid 10001 neuroscreen \
    && useradd --system --uid 10001 --gid neuroscreen --no-create-home \
       --home-dir /var/lib/neuroscreen --shell /usr/sbin/nologin neuroscreen \
    && install -d -o neuroscreen -g neuroscreen -m 0750 /var/lib/neuroscreen

COPY --from=builder /opt/venv /opt/venv

WORKDIR /var/lib/neuroscreen
USER 10001:10001

LABEL org.opencontainers.image.title="NeuroScreen" \
      org.opencontainers.image.description="FHIR R4 screening for immune-mediated neuropathy" \
      org.opencontainers.image.licenses="Apache-2.0"

# --- migrate: one-shot schema upgrade (advisory-locked, safe to run concurrently) ---
FROM runtime AS migrate
HEALTHCHECK NONE
CMD ["neuroscreen-migrate"]

# --- screening worker ---
FROM runtime AS screening
# Celery names the node celery@<hostname>; the container's hostname is $HOSTNAME.
HEALTHCHECK --interval=30s --timeout=20s --start-period=30s --retries=3 \
    CMD ["/bin/sh", "-c", "celery -A screening.worker inspect ping -d \"celery@${HOSTNAME}\" --timeout 10 >/dev/null"]
CMD ["celery", "-A", "screening.worker", "worker", "-Q", "screening,screening-bulk", "--loglevel", "INFO"]

# --- notify worker (the only process that talks to the EHR) ---
FROM runtime AS notify
HEALTHCHECK --interval=30s --timeout=20s --start-period=30s --retries=3 \
    CMD ["/bin/sh", "-c", "celery -A notify.worker inspect ping -d \"celery@${HOSTNAME}\" --timeout 10 >/dev/null"]
CMD ["celery", "-A", "notify.worker", "worker", "-Q", "notify", "--loglevel", "INFO"]

# --- outbox relay (publishes committed jobs; health: a recent heartbeat) ---
FROM runtime AS relay
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["neuroscreen-relay", "--check"]
CMD ["neuroscreen-relay"]

# --- notify admin API (dead letters, replay; bearer tokens NEUROSCREEN_NOTIFY_TOKENS) ---
FROM runtime AS notify-api
ENV NEUROSCREEN_NOTIFY_HOST=0.0.0.0 \
    NEUROSCREEN_NOTIFY_PORT=8001
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ['NEUROSCREEN_NOTIFY_PORT'], timeout=4)"]
CMD ["neuroscreen-notify-api"]

# --- intake API (FHIR base /fhir): stores only; the default target ---
FROM runtime AS intake
ENV NEUROSCREEN_INTAKE_HOST=0.0.0.0 \
    NEUROSCREEN_INTAKE_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ['NEUROSCREEN_INTAKE_PORT'], timeout=4)"]
CMD ["neuroscreen-intake"]
