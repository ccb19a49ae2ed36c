"""CustomResourceDefinitions as apiextensions-apiserver serves them, through stock kubectl and
the official Python client: a CRD with a structural schema is Established and its kind appears
in discovery and OpenAPI; a custom resource violating the schema is refused with 422 naming the
fields; a valid one is defaulted and round-trips through `apply --server-side`, `get -w` and
`delete`; status and scale subresources, printer columns, strict unknown fields, and deleting the
CRD takes its custom resources with it. Each test has its own API group (CRDs are cluster-wide)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import uuid

from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, shortNames: [wdg{short}]}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {{}}
      scale: {{specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}}
    additionalPrinterColumns:
    - {{name: Size, type: integer, jsonPath: .spec.size}}
    - {{name: Color, type: string, jsonPath: .spec.color}}
    - {{name: Age, type: date, jsonPath: .metadata.creationTimestamp}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {{type: integer, minimum: 1, maximum: 10, description: How big the widget is.}}
              color: {{type: string, enum: [red, blue], default: red}}
              replicas: {{type: integer, default: 1}}
              labels: {{type: object, additionalProperties: {{type: string}}}}
          status:
            type: object
            properties:
              replicas: {{type: integer}}
"""

WIDGET = """
apiVersion: {group}/v1
kind: Widget
metadata: {{name: {name}}}
spec: {spec}
"""


@pytest.fixture
def group(sandbox):
    g = f"t{uuid.uuid4().hex[:6]}.example.com"
    sandbox.kubectl("apply", "-f", "-", input=CRD.format(group=g, short=g[1:4]), version="1.29", check=True)
    sandbox.kubectl("wait", "--for=condition=Established", f"crd/widgets.{g}", "--timeout=20s", version="1.29", check=True)
    yield g
    sandbox.kubectl("delete", "crd", f"widgets.{g}", "--ignore-not-found", "--wait=false", version="1.29")


def _api(sandbox) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(str(sandbox.kubeconfig)))


def test_crd_established_discovered_explained(sandbox, group):
    crd = json.loads(sandbox.kubectl("get", "crd", f"widgets.{group}", "-o", "json", check=True).stdout)
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["listKind"] == "WidgetList" and crd["status"]["storedVersions"] == ["v1"]
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]
    listed = sandbox.kubectl("get", "crd", f"widgets.{group}", version="1.29", check=True).stdout.decode().splitlines()
    assert listed[0].split() == ["NAME", "CREATED", "AT"] and listed[1].split() == [f"widgets.{group}", crd["metadata"]["creationTimestamp"]]
    doc = json.loads(sandbox.kubectl("get", "--raw", f"/apis/{group}/v1", check=True).stdout)
    assert [(r["name"], r["singularName"], r.get("shortNames")) for r in doc["resources"]][0] == ("widgets", "widget", [f"wdg{group[1:4]}"])
    res = sandbox.kubectl("api-resources", f"--api-group={group}", "-o", "wide", version="1.33", check=True).stdout.decode()
    assert "widgets" in res and f"{group}/v1" in res and "Widget" in res and "true" in res
    groups = json.loads(sandbox.kubectl("get", "--raw", "/apis", check=True).stdout)
    assert any(g["name"] == group for g in groups["groups"])
    for version in ("1.27", "1.33"):  # v2 (gnostic protobuf) and v3
        out = sandbox.kubectl("explain", "widgets.spec.size", f"--api-version={group}/v1", version=version, check=True).stdout.decode()
        assert "How big the widget is." in out and "integer" in out


