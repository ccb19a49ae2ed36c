"""The Kubernetes door's retry policy and typed workload objects against the sandbox's API
faults (kube/retry.py, kube/workloads.py): a `down` rides out a short 503 on the scale
subresource, a long one is one `error:` line, a 429's Retry-After is waited, a PUT answered 429
is retried by the policy (not turned into "too many 429 error responses" by urllib3), and a
resourceVersion-guarded annotation comes back as a typed Conflict."""

from __future__ import annotations

import time

import pytest

from tripgenctl.kube import workloads as kw
from tripgenctl.kube.errors import Conflict, NotFound
from tripgenctl.ops import restart, scaling
from tests.e2e.test_updown import app_yaml, apply, replicas, tool, wait_up


def scale_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"


def test_down_rides_out_a_short_503_on_the_scale_subresource(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("web"))
    wait_up(sandbox, namespace)
    sandbox.api_fault(scale_path(namespace, "web"), verb="PATCH", status=503, times=2)
    try:
        r = tool(sandbox, namespace, "down", "--yes")
    finally:
        sandbox.clear_api_faults()
    assert r.returncode == 0, r.stdout + r.stderr
    assert replicas(sandbox, namespace) == {"web": 0}


def test_a_503_that_does_not_end_is_one_error_line_naming_the_write(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("web"))
    wait_up(sandbox, namespace)
    sandbox.api_fault(scale_path(namespace, "web"), verb="PATCH", status=503)
    try:
        r = tool(sandbox, namespace, "down", "--yes")
    finally:
        sandbox.clear_api_faults()
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stdout + r.stderr  # the server cannot serve: like an unreachable cluster
    assert err[-1].startswith("error: scale deployment/web to 0: 503 "), r.stderr
    assert "Traceback" not in r.stderr and "Unavailable" not in r.stderr
    assert replicas(sandbox, namespace) == {"web": 1}


def test_a_429_retry_after_is_waited_before_the_scale_is_sent_again(sandbox, namespace):
    """The sandbox's 429 says Retry-After: 1; two of them cost at least two seconds (the old
    loop's back-off of 0.2 + 0.4 s ignored it)."""
    apply(sandbox, namespace, app_yaml("web"))
    wait_up(sandbox, namespace)
    kube = sandbox.kube(namespace)
    sandbox.api_fault(scale_path(namespace, "web"), verb="PATCH", status=429, times=2)
    try:
        started = time.monotonic()
        scaling.scale(kube, "Deployment", "web", 0)
        took = time.monotonic() - started
    finally:
        sandbox.clear_api_faults()
    assert took >= 2.0, f"Retry-After not honoured: {took:.2f}s"
    assert replicas(sandbox, namespace) == {"web": 0}


def test_a_put_answered_429_is_retried_by_the_policy(sandbox, namespace):
    """urllib3 used to retry a 429 carrying Retry-After on a PUT out of sight and then fail it as
    "too many 429 error responses"; the door's policy sends it again after the wait."""
    apply(sandbox, namespace, app_yaml("web"))
    wait_up(sandbox, namespace)
    kube = sandbox.kube(namespace)
    w = restart.of(kw.get(kube, "Deployment", "web").raw, "Deployment")
    restart.restart(kube, w)
    sandbox.api_fault(f"/apis/apps/v1/namespaces/{namespace}/deployments/web", verb="PUT", status=429, times=1)
    try:
        restart.undo(kube, w)
    finally:
        sandbox.clear_api_faults()
    template = kw.get(kube, "Deployment", "web").template
    assert restart.RESTARTED_AT not in ((template.get("metadata") or {}).get("annotations") or {})


def test_workload_objects_scale_and_a_guarded_annotation_conflicts(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("web") + "---\n" + app_yaml("api", replicas=2))
    kube = sandbox.kube(namespace)
    found = {w.ref: w for w in kw.list_all(kube)}
    assert set(found) == {"Deployment/web", "Deployment/api"} and found["Deployment/api"].replicas == 2
    web = found["Deployment/web"]
    assert "raw" not in repr(web) and web.namespace == namespace and web.resource_version
    for _ in range(20):  # the deployment controller may write status between read and write
        stale = web.resource_version
        try:
            web.annotate({"example.com/a": "1"}, expected_resource_version=stale)
            break
        except Conflict:
            web = web.refresh()
    else:
        raise AssertionError("a guarded annotate with a fresh version kept conflicting")
    with pytest.raises(Conflict):  # the object moved on since `stale`: never written blind
        web.annotate({"example.com/a": "2"}, expected_resource_version=stale)
    fresh = web.refresh()
    assert fresh.annotations["example.com/a"] == "1"
    fresh.annotate({"example.com/a": None})  # no version: removes it
    fresh.scale(3)
    assert kw.get(kube, "Deployment", "web").replicas == 3
    assert kw.get(kube, "Deployment", "gone", missing_ok=True) is None
    with pytest.raises(NotFound):
        kw.get(kube, "Deployment", "gone")
