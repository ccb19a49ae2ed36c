"""`status` against the sandbox: JSON fields, constant list calls, one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tripgenctl.ops import waiting
from tripgenctl.ops import workloads as wl

from tests.e2e.test_updown import apply, app_yaml, tool
from tests.helpers import run_tool

WORKLOAD_FIELDS = {"kind", "name", "role", "desired", "ready", "remembered", "scaled_down_by", "scaled_down_at", "excluded", "state", "since", "age", "image", "drift", "reasons", "selector"}
POD_FIELDS = {"name", "workload", "phase", "ready", "is_ready", "restarts", "node", "reason", "age", "ready_since"}


def test_status_json_fields_and_table(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("web", replicas=2))
    r = tool(sandbox, namespace, "up", "--yes", "--timeout", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    r = tool(sandbox, namespace, "status", "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"namespace", "context", "overall", "summary", "workloads", "pods", "awake_until"}
    assert data["namespace"] == namespace and data["overall"] == "UP"
    assert set(data["workloads"][0]) == WORKLOAD_FIELDS
    assert len(data["pods"]) == 2 and all(set(p) == POD_FIELDS for p in data["pods"])
    assert all(p["workload"] == "Deployment/web" and p["is_ready"] and p["node"] for p in data["pods"])
    table = tool(sandbox, namespace, "status")
    assert table.returncode == 0 and "Overall: UP" in table.stdout and "Deployment/web" in table.stdout


def test_status_list_calls_do_not_grow_with_pods(sandbox, namespace):
    kube = sandbox.kube(namespace)
    apply(sandbox, namespace, app_yaml("few", replicas=1))
    kube.calls.clear()
    wl.read(kube, ("postgresql", "redis"))
    few = list(kube.calls)
    sandbox.kubectl("scale", "-n", namespace, "deployment/few", "--replicas=8", check=True)
    outcome = waiting.wait_workloads(kube, [waiting.Target("Deployment", "few", 8, {"matchLabels": {"app": "few"}})], 60)
    assert outcome["Deployment/few"].ok, outcome
    kube.calls.clear()
    st = wl.read(kube, ("postgresql", "redis"))
    assert len(st.pods) == 8
    assert sorted(kube.calls) == sorted(few) and len(few) == 4


def test_status_errors_are_one_line_exit_2(sandbox, tmp_path):
    missing = tool(sandbox, "no-such-namespace-x1", "status")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr, missing.stderr

    cfg = yaml.safe_load(Path(sandbox.kubeconfig).read_text())
    for c in cfg["clusters"]:
        c["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens on the discard port
    unreachable = tmp_path / "unreachable"
    unreachable.write_text(yaml.safe_dump(cfg))
    bad = tmp_path / "bad"
    bad.write_text("apiVersion: v1\nclusters: [oops\n")
    for path, words in ((unreachable, "cannot reach"), (bad, "kubeconfig")):
        r = run_tool("status", "--kubeconfig", str(path), "-n", "x", timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
