"""The pure parts of AKS power (ops/cluster.py), no Azure and no cluster: which refusal a stop
meets first and what it says, the priced plan, and which kubeconfig entries follow a moved API
server. The e2e tests (tests/e2e/test_cluster_power.py) drive the same code through the CLI."""

from __future__ import annotations

from datetime import datetime, timezone

from tripgenctl.config import CostConfig
from tripgenctl.ops.cluster import ClusterStatus, NodePoolRow, merge_kubeconfig, refresh_moved, stop_plan, stop_refusal

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def status(provisioning="Succeeded", power="Running", last="2026-12-01T11:50:00Z", mode=None, pools=None) -> ClusterStatus:
    pools = pools or [NodePoolRow("nodepool1", 2, "Standard_B2s", True, "System", power)]
    return ClusterStatus("aks-tripgen-dev", "rg-tripgen-dev", "sub", "koreacentral", power, provisioning, "1.29.9", "fqdn", pools,
                         last_power_change=last, node_provisioning_mode=mode)


def test_an_operation_in_progress_comes_first_and_says_when():
    why = stop_refusal(status("Starting", "Stopped", mode="Auto"), 15, NOW)
    assert "an operation is in progress (a start: provisioning state Starting, since 2026-12-01T11:50:00Z)" in why
    assert "not before 2026-12-01T12:05:00Z" in why
    assert "once it has finished" in stop_refusal(status("Stopping", last=None), 15, NOW)


def test_node_auto_provisioning_then_the_cool_down():
    assert "node auto-provisioning" in stop_refusal(status(mode="Auto", last="2026-11-01T00:00:00Z"), 15, NOW)
    assert stop_refusal(status(mode="Manual", last="2026-11-01T00:00:00Z"), 15, NOW) is None
    assert "allowed from 2026-12-01T12:05:00Z" in stop_refusal(status(mode="Manual"), 15, NOW)
    assert stop_refusal(status("Updating"), 15, NOW) is None  # another kind of operation: the pre-check names it


def test_the_plan_splits_the_node_cost_by_node_count():
    pools = [NodePoolRow("system", 1, "Standard_B2s", False, "System", "Running"), NodePoolRow("user", 3, "Standard_B2s", True, "User", "Running")]
    plan = stop_plan(status(pools=pools), CostConfig(nodes=292.0))  # 292 / 730 = 0.40 per hour
    assert plan.saves_per_hour == 0.4 and plan.destructive
    assert [(s.item, s.per_hour) for s in plan.savings[:2]] == [("node pool system", 0.1), ("node pool user", 0.3)]
    assert plan.savings[2].item == "still billed" and plan.still_billed_per_hour == round(50 / 730, 4)
    assert plan.question().endswith("saves 0.40 USD/hour")
    idle = stop_plan(status(power="Stopped"), CostConfig())
    assert idle.saves_per_hour == 0 and not idle.destructive


def _cluster(name, server, ca="Y2E="):
    return {"name": name, "cluster": {"server": server, "certificate-authority-data": ca}}


def test_entries_with_the_old_address_follow_the_move_and_others_stay():
    existing = {"clusters": [_cluster("aks", "https://old:443", "b2xk"), _cluster("alias", "https://old:443", "b2xk"),
                             _cluster("prod", "https://prod:443")],
                "contexts": [], "users": []}
    new = {"clusters": [_cluster("aks", "https://new:443", "bmV3")], "contexts": [{"name": "aks", "context": {"cluster": "aks"}}],
           "users": [], "current-context": "aks"}
    merged, _ = merge_kubeconfig(existing, new)
    assert refresh_moved(existing, new, merged) == ["cluster/alias"]
    by_name = {c["name"]: c["cluster"] for c in merged["clusters"]}
    assert by_name["alias"] == {"server": "https://new:443", "certificate-authority-data": "bmV3"}
    assert by_name["prod"]["server"] == "https://prod:443"
    # the same address again: nothing moved, nothing refreshed
    again, _ = merge_kubeconfig(merged, new)
    assert refresh_moved(merged, new, again) == []
