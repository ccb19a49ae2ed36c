"""deploy owns what it applies (an ApplySet), prunes what the manifests no longer hold, keeps to the
profile recorded on the namespace unless told, and never applies blindly a change the API server
refuses in place; doctor flags a NetworkPolicy that opens the namespace wider than the SPEC's."""

from __future__ import annotations

import json

from tests.helpers import cli, secrets_init
from tripgenctl.ops import applyset

ALLOW_ALL = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{}]
"""


def get(sandbox, namespace: str, *what: str) -> dict | None:
    proc = sandbox.kubectl("get", *what, "-n", namespace, "-o", "json")
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def rows(proc) -> dict[str, dict]:
    return {o["object"]: o for o in json.loads(proc.stdout)["objects"]}


def netpol_findings(sandbox, namespace: str) -> list[dict]:
    proc = cli(sandbox, "doctor", "-n", namespace, "-o", "json", "--only", "netpol")
    return [f for f in json.loads(proc.stdout)["findings"] if f["severity"] != "ok"]


def test_profile_change_needs_the_flag_and_going_back_to_001_prunes_000s_policy(sandbox, namespace):
    secrets_init(sandbox, namespace)
    first = cli(sandbox, "deploy", "-n", namespace, "--no-wait")
    assert first.returncode == 0, first.stderr
    ns = get(sandbox, namespace, "namespace", namespace)
    assert ns["metadata"]["annotations"]["tripgenctl.io/profile"] == "001"

    refused = cli(sandbox, "deploy", "-n", namespace, "--profile", "000", "--no-wait", "--yes")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "profile 001" in lines[0] and "--change-profile" in lines[0], lines
    assert get(sandbox, namespace, "networkpolicy", "dev-basic-policy") is None
    sts = get(sandbox, namespace, "statefulset", "postgresql")
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:16-alpine"

    plan = cli(sandbox, "deploy", "-n", namespace, "--profile", "000", "--dry-run", "-o", "json")
    assert plan.returncode == 0, plan.stderr
    planned = rows(plan)
    assert planned["networkpolicy/allow-apps-to-cache"]["action"] == "would prune"
    assert planned["networkpolicy/dev-basic-policy"]["action"] == "would create"
    pg = planned["statefulset/postgresql"]
    assert pg["action"] == "needs recreate" and any(c.startswith("spec.volumeClaimTemplates['data']") for c in pg["changes"]), pg
    assert "data-postgresql-0" in pg["note"] and "kept" in pg["note"]
    assert "needs --change-profile" in json.loads(plan.stdout)["message"]

    # with the flag but without --recreate nothing is applied: the StatefulSet change would be refused
    blocked = cli(sandbox, "deploy", "-n", namespace, "--profile", "000", "--change-profile", "--no-wait", "--yes", "-o", "json")
    assert blocked.returncode == 1, blocked.stderr
    assert "needs recreate" in json.loads(blocked.stdout)["message"] and "statefulset/postgresql" in json.loads(blocked.stdout)["message"]
    assert get(sandbox, namespace, "networkpolicy", "dev-basic-policy") is None
    unasked = cli(sandbox, "deploy", "-n", namespace, "--profile", "000", "--change-profile", "--recreate", "--no-wait")
    assert unasked.returncode == 2 and "--yes" in unasked.stderr, unasked.stderr  # no terminal: refused, not done

    to000 = cli(sandbox, "deploy", "-n", namespace, "--profile", "000", "--change-profile", "--recreate", "--no-wait", "--yes", "-o", "json")
    assert to000.returncode == 0, to000.stdout + to000.stderr
    done = rows(to000)
    assert done["statefulset/postgresql"]["action"] == "recreated"
    assert done["networkpolicy/allow-apps-to-cache"]["action"] == "pruned"
    assert get(sandbox, namespace, "networkpolicy", "dev-basic-policy") is not None
    assert get(sandbox, namespace, "namespace", namespace)["metadata"]["annotations"]["tripgenctl.io/profile"] == "000"
    assert not [f for f in netpol_findings(sandbox, namespace) if f["object"] == "networkpolicy/dev-basic-policy"]  # 000's own

    back = cli(sandbox, "deploy", "-n", namespace, "--profile", "001", "--change-profile", "--recreate", "--no-wait", "--yes", "-o", "json")
    assert back.returncode == 0, back.stdout + back.stderr
    done = rows(back)
    assert done["networkpolicy/dev-basic-policy"]["action"] == "pruned"
    assert get(sandbox, namespace, "networkpolicy", "dev-basic-policy") is None
    assert get(sandbox, namespace, "networkpolicy", "allow-apps-to-cache") is not None
    pv = f"persistentvolume/{namespace}-postgresql-data"
    assert done[pv]["action"] == "kept (holds data)"  # 000's hostPath volume: listed, never deleted
    assert sandbox.kubectl("get", "pv", f"{namespace}-postgresql-data").returncode == 0

    drift = cli(sandbox, "diff", "-n", namespace)
    assert drift.returncode == 1 and pv in drift.stdout, drift.stdout
    sandbox.kubectl("delete", "pv", f"{namespace}-postgresql-data", check=True)
    clean = cli(sandbox, "diff", "-n", namespace)
    assert clean.returncode == 0 and "no differences" in clean.stdout, clean.stdout
    again = cli(sandbox, "deploy", "-n", namespace, "--no-wait", "-o", "json")
    assert again.returncode == 0 and {o["action"] for o in json.loads(again.stdout)["objects"]} == {"unchanged"}, again.stdout


def test_doctor_reports_an_allow_all_policy_added_by_hand(sandbox, namespace):
    secrets_init(sandbox, namespace)
    assert cli(sandbox, "deploy", "-n", namespace, "--no-wait").returncode == 0
    assert netpol_findings(sandbox, namespace) == []
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=ALLOW_ALL, check=True)
    findings = netpol_findings(sandbox, namespace)
    assert [(f["object"], f["severity"]) for f in findings] == [("networkpolicy/allow-all", "critical")], findings
    assert "PostgreSQL (TCP 5432)" in findings[0]["title"] and "wider than the SPEC" in findings[0]["title"]
    proc = cli(sandbox, "doctor", "-n", namespace, "--only", "netpol")
    assert proc.returncode == 1
    # not deploy's: never pruned by it
    redeploy = cli(sandbox, "deploy", "-n", namespace, "--no-wait", "-o", "json")
    assert redeploy.returncode == 0 and "networkpolicy/allow-all" not in rows(redeploy)
    assert get(sandbox, namespace, "networkpolicy", "allow-all") is not None


SELECTOR = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: user-service}
spec:
  replicas: 1
  selector: {matchLabels: {app: user-service, track: old}}
  template:
    metadata: {labels: {app: user-service, track: old}}
    spec:
      containers: [{name: main, image: busybox, command: [sh, -c, "sleep 3600"]}]
"""