def test_violating_resource_refused_422(sandbox, namespace, group):
    api = _api(sandbox)
    body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": {"size": "three", "color": "green"}}
    with pytest.raises(ApiException) as exc:
        api.create_namespaced_custom_object(group, "v1", namespace, "widgets", body)
    assert exc.value.status == 422
    status = json.loads(exc.value.body)
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "Widget" and status["details"]["group"] == group
    fields = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert fields["spec.size"] == 'Invalid value: "string": spec.size in body must be of type integer: "string"'
    assert fields["spec.color"].startswith('Unsupported value: "green"')
    for spec, field in (({"size": 11}, "spec.size"), ({}, "spec.size"), ({"size": 2, "labels": {"a": 1}}, "spec.labels.a")):
        with pytest.raises(ApiException) as exc:
            api.create_namespaced_custom_object(group, "v1", namespace, "widgets", {**body, "spec": spec})
        assert exc.value.status == 422 and field in exc.value.body.decode() if isinstance(exc.value.body, bytes) else field in exc.value.body
    proc = sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=WIDGET.format(group=group, name="bad", spec="{size: three}"), version="1.33")
    assert proc.returncode == 1 and b"is invalid" in proc.stderr and b"spec.size" in proc.stderr
    # an unknown field: refused under kubectl's default fieldValidation=Strict, pruned otherwise
    proc = sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=WIDGET.format(group=group, name="odd", spec="{size: 2, shape: round}"), version="1.33")
    assert proc.returncode == 1 and b'unknown field "spec.shape"' in proc.stderr
    made = api.create_namespaced_custom_object(group, "v1", namespace, "widgets", {**body, "metadata": {"name": "odd"}, "spec": {"size": 2, "shape": "round"}})
    assert made["spec"] == {"size": 2, "color": "red", "replicas": 1}


def test_custom_resource_round_trip(sandbox, namespace, group):
    """apply --server-side, get -w (with event types), the printer columns, status and scale
    subresources, then delete --wait, all seen by the watch. (Resources are named with their
    group: every test's CRD serves `widgets`, and kubectl's discovery cache may still know an
    earlier test's group.)"""
    kubectl = sandbox.kubectl_path("1.33")
    watch = subprocess.Popen([kubectl, "-n", namespace, "get", f"widgets.{group}", "-w", "--output-watch-events"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sandbox.env())
    try:
        doc = WIDGET.format(group=group, name="w1", spec="{size: 3}")
        out = sandbox.kubectl("-n", namespace, "apply", "--server-side", "-f", "-", input=doc, version="1.33", check=True).stdout
        assert b"serverside-applied" in out
        got = json.loads(sandbox.kubectl("-n", namespace, "get", f"widget.{group}", "w1", "-o", "json", "--show-managed-fields", check=True).stdout)
        assert got["spec"] == {"size": 3, "color": "red", "replicas": 1} and got["metadata"]["generation"] == 1
        assert any(m["manager"] == "kubectl" and m["operation"] == "Apply" for m in got["metadata"]["managedFields"])
        table = sandbox.kubectl("-n", namespace, "get", f"widgets.{group}", version="1.29", check=True).stdout.decode().splitlines()
        assert table[0].split() == ["NAME", "SIZE", "COLOR", "AGE"] and table[1].split()[:3] == ["w1", "3", "red"]
        # status only through /status; scale through /scale
        sandbox.kubectl("-n", namespace, "patch", f"widget.{group}", "w1", "--type=merge", "-p", '{"status": {"replicas": 7}}', version="1.33", check=True)
        assert "status" not in json.loads(sandbox.kubectl("-n", namespace, "get", f"widget.{group}", "w1", "-o", "json", check=True).stdout)
        bad = sandbox.kubectl("-n", namespace, "patch", f"widget.{group}", "w1", "--subresource=status", "--type=merge", "-p", '{"status": {"replicas": "two"}}', version="1.29")
        assert bad.returncode == 1 and b'status.replicas: Invalid value: "string": status.replicas in body must be of type integer' in bad.stderr
        sandbox.kubectl("-n", namespace, "patch", f"widget.{group}", "w1", "--subresource=status", "--type=merge", "-p", '{"status": {"replicas": 2, "extra": 1}}', version="1.29", check=True)
        sandbox.kubectl("-n", namespace, "scale", f"widget.{group}", "w1", "--replicas=4", version="1.33", check=True)
        got = json.loads(sandbox.kubectl("-n", namespace, "get", f"widget.{group}", "w1", "-o", "json", check=True).stdout)
        assert got["status"] == {"replicas": 2} and got["spec"]["replicas"] == 4 and got["metadata"]["generation"] == 2
        scale = json.loads(sandbox.kubectl("get", "--raw", f"/apis/{group}/v1/namespaces/{namespace}/widgets/w1/scale", check=True).stdout)
        assert scale["spec"] == {"replicas": 4} and scale["status"]["replicas"] == 2
        sandbox.kubectl("-n", namespace, "delete", f"widget.{group}", "w1", "--wait", "--timeout=20s", version="1.33", check=True)
        assert sandbox.kubectl("-n", namespace, "get", f"widget.{group}", "w1", version="1.33").returncode == 1
        lines = _read_until(watch, lambda ls: any(l.startswith("DELETED") for l in ls))
    finally:
        watch.kill()
        err = watch.communicate()[1]
    events = [l.split()[0] for l in lines[1:]]
    assert events and events[0] == "ADDED" and "MODIFIED" in events and events[-1] == "DELETED", (lines, err)


def _read_until(proc, done, timeout: float = 20.0) -> list[str]:
    import os
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=0.5):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if done(buf.decode().splitlines()):
                break
    return buf.decode().splitlines()


