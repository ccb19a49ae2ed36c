"""`down` / `up` against the sandbox: remembered counts, idempotence, data ordering, the lock,
failures with reasons. The CLI runs as a subprocess (as cron and users run it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time


from tripgenctl.ops import lock
from tripgenctl.ops import workloads as wl
from tests.helpers import run_tool, spawn_tool

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, annotations: {annotations}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, tier: application}}}}
    spec:
      terminationGracePeriodSeconds: {grace}
      containers:
        - {{name: main, image: "{image}", command: [sh, -c, "sleep 3600"]}}
"""

DATA = """
apiVersion: v1
kind: Secret
metadata: {name: postgresql-secret}
stringData: {username: postgres, password: s3cret-pw-not-shown, database: tripgen}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgresql}
spec:
  replicas: 1
  serviceName: postgresql
  selector: {matchLabels: {app: postgresql}}
  template:
    metadata: {labels: {app: postgresql}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: postgresql
          image: postgres:16-alpine
          env:
            - {name: POSTGRES_USER, valueFrom: {secretKeyRef: {name: postgresql-secret, key: username}}}
            - {name: POSTGRES_PASSWORD, valueFrom: {secretKeyRef: {name: postgresql-secret, key: password}}}
            - {name: POSTGRES_DB, valueFrom: {secretKeyRef: {name: postgresql-secret, key: database}}}
          ports: [{containerPort: 5432}]
          readinessProbe:
            exec: {command: [pg_isready, -U, postgres]}
            periodSeconds: 1
          volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: redis}
spec:
  replicas: 1
  serviceName: redis
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - {name: redis, image: "redis:7.2-alpine", ports: [{containerPort: 6379}]}
"""


def app_yaml(name: str, replicas: int = 1, image: str = "busybox", grace: int = 1, annotations: dict | None = None) -> str:
    return APP.format(name=name, replicas=replicas, image=image, grace=grace, annotations=json.dumps(annotations or {}))


