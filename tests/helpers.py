"""Helpers shared by the tests that deploy parts of the environment into a sandbox namespace and
drive the real CLI: `tripgenctl` as a subprocess with the sandbox's KUBECONFIG, the environment's
Secrets plus selected StatefulSets (PostgreSQL, Redis) straight from manifests/, and psql inside
postgresql-0 over `kubectl exec`."""

from __future__ import annotations

import subprocess
import sys
import uuid
from contextlib import contextmanager

from tripgenctl import manifests
from tripgenctl.ops import waiting

SB = "Endpoint=sb://sb-tripgen-dev.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2FuZGJveC10ZXN0LWtleQ=="
OPENAI = "sk-test-openai-key-never-printed-0123"


def _argv(args, namespace: str | None) -> list[str]:
    return [sys.executable, "-m", "tripgenctl", *args, *(["-n", namespace] if namespace else [])]


def run_tool(*args: str, env: dict | None = None, namespace: str | None = None, timeout: float = 300,
             input: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    """The one way the tests run tripgenctl: `python -m tripgenctl ARGS [-n NAMESPACE]` as a new
    process (as cron or a shell would), text output captured, no terminal on stdin unless `input`
    is given. `env` is the whole environment (default: this process's)."""
    return subprocess.run(_argv(args, namespace), capture_output=True, text=True, env=env, timeout=timeout, input=input,
                          stdin=subprocess.DEVNULL if input is None else None, cwd=cwd)


def spawn_tool(*args: str, env: dict | None = None, namespace: str | None = None) -> subprocess.Popen:
    """run_tool() that returns at once, for tests that signal or race the running command."""
    return subprocess.Popen(_argv(args, namespace), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)


def invoke(*args: str, input: str | None = None):
    """In-process, through Typer's CliRunner: for the unit tests (no cluster, milliseconds)."""
    from typer.testing import CliRunner

    from tripgenctl.cli.app import app

    # env: a TRIPGENCTL_CONFIG / TRIPGENCTL_ENV of the shell running the tests must not reach the command
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False, env={"TRIPGENCTL_CONFIG": None, "TRIPGENCTL_ENV": None},
                              prog_name="tripgenctl")


def cli(sandbox, *args, env=None, timeout=300, input=None, namespace=None) -> subprocess.CompletedProcess:
    """run_tool() with the sandbox's KUBECONFIG (and `env` added to it)."""
    return run_tool(*args, env=sandbox.env(**(env or {})), namespace=namespace, timeout=timeout, input=input)


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


def on_pty(sandbox, args: list[str], answer: bytes, wait_for: bytes = b"[y/N]", timeout: float = 60, env: dict | None = None) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (stdin, stdout and stderr; its controlling terminal, so
    Ctrl-C sent as a byte becomes SIGINT from the line discipline as at a keyboard), type
    `answer` once `wait_for` shows up; (exit code, everything it printed). `env` is added to the
    sandbox's environment."""
    import os
    import pty
    import select
    import signal
    import time

    env = sandbox.env(**(env or {}))
    pid, fd = pty.fork()
    if pid == 0:  # the child: pty.fork made it a session leader with the pty as its terminal
        try:
            os.execvpe(sys.executable, [sys.executable, "-m", "tripgenctl", *args], env)
        finally:
            os._exit(127)
    out = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if not sent and wait_for in out:
                os.write(fd, answer)
                sent = True
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = 0
                break
        else:
            os.kill(pid, signal.SIGKILL)  # ours: a child still waiting must not hang the test run
            raise AssertionError(f"no end within {timeout}s: {out!r}")
    finally:
        if pid:
            _, status = os.waitpid(pid, 0)
        try:
            while True:  # what is left in the pty
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    break
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
        os.close(fd)
    assert sent, f"the question never appeared: {out!r}"
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@contextmanager
def stateful_namespace(sandbox, prefix: str, *workloads: str, sql: str | None = None):
    """A namespace of a module's own (`<prefix>-<hex>`) with the Secrets and the named
    StatefulSets Ready, `sql` run in PostgreSQL; deleted afterwards (best effort)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core = sandbox.kube().core
    core.create_namespace({"metadata": {"name": name}})
    secrets_init(sandbox, name)
    deploy_stateful(sandbox, name, *workloads)
    if sql:
        psql(sandbox, name, sql)
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass


def wait_node_ready(kube, node: str, since: str | None, timeout: float = 30) -> None:
    """Until `node` is Ready again (since None) or NotReady since `since` (a node-notready
    fault): the node controller applies a fault within its next poll, not at once."""
    def ok(items):
        ready = next((c for c in items[node]["status"].get("conditions") or [] if c["type"] == "Ready"), {})
        return ready.get("status") == "True" if since is None else (ready.get("status") != "True" and ready.get("lastTransitionTime") == since)

    assert waiting.watch_list(kube, "/api/v1/nodes", ok, timeout), f"node {node} never became {'Ready' if since is None else 'NotReady'}"
