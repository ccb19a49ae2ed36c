"""Shared fixtures for both distributions' tests (tests/ and sandbox/tests/): ONE sandbox per test session (starting PostgreSQL-backed clusters is the
expensive part), a fresh namespace per test, and stock kubectl binaries to check the sandbox
behaves like a real API server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

# The Ctrl-C tests play a person at a terminal, whose shell leaves SIGINT at its default. A suite
# started in the background by a non-interactive shell (`make test &`, some CI runners) inherits
# SIGINT *ignored*, and an ignored disposition survives exec: every tripgenctl the tests spawn
# would then ignore the Ctrl-C they send (Python installs no KeyboardInterrupt handler for an
# ignored SIGINT). A Python handler here is reset to the default in each child at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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


# How `make test` spreads the suite over its xdist workers (-n 4 --dist loadfile
# --no-loadscope-reorder), each worker with a sandbox of its own. A file is one work unit: its
# module fixtures are set up once and its tests run in order on one worker. The files in
# SPLIT_FILES hold long tests that share nothing (function fixtures only, own namespaces): each of
# their tests is a unit of its own, so they spread over the workers. Units are handed out longest
# first (SLOW_FIRST, in that order, then the other sandbox tests, then the unit tests): xdist's own
# order (most tests first) started the few-but-long files last, and the last one set the wall time.
SPLIT_FILES = (
    "tests/e2e/test_rotate.py",
    "tests/e2e/test_env_copies.py",
    "tests/e2e/test_deploy.py",
    "tests/e2e/test_azure_sandbox.py",
    "tests/e2e/test_updown.py",
    "tests/e2e/test_deploy_ownership.py",
    "tests/e2e/test_schedule.py",
)
SLOW_FIRST = (
    "tests/e2e/test_rotate.py",
    "tests/e2e/test_data.py",
    "tests/e2e/test_backup.py",
    "tests/e2e/test_env_copies.py",
    "tests/e2e/test_packaging.py",
    "tests/e2e/test_deploy.py",
    "tests/e2e/test_doctor.py",
    "tests/e2e/test_azure_sandbox.py",
    "tests/e2e/test_updown.py",
    "tests/e2e/test_deploy_ownership.py",
    "tests/e2e/test_backup_globals.py",
    "tests/e2e/test_backup_doctor.py",
    "tests/e2e/test_schedule.py",
    "tests/e2e/test_safety.py",
    "tests/e2e/test_sleep_controls.py",
    "tests/e2e/test_deploy_rollout.py",
    "tests/e2e/test_backup_scheduled.py",
)


def _rel(config, path) -> str:
    return Path(str(path)).relative_to(Path(str(config.rootpath))).as_posix()


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reports the collection to the scheduler
def pytest_collection_modifyitems(config, items):
    """Mark by place: everything under tests/e2e and sandbox/tests needs the sandbox (`-m 'not e2e'`
    runs the unit tests alone, in seconds). Then order the files longest first (see SLOW_FIRST);
    a file's own tests keep their order."""
    for item in items:
        rel = _rel(config, item.path)
        if rel.startswith(E2E_DIRS):
            item.add_marker(pytest.mark.e2e)
        if rel in PACKAGING_TESTS:
            item.add_marker(pytest.mark.packaging)

    def rank(item) -> int:
        rel = _rel(config, item.path)
        if rel in SLOW_FIRST:
            return SLOW_FIRST.index(rel)
        return len(SLOW_FIRST) + (0 if rel.startswith(E2E_DIRS) else 1)

    items.sort(key=rank)  # stable: collection order within a rank


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with the tests of SPLIT_FILES as units of their own (see SPLIT_FILES)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SplitFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return nodeid if file in SPLIT_FILES else file

    return SplitFileScheduling(config, log)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Sandbox:
    from tripgen_sandbox import control
    from tripgen_sandbox.config import SandboxConfig

    state = tmp_path_factory.mktemp("sandbox")
    # fast back-offs so CrashLoopBackOff and Job retries happen in seconds; readiness and startup
    # probes try every second until they first pass (same failure budget), so a new pod is Ready
    # when it answers, not at the manifests' next 10-30 s probe
    st = control.start(state, {"backoff_base": 0.5, "backoff_cap": 4.0, "memory_poll_interval": 0.2, "probe_period_cap": 1.0},
                       timeout=90)
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
