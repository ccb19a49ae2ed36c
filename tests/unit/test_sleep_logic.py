"""Pure logic of the sleep that knows GitOps, autoscalers and people: the ledger on controller
objects (ops/controls.py), which GitOps objects apply to a namespace (ops/gitops.py), the plans'
treatment of hand-scaled and newly created workloads, and drift beyond replicas (ops/drift.py)."""

from __future__ import annotations

import json

from tripgenctl.ops import controls, drift, gitops, scaling
from tripgenctl.ops import workloads as wl
from tests.unit.test_updown_logic import DATA, NOW, down_ann, obj


def control(current: dict, ledger: dict | None = None) -> controls.Control:
    c = controls.Control("Application", "argocd", "a", "/p", "argoproj.io", "applications", "gitops", "", pause={gitops.AUTOMATED: None})
    doc = {"metadata": {"annotations": {}, "resourceVersion": "7"}, "spec": {"syncPolicy": {"automated": current} if current else {}}}
    if ledger is not None:
        doc["metadata"]["annotations"][controls.LEDGER_ANNOTATION] = controls._ledger_text(ledger, "u@h", "t")
    controls.refresh_from(c, doc)
    return c


def test_ledger_records_the_original_once_and_repauses_a_reenabled_one():
    first = control({"selfHeal": True})
    assert first.recorded is None and first.needs_pause and first.originals() == {gitops.AUTOMATED: {"selfHeal": True}}
    patch = controls._patch(first.pause, controls._ledger_text(first.originals(), "u", "t"), first.resource_version)
    assert patch["spec"]["syncPolicy"]["automated"] is None and patch["metadata"]["resourceVersion"] == "7"
    assert json.loads(patch["metadata"]["annotations"][controls.LEDGER_ANNOTATION])["fields"] == [[["spec", "syncPolicy", "automated"], {"selfHeal": True}]]
    paused = control(None, {gitops.AUTOMATED: {"selfHeal": True}})
    assert not paused.needs_pause  # down twice: nothing to write, the original stays
    reenabled = control({"prune": True}, {gitops.AUTOMATED: {"selfHeal": True}})
    assert reenabled.needs_pause and reenabled.originals() == {gitops.AUTOMATED: {"selfHeal": True}}


def test_flux_objects_apply_by_target_namespace_own_namespace_or_inventory():
    assert gitops._flux_targets({"metadata": {"namespace": "flux-system"}, "spec": {"targetNamespace": "dev"}}, "dev")
    assert not gitops._flux_targets({"metadata": {"namespace": "flux-system"}, "spec": {"targetNamespace": "prod"}}, "dev")
    assert gitops._flux_targets({"metadata": {"namespace": "dev"}, "spec": {}}, "dev")
    inv = {"metadata": {"namespace": "flux-system"}, "spec": {}, "status": {"inventory": {"entries": [{"id": "dev_alpha_apps_Deployment", "v": "v1"}]}}}
    assert gitops._flux_targets(inv, "dev") and not gitops._flux_targets(inv, "prod")


def test_hand_scaled_zero_is_held_and_a_newcomer_is_left_alone():
    st = wl.build("ns", [obj("alpha", 1), obj("paused", 0)], [], [], DATA, NOW)
    steps = {s.name: s for s in scaling.plan_down(st, DATA).steps}
    assert steps["paused"].hold and steps["paused"].record is None and not steps["alpha"].hold
    held = {**down_ann(0)}
    newcomer = obj("newcomer", 0)
    newcomer["metadata"]["creationTimestamp"] = "2025-01-06T11:30:00Z"  # after the down at 11:00
    st = wl.build("ns", [obj("alpha", 0, down_ann(1)), obj("paused", 0, held), newcomer], [], [], DATA, NOW)
    plan = scaling.plan_up(st, DATA)
    steps = {s.name: s for s in plan.steps}
    assert steps["alpha"].target == 1 and steps["paused"].target == 0 and steps["paused"].hold
    assert [s.name for s in plan.skipped] == ["newcomer"] and plan.skipped[0].note.startswith("created while the environment slept")


def test_drift_rows_name_the_field_and_the_manager_of_the_changed_part():
    dep = obj("alpha", 1)
    c = dep["spec"]["template"]["spec"]["containers"][0]
    before = drift.snapshot(dep)
    c["image"] = "i:2"
    c["env"] = [{"name": "A", "value": "1"}]
    c["resources"] = {"limits": {"cpu": "0.5"}}
    dep["metadata"]["managedFields"] = [
        {"manager": "kubectl-set", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"c"}': {"f:image": {}, "f:env": {'k:{"name":"A"}': {}}}}}}}}},
        {"manager": "kubectl-client-side-apply", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"c"}': {"f:env": {'k:{"name":"B"}': {}}, "f:resources": {"f:limits": {"f:cpu": {}}}}}}}}}},
    ]
    rows = {r.field: r for r in drift.compare("Deployment", dep, before, "down")}
    assert set(rows) == {"image", "env", "resources"}
    assert (rows["image"].expected, rows["image"].live, rows["image"].by) == ("i", "i:2", "kubectl-set")
    assert rows["env"].by == "kubectl-set" and rows["env"].live == "A=1"
    assert rows["resources"].by == "kubectl-client-side-apply"
    same = obj("alpha", 1)
    same["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "500m"}}
    assert drift.compare("Deployment", same, {"c": {"image": "i", "resources": {"limits": {"cpu": "0.5"}}}}, "manifests") == []
