"""Validation as kube-apiserver 1.29 does it: immutable fields refused with 422 Invalid and the
real messages, names and required fields, and fieldValidation Strict/Warn/Ignore for unknown
fields (Warn, the default, answers with Warning headers)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from rawhttp import raw

STS_MESSAGE = (
    "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)


def _sts(name, size="1Gi", replicas=0):
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}],
        },
    }


def _deploy(name, app):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}},
    }


def _status(exc) -> dict:
    return json.loads(exc.value.body)


def test_statefulset_volume_claim_templates_are_immutable(sandbox, namespace):
    apps = sandbox.kube(namespace).apps
    apps.create_namespaced_stateful_set(namespace, _sts("db"))
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"volumeClaimTemplates": _sts("db", "2Gi")["spec"]["volumeClaimTemplates"]}})
    status = _status(exc)
    assert exc.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"] == f'StatefulSet.apps "db" is invalid: {STS_MESSAGE}'
    assert status["details"] == {"name": "db", "group": "apps", "kind": "StatefulSet", "causes": [
        {"reason": "FieldValueForbidden", "message": STS_MESSAGE.split(": ", 1)[1], "field": "spec"}]}
    # PUT of the whole object, and kubectl apply, are refused the same way
    cur = apps.read_namespaced_stateful_set("db", namespace)
    cur.spec.service_name = "other"
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_stateful_set("db", namespace, cur)
    assert exc.value.status == 422 and _status(exc)["reason"] == "Invalid"
    out = sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_sts("db", "3Gi")), version="1.29")
    assert out.returncode == 1 and "updates to statefulset spec for fields other than" in out.stderr.decode()
    # the mutable set still changes
    apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"replicas": 0, "minReadySeconds": 5, "updateStrategy": {"type": "OnDelete"}}})
    assert apps.read_namespaced_stateful_set("db", namespace).spec.min_ready_seconds == 5


def test_deployment_selector_is_immutable(sandbox, namespace):
    apps = sandbox.kube(namespace).apps
    apps.create_namespaced_deployment(namespace, _deploy("web", "web"))
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("web", namespace, dict(_deploy("web", "web2"), metadata={"name": "web"}))
    status = _status(exc)
    assert exc.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"] == (
        'Deployment.apps "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    )
    assert status["details"]["causes"][0]["field"] == "spec.selector"
    out = sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_deploy("web", "web3")), version="1.29")
    assert out.returncode == 1 and "field is immutable" in out.stderr.decode()


def test_job_service_and_pvc_immutables(sandbox, namespace):
    kube = sandbox.kube(namespace)
    job = {"metadata": {"name": "j"}, "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36", "command": ["true"]}]}}}}
    kube.batch.create_namespaced_job(namespace, job)
    with pytest.raises(ApiException) as exc:
        kube.batch.patch_namespaced_job("j", namespace, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}})
    assert exc.value.status == 422 and "spec.template: Invalid value" in _status(exc)["message"] and "field is immutable" in _status(exc)["message"]
    # a suspended Job that never started may change its scheduling directives
    kube.batch.patch_namespaced_job("j", namespace, {"spec": {"template": {"spec": {"nodeSelector": {"pool": "a"}}}}})
    svc = kube.core.create_namespaced_service(namespace, {"metadata": {"name": "s"}, "spec": {"clusterIP": "10.0.77.1", "ports": [{"port": 80}]}})
    assert svc.spec.cluster_ip == "10.0.77.1"
    with pytest.raises(ApiException) as exc:
        kube.core.patch_namespaced_service("s", namespace, {"spec": {"clusterIP": "10.0.77.2"}})
    assert exc.value.status == 422
    assert _status(exc)["message"] == 'Service "s" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.0.77.2"}: may not change once set'
    # an update that omits the ClusterIP keeps it
    kept = kube.core.replace_namespaced_service("s", namespace, {"metadata": {"name": "s", "resourceVersion": svc.metadata.resource_version}, "spec": {"ports": [{"port": 81}]}})
    assert kept.spec.cluster_ip == "10.0.77.1" and kept.spec.ports[0].port == 81
    kube.core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    with pytest.raises(ApiException) as exc:
        kube.core.patch_namespaced_persistent_volume_claim("c", namespace, {"spec": {"accessModes": ["ReadWriteMany"]}})
    assert exc.value.status == 422
    assert _status(exc)["message"].startswith('PersistentVolumeClaim "c" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests for bound claims')


def test_names_and_required_fields(sandbox, namespace):
    core = sandbox.kube(namespace).core
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service(namespace, {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}})
    assert exc.value.status == 422 and "a DNS-1035 label must consist of lower case alphanumeric characters" in _status(exc)["message"]
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service(namespace, {"metadata": {"name": "noports"}, "spec": {}})
    assert _status(exc)["message"] == 'Service "noports" is invalid: spec.ports: Required value'
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "Bad_Name", "image": ""}]}})
    status = _status(exc)
    assert status["message"].startswith('Pod "p" is invalid: [spec.containers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label')
    assert [c["reason"] for c in status["details"]["causes"]] == ["FieldValueInvalid", "FieldValueRequired"]
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm", "labels": {"ok": "not ok"}}})
    assert "metadata.labels: Invalid value: \"not ok\": a valid label must be an empty string" in _status(exc)["message"]
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "c"}, "spec": {}})
    assert "spec.accessModes: Required value: at least 1 access mode is required" in _status(exc)["message"]
    # RBAC names are path segments: the built-in roles' colons are valid
    rbac = {"metadata": {"name": f"x:{namespace}"}, "rules": []}
    assert raw(sandbox, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", rbac).status == 201


def test_field_validation_strict_warn_ignore(sandbox, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {"metadata": {"name": "f", "bogus": 1}, "data": {"k": "v"}, "extra": True}
    strict = raw(sandbox, "POST", base + "?fieldValidation=Strict", body)
    assert strict.status == 400 and strict.json()["reason"] == "BadRequest"
    assert strict.json()["message"] == 'strict decoding error: unknown field "metadata.bogus", unknown field "extra"'
    warn = raw(sandbox, "POST", base, body)  # Warn is the default
    assert warn.status == 201
    warnings = warn.headers.get("warning", "")
    assert '299 - "unknown field \\"extra\\""' in warnings and '299 - "unknown field \\"metadata.bogus\\""' in warnings
    ignored = raw(sandbox, "POST", base + "?fieldValidation=Ignore", dict(body, metadata={"name": "g"}))
    assert ignored.status == 201 and "warning" not in ignored.headers and "extra" not in ignored.json()
    # kubectl 1.29 sends Strict: an unknown field in a manifest fails, as on AKS
    out = sandbox.kubectl("create", "-n", namespace, "-f", "-", version="1.29",
                          input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "h"}, "data": {}, "dat": {}}))
    assert out.returncode == 1 and 'unknown field "dat"' in out.stderr.decode()
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "imagePullPolice": "Always"}]}}
    nested = raw(sandbox, "POST", f"/api/v1/namespaces/{namespace}/pods?fieldValidation=Strict", pod)
    assert nested.json()["message"] == 'strict decoding error: unknown field "spec.containers[0].imagePullPolice"'
