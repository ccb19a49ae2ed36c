# tripgenctl for the in-cluster schedule (manifests/schedule/). Two stages: the first builds the
# product wheel from the checkout (manifests/ and sql/ go into it as package data); the second is
# a slim, non-root runtime that installs only that wheel. No sandbox code, no tests, no checkout.
# Build: docker build -t tripgendev.azurecr.io/tripgenctl:0.1.0 .
# (tests/e2e/test_packaging.py runs the same steps without Docker: build the wheel, install it
# into a clean venv, run it from another directory.)

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tripgenctl ./tripgenctl
COPY manifests ./manifests
COPY sql ./sql
RUN pip wheel --no-deps -w /dist . \
    && python -m venv /opt/tripgenctl \
    && /opt/tripgenctl/bin/pip install /dist/tripgenctl-*.whl

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/tripgenctl/bin:$PATH
COPY --from=build /opt/tripgenctl /opt/tripgenctl
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin tripgenctl
USER 10001
WORKDIR /home/tripgenctl
# In a pod, tripgenctl uses the mounted service-account token (in-cluster configuration).
ENTRYPOINT ["tripgenctl"]
CMD ["--help"]
