"""`down`/`up` against what would undo them, with the real kinds served by the sandbox (Argo CD
Application, Flux Kustomization, KEDA ScaledObject CRDs from tripgen_sandbox/data/crds) and the
sandbox's self-heal stand-in (controllers/argoselfheal.py) reverting replicas the way Argo CD's
selfHeal does: the apps stay at 0 through several of its reconcile periods, and `up` puts the
replicas and the original syncPolicy back. Also CronJobs, KEDA, HPAs and what people did."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from test_updown import app_yaml, apply, replicas, status_json, tool

from tripgen_sandbox import gitops as sandbox_gitops
from tripgen_sandbox.controllers.argoselfheal import GIT_ANNOTATION, PERIOD
from tripgenctl.ops.controls import LEDGER_ANNOTATION

ARGO = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"


@pytest.fixture(scope="module")
def kinds(sandbox):
    """The CRDs installed for this module, removed afterwards (the rest of the session runs
    against a cluster without them, which must read as "none found")."""
    assert sandbox_gitops.install(sandbox.kubeconfig) == list(sandbox_gitops.NAMES)  # `sandbox start --gitops-crds`
    for path in sandbox_gitops.paths():  # and as a person would, with kubectl (unchanged: no error)
        sandbox.kubectl("apply", "-f", str(path), check=True)
    kube = sandbox.kube()
    deadline = time.monotonic() + 30
    for name in sandbox_gitops.NAMES:
        while True:
            crd = kube.get_object("apiextensions.k8s.io/v1", "CustomResourceDefinition", name) or {}
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in (crd.get("status") or {}).get("conditions") or []):
                break
            assert time.monotonic() < deadline, f"{name} never Established"
            time.sleep(0.2)
    sandbox.kubectl("create", "namespace", "argocd")  # may exist already
    yield sandbox
    for name in sandbox_gitops.NAMES:
        sandbox.kubectl("delete", "crd", name, "--wait=false")


def application(sandbox, namespace: str, automated: dict, git: dict, name: str | None = None) -> str:
    name = name or f"app-{namespace}"[:60]
    doc = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": "argocd", "annotations": {GIT_ANNOTATION: json.dumps(git)}},
           "spec": {"project": "default", "source": {"repoURL": "https://git.example/tripgen.git", "path": "manifests", "targetRevision": "main"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
                    "syncPolicy": {"automated": automated, "syncOptions": ["CreateNamespace=true"]}}}
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=True)
    return name


def app_obj(sandbox, name: str) -> dict:
    status, body = sandbox.kube().request_json("GET", f"{ARGO}/{name}")
    assert status == 200, body
    return body


def wait_for(fn, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def hold_for(sandbox, namespace: str, wanted: dict, periods: int) -> None:
    """The replicas stay `wanted` through `periods` of the self-heal controller's reconcile
    period (it also reacts at once to any change, so a revert would show within one)."""
    end = time.monotonic() + periods * PERIOD
    while time.monotonic() < end:
        assert replicas(sandbox, namespace) == wanted
        time.sleep(0.25)


def test_down_survives_argo_self_heal_and_up_restores_the_sync_policy(kinds, sandbox, namespace):
    apply(sandbox, namespace, app_yaml("alpha") + "---\n" + app_yaml("beta", replicas=2))
    automated = {"selfHeal": True, "prune": True}
    name = application(sandbox, namespace, automated, {"Deployment/alpha": 1, "Deployment/beta": 2})
    # the stand-in heals: a plain scale to 0 (what the old down did) is undone within a period
    sandbox.kubectl("scale", "-n", namespace, "deployment/alpha", "--replicas=0", check=True)
    wait_for(lambda: replicas(sandbox, namespace)["alpha"] == 1, "self-heal to put alpha back")

    dry = tool(sandbox, namespace, "down", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    rows = json.loads(dry.stdout)["controls"]
    assert [(r["kind"], r["namespace"], r["name"]) for r in rows] == [("Application", "argocd", name)]
    assert rows[0]["now"] == "automated (selfHeal, prune)" and rows[0]["change"].startswith("pause")
    assert app_obj(sandbox, name)["spec"]["syncPolicy"]["automated"] == automated  # a dry run changes nothing
    text = tool(sandbox, namespace, "down", "--dry-run")
    assert text.returncode == 0 and "Controls" in text.stdout and "Application" in text.stdout and "automated (selfHeal, prune)" in text.stdout, text.stdout

    for _ in range(2):  # down twice: the second finds the ledger and keeps the original
        r = tool(sandbox, namespace, "down", "--yes", "-o", "json")
        assert r.returncode == 0, r.stdout + r.stderr
        app = app_obj(sandbox, name)
        assert "automated" not in app["spec"]["syncPolicy"]
        ledger = json.loads(app["metadata"]["annotations"][LEDGER_ANNOTATION])
        assert ledger["fields"] == [[["spec", "syncPolicy", "automated"], automated]]
        assert app["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]  # the rest untouched
        hold_for(sandbox, namespace, {"alpha": 0, "beta": 0}, periods=4)
    result = json.loads(r.stdout)
    assert [(c["kind"], c["name"], c["change"]) for c in result["controls"]] == [("Application", name, "already paused")]

    up = tool(sandbox, namespace, "up", "--yes", "--timeout", "120", "-o", "json")
    assert up.returncode == 0, up.stdout + up.stderr
    app = app_obj(sandbox, name)
    assert app["spec"]["syncPolicy"]["automated"] == automated
    assert LEDGER_ANNOTATION not in (app["metadata"].get("annotations") or {})
    assert [c["change"] for c in json.loads(up.stdout)["controls"]][0].startswith("restored")
    hold_for(sandbox, namespace, {"alpha": 1, "beta": 2}, periods=2)


def sa_kubeconfig(sandbox, namespace: str, tmp_path) -> str:
    """A ServiceAccount that may do anything in the namespace and only read Applications in
    argocd; its kubeconfig context keeps the sandbox's name (the target guard expects it)."""
    rbac = f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: sleeper, namespace: {namespace}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: all, namespace: {namespace}}}
