"""`tripgenctl sandbox start|stop|status|reset` through the CLI: state survives a stop/start, stop
leaves no process behind, reset wipes everything."""

from __future__ import annotations

import json
import subprocess

from tripgen_sandbox import control
from tripgen_sandbox.config import SandboxConfig
from tests.helpers import run_tool


def tg(*args: str, env=None) -> subprocess.CompletedProcess:
    return run_tool(*args, env=env, timeout=120)


def test_start_stop_keeps_objects_and_leaves_no_process(tmp_path):
    state = tmp_path / "sb"
    started = tg("sandbox", "start", "--state-dir", str(state), "-o", "json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    assert info["api_ready"] and info["kubeconfig"].endswith("kubeconfig")
    from tripgenctl.kube.client import connect

    kube = connect(kubeconfig=info["kubeconfig"], namespace="default")
    kube.core.create_namespaced_config_map("default", {"metadata": {"name": "survivor"}, "data": {"k": "v"}})
    assert kube.ping() == "v1.29.4"

    stopped = tg("sandbox", "stop", "--state-dir", str(state), "-o", "json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["running"] is False
    assert control.marked_processes(SandboxConfig.load(state).short_id) == []
    status = tg("sandbox", "status", "--state-dir", str(state))
    assert status.returncode == 1 and "Running: no" in status.stdout

    assert tg("sandbox", "start", "--state-dir", str(state)).returncode == 0
    kube = connect(kubeconfig=info["kubeconfig"], namespace="default")
    assert kube.core.read_namespaced_config_map("survivor", "default").data == {"k": "v"}

    reset = tg("sandbox", "reset", "--state-dir", str(state))  # no TTY, no --yes: refused
    assert reset.returncode == 2 and "--yes" in reset.stderr
    assert tg("sandbox", "reset", "--state-dir", str(state), "--yes").returncode == 0
    assert not state.exists()
    assert control.marked_processes(SandboxConfig.load(state).short_id) == []


def test_unreachable_server_is_one_line_exit_2(tmp_path):
    from tripgenctl.errors import ConnectionFailed
    from tripgenctl.kube.client import connect

    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    kube = connect(kubeconfig=str(cfg))
    try:
        kube.ping()
    except ConnectionFailed as exc:
        assert exc.exit_code == 2 and "\n" not in exc.message and "cannot reach" in exc.message
    else:
        raise AssertionError("expected ConnectionFailed")
