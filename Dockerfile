# builder's API, worker and migration image (one image, three commands).
#   docker build -t builder .
#   docker run --rm builder builder --help
# The worker runs builds and tests inside bubblewrap, so the image ships bwrap and git.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, so code edits do not re-download them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); \
print('\n'.join(d['project']['dependencies']))" > requirements.txt \
 && pip wheel --wheel-dir /wheels -r requirements.txt \
    opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
COPY domain ./domain
COPY persistence ./persistence
COPY activities ./activities
COPY workflows ./workflows
COPY api ./api
COPY builder ./builder
COPY migrations ./migrations
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      git bubblewrap openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels /wheels/*.whl && rm -rf /wheels
# An unprivileged user owns the state directory (mirrors, worktrees); bubblewrap uses
# user namespaces, so no root is needed at run time.
RUN useradd --system --uid 10001 --create-home --home-dir /home/builder builder \
 && mkdir -p /var/lib/builder/workspaces \
 && chown -R builder:builder /var/lib/builder
USER builder
WORKDIR /home/builder
ENV BUILDER_STATE_DIR=/var/lib/builder BUILDER_ENVIRONMENT=production
VOLUME ["/var/lib/builder"]
EXPOSE 8000 9464
# tini reaps the build and test processes the worker starts and forwards SIGTERM to it.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["builder", "api"]