rules: [{{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: sleeper-all, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: all}}
subjects: [{{kind: ServiceAccount, name: sleeper, namespace: {namespace}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: read-apps-{namespace}, namespace: argocd}}
rules: [{{apiGroups: [argoproj.io], resources: [applications], verbs: [get, list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: read-apps-{namespace}, namespace: argocd}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-apps-{namespace}}}
subjects: [{{kind: ServiceAccount, name: sleeper, namespace: {namespace}}}]
"""
    sandbox.kubectl("apply", "-f", "-", input=rbac, check=True)
    token = sandbox.kubectl("create", "token", "sleeper", "-n", namespace, check=True).stdout.decode().strip()
    admin = yaml.safe_load(sandbox.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    doc = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [{"name": "sleeper", "user": {"token": token}}],
           "contexts": [{"name": "tripgen-sandbox", "context": {"cluster": cluster["name"], "user": "sleeper", "namespace": namespace}}],
           "current-context": "tripgen-sandbox"}
    path = tmp_path / "sleeper-kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_down_refuses_without_permission_to_pause_gitops_unless_ignored(kinds, sandbox, namespace, tmp_path):
    apply(sandbox, namespace, app_yaml("alpha"))
    name = application(sandbox, namespace, {"prune": True}, {"Deployment/alpha": 1})  # automated sync, no self-heal
    env = {"KUBECONFIG": sa_kubeconfig(sandbox, namespace, tmp_path)}
    r = tool(sandbox, namespace, "down", "--yes", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: down refused") and "not allowed to patch applications.argoproj.io in namespace argocd" in line
    assert f"Application {name}" in line and "--ignore-gitops" in line and "Traceback" not in r.stderr
    assert replicas(sandbox, namespace) == {"alpha": 1}
    r = tool(sandbox, namespace, "down", "--yes", "--ignore-gitops", "-o", "json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert replicas(sandbox, namespace) == {"alpha": 0}
    assert [c["change"] for c in json.loads(r.stdout)["controls"]] == ["left as is (not allowed to patch)"]
    assert app_obj(sandbox, name)["spec"]["syncPolicy"]["automated"] == {"prune": True}


def test_flux_kustomization_suspended_and_restored(kinds, sandbox, namespace):
    apply(sandbox, namespace, app_yaml("alpha"))
    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "tripgen", "namespace": namespace},
          "spec": {"interval": "5m", "path": "./manifests", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "tripgen"},
                   "targetNamespace": namespace}}
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(ks), check=True)
    path = f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{namespace}/kustomizations/tripgen"
    r = tool(sandbox, namespace, "down", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    obj = sandbox.kube().request_json("GET", path)[1]
    assert obj["spec"]["suspend"] is True and LEDGER_ANNOTATION in obj["metadata"]["annotations"]
    r = tool(sandbox, namespace, "up", "--yes", "--timeout", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    obj = sandbox.kube().request_json("GET", path)[1]
    assert "suspend" not in obj["spec"] and LEDGER_ANNOTATION not in (obj["metadata"].get("annotations") or {})


CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}}}
spec:
  schedule: "0 3 * * *"
  suspend: {suspend}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{{name: main, image: busybox, command: [sh, -c, "true"]}}]
"""


def cronjobs(sandbox, namespace: str) -> dict:
    return {c["metadata"]["name"]: c["spec"].get("suspend") for c in sandbox.kube().list_json(f"/apis/batch/v1/namespaces/{namespace}/cronjobs")}


def test_cronjobs_keda_and_hpa_are_held_and_restored(kinds, sandbox, namespace):
    apply(sandbox, namespace, "---\n".join([app_yaml("alpha"), app_yaml("beta"), CRONJOB.format(name="nightly-report", suspend="false"),
                                            CRONJOB.format(name="paused-by-owner", suspend="true")]))
    so = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "alpha", "namespace": namespace},
          "spec": {"scaleTargetRef": {"name": "alpha"}, "minReplicaCount": 1, "maxReplicaCount": 3,
                   "triggers": [{"type": "cron", "metadata": {"timezone": "Asia/Seoul", "start": "0 8 * * *", "end": "0 20 * * *", "desiredReplicas": "2"}}]}}
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "beta", "namespace": namespace},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "beta"}, "minReplicas": 2, "maxReplicas": 4,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all([so, hpa]), check=True)
    so_path = f"/apis/keda.sh/v1alpha1/namespaces/{namespace}/scaledobjects/alpha"
    hpa_path = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/beta"
    kube = sandbox.kube()

    r = tool(sandbox, namespace, "down", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert cronjobs(sandbox, namespace) == {"nightly-report": True, "paused-by-owner": True}
    assert kube.request_json("GET", so_path)[1]["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"
    assert kube.request_json("GET", hpa_path)[1]["spec"]["minReplicas"] == 1
    r = tool(sandbox, namespace, "down", "--yes")  # twice: the originals stay the first ones
    assert r.returncode == 0, r.stdout + r.stderr

    r = tool(sandbox, namespace, "up", "--yes", "--timeout", "120")
    assert r.returncode == 0, r.stdout + r.stderr
    assert cronjobs(sandbox, namespace) == {"nightly-report": False, "paused-by-owner": True}  # each its own previous value
    so_now = kube.request_json("GET", so_path)[1]
    assert "autoscaling.keda.sh/paused-replicas" not in (so_now["metadata"].get("annotations") or {})
    assert LEDGER_ANNOTATION not in (so_now["metadata"].get("annotations") or {})
    assert kube.request_json("GET", hpa_path)[1]["spec"]["minReplicas"] == 2
    # beta was at 1 and its HPA says at least 2: up agrees with the HPA
    assert replicas(sandbox, namespace) == {"alpha": 1, "beta": 2}


def test_people_hand_scaled_zero_stays_and_new_workload_is_left_alone(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("alpha") + "---\n" + app_yaml("paused"))
    sandbox.kubectl("scale", "-n", namespace, "deployment/paused", "--replicas=0", check=True)
    r = tool(sandbox, namespace, "down", "--yes", "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "paused already at 0 by hand" in json.loads(r.stdout)["message"]
    time.sleep(1.1)  # creation timestamps have whole seconds: the new one must be after the down
    apply(sandbox, namespace, app_yaml("newcomer", replicas=0))
    r = tool(sandbox, namespace, "up", "--yes", "--timeout", "120", "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert replicas(sandbox, namespace) == {"alpha": 1, "paused": 0, "newcomer": 0}
    result = json.loads(r.stdout)
    by_name = {w["name"]: w for w in result["workloads"]}
    assert by_name["paused"]["result"] == "left at 0" and "by hand" in by_name["paused"]["reason"]
    skipped = {w["name"]: w["reason"] for w in result["skipped"]}
    assert skipped["newcomer"].startswith("created while the environment slept")
    assert "paused left at 0" in result["message"] and "newcomer created while asleep" in result["message"]
    st = {w["name"]: w["remembered"] for w in status_json(sandbox, namespace)["workloads"]}
    assert st == {"alpha": None, "paused": None, "newcomer": None}
