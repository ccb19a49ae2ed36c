"""Conformance: what a user does with kubectl, by each versioned binary (1.27, 1.29, 1.31, 1.33),
against one sandbox, the versions in parallel. Per version: api-resources, get, describe, events,
top, logs, exec (stdin, exit codes, binary), port-forward with a real `psql`, apply client- and
server-side, explain, rollout status, wait, auth can-i, create deployment|job|cronjob|service|
role|rolebinding, delete --wait, and a CRD's custom resource applied, listed, watched and deleted.
Every step checks the answer, not only the exit code."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_sandbox_cluster import PG_SECRET, postgres_statefulset
from test_sandbox_crd import CRD, WIDGET, _read_until
from test_sandbox_streams_cluster import PortForward

VERSIONS = ["1.27", "1.29", "1.31", "1.33"]

SHELL = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: shell, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: shell}}}}
  template:
    metadata: {{labels: {{app: shell}}}}
    spec:
      containers:
      - {{name: c, image: "busybox:latest", command: [sh, -c, "echo hello-from-shell; exec sleep 3600"]}}
"""

APPLIED = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: applied, labels: {{step: "{step}"}}}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: applied}}}}
  template:
    metadata: {{labels: {{app: applied}}}}
    spec:
      containers:
      - {{name: c, image: "busybox:1.36", command: [sleep, "3600"], ports: [{{containerPort: 80}}]}}
