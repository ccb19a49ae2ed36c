"""The sandbox kubelet, runtimes and service proxy in-process (no API server): a Store with a
namespace and pods bound to a node, real PostgreSQL / Redis / busybox-style processes, and
the failure modes a spec can cause (CrashLoopBackOff, ImagePullBackOff, OOMKilled). One event
loop runs in a background thread for the whole module so the PostgreSQL pod is started once."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tripgen_sandbox.cluster import Cluster
from tripgen_sandbox.config import SandboxConfig
from tripgen_sandbox.kubelet import Kubelet
from tripgen_sandbox.netproxy import ServiceProxy
from tripgen_sandbox.store import Store

NS = "kt"
NODE = "sandbox-node-1"
PG_PASSWORD = "kubelet-test-pw"
REDIS_PASSWORD = "redis-test-pw"


class Env:
    """The cluster under test plus a thread-safe way to run coroutines on its loop."""

    def __init__(self, state_dir: Path):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.config = SandboxConfig(state_dir=state_dir, backoff_base=0.3, backoff_cap=1.2, memory_poll_interval=0.1)
        self.stopped = False

        async def build():
            store = Store(state_dir / "objects.json")
            cluster = Cluster(config=self.config, store=store)
            cluster.netproxy = ServiceProxy(cluster)
            await cluster.netproxy.start()
            cluster.kubelet = Kubelet(cluster)
            await cluster.kubelet.start()
            store.create("namespaces", {"metadata": {"name": NS}})
            return cluster

        self.cluster = self.run(build())
        self.store = self.cluster.store
        self.kubelet = self.cluster.kubelet

    def run(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args, **kwargs):
        async def wrapper():
            return fn(*args, **kwargs)

        return self.run(wrapper())

    def create(self, key: str, obj: dict) -> dict:
        obj.setdefault("metadata", {}).setdefault("namespace", NS)
        return self.call(self.store.create, key, obj)

    def pod(self, name: str) -> dict | None:
        return self.call(self.store.get, "pods", NS, name)

    def wait_pod(self, name: str, predicate, timeout: float = 30, what: str = "") -> dict:
        """Wait on the store's watch (no polling) until predicate(pod) holds."""

        async def waiter():
            watch = self.store.watch("pods", NS, field_selector=f"metadata.name={name}")
            try:
                async def loop():
                    async for _type, obj in watch:
                        if predicate(obj):
                            return obj
                return await asyncio.wait_for(loop(), timeout)
            finally:
                watch.close()

        try:
            return self.run(waiter(), timeout + 5)
        except (asyncio.TimeoutError, TimeoutError):
            raise AssertionError(f"timed out waiting for pod {name} {what}: {self.pod(name)!r}") from None

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.run(self.kubelet.stop(), 60)
            self.run(self.cluster.netproxy.stop(), 10)

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def pod_spec(name: str, containers: list[dict], **spec) -> dict:
    return {"metadata": {"name": name, "namespace": NS, "labels": spec.pop("labels", {})}, "spec": {"nodeName": NODE, "containers": containers, **spec}}


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def cstatus(pod: dict, index: int = 0) -> dict:
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[index]


def marked(short_id: str) -> list[int]:
    marker = f"TRIPGEN_SANDBOX_ID={short_id}".encode()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    out.append(int(pid))
        except OSError:
            pass
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("kubelet-state"))
    yield e
    e.close()