def tool(sandbox, namespace: str, *args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return run_tool(*args, namespace=namespace, env=sandbox.env(**(env or {})), timeout=timeout)


def spawn(sandbox, namespace: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return spawn_tool(*args, namespace=namespace, env=sandbox.env(**(env or {})))


def apply(sandbox, namespace: str, text: str) -> None:
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=True)


def replicas(sandbox, namespace: str) -> dict[str, int]:
    kube = sandbox.kube(namespace)
    out = {d["metadata"]["name"]: d["spec"]["replicas"] for d in kube.list_json(f"/apis/apps/v1/namespaces/{namespace}/deployments")}
    out.update({s["metadata"]["name"]: s["spec"]["replicas"] for s in kube.list_json(f"/apis/apps/v1/namespaces/{namespace}/statefulsets")})
    return out


def status_json(sandbox, namespace: str) -> dict:
    r = tool(sandbox, namespace, "status", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_up(sandbox, namespace: str) -> None:
    r = tool(sandbox, namespace, "up", "--yes", "--timeout", "120")
    assert r.returncode == 0, r.stdout + r.stderr


def test_down_up_restores_counts_and_down_twice_keeps_them(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("alpha") + "---\n" + app_yaml("beta"))
    sandbox.kubectl("scale", "-n", namespace, "deployment/beta", "--replicas=2", check=True)
    wait_up(sandbox, namespace)
    assert replicas(sandbox, namespace) == {"alpha": 1, "beta": 2}

    dry = tool(sandbox, namespace, "down", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    assert {s["name"]: s["transition"] for s in json.loads(dry.stdout)["steps"]} == {"alpha": "1 → 0", "beta": "2 → 0"}
    assert replicas(sandbox, namespace) == {"alpha": 1, "beta": 2}  # dry run changed nothing

    refused = tool(sandbox, namespace, "down")  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert replicas(sandbox, namespace) == {"alpha": 1, "beta": 2}

    for _ in range(2):  # down twice must not overwrite the remembered 2 with 0
        r = tool(sandbox, namespace, "down", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
    st = status_json(sandbox, namespace)
    assert st["overall"] == "DOWN"
    assert {w["name"]: (w["desired"], w["remembered"]) for w in st["workloads"]} == {"alpha": (0, 1), "beta": (0, 2)}
    assert st["pods"] == []
    assert all(w["scaled_down_by"] and w["scaled_down_at"] for w in st["workloads"])

    # scaled by hand while down: drift
    sandbox.kubectl("scale", "-n", namespace, "deployment/alpha", "--replicas=3", check=True)
    drift = {w["name"]: w["drift"] for w in status_json(sandbox, namespace)["workloads"]}
    assert drift["alpha"] == "scaled to 3 by hand while down (remembered 1)" and drift["beta"] is None

    wait_up(sandbox, namespace)
    assert replicas(sandbox, namespace) == {"alpha": 1, "beta": 2}
    st = status_json(sandbox, namespace)
    assert st["overall"] == "UP"
    assert all(w["remembered"] is None and w["ready"] == w["desired"] for w in st["workloads"])


def test_exclude_flag_and_annotation(sandbox, namespace):
    apply(sandbox, namespace, "---\n".join([app_yaml("keep-flag"), app_yaml("keep-ann", annotations={wl.EXCLUDE_ANNOTATION: "true"}), app_yaml("stop")]))
    wait_up(sandbox, namespace)
    r = tool(sandbox, namespace, "down", "--yes", "--exclude", "keep-flag")
    assert r.returncode == 0, r.stdout + r.stderr
    assert replicas(sandbox, namespace) == {"keep-flag": 1, "keep-ann": 1, "stop": 0}


def test_up_reports_unpullable_image_and_keeps_others(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("good") + "---\n" + app_yaml("broken", image="tripgendev.azurecr.io/user-service:no-such-tag"))
    r = tool(sandbox, namespace, "down", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    r = tool(sandbox, namespace, "up", "--yes", "--timeout", "90", "-o", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    result = json.loads(r.stdout)
    by_name = {w["name"]: w for w in result["workloads"]}
    assert by_name["good"]["result"] == "ready"
    assert by_name["broken"]["result"] == "failed"
    assert "ImagePull" in by_name["broken"]["reason"] or "ErrImagePull" in by_name["broken"]["reason"]
    assert "broken" in result["message"]
    st = status_json(sandbox, namespace)
    good = next(w for w in st["workloads"] if w["name"] == "good")
    assert good["ready"] == 1 and st["overall"] == "DEGRADED"


def test_include_data_keeps_data_and_starts_apps_after_postgres(sandbox, namespace):
    apply(sandbox, namespace, DATA + "---\n" + app_yaml("trip-service"))
    wait_up(sandbox, namespace)
    kube = sandbox.kube(namespace)
    sql = "CREATE TABLE marker(v text); INSERT INTO marker VALUES ('kept across down/up');"
    out = sandbox.kubectl("exec", "-n", namespace, "postgresql-0", "--", "psql", "-U", "postgres", "-d", "tripgen", "-c", sql, check=True)
    assert b"INSERT" in out.stdout

    r = tool(sandbox, namespace, "down", "--yes", "--include-data")
    assert r.returncode == 0, r.stdout + r.stderr
    assert replicas(sandbox, namespace) == {"postgresql": 0, "redis": 0, "trip-service": 0}
    assert kube.list_json(f"/api/v1/namespaces/{namespace}/pods") == []
    # the order in the progress lines: apps, then Redis, then PostgreSQL
    log = r.stderr
    assert log.index("stopping applications") < log.index("stopping Redis") < log.index("stopping PostgreSQL")
    assert "s3cret-pw-not-shown" not in r.stdout + r.stderr

    r = tool(sandbox, namespace, "up", "--yes", "--timeout", "150", "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["postgres_query"] == "SELECT 1 ok"
    assert "s3cret-pw-not-shown" not in r.stdout + r.stderr
    out = sandbox.kubectl("exec", "-n", namespace, "postgresql-0", "--", "psql", "-U", "postgres", "-d", "tripgen", "-tAc", "SELECT v FROM marker", check=True)
    assert out.stdout.decode().strip() == "kept across down/up"

    pods = {p["metadata"]["name"]: p for p in kube.list_json(f"/api/v1/namespaces/{namespace}/pods")}
    pg_ready = wl.parse_time(next(c["lastTransitionTime"] for c in pods["postgresql-0"]["status"]["conditions"] if c["type"] == "Ready"))
    apps = [p for n, p in pods.items() if n.startswith("trip-service-")]
    assert apps
    for p in apps:
        created = wl.parse_time(p["metadata"]["creationTimestamp"])
        ready = wl.parse_time(next(c["lastTransitionTime"] for c in p["status"]["conditions"] if c["type"] == "Ready"))
        assert created >= pg_ready and ready >= pg_ready, (p["metadata"]["name"], created, ready, pg_ready)


def lease(sandbox, namespace: str) -> dict | None:
    status, body = sandbox.kube(namespace).request_json("GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{lock.LEASE_NAME}")
    return body if status == 200 else None


def wait_for_holder(sandbox, namespace: str, timeout: float = 30) -> dict:
    """Watch the leases until the lock has a holder."""
    from tripgenctl.ops import waiting

    kube = sandbox.kube(namespace)
    found = {}

    def check(items):
        lease_obj = items.get(lock.LEASE_NAME)
        if lease_obj and (lease_obj.get("spec") or {}).get("holderIdentity"):
            found["lease"] = lease_obj
            return True
        return False

    assert waiting.watch_list(kube, f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", check, timeout), "nobody took the lock"
    return found["lease"]


def slow_apps(sandbox, namespace: str) -> None:
    """Apps that take a few seconds to stop (sh ignores SIGTERM: the grace period runs out)."""
    apply(sandbox, namespace, app_yaml("slow-a", grace=4) + "---\n" + app_yaml("slow-b", grace=4))
    wait_up(sandbox, namespace)


def test_two_concurrent_downs_one_wins(sandbox, namespace):
    slow_apps(sandbox, namespace)
    procs = [spawn(sandbox, namespace, "down", "--yes") for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, _, err in results if code == 1)
    assert "locked by" in loser and "pid" in loser and loser.count("\n") == 1, loser
    assert replicas(sandbox, namespace) == {"slow-a": 0, "slow-b": 0}
    assert not (lease(sandbox, namespace)["spec"].get("holderIdentity"))  # released


def test_killed_run_lock_expires_and_ctrl_c_releases(sandbox, namespace):
    slow_apps(sandbox, namespace)
    # long enough that the next process (Python start-up on a loaded 2-core machine) still finds
    # the dead holder's lease, short enough that --wait-lock sees it expire
    env = {"TRIPGENCTL_LOCK_SECONDS": "10"}
    victim = spawn(sandbox, namespace, "down", "--yes", env=env)
    held = wait_for_holder(sandbox, namespace)
    assert f"pid {victim.pid}" in held["spec"]["holderIdentity"]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    blocked = tool(sandbox, namespace, "down", "--yes", env=env)
    assert blocked.returncode == 1 and "locked by" in blocked.stderr and f"pid {victim.pid}" in blocked.stderr

    started = time.monotonic()
    waited = tool(sandbox, namespace, "down", "--yes", "--wait-lock", env=env)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert time.monotonic() - started < 60
    assert replicas(sandbox, namespace) == {"slow-a": 0, "slow-b": 0}

    # Ctrl-C in the middle of an up: exit 130 and the lock is free at once
    interrupted = spawn(sandbox, namespace, "up", "--yes", env={"TRIPGENCTL_LOCK_SECONDS": "60"})
    wait_for_holder(sandbox, namespace)
    interrupted.send_signal(signal.SIGINT)
    assert interrupted.wait(timeout=30) == 130
    assert not lease(sandbox, namespace)["spec"].get("holderIdentity")
    # SIGTERM (a cron job stopped) releases it too
    terminated = spawn(sandbox, namespace, "down", "--yes", env={"TRIPGENCTL_LOCK_SECONDS": "60"})
    wait_for_holder(sandbox, namespace)
    terminated.send_signal(signal.SIGTERM)
    assert terminated.wait(timeout=30) == 143  # 128 + SIGTERM, as every command
    assert terminated.stderr.read().strip().splitlines()[-1] == "terminated (SIGTERM)"
    assert not lease(sandbox, namespace)["spec"].get("holderIdentity")


def wait_replicas(sandbox, namespace: str, wanted: dict[str, int], timeout: float = 30) -> None:
    """Watch the deployments until their spec.replicas are `wanted`."""
    from tripgenctl.ops import waiting

    def check(items):
        return {n: d["spec"]["replicas"] for n, d in items.items()} == wanted

    assert waiting.watch_list(sandbox.kube(namespace), f"/apis/apps/v1/namespaces/{namespace}/deployments", check, timeout), \
        f"replicas never became {wanted}: {replicas(sandbox, namespace)}"


def test_frozen_down_loses_the_lock_to_an_up_and_writes_nothing(sandbox, namespace):
    """Issue 17: a `down` frozen (SIGSTOP) past its lease, an `up` that takes the lock and
    finishes, then the `down` resumed: it must not scale anything and exits 1 naming the up."""
    apply(sandbox, namespace, app_yaml("keep-a") + "---\n" + app_yaml("keep-b"))
    sandbox.kubectl("scale", "-n", namespace, "deployment/keep-b", "--replicas=2", check=True)
    wait_up(sandbox, namespace)
    env = {"TRIPGENCTL_LOCK_SECONDS": "3"}
    # the down's reads of the namespace are slowed, so it is frozen holding the lock before its first write
    sandbox.api_fault(f"^/api/v1/namespaces/{namespace}$", regex=True, verb="GET", latency=4)
    down = spawn(sandbox, namespace, "down", "--yes", env=env)
    try:
        held = wait_for_holder(sandbox, namespace, timeout=60)
        assert f"pid {down.pid}" in held["spec"]["holderIdentity"]
        os.kill(down.pid, signal.SIGSTOP)
    finally:
        sandbox.clear_api_faults()
    try:
        up = spawn(sandbox, namespace, "up", "--yes", "--wait-lock", "--timeout", "120", env=env)
        out, err = up.communicate(timeout=150)
        assert up.returncode == 0, out + err
        assert replicas(sandbox, namespace) == {"keep-a": 1, "keep-b": 2}
    finally:
        os.kill(down.pid, signal.SIGCONT)
    out, err = down.communicate(timeout=60)
    assert down.returncode == 1, out + err
    assert f"error: lost the lock to {lock.user_host()} pid {up.pid}" in err, err
    assert replicas(sandbox, namespace) == {"keep-a": 1, "keep-b": 2}  # the apps stay up
    st = status_json(sandbox, namespace)
    assert st["overall"] == "UP" and all(w["remembered"] is None and w["scaled_down_at"] is None for w in st["workloads"])
    assert not lease(sandbox, namespace)["spec"].get("holderIdentity")  # the loser gave nothing back that was not its own


def test_lock_lost_while_waiting_ends_the_wait_within_a_renew_interval(sandbox, namespace):
    """Frozen while waiting for its pods to stop; the up brings them back; resumed, the down's
    renew thread finds the lease taken and interrupts the wait at once (not after --timeout)."""
    slow_apps(sandbox, namespace)  # pods take ~4 s to stop
    env = {"TRIPGENCTL_LOCK_SECONDS": "3"}
    down = spawn(sandbox, namespace, "down", "--yes", "--timeout", "300", env=env)
    try:
        wait_replicas(sandbox, namespace, {"slow-a": 0, "slow-b": 0})
        os.kill(down.pid, signal.SIGSTOP)
        up = spawn(sandbox, namespace, "up", "--yes", "--wait-lock", "--timeout", "120", env=env)
        out, err = up.communicate(timeout=150)
        assert up.returncode == 0, out + err
    finally:
        os.kill(down.pid, signal.SIGCONT)
    resumed = time.monotonic()
    out, err = down.communicate(timeout=60)
    assert time.monotonic() - resumed < 15, "the lost lock was not noticed until the wait ended"
    assert down.returncode == 1 and "error: lost the lock to" in err and f"pid {up.pid}" in err, out + err
    assert replicas(sandbox, namespace) == {"slow-a": 1, "slow-b": 1}


def test_renewal_failures_past_the_lease_stop_the_run(sandbox, namespace):
    """The API refuses the lease renewals (503): within a lease duration plus one renew interval
    the run stops, exit 1, instead of going on without a lock it can no longer prove."""
    apply(sandbox, namespace, app_yaml("lingers", grace=15))  # sh ignores SIGTERM: ~15 s to stop
    wait_up(sandbox, namespace)
    env = {"TRIPGENCTL_LOCK_SECONDS": "3"}
    down = spawn(sandbox, namespace, "down", "--yes", "--timeout", "120", env=env)
    try:
        wait_for_holder(sandbox, namespace)
        sandbox.api_fault(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{lock.LEASE_NAME}", verb="PUT", status=503)
        faulted = time.monotonic()
        out, err = down.communicate(timeout=60)
        took = time.monotonic() - faulted
    finally:
        sandbox.clear_api_faults()
    assert down.returncode == 1, out + err
    assert f"error: lost the lock: lease {lock.LEASE_NAME} could not be renewed within its 3s" in err and "503" in err, err
    assert took < 10, f"noticed only after {took:.1f}s (the pods needed ~15 s to stop)"
