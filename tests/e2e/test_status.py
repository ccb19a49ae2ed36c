"""`status` against the sandbox: JSON fields, constant list calls, one-line errors (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
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
    assert set(data) == {"namespace", "context", "overall", "summary", "workloads", "pods", "awake_until", "cost_this_month", "spec_drift"}
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


def _awake(sandbox, namespace: str, hours: int = 2) -> str:
    from datetime import datetime, timedelta, timezone

    from tripgenctl.ops.schedule import AWAKE_ANNOTATION

    until = (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sandbox.kubectl("annotate", "namespace", namespace, f"{AWAKE_ANNOTATION}={until}", "--overwrite", check=True)
    return until


def test_namespace_503_is_unknown_not_none_and_exits_2(sandbox, namespace):
    """Issue 17: with the namespace GET answering 503, `status` said "Awake until: -" and exit 0."""
    apply(sandbox, namespace, app_yaml("web"))
    until = _awake(sandbox, namespace)
    ok = tool(sandbox, namespace, "status", "-o", "json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["awake_until"] == until, ok.stderr
    sandbox.api_fault(f"^/api/v1/namespaces/{namespace}$", regex=True, verb="GET", status=503)
    try:
        table = tool(sandbox, namespace, "status")
        as_json = tool(sandbox, namespace, "status", "-o", "json")
    finally:
        sandbox.clear_api_faults()
    assert table.returncode == 2, table.stdout + table.stderr
    assert f"Awake until: unknown (GET namespace {namespace}: 503 ServiceUnavailable" in table.stdout, table.stdout
    assert "Awake until: -" not in table.stdout
    err = table.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: awake until is unknown: ") and "503" in err[0], table.stderr
    assert as_json.returncode == 2
    data = json.loads(as_json.stdout)
    assert data["awake_until"].startswith("unknown (") and "503" in data["awake_until"]
    assert data["workloads"][0]["name"] == "web"  # what could be read is still shown


def test_namespace_forbidden_by_rbac_is_unknown_and_not_exit_0(sandbox, namespace, tmp_path):
    """A service account that may list the workloads but not get its namespace (a Role of the
    namespace, the usual developer grant): unknown, exit 1 (refused), never 0."""
    apply(sandbox, namespace, app_yaml("web"))
    _awake(sandbox, namespace)
    rbac = f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: viewer, namespace: {namespace}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: viewer, namespace: {namespace}}}
rules:
  - {{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}}
  - {{apiGroups: [apps], resources: [deployments, statefulsets], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: viewer, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: viewer}}
subjects: [{{kind: ServiceAccount, name: viewer, namespace: {namespace}}}]
"""
    sandbox.kubectl("apply", "-f", "-", input=rbac, check=True)
    token = sandbox.kubectl("create", "token", "viewer", "-n", namespace, version="1.29", check=True).stdout.decode().strip()
    cfg = yaml.safe_load(Path(sandbox.kubeconfig).read_text())
    cfg["users"] = [{"name": "viewer", "user": {"token": token}}]
    cfg["contexts"] = [{"name": "viewer", "context": {"cluster": cfg["clusters"][0]["name"], "user": "viewer", "namespace": namespace}}]
    cfg["current-context"] = "viewer"
    kubeconfig = tmp_path / "viewer"
    kubeconfig.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "tripgenctl", "status", "--kubeconfig", str(kubeconfig), "-n", namespace],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Awake until: unknown (" in r.stdout and "forbidden (403)" in r.stdout, r.stdout
    assert "Deployment/web" in r.stdout
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: awake until is unknown:") and token not in r.stdout + r.stderr
