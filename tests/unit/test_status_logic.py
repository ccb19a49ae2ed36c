"""Pure logic of `status`: pods attributed to workloads, reasons, states, drift, overall line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tripgenctl.ops import workloads as wl

NOW = datetime(2025, 1, 6, 12, 0, 0, tzinfo=timezone.utc)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment(name, replicas=1, annotations=None, image="busybox"):
    return {
        "metadata": {"name": name, "annotations": annotations or {}, "creationTimestamp": ts(3600), "resourceVersion": "7"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}},
    }


def statefulset(name, replicas=1, annotations=None):
    d = deployment(name, replicas, annotations, image="postgres:16-alpine")
    return d


def pod(name, labels, ready=True, owner=None, waiting=None, deleting=False, scheduled_msg=None, ready_at=60, restarts=0):
    conds = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts(ready_at)}]
    if scheduled_msg:
        conds.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": scheduled_msg})
    cs = {"name": "c", "ready": ready, "restartCount": restarts, "state": {"running": {}} if ready else {"waiting": {"reason": waiting}} if waiting else {}}
    p = {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": ts(120), "ownerReferences": [owner] if owner else []},
        "spec": {"nodeName": None if scheduled_msg else "sandbox-node-1", "containers": [{"name": "c"}]},
        "status": {"phase": "Pending" if scheduled_msg or waiting else "Running", "conditions": conds, "containerStatuses": [] if scheduled_msg else [cs]},
    }
    if deleting:
        p["metadata"]["deletionTimestamp"] = ts(1)
    return p


def build(deps, stss, pods):
    return wl.build("ns", deps, stss, pods, ("postgresql", "redis"), NOW)


def test_pods_attributed_by_owner_and_selector():
    deps = [deployment("user-service"), deployment("user-service-extra")]
    pods = [
        pod("user-service-5d9f-abcde", {"app": "user-service", "pod-template-hash": "5d9f"}, owner={"kind": "ReplicaSet", "name": "user-service-5d9f"}),
        pod("user-service-extra-77-x", {"app": "user-service-extra", "pod-template-hash": "77"}, owner={"kind": "ReplicaSet", "name": "user-service-extra-77"}),
        pod("postgresql-0", {"app": "postgresql"}, owner={"kind": "StatefulSet", "name": "postgresql"}),
        pod("stray", {"app": "nothing"}),
    ]
    st = build(deps, [statefulset("postgresql")], pods)
    owners = {p.name: p.workload for p in st.pods}
    assert owners == {
        "user-service-5d9f-abcde": "Deployment/user-service",
        "user-service-extra-77-x": "Deployment/user-service-extra",
        "postgresql-0": "StatefulSet/postgresql",
        "stray": "-",
    }
    assert [w.name for w in st.workloads][0] == "postgresql"  # data first
    assert st.overall == "UP"


def test_failure_reasons_make_degraded():
    deps = [deployment("a"), deployment("b")]
    pods = [pod("a-1", {"app": "a"}), pod("b-1", {"app": "b"}, ready=False, waiting="ImagePullBackOff")]
    st = build(deps, [], pods)
    b = next(w for w in st.workloads if w.name == "b")
    assert b.state == "Failing" and b.reasons == ["ImagePullBackOff"]
    assert st.overall == "DEGRADED"
    assert next(p for p in st.pods if p.name == "b-1").reason == "ImagePullBackOff"


def test_pending_unschedulable_reason_and_transitioning():
    st = build([deployment("a")], [], [pod("a-1", {"app": "a"}, ready=False, scheduled_msg="0/2 nodes are available: Insufficient cpu")])
    assert st.pods[0].reason.startswith("Pending (Unschedulable: 0/2 nodes")
    assert st.workloads[0].state == "Starting"
    assert st.overall == "TRANSITIONING"


def test_down_state_remembered_and_drift():
    down = {wl.REPLICAS_ANNOTATION: "2", wl.SCALED_DOWN_ANNOTATION: json.dumps({"by": "me@host", "at": ts(7200)})}
    deps = [deployment("a", 0, down), deployment("b", 3, dict(down))]
    st = build(deps, [statefulset("postgresql")], [pod("postgresql-0", {"app": "postgresql"}, owner={"kind": "StatefulSet", "name": "postgresql"})])
    a = next(w for w in st.workloads if w.name == "a")
    b = next(w for w in st.workloads if w.name == "b")
    assert a.state == "Down" and a.remembered == 2 and a.scaled_down_by == "me@host" and a.age == "2h" and a.drift is None
    assert b.drift == "scaled to 3 by hand while down (remembered 2)"
    assert b.state == "Starting"


def test_overall_down_when_all_apps_at_zero_and_data_up():
    down = {wl.REPLICAS_ANNOTATION: "1", wl.SCALED_DOWN_ANNOTATION: json.dumps({"by": "x", "at": ts(10)})}
    st = build([deployment("a", 0, down), deployment("b", 0, down)], [statefulset("postgresql")], [pod("postgresql-0", {"app": "postgresql"})])
    assert st.overall == "DOWN"
    st2 = build([deployment("a", 0, down), deployment("b", 1)], [], [pod("b-1", {"app": "b"})])
    assert st2.overall == "DEGRADED"  # half up, half down


def test_terminating_pods_mean_stopping():
    st = build([deployment("a", 0)], [], [pod("a-1", {"app": "a"}, deleting=True)])
    assert st.workloads[0].state == "Stopping" and st.overall == "TRANSITIONING"
    assert st.pods[0].reason == "Terminating"


def test_interrupted_up_is_not_drift():
    ann = {wl.REPLICAS_ANNOTATION: "2", wl.SCALED_DOWN_ANNOTATION: json.dumps({"by": "x", "at": ts(10)})}
    st = build([deployment("a", 2, ann)], [], [])
    assert st.workloads[0].drift is None


def test_selector_expressions():
    sel = {"matchLabels": {"app": "x"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["application"]}, {"key": "old", "operator": "DoesNotExist"}]}
    assert wl.selector_matches(sel, {"app": "x", "tier": "application"})
    assert not wl.selector_matches(sel, {"app": "x", "tier": "db"})
    assert not wl.selector_matches(sel, {"app": "x", "tier": "application", "old": "1"})
    assert not wl.selector_matches({}, {"app": "x"})  # an empty selector selects nothing here


def test_age_and_time_parsing():
    assert wl.human_age(ts(45), NOW) == "45s"
    assert wl.human_age(ts(3 * 3600 + 5 * 60), NOW) == "3h5m"
    assert wl.human_age(ts(2 * 86400 + 4 * 3600), NOW) == "2d4h"
    assert wl.parse_time("2025-01-06T11:59:59.123456789Z") == datetime(2025, 1, 6, 11, 59, 59, 123456, tzinfo=timezone.utc)
    assert wl.human_age(None, NOW) == "-"