@pytest.fixture(scope="module")
def pg(env):
    """A PostgreSQL pod (postgres:16-alpine on a PVC) behind a Service."""
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    env.create("secrets", {"metadata": {"name": "postgresql-secret"}, "data": {"username": b64("postgres"), "password": b64(PG_PASSWORD), "database": b64("tripgen")}})
    env.create("persistentvolumeclaims", {"metadata": {"name": "data-postgresql-0"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}})
    env.create("services", {"metadata": {"name": "postgresql"}, "spec": {"selector": {"app": "postgresql"}, "ports": [{"name": "postgresql", "port": 5432, "targetPort": "postgresql"}]}})
    secret = lambda key: {"valueFrom": {"secretKeyRef": {"name": "postgresql-secret", "key": key}}}  # noqa: E731
    env.create("pods", pod_spec("postgresql-0", [{
        "name": "postgresql", "image": "postgres:16-alpine",
        "args": ["-c", "max_connections=50", "-c", "shared_buffers=32MB"],
        "ports": [{"name": "postgresql", "containerPort": 5432}],
        "env": [{"name": "POSTGRES_USER", **secret("username")}, {"name": "POSTGRES_PASSWORD", **secret("password")},
                {"name": "POSTGRES_DB", **secret("database")}, {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
        "resources": {"limits": {"memory": "1Gi"}},
        "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "postgres"]}, "periodSeconds": 1},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
    }], labels={"app": "postgresql"}, volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data-postgresql-0"}}]))
    pod = env.wait_pod("postgresql-0", ready, 40, "to be Ready")
    svc = env.call(env.store.get, "services", NS, "postgresql")
    return pod, svc["spec"]["clusterIP"]


def exec_in(env: Env, pod: str, command: list[str], stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    async def go():
        proc = await env.kubelet.exec(NS, pod, None, command, False)
        out, err = await proc.communicate(stdin)
        return proc.returncode, out, err

    return env.run(go())


def test_postgres_ready_and_reachable_by_password_through_cluster_ip(env, pg):
    pod, cluster_ip = pg
    st = pod["status"]
    assert st["phase"] == "Running" and st["podIP"].startswith("127.1.") and st["hostIP"] == "127.3.0.1"
    assert cstatus(pod)["ready"] and "running" in cstatus(pod)["state"] and cstatus(pod)["imageID"].startswith("docker.io/library/postgres@sha256:")
    assert cluster_ip.startswith("127.2.")
    with psycopg.connect(host=cluster_ip, port=5432, user="postgres", password=PG_PASSWORD, dbname="tripgen", connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database(), 40 + 2").fetchone() == ("tripgen", 42)
    # the proxy's source address is not trusted: a wrong password is refused
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=cluster_ip, port=5432, user="postgres", password="wrong", dbname="tripgen", connect_timeout=5)
    # the data lives in the PVC directory
    assert (env.config.state_dir / "pvs" / NS / "data-postgresql-0" / "pgdata" / "PG_VERSION").exists()


def test_runbook_exec_commands_inside_the_postgres_pod(env, pg):
    rc, out, err = exec_in(env, "postgresql-0", ["psql", "-U", "postgres", "-c", "\\l"])
    assert rc == 0, err
    assert b"tripgen" in out and b"template1" in out
    rc, out, err = exec_in(env, "postgresql-0", ["psql", "-U", "postgres", "tripgen"], b"CREATE TABLE t(x int); INSERT INTO t SELECT generate_series(1, 5);\n")
    assert rc == 0, err
    rc, out, err = exec_in(env, "postgresql-0", ["pg_dump", "-U", "postgres", "tripgen"])
    assert rc == 0 and b"PostgreSQL database dump complete" in out and b"CREATE TABLE public.t" in out
    rc, out, err = exec_in(env, "postgresql-0", ["sh", "-c", "echo $PGHOST; exit 3"])
    assert rc == 3 and out.strip().startswith(str(env.config.runtime_dir).encode())


def test_job_pod_runs_psql_file_from_configmap_against_the_service(env, pg):
    env.create("configmaps", {"metadata": {"name": "scripts"}, "data": {"x.sql": "CREATE TABLE marks(x int); INSERT INTO marks VALUES (7), (8);"}})
    command = f"psql -h postgresql.{NS}.svc.cluster.local -U postgres -d tripgen -v ON_ERROR_STOP=1 -f /scripts/x.sql"
    env.create("pods", pod_spec("load", [{
        "name": "load", "image": "postgres:16-alpine", "command": ["sh", "-c", command],
        "env": [{"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "postgresql-secret", "key": "password"}}}],
        "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}],
    }], restartPolicy="Never", volumes=[{"name": "scripts", "configMap": {"name": "scripts"}}]))
    pod = env.wait_pod("load", lambda p: (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"), 30, "to finish")
    log = env.call(env.kubelet.log_file, NS, "load", "load").read_text()
    assert pod["status"]["phase"] == "Succeeded", log
    assert cstatus(pod)["state"]["terminated"]["reason"] == "Completed"
    assert " stdout F INSERT 0 2" in log
    rc, out, _ = exec_in(env, "postgresql-0", ["psql", "-U", "postgres", "-d", "tripgen", "-tAc", "SELECT string_agg(x::text, ',' ORDER BY x) FROM marks"])
    assert out.strip() == b"7,8"


def test_standin_app_reports_dependencies(env, pg):
    _, cluster_ip = pg
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    env.create("secrets", {"metadata": {"name": "redis-secret"}, "data": {"password": b64(REDIS_PASSWORD)}})
    env.create("services", {"metadata": {"name": "redis"}, "spec": {"selector": {"app": "redis"}, "ports": [{"name": "redis", "port": 6379}]}})
    app = {"name": "trip-service", "image": "tripgendev.azurecr.io/trip-service:1.0.0", "ports": [{"name": "http", "containerPort": 8080}],
           "env": [{"name": "SPRING_DATASOURCE_URL", "value": f"jdbc:postgresql://postgresql.{NS}.svc.cluster.local:5432/tripgen"},
                   {"name": "SPRING_DATASOURCE_USERNAME", "value": "postgres"},
                   {"name": "SPRING_DATASOURCE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "postgresql-secret", "key": "password"}}},
                   {"name": "SPRING_DATA_REDIS_HOST", "value": f"redis.{NS}.svc.cluster.local"}, {"name": "SPRING_DATA_REDIS_PORT", "value": "6379"},
                   {"name": "SPRING_DATA_REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-secret", "key": "password"}}}],
           "readinessProbe": {"httpGet": {"path": "/actuator/health/readiness", "port": "http"}, "periodSeconds": 1},
           "livenessProbe": {"httpGet": {"path": "/actuator/health/liveness", "port": "http"}, "periodSeconds": 1}}
    env.create("pods", pod_spec("trip", [app]))
    # Redis is not there yet: running, live, but not Ready, and the health names redis
    pod = env.wait_pod("trip", lambda p: "running" in cstatus(p).get("state", {}), 20, "to run")
    import json
    import urllib.error
    import urllib.request

    url = f"http://{pod['status']['podIP']}:8080/actuator/health"
    with pytest.raises(urllib.error.HTTPError) as err:
        for _ in range(50):
            try:
                urllib.request.urlopen(url, timeout=5)
            except urllib.error.URLError as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    raise
                time.sleep(0.1)  # the server is still binding its socket
    assert err.value.code == 503
    body = json.loads(err.value.read())
    assert body["components"]["redis"]["status"] == "DOWN" and body["components"]["db"]["status"] == "UP"
    assert urllib.request.urlopen(url + "/liveness", timeout=5).status == 200
    assert not ready(env.pod("trip"))
    # start Redis: the app becomes Ready
    env.create("pods", pod_spec("redis-0", [{
        "name": "redis", "image": "redis:7.2-alpine", "ports": [{"containerPort": 6379}],
        "args": ["--requirepass", "$(REDIS_PASSWORD)", "--maxmemory", "64mb", "--save", ""],
        "env": [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-secret", "key": "password"}}},
                {"name": "REDISCLI_AUTH", "valueFrom": {"secretKeyRef": {"name": "redis-secret", "key": "password"}}}],
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 1},
    }], labels={"app": "redis"}))
    env.wait_pod("redis-0", ready, 20, "to be Ready")
    # as in the runbook: a client in the pod reaches its own server with no host given
    assert exec_in(env, "redis-0", ["redis-cli", "SET", "k", "v"])[1].strip() == b"OK"
    assert exec_in(env, "redis-0", ["redis-cli", "FLUSHALL"])[1].strip() == b"OK"
    rc, out, err = exec_in(env, "redis-0", ["redis-cli", "DBSIZE"])
    assert (rc, out.strip()) == (0, b"0"), err
    env.wait_pod("trip", ready, 20, "to be Ready once Redis answers")


def test_crash_loop_back_off(env):
    env.create("pods", pod_spec("crash", [{"name": "c", "image": "busybox:latest", "command": ["sh", "-c", "echo dying; exit 1"]}]))
    pod = env.wait_pod("crash", lambda p: cstatus(p).get("restartCount", 0) >= 2 and cstatus(p).get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff", 30, "to crash-loop")
    st = cstatus(pod)
    assert st["lastState"]["terminated"]["exitCode"] == 1 and st["lastState"]["terminated"]["reason"] == "Error"
    assert pod["status"]["phase"] == "Running" and not ready(pod)
    events = env.call(lambda: [e for e in env.store.iter("events", NS) if e["involvedObject"]["name"] == "crash"])
    reasons = {e["reason"] for e in events}
    assert {"Pulling", "Pulled", "Created", "Started", "BackOff"} <= reasons
    assert any(e["reason"] == "BackOff" and e["message"].startswith("Back-off restarting failed container c") for e in events)
    previous = env.call(env.kubelet.log_file, NS, "crash", "c", previous=True)
    assert previous is not None and "stdout F dying" in previous.read_text()


def test_unknown_image_reaches_image_pull_back_off(env):
    env.create("pods", pod_spec("nosuch", [{"name": "c", "image": "nosuch/image:1"}]))
    pod = env.wait_pod("nosuch", lambda p: cstatus(p).get("state", {}).get("waiting", {}).get("reason") == "ImagePullBackOff", 20, "ImagePullBackOff")
    assert pod["status"]["phase"] == "Pending"
    events = env.call(lambda: [e for e in env.store.iter("events", NS) if e["involvedObject"]["name"] == "nosuch"])
    failed = [e["message"] for e in events if e["reason"] == "Failed"]
    assert any(m.startswith('Failed to pull image "nosuch/image:1"') and "manifest unknown" in m for m in failed)
    assert "Error: ErrImagePull" in failed


def test_memory_hog_is_oom_killed(env):
    hog = "import time\nl = []\nwhile True:\n    l.append(b'x' * 2**20)\n    time.sleep(0.002)\n"
    env.create("pods", pod_spec("hog", [{"name": "hog", "image": "python:3.11-slim", "command": ["python", "-c", hog], "resources": {"limits": {"memory": "50Mi"}}}], restartPolicy="Never"))
    pod = env.wait_pod("hog", lambda p: p.get("status", {}).get("phase") == "Failed", 30, "to be OOMKilled")
    term = cstatus(pod)["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137


def test_graceful_delete_removes_the_pod_and_its_processes(env):
    env.create("pods", pod_spec("sleeper", [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}], terminationGracePeriodSeconds=30))
    pod = env.wait_pod("sleeper", ready, 15, "to be Ready")
    pid = env.call(lambda: env.kubelet._worker(NS, "sleeper").runners[0].proc.pid)
    assert env.call(env.kubelet.usage, NS, "sleeper")["c"][1] > 0
    env.call(env.store.delete, "pods", NS, "sleeper")

    async def gone():
        watch = env.store.watch("pods", NS, field_selector="metadata.name=sleeper", resource_version=pod["metadata"]["resourceVersion"])
        try:
            async for type_, _ in watch:
                if type_ == "DELETED":
                    return True
        finally:
            watch.close()

    assert env.run(asyncio.wait_for(gone(), 15))
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_stop_leaves_no_process(env, pg):
    assert marked(env.config.short_id), "the sandbox should be running processes before stop"
    env.stop()
    left = marked(env.config.short_id)
    assert not left, f"processes left behind: {left}"


def test_restart_adopts_pods_and_postgres_data_survives(env, pg):
    """After a stop, a new kubelet on the same store restarts the pods (same pod IP,
    restartCount + 1) and PostgreSQL finds its data in the PVC."""
    env.stop()
    before = env.pod("postgresql-0")

    async def restart():
        env.cluster.netproxy = ServiceProxy(env.cluster)
        await env.cluster.netproxy.start()
        env.cluster.kubelet = env.kubelet = Kubelet(env.cluster)
        await env.kubelet.start()

    env.run(restart())
    env.stopped = False
    pod = env.wait_pod("postgresql-0", lambda p: ready(p) and "running" in cstatus(p)["state"] and cstatus(p)["restartCount"] == cstatus(before)["restartCount"] + 1, 40, "to be Ready again")
    assert pod["status"]["podIP"] == before["status"]["podIP"]
    assert cstatus(pod)["lastState"]["terminated"]["exitCode"] == 0  # fast shutdown (SIGINT) at stop
    rc, out, err = exec_in(env, "postgresql-0", ["psql", "-U", "postgres", "-d", "tripgen", "-tAc", "SELECT count(*) FROM t"])
    assert (rc, out.strip()) == (0, b"5"), err
    env.stop()
    assert not marked(env.config.short_id)
