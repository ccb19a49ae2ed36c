"""The nightly job as the cluster runs it: `schedule install`, then `kubectl create job
--from=cronjob/tripgen-nightly-down` runs tripgenctl in a sandbox pod with the ServiceAccount's
token (in-cluster configuration, held to RBAC). It skips while someone keeps the environment
awake, scales the apps to 0 once that is past, logs JSON lines; with a Role lacking `patch` on
the scale subresource it fails with a "forbidden" line, a non-zero exit and a webhook message."""

from __future__ import annotations

import json

from test_schedule import apps, json_lines, replicas, tool, write_config
from tests.unit.test_schedule_logic import Hook

from tripgenctl.ops import schedule

KUBECTL = "1.29"  # the cluster's version; sends JSON (the sandbox decodes protobuf only for a few kinds, not Job)


def run_job(sandbox, namespace: str, name: str, timeout: int = 120, cronjob: str = schedule.DOWN_JOB) -> tuple[str, str, dict]:
    """Create a Job from a CronJob (the nightly one unless said) and wait (watch) until it finishes: (condition, log, pod)."""
    sandbox.kubectl("create", "job", "-n", namespace, f"--from=cronjob/{cronjob}", name, check=True, version=KUBECTL)
    kube = sandbox.kube(namespace)
    condition = ""
    deadline_s = timeout
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    for _type, job in kube.watch_json(path, timeout_seconds=deadline_s):
        if job["metadata"]["name"] != name:
            continue
        conds = {c["type"]: c["status"] for c in (job.get("status") or {}).get("conditions") or []}
        if conds.get("Complete") == "True" or conds.get("Failed") == "True":
            condition = "Complete" if conds.get("Complete") == "True" else "Failed"
            break
    if not condition:  # the watch may have started after the last change
        job = kube.get_object("batch/v1", "Job", name, namespace)
        conds = {c["type"]: c["status"] for c in (job.get("status") or {}).get("conditions") or []}
        condition = "Complete" if conds.get("Complete") == "True" else "Failed" if conds.get("Failed") == "True" else "Running"
    log = sandbox.kubectl("logs", "-n", namespace, f"job/{name}").stdout.decode(errors="replace")
    pods = [p for p in kube.list_json(f"/api/v1/namespaces/{namespace}/pods") if (p["metadata"].get("labels") or {}).get("job-name") == name
            or any(o.get("name") == name for o in p["metadata"].get("ownerReferences") or [])]
    return condition, log, pods[0] if pods else {}


def exit_code(pod: dict) -> int | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term:
            return term.get("exitCode")
    return None


def test_nightly_job_in_a_pod_skips_while_awake_then_scales_down(sandbox, namespace, tmp_path):
    config = write_config(tmp_path, timezone="Asia/Seoul")
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=apps(("alpha", 2), ("beta", 1)), check=True)
    r = tool(sandbox, namespace, "schedule", "install", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    cj = sandbox.kube(namespace).get_object("batch/v1", "CronJob", schedule.DOWN_JOB)
    assert cj["spec"]["concurrencyPolicy"] == "Forbid" and cj["spec"]["timeZone"] == "Asia/Seoul"
    assert cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == "tripgenctl"

    r = tool(sandbox, namespace, "wake", "--for", "2h", "--timeout", "90", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    condition, log, _ = run_job(sandbox, namespace, "nightly-while-awake")
    assert condition == "Complete", log
    records = json_lines(log)
    assert any(x.get("result") == "skipped" and x["reason"].startswith("kept awake until") for x in records), log
    assert replicas(sandbox, namespace) == {"alpha": 2, "beta": 1}

    sandbox.kubectl("annotate", "--overwrite", "namespace", namespace, f"{schedule.AWAKE_ANNOTATION}=2020-01-01T00:00:00Z", check=True)
    condition, log, pod = run_job(sandbox, namespace, "nightly-1")
    assert condition == "Complete", log
    assert exit_code(pod) == 0
    records = json_lines(log)  # every line of the job's log is a JSON object
    per_workload = {x["workload"]: (x["from"], x["to"], x["result"]) for x in records if "workload" in x}
    assert per_workload == {"Deployment/alpha": (2, 0, "down"), "Deployment/beta": (1, 0, "down")}, log
    assert records[-1]["result"] == "ok"
    assert replicas(sandbox, namespace) == {"alpha": 0, "beta": 0}
    d = sandbox.kube(namespace).get_object("apps/v1", "Deployment", "alpha")
    assert d["metadata"]["annotations"]["tripgenctl.io/replicas"] == "2"
    assert "(scheduled)" in d["metadata"]["annotations"]["tripgenctl.io/scaled-down"]


def test_nightly_job_without_scale_permission_fails_loudly_and_notifies(sandbox, namespace, tmp_path):
    hook = Hook()
    try:
        config = write_config(tmp_path, timezone="Asia/Seoul", notify_url=hook.url)
        sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=apps(("alpha", 1)), check=True)
        r = tool(sandbox, namespace, "schedule", "install", config=config)
        assert r.returncode == 0, r.stdout + r.stderr
        assert hook.url not in r.stdout + r.stderr
        kube = sandbox.kube(namespace)
        role = kube.get_object("rbac.authorization.k8s.io/v1", "Role", "tripgenctl-schedule")
        for rule in role["rules"]:
            if "deployments/scale" in rule["resources"]:
                rule["verbs"] = [v for v in rule["verbs"] if v != "patch"] or ["get"]
        kube.replace_object(role)

        condition, log, pod = run_job(sandbox, namespace, "nightly-forbidden")
        assert condition == "Failed", log
        assert exit_code(pod) == 1, pod.get("status")
        records = json_lines(log)
        errors = [x for x in records if x.get("level") == "error" and x.get("result") == "failed"]
        assert errors and "forbidden" in errors[-1]["reason"] and "deployments/scale" in errors[-1]["reason"], log
        assert hook.arrived.wait(10), "the webhook got nothing"
        body = hook.bodies[0]
        assert body["result"] == "failed" and body["action"] == "down" and body["scheduled"] is True
        assert "forbidden" in body["text"] and namespace in body["text"]
        assert replicas(sandbox, namespace) == {"alpha": 1}
        assert hook.url not in log
    finally:
        hook.close()
    assert json.dumps(body)  # the summary is plain JSON
