"""The sandbox API server as the official Python client and stock kubectl see it: CRUD,
resourceVersion conflicts, selectors, list+watch, patch flavours, server-side apply, dry run,
cascading delete. Pods need no kubelet here: only API semantics are under test."""

from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException


def cm(name, labels=None, data=None):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels or {}), data=data or {"k": "v"})


def test_create_get_conflict_on_stale_update(sandbox, namespace):
    core = sandbox.kube(namespace).core
    created = core.create_namespaced_config_map(namespace, cm("a"))
    assert created.metadata.uid and created.metadata.resource_version
    first = core.read_namespaced_config_map("a", namespace)
    second = core.read_namespaced_config_map("a", namespace)
    first.data = {"k": "first"}
    core.replace_namespaced_config_map("a", namespace, first)
    second.data = {"k": "second"}
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("a", namespace, second)
    assert exc.value.status == 409
    body = json.loads(exc.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Conflict"
    assert core.read_namespaced_config_map("a", namespace).data == {"k": "first"}


def test_errors_are_status_bodies(sandbox, namespace):
    core = sandbox.kube(namespace).core
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("missing", namespace)
    assert exc.value.status == 404
    assert json.loads(exc.value.body)["reason"] == "NotFound"
    core.create_namespaced_config_map(namespace, cm("dup"))
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, cm("dup"))
    assert exc.value.status == 409 and json.loads(exc.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, cm("Bad_Name"))
    assert exc.value.status == 422 and json.loads(exc.value.body)["reason"] == "Invalid"


def test_label_and_field_selectors(sandbox, namespace):
    core = sandbox.kube(namespace).core
    core.create_namespaced_config_map(namespace, cm("x1", {"tier": "application", "n": "1"}))
    core.create_namespaced_config_map(namespace, cm("x2", {"tier": "application", "n": "2"}))
    core.create_namespaced_config_map(namespace, cm("x3", {"tier": "data"}))
    names = lambda r: sorted(i.metadata.name for i in r.items)  # noqa: E731
    assert names(core.list_namespaced_config_map(namespace, label_selector="tier=application")) == ["x1", "x2"]
    # every namespace holds kube-root-ca.crt (no labels), as on a real cluster
    assert names(core.list_namespaced_config_map(namespace, label_selector="tier!=application")) == ["kube-root-ca.crt", "x3"]
    assert names(core.list_namespaced_config_map(namespace, label_selector="n in (2,3)")) == ["x2"]
    assert names(core.list_namespaced_config_map(namespace, label_selector="!n")) == ["kube-root-ca.crt", "x3"]
    assert names(core.list_namespaced_config_map(namespace, field_selector="metadata.name=x2")) == ["x2"]


def test_watch_from_resource_version(sandbox, namespace):
    core = sandbox.kube(namespace).core
    listed = core.list_namespaced_config_map(namespace)
    rv = listed.metadata.resource_version
    seen = []

    def writer():
        core.create_namespaced_config_map(namespace, cm("w1"))
        core.patch_namespaced_config_map("w1", namespace, {"data": {"k": "2"}})
        core.delete_namespaced_config_map("w1", namespace)

    threading.Thread(target=writer).start()
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_patch_flavours_and_dry_run(sandbox, namespace):
    kube = sandbox.kube(namespace)
    core = kube.core
    core.create_namespaced_config_map(namespace, cm("p", data={"a": "1", "b": "2"}))
    core.patch_namespaced_config_map("p", namespace, {"data": {"b": None, "c": "3"}})  # merge semantics
    assert core.read_namespaced_config_map("p", namespace).data == {"a": "1", "c": "3"}
    core.patch_namespaced_config_map("p", namespace, [{"op": "replace", "path": "/data/a", "value": "9"}])
    assert core.read_namespaced_config_map("p", namespace).data["a"] == "9"
    before = core.read_namespaced_config_map("p", namespace)
    core.patch_namespaced_config_map("p", namespace, {"data": {"a": "dry"}}, dry_run="All")
    after = core.read_namespaced_config_map("p", namespace)
    assert after.data["a"] == "9" and after.metadata.resource_version == before.metadata.resource_version


