"""Every Kubernetes API request has a connect + read deadline (config `request_timeout`), and
the door's errors are typed (tripgenctl/kube/errors.py). Against a listener that accepts TCP and
never answers, `status`, `down --yes` and `db backup` end within the deadline with one line
naming the server, instead of hanging for minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from silent_server import SilentServer

DEADLINE = 4
MARGIN = 3  # scheduling noise on a busy 2-core machine; a second attempt would add a whole DEADLINE


def run(args, kubeconfig, config, timeout=60):
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), TRIPGENCTL_CONFIG=str(config))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tripgenctl", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    return proc, time.monotonic() - started


def refused_kubeconfig(directory) -> str:
    """A kubeconfig whose server refuses at once: the same command's time without any waiting
    (interpreter start, imports), measured in the same run as the baseline."""
    import socket

    import yaml
    from silent_server import kubeconfig_for

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    path = directory / "refused-kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig_for(f"https://127.0.0.1:{port}", "tripgen-sandbox", "tripgen-dev")))
    return str(path)


@pytest.fixture
def silent(tmp_path):
    with SilentServer(tmp_path) as server:
        server.config = tmp_path / "tripgenctl.toml"
        server.config.write_text(f"request_timeout = {DEADLINE}\n[backup]\ndir = \"{tmp_path / 'backups'}\"\n")
        yield server


@pytest.mark.parametrize("args", [["status"], ["down", "--yes"], ["db", "backup"]], ids=["status", "down", "db-backup"])
def test_a_server_that_never_answers_ends_the_command_within_the_deadline(silent, tmp_path, args):
    baseline, baseline_elapsed = run(args, refused_kubeconfig(tmp_path), silent.config)
    assert baseline.returncode == 2 and "cannot reach" in baseline.stderr, baseline.stderr
    try:
        proc, elapsed = run(args, silent.kubeconfig, silent.config, timeout=baseline_elapsed + 4 * DEADLINE + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} still waiting against a server that never answers")
    assert silent.accepted >= 1, "the command never connected"
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert silent.url in lines[0] and "did not answer" in lines[0] and f"{DEADLINE} s" in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and "TimeoutError" not in proc.stderr and not proc.stdout
    assert elapsed < baseline_elapsed + DEADLINE + MARGIN, f"{' '.join(args)} took {elapsed:.1f} s (without waiting: {baseline_elapsed:.1f} s) with a {DEADLINE} s deadline"


def test_the_deadline_is_one_config_key_checked_like_the_others(tmp_path):
    bad = tmp_path / "bad.toml"
    for value in ('"soon"', "0", "-1", "true", "100000"):
        bad.write_text(f"request_timeout = {value}\n")
        proc, _ = run(["status"], tmp_path / "none", bad)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "request_timeout must be a number" in proc.stderr, (value, proc.stderr)
    bad.write_text("request_timeout = 2.5\n")
    proc, _ = run(["status"], tmp_path / "none", bad)
    assert proc.returncode == 2 and "no kubeconfig found" in proc.stderr and "request_timeout" not in proc.stderr, proc.stderr


def test_the_default_deadline_is_in_the_tens_of_seconds_and_every_request_gets_it(tmp_path):
    from tripgenctl.config import ToolConfig
    from tripgenctl.kube.client import connect

    assert 10 <= ToolConfig().request_timeout <= 60
    with SilentServer(tmp_path) as server:
        from tripgenctl.kube.errors import Timeout

        kube = connect(kubeconfig=str(server.kubeconfig), request_timeout=1.5)
        assert kube.core is not None  # the SDK's import time is not part of a request

        for attempt in (lambda: kube.get_json("/api/v1/namespaces"), lambda: kube.ping(),
                        lambda: kube.request_json("PATCH", "/api/v1/namespaces/x", {"metadata": {}}),
                        lambda: __import__("tripgenctl.kube.client", fromlist=["call"]).call(lambda: kube.core.list_namespaced_pod("x"), "list pods")):
            started = time.monotonic()
            with pytest.raises(Timeout) as err:
                attempt()
            assert time.monotonic() - started < 1.5 + 1.5  # one attempt: timeouts are not retried
            assert err.value.exit_code == 2 and server.url in err.value.message and "\n" not in err.value.message


def test_http_statuses_become_the_doors_typed_errors():
    from tripgenctl.errors import ConnectionFailed, ToolError
    from tripgenctl.kube import errors

    cases = {404: errors.NotFound, 409: errors.Conflict, 403: errors.Forbidden, 503: errors.Unavailable, 429: errors.Unavailable,
             500: errors.Unavailable, 422: errors.KubeError}
    for status, kind in cases.items():
        err = errors.for_status(status, {"kind": "Status", "message": f"the message {status}"}, "get deployment/web")
        assert type(err) is kind and isinstance(err, ToolError), status
        assert err.message.startswith("get deployment/web: ") and f"the message {status}" in err.message
    assert errors.for_status(200, {}, "x") is None
    assert errors.for_status(404, {}, "x").exit_code == 1 and errors.for_status(409, {}, "x").exit_code == 1
    assert errors.for_status(403, {}, "x").exit_code == 1
    assert errors.for_status(503, {}, "x").exit_code == 2 and isinstance(errors.for_status(503, {}, "x"), ConnectionFailed)
    assert isinstance(errors.for_status(401, {}, "x"), ConnectionFailed)
    assert errors.Timeout("t").exit_code == 2 and not isinstance(errors.Timeout("t"), ConnectionFailed)  # retry loops must not retry it
