# Incident Tracker: gunicorn + Flask, built in two stages.
#
# BASE_IMAGE is the official Python image, pinned by digest so every build starts from the
# same bytes. Keeping it current: Renovate's regex manager (.github/renovate.json; Dependabot
# reads FROM lines, not ARG defaults) opens a PR when the tag gets a new digest; by hand, run
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# and replace the digest below. CI proves the same stages on a locally made Debian bookworm
# base (ci/prove-image), so any Debian-based image with python3 and its venv module works.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

# checkov:skip=CKV_DOCKER_7:FROM uses ARG BASE_IMAGE, whose default above is pinned by digest
# ---- build: wheels for the app and every pinned dependency, installed into a venv ----
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Dependencies first (their layer stays cached while only the app's code changes): the runtime
# requirements from pyproject.toml at the versions pinned in constraints.txt.
# `python3 -m venv` works on the official image and on Debian's python3-venv alike; the venv's
# own pip builds the wheels (no compiler: every pinned dependency ships a wheel).
COPY pyproject.toml constraints.txt ./
RUN python3 -m venv /opt/venv \
    && python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && /opt/venv/bin/pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt -r requirements.txt
# The SBOM tool (the `sbom` extra at the versions constraints.txt pins) in a venv of its own,
# also before the app's code: a code change reinstalls neither from PyPI.
RUN python3 -m venv /opt/sbom-tool \
    && python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['sbom'], sep='\n')" > sbom-requirements.txt \
    && /opt/sbom-tool/bin/pip install --no-cache-dir -c constraints.txt -r sbom-requirements.txt
COPY README.md ./
COPY src ./src
# Then the app's own wheel; everything is installed offline from /wheels, and the installer is
# removed afterwards: the runtime needs no pip. botocore carries the API model of every AWS
# service (28 MB, a quarter of the venv); the app calls Secrets Manager, and on EKS botocore
# calls STS to trade the pod's IRSA web-identity token for credentials, so every other
# service's model goes (the shared endpoint and retry files at the top of data/ stay).
# ci/prove-image runs the image through both calls.
RUN /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels \
        -c constraints.txt incident-tracker \
    && /opt/venv/bin/pip uninstall --yes pip setuptools wheel \
    && find /opt/venv/lib/python3*/site-packages/botocore/data -mindepth 1 -maxdepth 1 -type d \
        ! -name secretsmanager ! -name sts -exec rm -rf {} +
# A CycloneDX SBOM of exactly that venv (what ships), written by cyclonedx-py from the tool's
# own venv (installed above, in the build stage only), so the tool never ships.
RUN /opt/sbom-tool/bin/cyclonedx-py environment --pyproject pyproject.toml --output-reproducible \
        --of JSON -o /src/sbom.cdx.json /opt/venv/bin/python

# ---- runtime: the base image, the venv and the migrations; nothing else ----
FROM ${BASE_IMAGE} AS runtime
# A fixed, unprivileged UID/GID, so Kubernetes' runAsNonRoot can verify it numerically.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

# The root file system may be read-only: no bytecode writes, HOME and TMPDIR on the /tmp mount
# (gunicorn's worker heartbeats and the Prometheus multiprocess files live there too).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    ALEMBIC_INI=/app/alembic.ini
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# The SBOM of /opt/venv, at a fixed path (README "Supply chain").
COPY --from=build /src/sbom.cdx.json /usr/share/incident-tracker/sbom.cdx.json
COPY alembic.ini ./
COPY migrations ./migrations

# Build metadata last, so a new revision or date rebuilds no earlier layer.
ARG SOURCE_URL=https://github.com/example/incident-tracker
ARG VCS_REF=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="incident-tracker" \
      org.opencontainers.image.description="Declare, run and close major incidents: REST API and web UI" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}"

USER 10001:10001
EXPOSE 8000
# For `docker run`; Kubernetes ignores it and uses the Deployment's probes on the same path.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# gunicorn is PID 1 and gets SIGTERM directly. The migration Job runs
# `incident-tracker db upgrade` with the same image (command override).
ENTRYPOINT ["gunicorn", "--config", "python:incident_tracker.gunicorn_conf"]
CMD ["incident_tracker:create_app()"]