def test_a_deployment_selector_change_needs_recreate(sandbox, namespace):
    secrets_init(sandbox, namespace)
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=SELECTOR, check=True)
    proc = cli(sandbox, "deploy", "-n", namespace, "--no-wait", "-o", "json")
    assert proc.returncode == 1, proc.stderr
    row = rows(proc)["deployment/user-service"]
    assert row["action"] == "needs recreate" and row["changes"] == ["spec.selector.matchLabels.track"], row
    assert "pods are replaced" in row["note"]
    assert get(sandbox, namespace, "service", "redis") is None  # nothing applied
    recreated = cli(sandbox, "deploy", "-n", namespace, "--no-wait", "--recreate", "--yes", "-o", "json")
    assert recreated.returncode == 0, recreated.stdout + recreated.stderr
    assert rows(recreated)["deployment/user-service"]["action"] == "recreated"
    live = get(sandbox, namespace, "deployment", "user-service")
    assert live["spec"]["selector"] == {"matchLabels": {"app": "user-service"}}


def test_the_applyset_is_the_one_kubectl_would_name(sandbox, namespace, tmp_path):
    """The parent's id is KEP-3659's: kubectl's own --applyset computes the same for the same parent."""
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata: {a: b}\n")
    proc = sandbox.kubectl("apply", "-n", namespace, "--prune", f"--applyset=configmap/{applyset.PARENT_NAME}", "-f", str(manifest),
                           version="1.29", env={"KUBECTL_APPLYSET": "true"})
    assert proc.returncode == 0, proc.stderr
    parent = get(sandbox, namespace, "configmap", applyset.PARENT_NAME)
    assert parent["metadata"]["labels"][applyset.ID_LABEL] == applyset.set_id(namespace)
    probe = get(sandbox, namespace, "configmap", "probe")
    assert probe["metadata"]["labels"][applyset.PART_OF] == applyset.set_id(namespace)
