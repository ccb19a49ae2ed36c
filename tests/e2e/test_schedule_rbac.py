"""What the schedule's ServiceAccount may not do, and that the scheduled runs need none of it: a
port-forward or exec into postgresql-0 would be a passwordless PostgreSQL superuser (the image
trusts local connections, as the sandbox does), so the Role grants neither -- the API server
answers 403 to the ServiceAccount's own token -- and the nightly `down --include-data` and the
morning `up` (whose SELECT 1 then goes over the Service with the Secret's password) still
complete in a pod, each leaving an Event."""

from __future__ import annotations

import json

import yaml
from test_schedule import apps, json_lines, replicas, tool, write_config
from test_schedule_incluster import KUBECTL, exit_code

from tests.helpers import deploy_stateful, secrets_init
from tripgenctl.config import load
from tripgenctl.kube.client import connect
from tripgenctl.ops import safety, schedule

SA = "tripgenctl"


def sa_kubeconfig(sandbox, namespace: str, tmp_path) -> str:
    """A kubeconfig holding nothing but a token of the ServiceAccount (TokenRequest), as a pod has."""
    made = sandbox.kubectl("create", "token", SA, "-n", namespace, check=True, version=KUBECTL)
    token = made.stdout.decode().strip()
    admin = yaml.safe_load(sandbox.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    doc = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster],
           "users": [{"name": "sa", "user": {"token": token}}],
           "contexts": [{"name": "sa", "context": {"cluster": cluster["name"], "user": "sa", "namespace": namespace}}],
           "current-context": "sa"}
    path = tmp_path / "sa-kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def run_job(sandbox, namespace: str, cronjob: str, name: str, timeout: int = 180) -> tuple[str, str, dict]:
    """A Job from the CronJob, watched until Complete or Failed: (condition, log, pod)."""
    sandbox.kubectl("create", "job", "-n", namespace, f"--from=cronjob/{cronjob}", name, check=True, version=KUBECTL)
    kube = sandbox.kube(namespace)
    condition = ""
    for _type, job in kube.watch_json(f"/apis/batch/v1/namespaces/{namespace}/jobs", timeout_seconds=timeout):
        if job["metadata"]["name"] != name:
            continue
        conds = {c["type"]: c["status"] for c in (job.get("status") or {}).get("conditions") or []}
        if "True" in (conds.get("Complete"), conds.get("Failed")):
            condition = "Complete" if conds.get("Complete") == "True" else "Failed"
            break
    log = sandbox.kubectl("logs", "-n", namespace, f"job/{name}").stdout.decode(errors="replace")
    pods = [p for p in kube.list_json(f"/api/v1/namespaces/{namespace}/pods") if (p["metadata"].get("labels") or {}).get("job-name") == name]
    return condition, log, pods[0] if pods else {}


def test_schedule_account_gets_403_for_exec_and_port_forward_and_the_schedule_still_works(sandbox, namespace, tmp_path):
    config = write_config(tmp_path, timezone="Asia/Seoul")
    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "postgresql")
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=apps(("alpha", 1)), check=True)
    r = tool(sandbox, namespace, "schedule", "install", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    role = sandbox.kube(namespace).get_object("rbac.authorization.k8s.io/v1", "Role", "tripgenctl-schedule")
    granted = {res for rule in role["rules"] for res in rule["resources"]}
    assert not granted & {"pods/exec", "pods/attach", "pods/portforward", "*"}, granted

    # the ServiceAccount's own token, straight at the API: 403 for both, not 400 "upgrade required"
    sa = connect(kubeconfig=sa_kubeconfig(sandbox, namespace, tmp_path), namespace=namespace)
    base = f"/api/v1/namespaces/{namespace}/pods/postgresql-0"
    for method, path, query in (("POST", f"{base}/exec", {"command": "true", "container": "postgresql", "stdout": "true"}),
                                ("GET", f"{base}/exec", {"command": "true", "stdout": "true"}),
                                ("POST", f"{base}/portforward", {"ports": "5432"}),
                                ("GET", f"{base}/portforward", {"ports": "5432"})):
        status, body = sa.request_json(method, path, query=query)
        assert status == 403, (method, path, status, body)
        assert "forbidden" in json.dumps(body).lower()
    # and as kubectl does it (SPDY / WebSocket upgrade)
    env = {"KUBECONFIG": str(tmp_path / "sa-kubeconfig")}
    ex = sandbox.kubectl("exec", "postgresql-0", "-n", namespace, "--", "psql", "-U", "postgres", "-c", "SELECT 1", env=env, version=KUBECTL)
    assert ex.returncode != 0 and b"forbidden" in ex.stderr.lower() and b"pods/exec" in ex.stderr, ex.stderr
    pf = sandbox.kubectl("port-forward", "pod/postgresql-0", ":5432", "-n", namespace, env=env, version=KUBECTL, timeout=30)
    assert pf.returncode != 0 and b"forbidden" in pf.stderr.lower(), pf.stderr
    # what it may do still works with that token: reading its workloads
    status, _ = sa.request_json("GET", f"/apis/apps/v1/namespaces/{namespace}/statefulsets/postgresql")
    assert status == 200

    # the nightly job, told to stop the databases too, then the morning job: both in pods, as the SA
    down = next(o for o in schedule.render(load(config), namespace) if o["metadata"]["name"] == schedule.DOWN_JOB)
    container = down["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [*container["command"], "--include-data"]
    sandbox.kube(namespace).apply_object(down)
    condition, log, pod = run_job(sandbox, namespace, schedule.DOWN_JOB, "nightly-rbac")
    assert condition == "Complete" and exit_code(pod) == 0, log
    assert json_lines(log)[-1]["result"] == "ok", log
    assert replicas(sandbox, namespace) == {"alpha": 0}
    sts = sandbox.kube(namespace).get_object("apps/v1", "StatefulSet", "postgresql")
    assert sts["spec"]["replicas"] == 0

    condition, log, pod = run_job(sandbox, namespace, schedule.UP_JOB, "morning-rbac")
    assert condition == "Complete" and exit_code(pod) == 0, log
    records = json_lines(log)
    assert records[-1]["result"] == "ok" and records[-1]["context"] == "in-cluster" and "@" in records[-1]["by"], log
    assert replicas(sandbox, namespace) == {"alpha": 1}
    assert sandbox.kube(namespace).get_object("apps/v1", "StatefulSet", "postgresql")["spec"]["replicas"] == 1
    assert "forbidden" not in log.lower(), log
    assert any("SELECT 1 ok" in json.dumps(x) for x in records), log  # over the Service, with the Secret's password

    trail = [(e["metadata"]["annotations"]["tripgenctl.io/action"], e["metadata"]["annotations"]["tripgenctl.io/result"],
              e["metadata"]["annotations"]["tripgenctl.io/context"]) for e in safety.events(sandbox.kube(namespace), namespace)]
    assert trail == [("down --include-data --scheduled", "ok", "in-cluster"), ("up --scheduled", "ok", "in-cluster")], trail
