"""The official Python client against the sandbox API server: preconditions on patches, paged
lists, dryRun on every write, delete answers, generation, views (events.k8s.io, EndpointSlices)
with watch, and the store's 410 Gone for a compacted resourceVersion."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException


def _cm(name, labels=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "data": {"k": "v"}}


def test_patch_resource_version_preconditions(sandbox, namespace):
    core = sandbox.kube(namespace).core
    core.create_namespaced_config_map(namespace, _cm("p"))
    rv = core.read_namespaced_config_map("p", namespace).metadata.resource_version
    core.patch_namespaced_config_map("p", namespace, {"data": {"k": "2"}})
    for body in (
        [{"op": "replace", "path": "/metadata/resourceVersion", "value": rv}, {"op": "replace", "path": "/data/k", "value": "x"}],
        {"metadata": {"resourceVersion": rv}, "data": {"k": "x"}},
    ):
        with pytest.raises(ApiException) as exc:
            core.patch_namespaced_config_map("p", namespace, body)
        assert exc.value.status == 409 and json.loads(exc.value.body)["reason"] == "Conflict"
    # a failed JSON-patch `test` is 422 on a real server (the patch cannot be applied)
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("p", namespace, [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}, {"op": "replace", "path": "/data/k", "value": "x"}])
    assert exc.value.status == 422
    fresh = core.read_namespaced_config_map("p", namespace).metadata.resource_version
    core.patch_namespaced_config_map("p", namespace, [{"op": "test", "path": "/metadata/resourceVersion", "value": fresh}, {"op": "replace", "path": "/data/k", "value": "ok"}])
    assert core.read_namespaced_config_map("p", namespace).data == {"k": "ok"}


def test_list_limit_and_continue(sandbox, namespace):
    core = sandbox.kube(namespace).core
    for i in range(5):
        core.create_namespaced_config_map(namespace, _cm(f"l{i}", {"page": "yes"}))
    first = core.list_namespaced_config_map(namespace, label_selector="page=yes", limit=2)
    assert [i.metadata.name for i in first.items] == ["l0", "l1"]
    assert first.metadata._continue and first.metadata.remaining_item_count == 3
    second = core.list_namespaced_config_map(namespace, label_selector="page=yes", limit=2, _continue=first.metadata._continue)
    third = core.list_namespaced_config_map(namespace, label_selector="page=yes", limit=2, _continue=second.metadata._continue)
    assert [i.metadata.name for i in second.items + third.items] == ["l2", "l3", "l4"]
    assert not third.metadata._continue and third.metadata.resource_version == first.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(namespace, limit=2, _continue="not-a-token")
    assert exc.value.status == 400


def test_dry_run_on_every_write(sandbox, namespace):
    core = sandbox.kube(namespace).core
    core.create_namespaced_config_map(namespace, _cm("keep", {"dry": "1"}))
    rv = core.read_namespaced_config_map("keep", namespace).metadata.resource_version
    created = core.create_namespaced_config_map(namespace, _cm("ghost"), dry_run="All")
    assert created.metadata.name == "ghost"
    body = core.read_namespaced_config_map("keep", namespace)
    body.data = {"k": "replaced"}
    assert core.replace_namespaced_config_map("keep", namespace, body, dry_run="All").data == {"k": "replaced"}
    core.patch_namespaced_config_map("keep", namespace, {"data": {"k": "patched"}}, dry_run="All")
    core.delete_namespaced_config_map("keep", namespace, dry_run="All")
    core.delete_collection_namespaced_config_map(namespace, label_selector="dry=1", dry_run="All")
    after = core.read_namespaced_config_map("keep", namespace)
    assert after.data == {"k": "v"} and after.metadata.resource_version == rv
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("ghost", namespace)
    assert exc.value.status == 404


def test_delete_answers_status_and_generation(sandbox, namespace):
    kube = sandbox.kube(namespace)
    core, apps = kube.core, kube.apps
    cm = core.create_namespaced_config_map(namespace, _cm("g"))
    assert cm.metadata.generation is None  # ConfigMaps have no generation
    status = core.delete_namespaced_config_map("g", namespace)
    status = status if isinstance(status, dict) else status.to_dict()  # typed or raw, by client version
    assert status["kind"] == "Status" and status["status"] == "Success" and status["details"]["name"] == "g"
    dep = {"metadata": {"name": "d"}, "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
           "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}}
    assert apps.create_namespaced_deployment(namespace, dep).metadata.generation == 1
    apps.patch_namespaced_deployment("d", namespace, {"metadata": {"labels": {"x": "y"}}})
    assert apps.read_namespaced_deployment("d", namespace).metadata.generation == 1  # metadata only
    apps.patch_namespaced_deployment("d", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}})
    assert apps.read_namespaced_deployment("d", namespace).metadata.generation == 2


def test_view_groups_list_get_and_watch(sandbox, namespace):
    core = sandbox.kube(namespace).core
    events_v1 = client.EventsV1Api(core.api_client)
    discovery = client.DiscoveryV1Api(core.api_client)
    rv = events_v1.list_namespaced_event(namespace).metadata.resource_version
    core.create_namespaced_event(namespace, {
        "metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
        "reason": "Tested", "message": "hello", "type": "Normal"})
    w = watch.Watch()
    seen = []
    for ev in w.stream(events_v1.list_namespaced_event, namespace, resource_version=rv, timeout_seconds=10):
        seen.append((ev["type"], ev["object"].note))
        w.stop()
    assert seen == [("ADDED", "hello")]
    assert events_v1.read_namespaced_event("e1", namespace).regarding.name == "p"
    core.create_namespaced_endpoints(namespace, {"metadata": {"name": "ext"}, "subsets": [{"addresses": [{"ip": "127.1.201.1"}], "ports": [{"port": 80}]}]})
    slices = discovery.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=ext").items
    assert len(slices) == 1 and slices[0].endpoints[0].addresses == ["127.1.201.1"] and slices[0].ports[0].port == 80
    assert discovery.read_namespaced_endpoint_slice(slices[0].metadata.name, namespace).address_type == "IPv4"
    with pytest.raises(ApiException) as exc:
        discovery.delete_namespaced_endpoint_slice(slices[0].metadata.name, namespace)
    assert exc.value.status == 405


def test_reviews_from_the_python_client(sandbox, namespace):
    authz = client.AuthorizationV1Api(sandbox.kube(namespace).core.api_client)
    review = authz.create_self_subject_access_review({"spec": {"resourceAttributes": {"verb": "delete", "resource": "pods", "namespace": namespace}}})
    assert review.status.allowed is True
    sar = authz.create_subject_access_review({"spec": {"user": f"system:serviceaccount:{namespace}:default",
                                                        "resourceAttributes": {"verb": "get", "resource": "secrets", "namespace": namespace}}})
    assert sar.status.allowed is False


def test_store_watch_410_gone_after_compaction(monkeypatch):
    from tripgen_sandbox import store as store_mod
    from tripgen_sandbox.apierrors import ApiError

    monkeypatch.setattr(store_mod, "HISTORY", 5)
    st = store_mod.Store(None)
    st.create("namespaces", {"metadata": {"name": "n"}})
    first = st.create("configmaps", {"metadata": {"name": "c", "namespace": "n"}})
    for i in range(10):
        st.mutate("configmaps", "n", "c", lambda o, i=i: o.update(data={"i": str(i)}))
    with pytest.raises(ApiError) as exc:
        st.watch("configmaps", "n", first["metadata"]["resourceVersion"])
    assert exc.value.code == 410 and exc.value.reason == "Expired"
    w = st.watch("configmaps", "n", st.resource_version)  # a recent one still resumes
    w.close()