def test_server_side_apply_owns_and_removes_fields(sandbox, namespace):
    kube = sandbox.kube(namespace)

    dyn = kube.dynamic
    res = dyn.resources.get(api_version="v1", kind="ConfigMap")

    def ssa(body, manager="tester", force=False):
        return dyn.server_side_apply(res, body=body, namespace=namespace, field_manager=manager, force_conflicts=force).to_dict()

    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"a": "1", "b": "2"}}
    obj = ssa(base)
    assert obj["data"] == {"a": "1", "b": "2"}
    assert any(m["manager"] == "tester" and m["operation"] == "Apply" for m in obj["metadata"]["managedFields"])
    obj = ssa({**base, "data": {"a": "1"}})  # b no longer applied -> removed
    assert obj["data"] == {"a": "1"}
    kube.core.patch_namespaced_config_map("s", namespace, {"data": {"a": "hand"}})  # another manager
    from kubernetes.dynamic.exceptions import ConflictError

    with pytest.raises(ConflictError) as exc:
        ssa({**base, "data": {"a": "1"}})
    assert exc.value.status == 409 and "conflict" in json.loads(exc.value.body)["message"].lower()
    assert ssa({**base, "data": {"a": "1"}}, force=True)["data"] == {"a": "1"}


def test_scale_subresource_and_generation(sandbox, namespace):
    apps = sandbox.kube(namespace).apps
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "busybox:latest", "command": ["sleep", "3600"]}]}}},
    }
    created = apps.create_namespaced_deployment(namespace, dep)
    assert created.metadata.generation == 1
    scale = apps.read_namespaced_deployment_scale("d", namespace)
    assert scale.spec.replicas == 1
    apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 3}})
    after = apps.read_namespaced_deployment("d", namespace)
    assert after.spec.replicas == 3 and after.metadata.generation == 2
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": -1}})
    assert exc.value.status == 422


def test_cascading_delete_by_owner_reference(sandbox, namespace):
    core = sandbox.kube(namespace).core
    owner = core.create_namespaced_config_map(namespace, cm("owner"))
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="child", owner_references=[ref])))
    core.delete_namespaced_config_map("owner", namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("child", namespace)
    assert exc.value.status == 404


def test_kubectl_apply_get_scale_delete(sandbox, namespace):
    manifest = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: one, namespace: {namespace}, labels: {{app: demo}}}}
data: {{a: "1"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {namespace}, labels: {{app: demo}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "busybox:latest", command: [sleep, "3600"]}}]
"""
    for version in ("1.32", "1.29"):
        out = sandbox.kubectl("apply", "-f", "-", input=manifest, version=version, check=True).stdout.decode()
        assert "configmap/one" in out and "deployment.apps/web" in out
    out = sandbox.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=manifest, check=True).stdout.decode()
    assert "serverside-applied" in out
    got = json.loads(sandbox.kubectl("get", "cm", "one", "-n", namespace, "-o", "json", check=True).stdout)
    assert got["data"] == {"a": "1"}
    wide = sandbox.kubectl("get", "deploy", "-n", namespace, "-o", "wide", check=True).stdout.decode()
    assert "IMAGES" in wide and "busybox:latest" in wide
    listed = sandbox.kubectl("get", "cm", "-A", "-l", "app=demo", check=True).stdout.decode()
    assert namespace in listed and "one" in listed
    for version in ("1.32", "1.29"):
        sandbox.kubectl("scale", "deploy/web", "-n", namespace, "--replicas=4", version=version, check=True)
        assert sandbox.kubectl("get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}", check=True).stdout == b"4"
        sandbox.kubectl("scale", "deploy/web", "-n", namespace, "--replicas=2", version=version, check=True)
    yaml_out = sandbox.kubectl("get", "deploy", "web", "-n", namespace, "-o", "yaml", check=True).stdout.decode()
    assert "kind: Deployment" in yaml_out and "replicas: 2" in yaml_out
    sandbox.kubectl("delete", "cm", "one", "-n", namespace, check=True)
    assert sandbox.kubectl("get", "cm", "one", "-n", namespace).returncode == 1