"""


@pytest.fixture(scope="module")
def world(sandbox):
    """Shared pods (PostgreSQL, a shell Deployment) and a CRD, made once with kubectl 1.29."""
    ns = f"conformance-{uuid.uuid4().hex[:6]}"
    group = f"conf{uuid.uuid4().hex[:6]}.example.com"
    k = lambda *a, **kw: sandbox.kubectl(*a, version="1.29", check=True, **kw)  # noqa: E731
    k("create", "namespace", ns)
    k("apply", "-f", "-", input=postgres_statefulset(ns) + "\n---\n" + SHELL.format(ns=ns))
    k("apply", "-f", "-", input=CRD.format(group=group, short=group[4:8]))
    k("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=30s")
    k("rollout", "status", "statefulset/postgresql", "-n", ns, "--timeout=120s", timeout=150)
    k("rollout", "status", "deployment/shell", "-n", ns, "--timeout=60s", timeout=90)
    pod = json.loads(k("get", "pods", "-n", ns, "-l", "app=shell", "-o", "json").stdout)["items"][0]["metadata"]["name"]
    yield {"ns": ns, "group": group, "shell": pod}
    sandbox.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", version="1.29")
    sandbox.kubectl("delete", "namespace", ns, "--wait=false", version="1.29")


def _conform(sandbox, world, version: str) -> None:
    ns, group, shell = world["ns"], world["group"], world["shell"]
    mine = f"conf-{version.replace('.', '')}-{uuid.uuid4().hex[:4]}"

    def k(*args, check=True, **kw) -> subprocess.CompletedProcess:
        proc = sandbox.kubectl(*args, version=version, **kw)
        if check:
            assert proc.returncode == 0, f"kubectl {version} {' '.join(args)}: {proc.stderr.decode(errors='replace')[-1500:]}"
        return proc

    def out(*args, **kw) -> str:
        return k(*args, **kw).stdout.decode()

    k("create", "namespace", mine)
    try:
        # discovery
        res = out("api-resources")
        for name in ("deployments", "statefulsets", "cronjobs", "customresourcedefinitions", "widgets", "rolebindings"):
            assert f"\n{name} " in res or res.startswith(name), name
        # get / describe / events / top / logs
        pods = out("get", "pods", "-n", ns, "-o", "wide")
        assert "postgresql-0" in pods and "Running" in pods and "1/1" in pods
        described = out("describe", "pod", "postgresql-0", "-n", ns)
        assert "Status:           Running" in described and "Events:" in described and "pg_isready" in described
        events = out("events", "-n", ns)
        assert "Scheduled" in events and "Started" in events
        top = _eventually(lambda: (lambda t: t if "postgresql-0" in t else "")(out("top", "pod", "-n", ns, check=False)))
        assert "MEMORY(bytes)" in top and "Mi" in top
        assert "sandbox-node" in out("top", "node")
        assert "hello-from-shell" in out("logs", "deployment/shell", "-n", ns)
        # exec: exit code, stderr, binary stdin/stdout
        r = k("exec", shell, "-n", ns, "--", "sh", "-c", "echo out; echo err >&2; exit 7", check=False)
        assert r.returncode == 7 and r.stdout == b"out\n" and r.stderr.startswith(b"err\n"), r
        data = bytes(range(256)) * 64 + os.urandom(4096)
        r = k("exec", "-i", shell, "-n", ns, "--", "cat", input=data)
        assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(data).digest()
        # port-forward with a real psql
        with PortForward(sandbox, ns, "pod/postgresql-0", 5432, version, {}) as port:
            def psql():
                return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "tripgen", "-tAc", "SELECT 40 + 2"],
                                      capture_output=True, env=dict(os.environ, PGPASSWORD=PG_SECRET, PGCONNECT_TIMEOUT="20"), timeout=60)
            # the image's entrypoint may still be restarting its init server right after Ready
            got = _eventually(lambda: (lambda r: r if r.returncode == 0 else None)(psql()), timeout=60)
            assert got.stdout.strip() == b"42", got
        # apply, client-side then server-side
        for step, flags in (("1", ()), ("2", ()), ("3", ("--server-side", "--force-conflicts"))):
            k("apply", "-n", mine, *flags, "-f", "-", input=APPLIED.format(step=step))
            assert json.loads(out("get", "deploy", "applied", "-n", mine, "-o", "json"))["metadata"]["labels"]["step"] == step
        explained = out("explain", "deployment.spec.template")
        assert "<PodTemplateSpec>" in explained and "spec\t<PodSpec>" in explained
        k("rollout", "status", "deployment/shell", "-n", ns, "--timeout=30s")
        k("wait", "--for=condition=Ready", "pod/postgresql-0", "-n", ns, "--timeout=30s")
        assert out("auth", "can-i", "create", "deployments", "-n", mine).strip() == "yes"
        denied = k("auth", "can-i", "delete", "nodes", f"--as=system:serviceaccount:{mine}:default", check=False)
        assert denied.returncode == 1 and denied.stdout.strip() == b"no"
        # the create generators (protobuf bodies from 1.31 on)
        k("create", "deployment", "web", "-n", mine, "--image=busybox:1.36", "--replicas=0")
        k("create", "job", "once", "-n", mine, "--image=busybox:1.36", "--", "true")
        k("create", "cronjob", "nightly", "-n", mine, "--image=busybox:1.36", "--schedule=0 3 * * *", "--", "true")
        k("create", "service", "clusterip", "web", "-n", mine, "--tcp=80:8080")
        k("create", "role", "reader", "-n", mine, "--verb=get,list", "--resource=pods")
        k("create", "rolebinding", "readers", "-n", mine, "--role=reader", "--user=alice")
        made = json.loads(out("get", "deploy,job,cronjob,service,role,rolebinding", "-n", mine, "-o", "json"))
        kinds = sorted((o["kind"], o["metadata"]["name"]) for o in made["items"])
        assert ("CronJob", "nightly") in kinds and ("Job", "once") in kinds and ("Role", "reader") in kinds and ("RoleBinding", "readers") in kinds
        assert ("Service", "web") in kinds and ("Deployment", "web") in kinds
        assert next(o for o in made["items"] if o["kind"] == "RoleBinding")["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]
        # delete --wait
        assert "deleted" in out("delete", "deployment", "web", "-n", mine, "--wait", "--timeout=30s")
        assert k("get", "deployment", "web", "-n", mine, check=False).returncode == 1
        # a custom resource: applied, listed, watched, deleted
        watch = subprocess.Popen([sandbox.kubectl_path(version), "get", f"widgets.{group}", "-n", mine, "-w", "--output-watch-events"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sandbox.env())
        try:
            k("apply", "-n", mine, "-f", "-", input=WIDGET.format(group=group, name="w1", spec="{size: 2}"))
            listed = out("get", f"widgets.{group}", "-n", mine)
            assert listed.split()[:4] == ["NAME", "SIZE", "COLOR", "AGE"] and listed.split()[4:7] == ["w1", "2", "red"], listed
            k("delete", f"widgets.{group}", "w1", "-n", mine, "--wait", "--timeout=30s")
            lines = _read_until(watch, lambda ls: any(line.startswith("DELETED") for line in ls))
        finally:
            watch.kill()
            err = watch.communicate()[1]
        assert [line.split()[0] for line in lines[1:]][:1] == ["ADDED"] and lines[-1].startswith("DELETED"), (lines, err)
    finally:
        sandbox.kubectl("delete", "namespace", mine, "--wait=false", version="1.29")


def _eventually(fn, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_kubectl_conformance(sandbox, world):
    failures: dict[str, str] = {}

    def run(version: str) -> None:
        try:
            _conform(sandbox, world, version)
        except Exception:  # noqa: BLE001 - collected per version, reported together
            failures[version] = traceback.format_exc()

    with ThreadPoolExecutor(len(VERSIONS)) as pool:
        list(pool.map(run, VERSIONS))
    assert not failures, "\n\n".join(f"kubectl {v}:\n{tb}" for v, tb in sorted(failures.items()))
