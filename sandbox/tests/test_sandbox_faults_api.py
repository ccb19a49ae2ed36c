"""API faults (`tripgenctl sandbox fault api`, tripgen_sandbox/apiserver/faults.py): per verb
and path, a status code with a kube-apiserver Status body, latency, or a hang, N times or until
cleared; as a client (tripgenctl's own door) and the CLI see them."""

from __future__ import annotations

import subprocess
import sys
import threading
import time


def tripgenctl(sandbox, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tripgenctl", "sandbox", "fault", "api", *args, "--state-dir", str(sandbox.state_dir)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_status_fault_n_times_per_verb_and_regex_path(sandbox, namespace):
    kube = sandbox.kube(namespace)
    kube.request_json("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    cm = f"/api/v1/namespaces/{namespace}/configmaps/c"
    proc = tripgenctl(sandbox, "--path", f"^{cm}$", "--regex", "--verb", "GET", "--status", "503", "--times", "2")
    assert proc.returncode == 0, proc.stderr
    assert f"GET ~^{cm}$: status 503, 2 more time(s)" in proc.stdout
    try:
        # another verb on the same path and another path are untouched
        status, _ = kube.request_json("PATCH", cm, {"data": {"k": "w"}}, content_type="application/merge-patch+json")
        assert status == 200
        assert kube.get_json(f"/api/v1/namespaces/{namespace}/configmaps")[0] == 200
        for _ in range(2):
            status, body = kube.get_json(cm)
            assert status == 503
            assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == 503
            assert body["reason"] == "ServiceUnavailable" and body["message"]
        status, body = kube.get_json(cm)  # used up
        assert status == 200 and body["data"] == {"k": "w"}
        assert "no API faults" in tripgenctl(sandbox, "--clear").stdout
    finally:
        sandbox.clear_api_faults()


def test_latency_and_prefix_until_cleared(sandbox, namespace):
    kube = sandbox.kube(namespace)
    prefix = f"/api/v1/namespaces/{namespace}/configmaps"
    assert tripgenctl(sandbox, "--path", prefix, "--latency", "1.5").returncode == 0
    try:
        for _ in range(2):  # no --times: every request until cleared
            t0 = time.monotonic()
            assert kube.get_json(prefix)[0] == 200
            assert time.monotonic() - t0 >= 1.4
        assert tripgenctl(sandbox, "--clear", "--path", prefix).returncode == 0
        t0 = time.monotonic()
        assert kube.get_json(prefix)[0] == 200
        assert time.monotonic() - t0 < 1.0
    finally:
        sandbox.clear_api_faults()


def test_hang_until_cleared(sandbox, namespace):
    kube = sandbox.kube(namespace)
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    sandbox.api_fault(path, verb="GET", hang=True)
    answers: list[int] = []
    worker = threading.Thread(target=lambda: answers.append(kube.get_json(path)[0]), daemon=True)
    try:
        worker.start()
        worker.join(2.0)
        assert worker.is_alive() and not answers  # still waiting for an answer
        assert tripgenctl(sandbox, "--clear").returncode == 0
        worker.join(10.0)
        assert answers == [200]
    finally:
        sandbox.clear_api_faults()


def test_403_fault_reads_as_forbidden_and_bad_rules_are_usage_errors(sandbox, namespace):
    kube = sandbox.kube(namespace)
    sandbox.api_fault(f"/api/v1/namespaces/{namespace}", regex=False, status=403, times=1)
    try:
        status, body = kube.get_json(f"/api/v1/namespaces/{namespace}")
        assert status == 403 and body["reason"] == "Forbidden" and "forbidden" in body["message"]
    finally:
        sandbox.clear_api_faults()
    for args, text in ((["--path", "/x", "--status", "503", "--hang"], "exactly one of"),
                       (["--status", "503"], "--path is required"),
                       (["--path", "(", "--regex", "--hang"], "bad regular expression"),
                       (["--path", "/x", "--status", "99"], "status must be"),
                       (["--path", "/x", "--latency", "0"], "latency must be")):
        proc = tripgenctl(sandbox, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], proc.stderr
