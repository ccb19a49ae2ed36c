"""The durable history and `cost` against the sandbox: `down` and `up` append who/what/when to
the environment's ConfigMap, and `cost -o json` over a history written with known time stamps
equals the figure worked out by hand (tests/unit/test_cost.py shows the arithmetic)."""

from __future__ import annotations

import json

from tests.e2e.test_updown import apply, app_yaml, tool
from tests.unit.test_cost import HISTORY
from tripgenctl.ops import history


def test_down_and_up_are_recorded_in_the_cluster(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("alpha"))
    for action in ("up", "down", "up"):
        r = tool(sandbox, namespace, action, "--yes", "--timeout", "120")
        assert r.returncode == 0, r.stdout + r.stderr
    entries = history.read(sandbox.kube(namespace), namespace)
    assert [(e.action, e.result) for e in entries] == [("up", "ok"), ("down", "ok"), ("up", "ok")]
    assert all("@" in e.who for e in entries)
    assert entries[0].at <= entries[1].at <= entries[2].at

    dry = tool(sandbox, namespace, "down", "--dry-run")
    assert dry.returncode == 0
    assert len(history.read(sandbox.kube(namespace), namespace)) == 3  # a dry run is not history

    woke = tool(sandbox, namespace, "wake", "--for", "1h", "--timeout", "120")
    assert woke.returncode == 0, woke.stdout + woke.stderr
    assert [e.action for e in history.read(sandbox.kube(namespace), namespace)][3:] == ["wake", "up"]
    st = tool(sandbox, namespace, "status", "-o", "json")
    assert st.returncode == 0 and "projected" in json.loads(st.stdout)["cost_this_month"], st.stdout


def test_cost_of_a_synthetic_month_to_the_cent(sandbox, namespace):
    kube = sandbox.kube(namespace)
    for entry in HISTORY:
        history.append(kube, namespace, entry, now=entry.at)
    r = tool(sandbox, namespace, "cost", "--month", "2026-10", "-o", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["cost_so_far"] == 163.58 and report["complete"] is True
    assert report["node_cost_saved_by_cluster_stop"] == 9.68
    assert report["node_cost_saved_by_namespace_down"] == 0.0
    assert any("saved $0 of node cost" in n for n in report["notes"])
    assert len(report["days"]) == 31

    table = tool(sandbox, namespace, "cost", "--month", "2026-10")
    assert table.returncode == 0 and "2026-10-11" in table.stdout and "█" in table.stdout
    bad = tool(sandbox, namespace, "cost", "--month", "2026-13")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
