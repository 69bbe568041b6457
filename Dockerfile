# builder's API, worker and migration image (one image, three commands).
#   docker build -t builder .
#   docker run --rm builder builder --help
# Dependencies come from requirements/production.txt (pinned with hashes; scripts/lock
# refreshes it): the runtime dependencies and the `tracing` extra, never the dev-only
# Temporal dev server and embedded Postgres. The worker runs builds and tests inside
# bubblewrap, so the image ships bwrap and git.

FROM python:3.11.15-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, so code edits do not re-download them.
COPY requirements/production.txt requirements/production.txt
RUN python -m venv /opt/builder \
 && /opt/builder/bin/pip install --require-hashes --no-deps -r requirements/production.txt
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY persistence ./persistence
COPY activities ./activities
COPY workflows ./workflows
COPY api ./api
COPY builder ./builder
COPY migrations ./migrations
RUN /opt/builder/bin/pip install --no-deps . \
 && /opt/builder/bin/pip check

FROM python:3.11.15-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/builder/bin:$PATH
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      git bubblewrap openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/builder /opt/builder
# An unprivileged user owns the state directory (mirrors, worktrees); bubblewrap uses
# user namespaces, so no root and no capability is needed at run time.
RUN useradd --system --uid 10001 --create-home --home-dir /home/builder builder \
 && mkdir -p /var/lib/builder/workspaces \
 && chown -R builder:builder /var/lib/builder
USER builder
WORKDIR /home/builder
ENV BUILDER_STATE_DIR=/var/lib/builder BUILDER_ENVIRONMENT=production
VOLUME ["/var/lib/builder"]
EXPOSE 8000 9464 9465
# tini reaps the build and test processes the worker starts and forwards SIGTERM to it.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["builder", "api"]
