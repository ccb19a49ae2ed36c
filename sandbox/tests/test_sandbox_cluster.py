"""The sandbox as a cluster: stock kubectl (1.32 and 1.29) and the Python client against real
pods — PostgreSQL, Redis, Jobs, failures that arise from specs — each asserting results."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

PG_SECRET = "pg-test-password"


def wait_for(predicate, timeout=90.0, interval=0.2, what="condition"):
    """Poll a cheap predicate (used only where the API offers nothing to watch, e.g. restart counts)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def postgres_statefulset(ns: str, image: str = "postgres:16-alpine") -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: postgresql-secret, namespace: {ns}}}
stringData: {{username: postgres, password: {PG_SECRET}, database: tripgen}}
---
apiVersion: v1
kind: Service
metadata: {{name: postgresql, namespace: {ns}}}
spec:
  selector: {{app: postgresql}}
  ports: [{{port: 5432, targetPort: 5432}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: postgresql, namespace: {ns}}}
spec:
  serviceName: postgresql
  replicas: 1
  selector: {{matchLabels: {{app: postgresql}}}}
  template:
    metadata: {{labels: {{app: postgresql}}}}
    spec:
      containers:
      - name: postgresql
        image: {image}
        env:
        - {{name: POSTGRES_PASSWORD, valueFrom: {{secretKeyRef: {{name: postgresql-secret, key: password}}}}}}
        - {{name: POSTGRES_DB, value: tripgen}}
        - {{name: PGDATA, value: /var/lib/postgresql/data/pgdata}}
        ports: [{{containerPort: 5432}}]
        readinessProbe:
          exec: {{command: [pg_isready, -U, postgres]}}
          periodSeconds: 1
        volumeMounts: [{{name: data, mountPath: /var/lib/postgresql/data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: managed-csi
      resources: {{requests: {{storage: 1Gi}}}}
"""


def redis_statefulset(ns: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: redis, namespace: {ns}}}
spec:
  selector: {{app: redis}}
  ports: [{{port: 6379, targetPort: 6379}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: redis, namespace: {ns}}}
spec:
  serviceName: redis
  replicas: 1
  selector: {{matchLabels: {{app: redis}}}}
  template:
    metadata: {{labels: {{app: redis}}}}
    spec:
      containers:
      - name: redis
        image: redis:7.2-alpine
        args: [--maxmemory, 64mb, --maxmemory-policy, allkeys-lru]
        ports: [{{containerPort: 6379}}]
"""


@pytest.fixture
def pg(sandbox, namespace):
    sandbox.kubectl("apply", "-f", "-", input=postgres_statefulset(namespace), check=True)
    sandbox.kubectl("rollout", "status", "statefulset/postgresql", "-n", namespace, "--timeout=120s", check=True, timeout=150)
    return namespace


def psql_in_pod(sandbox, ns, sql, db="tripgen"):
    return sandbox.kubectl("exec", "postgresql-0", "-n", ns, "--", "psql", "-U", "postgres", "-d", db, "-tAc", sql, check=True).stdout.decode().strip()


def test_runbook_exec_commands_verbatim(sandbox, pg, tmp_path):
    ns = pg
    psql_in_pod(sandbox, ns, "CREATE TABLE t(id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1,500) g")
    dump = tmp_path / "dev-backup.sql"
    out = sandbox.kubectl("exec", "postgresql-0", "-n", ns, "--", "pg_dump", "-U", "postgres", "tripgen", check=True).stdout
    dump.write_bytes(out)
    assert b"PostgreSQL database dump complete" in out
    psql_in_pod(sandbox, ns, "DROP TABLE t")
    restored = sandbox.kubectl("exec", "-i", "postgresql-0", "-n", ns, "--", "psql", "-U", "postgres", "tripgen", input=dump.read_bytes(), check=True)
    assert restored.returncode == 0
    assert psql_in_pod(sandbox, ns, "SELECT count(*) FROM t") == "500"
    listing = sandbox.kubectl("exec", "postgresql-0", "-n", ns, "--", "psql", "-U", "postgres", "-c", "\\l", check=True).stdout.decode()
    assert "tripgen" in listing and "template1" in listing


def test_redis_flushall_and_port_forward(sandbox, namespace):
    ns = namespace
    sandbox.kubectl("apply", "-f", "-", input=redis_statefulset(ns), check=True)
    sandbox.kubectl("rollout", "status", "statefulset/redis", "-n", ns, "--timeout=90s", check=True, timeout=120)
    assert sandbox.kubectl("exec", "redis-0", "-n", ns, "--", "redis-cli", "SET", "k", "v", check=True).stdout.strip() == b"OK"
    assert sandbox.kubectl("exec", "redis-0", "-n", ns, "--", "redis-cli", "DBSIZE", check=True).stdout.strip() == b"1"
    assert sandbox.kubectl("exec", "redis-0", "-n", ns, "--", "redis-cli", "FLUSHALL", check=True).stdout.strip() == b"OK"
    assert sandbox.kubectl("exec", "redis-0", "-n", ns, "--", "redis-cli", "DBSIZE", check=True).stdout.strip() == b"0"
    import socket

    kube = sandbox.kube(ns)
    with kube.port_forward("redis-0", 6379) as (host, port):
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            assert s.recv(64) == b"+PONG\r\n"


def test_python_port_forward_reaches_postgres(sandbox, pg):
    import psycopg

    kube = sandbox.kube(pg)
    with kube.port_forward("postgresql-0", 5432) as (host, port):
        with psycopg.connect(host=host, port=port, user="postgres", password=PG_SECRET, dbname="tripgen", connect_timeout=10) as conn:
            assert conn.execute("SELECT 40 + 2").fetchone()[0] == 42


def test_job_runs_psql_against_the_service_from_a_configmap(sandbox, pg):
    ns = pg
    psql_in_pod(sandbox, ns, "CREATE TABLE IF NOT EXISTS marks(x int)")
    job = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: scripts, namespace: {ns}}}
data:
  x.sql: "INSERT INTO marks VALUES (7), (8);"
---
apiVersion: batch/v1
kind: Job
metadata: {{name: load, namespace: {ns}}}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: load
        image: postgres:16-alpine
        command: [sh, -c, "psql -h postgresql.{ns}.svc.cluster.local -U postgres -d tripgen -v ON_ERROR_STOP=1 -f /scripts/x.sql"]
        env: [{{name: PGPASSWORD, valueFrom: {{secretKeyRef: {{name: postgresql-secret, key: password}}}}}}]
        volumeMounts: [{{name: scripts, mountPath: /scripts}}]
      volumes: [{{name: scripts, configMap: {{name: scripts}}}}]
"""
    sandbox.kubectl("apply", "-f", "-", input=job, check=True)
    sandbox.kubectl("wait", "--for=condition=complete", "job/load", "-n", ns, "--timeout=90s", check=True, timeout=120)
    assert psql_in_pod(sandbox, ns, "SELECT string_agg(x::text, ',' ORDER BY x) FROM marks") == "7,8"
    logs = sandbox.kubectl("logs", "job/load", "-n", ns, check=True).stdout.decode()
    assert "INSERT 0 2" in logs


def test_failures_arise_from_specs(sandbox, namespace):
    ns = namespace
    core = sandbox.kube(ns).core
    pods = f"""
apiVersion: v1
kind: Pod
metadata: {{name: badimage, namespace: {ns}}}
spec:
  containers: [{{name: c, image: "nosuch/image:1"}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: huge, namespace: {ns}}}
spec:
  containers: [{{name: c, image: "busybox:latest", command: [sleep, "3600"], resources: {{requests: {{cpu: "8"}}}}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: crasher, namespace: {ns}}}
spec:
  containers: [{{name: c, image: "busybox:latest", command: [sh, -c, "echo dying; exit 1"]}}]
"""
    sandbox.kubectl("apply", "-f", "-", input=pods, check=True)

    def waiting_reason(name):
        p = core.read_namespaced_pod(name, ns)
        cs = (p.status.container_statuses or [None])[0]
        return cs.state.waiting.reason if cs and cs.state and cs.state.waiting else None

    wait_for(lambda: waiting_reason("badimage") == "ImagePullBackOff", what="ImagePullBackOff")
    events = core.list_namespaced_event(ns, field_selector="involvedObject.name=huge").items
    wait_for(lambda: any(e.reason == "FailedScheduling" for e in core.list_namespaced_event(ns, field_selector="involvedObject.name=huge").items), what="FailedScheduling")
    huge = core.read_namespaced_pod("huge", ns)
    assert huge.status.phase == "Pending" and not huge.spec.node_name
    assert "Insufficient cpu" in [e for e in core.list_namespaced_event(ns, field_selector="involvedObject.name=huge").items if e.reason == "FailedScheduling"][0].message
    assert events is not None

    def restarts():
        p = core.read_namespaced_pod("crasher", ns)
        cs = (p.status.container_statuses or [None])[0]
        return cs.restart_count if cs else 0

    first = wait_for(lambda: restarts() >= 2 and restarts(), what="restarts")
    wait_for(lambda: waiting_reason("crasher") == "CrashLoopBackOff", what="CrashLoopBackOff")
    wait_for(lambda: restarts() > first, what="restart count growing")
    prev = sandbox.kubectl("logs", "crasher", "-n", ns, "-p", check=True).stdout.decode()
    assert "dying" in prev
    text = sandbox.kubectl("get", "pods", "-n", ns, "-o", "wide", check=True).stdout.decode()
    assert "ImagePullBackOff" in text or "ErrImagePull" in text
    assert "Pending" in text and "NODE" in text
    described = sandbox.kubectl("describe", "pod", "huge", "-n", ns, check=True).stdout.decode()
    assert "FailedScheduling" in described and "Insufficient cpu" in described


def test_deployment_rollout_logs_top_and_cascade(sandbox, namespace):
    ns = namespace
    dep = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: talker, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: talker}}}}
  template:
    metadata: {{labels: {{app: talker}}}}
    spec:
      containers: [{{name: c, image: "busybox:latest", command: [sh, -c, "for i in 1 2 3 4 5; do echo line $i; done; sleep 3600"]}}]
"""
    sandbox.kubectl("apply", "-f", "-", input=dep, check=True)
    sandbox.kubectl("rollout", "status", "deployment/talker", "-n", ns, "--timeout=90s", check=True, timeout=120)
    for version in ("1.32", "1.29"):
        got = json.loads(sandbox.kubectl("get", "pods", "-n", ns, "-l", "app=talker", "-o", "json", version=version, check=True).stdout)
        assert len(got["items"]) == 2 and all(p["status"]["phase"] == "Running" for p in got["items"])
    pod = got["items"][0]["metadata"]["name"]
    wait_for(lambda: b"line 5" in sandbox.kubectl("logs", pod, "-n", ns).stdout, what="logs")
    assert sandbox.kubectl("logs", pod, "-n", ns, "--tail=2", check=True).stdout.decode().split() == ["line", "4", "line", "5"]
    import subprocess

    proc = subprocess.Popen([sandbox.kubectl_path(), "logs", "-f", pod, "-n", ns], stdout=subprocess.PIPE, env=sandbox.env())
    first_line = proc.stdout.readline()
    proc.kill()
    assert first_line.strip() == b"line 1"
    top = wait_for(lambda: (r := sandbox.kubectl("top", "pod", "-n", ns)).returncode == 0 and r, what="kubectl top")
    assert pod in top.stdout.decode() and "MEMORY" in top.stdout.decode()
    sandbox.kubectl("delete", "deployment", "talker", "-n", ns, check=True)
    wait_for(lambda: not sandbox.kube(ns).core.list_namespaced_pod(ns, label_selector="app=talker").items, what="pods deleted by cascade")
    assert not sandbox.kube(ns).apps.list_namespaced_replica_set(ns).items


def test_exec_streams_200mb_both_ways(sandbox, namespace):
    """Binary-safe exec with bounded server memory."""
    import psutil

    from tripgenctl.kube import execstream

    ns = namespace
    pod = f"""
apiVersion: v1
kind: Pod
metadata: {{name: shell, namespace: {ns}}}
spec:
  containers: [{{name: c, image: "busybox:latest", command: [sleep, "3600"]}}]
"""
    sandbox.kubectl("apply", "-f", "-", input=pod, check=True)
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/shell", "-n", ns, "--timeout=60s", check=True, timeout=90)
    kube = sandbox.kube(ns)
    daemon = psutil.Process(int((sandbox.state_dir / "daemon.pid").read_text()))
    size = 200 * 2**20
    block = os.urandom(2**20)
    sent = hashlib.sha256()
    peak = [daemon.memory_info().rss]

    def chunks():
        for i in range(size // len(block)):
            data = block[:-1] + bytes([i % 256])
            sent.update(data)
            if i % 20 == 0:
                peak.append(daemon.memory_info().rss)
            yield data

    received = hashlib.sha256()
    session = execstream.open_exec(kube, "shell", ["sh", "-c", "cat"], stdin=True)
    result = session.pump(on_stdout=received.update, stdin=chunks())
    assert result.exit_code == 0, result.stderr_text()
    assert result.stdout_bytes == size
    assert received.hexdigest() == sent.hexdigest()
    growth = max(peak) - peak[0]
    assert growth < 150 * 2**20, f"API server RSS grew by {growth / 2**20:.0f} MiB while streaming 200 MiB"
