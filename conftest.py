"""Shared fixtures for both distributions' tests (tests/ and sandbox/tests/): ONE sandbox per test session (starting PostgreSQL-backed clusters is the
expensive part), a fresh namespace per test, and stock kubectl binaries to check the sandbox
behaves like a real API server."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")


def kubectl_binary(version: str = "1.32") -> str:
    """A specific kubectl. (The plain `kubectl` on this machine's PATH is a dispatcher that picks
    the binary matching the server's version — 1.29 for the sandbox.)"""
    candidates = [KUBECTL_DIR / f"kubectl.{version}", Path(shutil.which(f"kubectl.{version}") or "/nonexistent")]
    for c in candidates:
        if c.exists():
            return str(c)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl is not installed")
    return found


@dataclass
class Sandbox:
    state_dir: Path
    kubeconfig: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        env.update(extra)
        return env

    def kubectl(self, *args: str, version: str = "1.32", input: bytes | str | None = None, check: bool = False, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [kubectl_binary(version), *args],
            input=data,
            capture_output=True,
            env=self.env(**(env or {})),
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        return proc

    def kubectl_path(self, version: str = "1.32") -> str:
        return kubectl_binary(version)

    def fault(self, name: str, value) -> dict:
        from tripgen_sandbox import control

        return control.set_fault(self.state_dir, name, value)

    def api_fault(self, path: str, **rule) -> list[dict]:
        """One API fault rule (tripgen_sandbox/apiserver/faults.py): status=503 | hang=True |
        latency=S, optional verb=, times=, regex=True. Clear with clear_api_faults()."""
        from tripgen_sandbox import control

        return control.api_fault(self.state_dir, path, **rule)

    def clear_api_faults(self, path: str | None = None) -> list[dict]:
        from tripgen_sandbox import control

        return control.clear_api_faults(self.state_dir, path)

    def kube(self, namespace: str = "default"):
        from tripgenctl.kube.client import connect

        return connect(kubeconfig=str(self.kubeconfig), namespace=namespace)


E2E_DIRS = ("tests/e2e/", "sandbox/tests/")
PACKAGING_TESTS = ("tests/e2e/test_packaging.py",)


def pytest_collection_modifyitems(config, items):
    """Mark by place: everything under tests/e2e and sandbox/tests needs the sandbox (`-m 'not e2e'`
    runs the unit tests alone, in seconds)."""
    root = Path(str(config.rootpath))
    for item in items:
        rel = Path(str(item.path)).relative_to(root).as_posix()
        if rel.startswith(E2E_DIRS):
            item.add_marker(pytest.mark.e2e)
        if rel in PACKAGING_TESTS:
            item.add_marker(pytest.mark.packaging)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Sandbox:
    from tripgen_sandbox import control
    from tripgen_sandbox.config import SandboxConfig

    state = tmp_path_factory.mktemp("sandbox")
    # fast back-offs so CrashLoopBackOff and Job retries happen in seconds
    st = control.start(state, {"backoff_base": 0.5, "backoff_cap": 4.0, "memory_poll_interval": 0.2}, timeout=90)
    yield Sandbox(state_dir=state, kubeconfig=Path(st.kubeconfig))
    control.azure_stop(state)  # the Azure fakes (and Azurite) some modules start beside it
    control.stop(state)
    left = control.marked_processes(SandboxConfig.load(state).short_id)
    assert not left, f"sandbox stop left processes behind: {left}"


@pytest.fixture
def namespace(sandbox: Sandbox, request) -> str:
    """A fresh namespace for one test, deleted afterwards (without waiting)."""
    base = request.node.name.lower().replace("_", "-")
    base = "".join(ch for ch in base if ch.isalnum() or ch == "-")[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:5]}"
    core = sandbox.kube().core
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except Exception:  # noqa: BLE001 - best effort cleanup
        pass
