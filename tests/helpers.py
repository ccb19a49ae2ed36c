"""Helpers shared by the tests that deploy parts of the environment into a sandbox namespace and
drive the real CLI: `tripgenctl` as a subprocess with the sandbox's KUBECONFIG, the environment's
Secrets plus selected StatefulSets (PostgreSQL, Redis) straight from manifests/, and psql inside
postgresql-0 over `kubectl exec`."""

from __future__ import annotations

import subprocess
import sys

from tripgenctl import manifests
from tripgenctl.ops import waiting

SB = "Endpoint=sb://sb-tripgen-dev.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2FuZGJveC10ZXN0LWtleQ=="
OPENAI = "sk-test-openai-key-never-printed-0123"


def cli(sandbox, *args, env=None, timeout=300, input=None) -> subprocess.CompletedProcess:
    """`python -m tripgenctl ARGS` with the sandbox's KUBECONFIG; no terminal on stdin."""
    return subprocess.run([sys.executable, "-m", "tripgenctl", *args], capture_output=True, text=True,
                          env=sandbox.env(**(env or {})), timeout=timeout, input=input,
                          stdin=subprocess.DEVNULL if input is None else None)


def secrets_init(sandbox, namespace: str) -> None:
    proc = cli(sandbox, "secrets", "init", "-n", namespace, env={"OPENAI_API_KEY": OPENAI, "SERVICEBUS_CONNECTION_STRING": SB})
    assert proc.returncode == 0, proc.stderr


def deploy_stateful(sandbox, namespace: str, *names: str, edit=None, timeout: float = 120) -> None:
    """The Service + StatefulSet of each named workload from manifests/ (after `secrets init`),
    then wait for `<name>-0` Ready. `edit(obj)` may change an object before it is applied."""
    kube = sandbox.kube(namespace)
    for obj in manifests.render(namespace):
        if obj["metadata"]["name"] in names and obj["kind"] in ("Service", "StatefulSet"):
            if edit is not None:
                edit(obj)
            kube.apply_object(obj)
    for name in names:
        assert waiting.wait_pod_condition(kube, f"{name}-0", "Ready", timeout=timeout) is not None, f"{name}-0 never became Ready"


def postgres_only(sandbox, namespace: str) -> None:
    """Secrets and the PostgreSQL Service + StatefulSet of manifests/ (the apps are not needed
    for data init), then wait for postgresql-0 Ready."""
    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "postgresql")


def psql(sandbox, namespace: str, sql: str, database: str = "tripgen") -> str:
    proc = sandbox.kubectl("exec", "postgresql-0", "-n", namespace, "--", "psql", "-X", "-U", "postgres", "-d", database,
                           "-v", "ON_ERROR_STOP=1", "-At", "-c", sql)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().strip()