def test_invalid_crds_refused(sandbox):
    g = f"t{uuid.uuid4().hex[:6]}.example.com"
    nonstructural = CRD.format(group=g, short="x").replace("type: object\n            required: [size]", "required: [size]")
    proc = sandbox.kubectl("apply", "-f", "-", input=nonstructural, version="1.29")
    assert proc.returncode == 1 and b"is invalid" in proc.stderr and b"spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value" in proc.stderr
    misnamed = CRD.format(group=g, short="x").replace(f"name: widgets.{g}", f"name: gadgets.{g}")
    proc = sandbox.kubectl("apply", "-f", "-", input=misnamed, version="1.29")
    assert proc.returncode == 1 and b'must be spec.names.plural+"."+spec.group' in proc.stderr


def test_deleting_crd_deletes_its_resources(sandbox, namespace, group):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=WIDGET.format(group=group, name="w2", spec="{size: 1}"), version="1.29", check=True)
    sandbox.kubectl("delete", "crd", f"widgets.{group}", "--wait", "--timeout=30s", version="1.29", check=True)
    assert sandbox.kubectl("get", "crd", f"widgets.{group}", version="1.29").returncode == 1
    with pytest.raises(ApiException) as exc:
        _api(sandbox).list_namespaced_custom_object(group, "v1", namespace, "widgets")
    assert exc.value.status == 404
    groups = json.loads(sandbox.kubectl("get", "--raw", "/apis", check=True).stdout)
    assert not any(g["name"] == group for g in groups["groups"])
    # created again, the kind starts empty (its resources went with the old definition)
    sandbox.kubectl("apply", "-f", "-", input=CRD.format(group=group, short=group[1:4]), version="1.29", check=True)
    assert _api(sandbox).list_namespaced_custom_object(group, "v1", namespace, "widgets")["items"] == []


def test_two_served_versions(sandbox, namespace):
    """v1beta1 stored, v1 also served: discovery prefers v1 all the same (version priority); an
    object written through either version reads back through each with that version's
    apiVersion (conversion strategy None), in gets, lists and watches."""
    g = f"t{uuid.uuid4().hex[:6]}.example.com"
    crd = CRD.format(group=g, short=g[1:4])
    beta = crd.split("  - name: v1\n", 1)[1]
    crd = crd.replace("storage: true", "storage: false").replace("  versions:\n", "  versions:\n  - name: v1beta1\n" + beta)
    sandbox.kubectl("apply", "-f", "-", input=crd, version="1.29", check=True)
    try:
        api = _api(sandbox)
        group_doc = json.loads(sandbox.kubectl("get", "--raw", f"/apis/{g}", check=True).stdout)
        assert group_doc["preferredVersion"]["version"] == "v1" and [v["version"] for v in group_doc["versions"]] == ["v1", "v1beta1"]
        made = api.create_namespaced_custom_object(g, "v1", namespace, "widgets", {"apiVersion": f"{g}/v1", "kind": "Widget", "metadata": {"name": "b"}, "spec": {"size": 4}})
        assert made["apiVersion"] == f"{g}/v1"
        stored = json.loads(sandbox.kubectl("get", "crd", f"widgets.{g}", "-o", "json", check=True).stdout)
        assert stored["status"]["storedVersions"] == ["v1beta1"]
        for version in ("v1", "v1beta1"):
            got = api.get_namespaced_custom_object(g, version, namespace, "widgets", "b")
            assert got["apiVersion"] == f"{g}/{version}" and got["spec"]["size"] == 4
            listed = api.list_namespaced_custom_object(g, version, namespace, "widgets")
            assert listed["apiVersion"] == f"{g}/{version}" and [i["metadata"]["name"] for i in listed["items"]] == ["b"]
        raw = sandbox.kubectl("get", "--raw", f"/apis/{g}/v1/namespaces/{namespace}/widgets?watch=1&timeoutSeconds=1", check=True).stdout
        events = [json.loads(line) for line in raw.splitlines()]
        assert [(e["type"], e["object"]["apiVersion"]) for e in events] == [("ADDED", f"{g}/v1")]
    finally:
        sandbox.kubectl("delete", "crd", f"widgets.{g}", "--wait=false", version="1.29")


