# The hivekeeper image: the operator, the in-pod policy proxy (gateway), the egress proxy and the
# registry all run from it. Built from this repository:
#   docker build -t hivekeeper:0.1.0 .
# Runs as a numeric non-root user so Kubernetes' runAsNonRoot can verify it, with nothing writable
# but /tmp (the pods mount an emptyDir there and set readOnlyRootFilesystem).

FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/hivekeeper \
 && /opt/hivekeeper/bin/pip install --no-compile '.[otlp-grpc]' \
 && /opt/hivekeeper/bin/python -m compileall -q /opt/hivekeeper/lib

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="hivekeeper" \
      org.opencontainers.image.description="MCP servers isolated, behind one governed gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/hivekeeper /opt/hivekeeper
ENV PATH=/opt/hivekeeper/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["hivekeeper"]
CMD ["--help"]
