# tripgenctl for the in-cluster schedule (manifests/schedule/): slim Python, non-root, the package
# installed without the sandbox extra. Build: docker build -t tripgendev.azurecr.io/tripgenctl:0.1.0 .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tripgenctl ./tripgenctl
COPY manifests ./manifests
COPY sql ./sql
RUN pip install . \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin tripgenctl

USER 10001
# In a pod, tripgenctl uses the mounted service-account token (in-cluster configuration).
ENTRYPOINT ["tripgenctl"]
CMD ["--help"]
