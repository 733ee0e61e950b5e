# Vibegrapher production image: uvicorn serving vibegrapher.asgi:application on port 8000,
# runtime data (git repositories, conversation memory) on the volume /data/media.
#
#   docker build -t vibegrapher .
#   docker run -p 8000:8000 -v vibegrapher_media:/data/media -e SECRET_KEY=... vibegrapher
#
# One stage: every requirement installs from a binary wheel (pygit2's wheel carries libgit2),
# so there is no compiler or build output to leave behind.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MEDIA_PATH=/data/media \
    HOST=0.0.0.0 \
    PORT=8000

# System tools the server runs as subprocesses:
#   bubblewrap: the test sandbox (testcases/sandbox.py). It needs user namespaces; where the container
#     has none, test runs answer 503 (see README, "Test sandbox").
#   git: `git http-backend` serves clones (/git/<slug>.git).
#   graphviz: `dot` draws /projects/:id/graph.svg.
# Not pinned to Debian versions (DL3008): the base image's suite fixes them, and the mirror drops
# superseded point releases, which would break the build on the next security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap git graphviz \
    && rm -rf /var/lib/apt/lists/*

# The unprivileged user the server runs as (scripts/docker-entrypoint switches to it).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/vibegrapher \
        --shell /usr/sbin/nologin vibegrapher \
    && mkdir -p /data/media \
    && chown vibegrapher:vibegrapher /data/media

WORKDIR /app

COPY requirements.txt ./
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --only-binary=:all: -r requirements.txt

# Application code stays owned by root: the server can read it, not change it.
COPY . .
RUN python -m compileall -q vibegrapher projects sessions diffs testcases \
    && python manage.py check

VOLUME ["/data/media"]
EXPOSE 8000

ENTRYPOINT ["/app/scripts/docker-entrypoint"]
# scripts/start-web: uvicorn vibegrapher.asgi:application --host 0.0.0.0 --port 8000
#   --workers ${WEB_CONCURRENCY:-2} --loop uvloop --http httptools --ws websockets-sansio --proxy-headers
CMD ["/app/scripts/start-web"]