REALISTIC = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: syncs.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: syncs, singular: sync, kind: Sync, listKind: SyncList, shortNames: [sy{short}], categories: [{short}cat]}}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    additionalPrinterColumns:
    - {{name: Ready, type: string, jsonPath: ".status.conditions[?(@.type==\\"Ready\\")].status"}}
    - {{name: Port, type: string, jsonPath: .spec.port, priority: 1}}
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        properties:
          spec:
            type: object
            required: [source]
            properties:
              source:
                type: object
                required: [repoURL]
                properties:
                  repoURL: {{type: string, pattern: "^https://"}}
                  helm: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
              port:
                anyOf: [{{type: integer}}, {{type: string}}]
                x-kubernetes-int-or-string: true
              interval: {{type: string, default: 10m}}
              suspend: {{type: boolean, nullable: true}}
              targets:
                type: array
                maxItems: 3
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {{type: string, minLength: 1}}
                    weight: {{type: integer, default: 100}}
          status:
            type: object
            default: {{observedGeneration: -1}}
            properties:
              observedGeneration: {{type: integer, format: int64}}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {{type: string}}
                    status: {{type: string}}
"""


def test_realistic_schema_features(sandbox, namespace):
    """The schema constructs of ArgoCD, Flux and KEDA CRDs: int-or-string, preserve-unknown-fields,
    nullable, defaults in list items and on status, patterns, list maps, a filter in a printer
    column, categories."""
    g = f"t{uuid.uuid4().hex[:6]}.example.com"
    short = g[1:4]
    sandbox.kubectl("apply", "-f", "-", input=REALISTIC.format(group=g, short=short), version="1.29", check=True)
    try:
        api = _api(sandbox)
        body = {"apiVersion": f"{g}/v1alpha1", "kind": "Sync", "metadata": {"name": "app"},
                "spec": {"source": {"repoURL": "https://example.invalid/r.git", "helm": {"values": {"any": ["thing", 1]}}},
                         "port": "http", "suspend": None, "targets": [{"name": "a"}, {"name": "b", "weight": 5}]}}
        made = api.create_namespaced_custom_object(g, "v1alpha1", namespace, "syncs", body)
        assert made["spec"]["source"]["helm"] == {"values": {"any": ["thing", 1]}}  # kept, not pruned
        assert made["spec"]["interval"] == "10m" and [t["weight"] for t in made["spec"]["targets"]] == [100, 5]
        assert made["status"] == {"observedGeneration": -1}
        api.patch_namespaced_custom_object_status(g, "v1alpha1", namespace, "syncs", "app", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        # a category is expanded from discovery (a fresh cache: kubectl does not refetch for categories)
        with tempfile.TemporaryDirectory() as cache:
            wide = sandbox.kubectl("-n", namespace, "get", f"{short}cat", "-o", "wide", f"--cache-dir={cache}", version="1.33", check=True).stdout.decode().splitlines()
        assert wide[0].split() == ["NAME", "READY", "PORT"] and wide[1].split() == ["app", "True", "http"], wide
        for spec, field in (({"source": {"repoURL": "http://plain"}}, "spec.source.repoURL"),
                            ({"source": {"repoURL": "https://x"}, "port": 1.5}, "spec.port"),
                            ({"source": {"repoURL": "https://x"}, "targets": [{"name": ""}]}, "spec.targets[0].name"),
                            ({"source": {"repoURL": "https://x"}, "targets": [{"name": str(i)} for i in range(4)]}, "spec.targets"),
                            ({"source": {}}, "spec.source.repoURL")):
            with pytest.raises(ApiException) as exc:
                api.create_namespaced_custom_object(g, "v1alpha1", namespace, "syncs", {**body, "metadata": {"name": "bad"}, "spec": spec})
            assert exc.value.status == 422
            assert field in [c["field"] for c in json.loads(exc.value.body)["details"]["causes"]], (spec, exc.value.body)
    finally:
        sandbox.kubectl("delete", "crd", f"syncs.{g}", "--wait=false", version="1.29")


def test_terminating_crd_waits_for_finalizers_and_refuses_creates(sandbox, namespace, group):
    """A custom resource with a finalizer holds its CRD's deletion (the CRD stays, Terminating,
    and refuses new resources with 405) until the finalizer is removed; the CRD's scope cannot
    change."""
    api = _api(sandbox)
    held = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "spec": {"size": 1}}
    api.create_namespaced_custom_object(group, "v1", namespace, "widgets", held)
    changed = CRD.format(group=group, short=group[1:4]).replace("scope: Namespaced", "scope: Cluster")
    proc = sandbox.kubectl("apply", "-f", "-", input=changed, version="1.29")
    assert proc.returncode == 1 and b"spec.scope: Invalid value: \"Cluster\": field is immutable" in proc.stderr
    sandbox.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", version="1.29", check=True)
    crd = json.loads(sandbox.kubectl("get", "crd", f"widgets.{group}", "-o", "json", check=True).stdout)
    assert crd["metadata"]["deletionTimestamp"] and "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]
    got = api.get_namespaced_custom_object(group, "v1", namespace, "widgets", "held")
    assert got["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiException) as exc:
        api.create_namespaced_custom_object(group, "v1", namespace, "widgets", {**held, "metadata": {"name": "late"}})
    assert exc.value.status == 405 and "terminating" in json.loads(exc.value.body)["message"]
    api.patch_namespaced_custom_object(group, "v1", namespace, "widgets", "held", {"metadata": {"finalizers": None}})
    sandbox.kubectl("wait", "--for=delete", f"crd/widgets.{group}", "--timeout=20s", version="1.29", check=True)


def test_crds_survive_restart_before_the_garbage_collector_looks(tmp_path):
    """After a stop/start the stored CRD is served at once: its custom resource is there, and an
    object it owns is not taken for an orphan by the first garbage-collector sweep (an object
    owned by a missing uid, collected, shows the sweep ran)."""
    from tripgen_sandbox import control
    from tripgen_sandbox.config import SandboxConfig

    from conftest import Sandbox

    state = tmp_path / "sb"
    st = control.start(state, {}, timeout=90)
    sb = Sandbox(state_dir=state, kubeconfig=Path(st.kubeconfig))
    try:
        g = f"t{uuid.uuid4().hex[:6]}.example.com"
        sb.kubectl("apply", "-f", "-", input=CRD.format(group=g, short="rs"), version="1.29", check=True)
        sb.kubectl("wait", "--for=condition=Established", f"crd/widgets.{g}", "--timeout=20s", version="1.29", check=True)
        w = _api(sb).create_namespaced_custom_object(g, "v1", "default", "widgets", {"apiVersion": f"{g}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}})
        core = client.CoreV1Api(config.new_client_from_config(str(sb.kubeconfig)))
        owned = lambda name, uid: {"metadata": {"name": name, "ownerReferences": [{"apiVersion": f"{g}/v1", "kind": "Widget", "name": "w", "uid": uid}]}}  # noqa: E731
        core.create_namespaced_config_map("default", owned("owned", w["metadata"]["uid"]))
        control.stop(state)
        control.start(state, {}, timeout=90)
        core = client.CoreV1Api(config.new_client_from_config(str(sb.kubeconfig)))
        core.create_namespaced_config_map("default", owned("orphan", str(uuid.uuid4())))
        deadline = time.monotonic() + 30
        while any(c.metadata.name == "orphan" for c in core.list_namespaced_config_map("default").items):
            assert time.monotonic() < deadline, "the garbage collector never swept"
            time.sleep(0.3)
        assert core.read_namespaced_config_map("owned", "default").metadata.name == "owned"
        assert _api(sb).get_namespaced_custom_object(g, "v1", "default", "widgets", "w")["spec"]["size"] == 1
    finally:
        control.stop(state)
        assert control.marked_processes(SandboxConfig.load(state).short_id) == []
