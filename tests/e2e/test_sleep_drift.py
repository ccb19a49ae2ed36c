"""Drift beyond replica counts: a `kubectl set image` (or `set resources`, `set env`) done while
the environment slept shows in `status` and in `up`'s report with who did it (the field
manager), and `status` compares the environment's own workloads with the manifests."""

from __future__ import annotations

import json

from test_updown import app_yaml, apply, status_json, tool

from tripgenctl import manifests


def test_set_image_while_asleep_is_reported_by_status_and_up(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("alpha") + "---\n" + app_yaml("beta"))
    r = tool(sandbox, namespace, "down", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert status_json(sandbox, namespace)["spec_drift"] == []

    sandbox.kubectl("set", "image", "-n", namespace, "deployment/alpha", "main=busybox:1.36", check=True)
    sandbox.kubectl("set", "resources", "-n", namespace, "deployment/beta", "--limits=memory=64Mi", check=True)
    rows = {(d["name"], d["field"]): d for d in status_json(sandbox, namespace)["spec_drift"]}
    assert set(rows) == {("alpha", "image"), ("beta", "resources")}
    img = rows[("alpha", "image")]
    assert (img["container"], img["expected"], img["live"], img["against"], img["by"]) == ("main", "busybox", "busybox:1.36", "down", "kubectl-set")
    assert rows[("beta", "resources")]["by"] == "kubectl-set" and "64Mi" in rows[("beta", "resources")]["live"]
    text = tool(sandbox, namespace, "status")
    assert text.returncode == 0 and "busybox:1.36" in text.stdout and "kubectl-set" in text.stdout

    up = tool(sandbox, namespace, "up", "--yes", "--timeout", "120", "-o", "json")
    assert up.returncode == 0, up.stdout + up.stderr
    result = json.loads(up.stdout)
    assert {(d["name"], d["field"], d["live"], d["by"]) for d in result["drift"]} >= {("alpha", "image", "busybox:1.36", "kubectl-set")}
    assert "changed while asleep: alpha image (kubectl-set)" in result["message"]
    assert status_json(sandbox, namespace)["spec_drift"] == []  # awake: the snapshot has done its job


def test_status_compares_the_environments_workloads_with_the_manifests(sandbox, namespace):
    dep = next(o for o in manifests.render(namespace) if o["kind"] == "Deployment")
    dep["spec"]["replicas"] = 0  # no pods needed: drift is about the spec
    name, container = dep["metadata"]["name"], dep["spec"]["template"]["spec"]["containers"][0]
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(dep), check=True)
    assert [d for d in status_json(sandbox, namespace)["spec_drift"] if d["name"] == name] == []
    sandbox.kubectl("set", "image", "-n", namespace, f"deployment/{name}", f"{container['name']}=example.invalid/hotfix:1", check=True)
    sandbox.kubectl("set", "env", "-n", namespace, f"deployment/{name}", "-c", container["name"], "DEBUG_NIGHT=1", check=True)
    rows = {d["field"]: d for d in status_json(sandbox, namespace)["spec_drift"] if d["name"] == name}
    assert set(rows) == {"image", "env"}
    assert rows["image"]["expected"] == container["image"] and rows["image"]["live"] == "example.invalid/hotfix:1"
    assert rows["image"]["against"] == "manifests" and rows["image"]["by"] == "kubectl-set"
    assert "DEBUG_NIGHT=1" in rows["env"]["live"] and rows["env"]["by"] == "kubectl-set"
