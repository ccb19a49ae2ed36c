"""The wire as kube-apiserver 1.29 writes it: exact Content-Type headers (no charset; the Table
media type for tables), Status bodies as Go encodes them (compact JSON in metav1.Status field
order, a trailing newline), and DELETE answers per resource (the deleted object where the real
registry sets ReturnDeletedObject, the object with deletionTimestamp for graceful deletion, a
Success Status elsewhere)."""

from __future__ import annotations


from rawhttp import raw

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def test_content_types_match_the_real_server(sandbox, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    created = raw(sandbox, "POST", base, {"metadata": {"name": "c1"}, "data": {"k": "v"}})
    assert created.status == 201 and created.headers["content-type"] == "application/json"
    assert raw(sandbox, "GET", base + "/c1").headers["content-type"] == "application/json"
    assert raw(sandbox, "GET", base).headers["content-type"] == "application/json"
    table = raw(sandbox, "GET", base, headers={"Accept": TABLE_ACCEPT})
    assert table.headers["content-type"] == TABLE and table.json()["kind"] == "Table"
    one = raw(sandbox, "GET", base + "/c1", headers={"Accept": TABLE_ACCEPT})
    assert one.headers["content-type"] == TABLE
    for path in ("/version", "/api", "/apis", "/api/v1", "/apis/apps/v1"):
        assert raw(sandbox, "GET", path).headers["content-type"] == "application/json", path
    missing = raw(sandbox, "GET", base + "/ghost")
    assert missing.status == 404 and missing.headers["content-type"] == "application/json"
    conflict = raw(sandbox, "POST", base, {"metadata": {"name": "c1"}})
    assert conflict.status == 409 and conflict.headers["content-type"] == "application/json"


def test_status_bodies_encoded_like_go(sandbox, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    missing = raw(sandbox, "GET", base + "/ghost")
    assert missing.body == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"configmaps \\"ghost\\" not found","reason":"NotFound",'
        b'"details":{"name":"ghost","kind":"configmaps"},"code":404}\n'
    )
    raw(sandbox, "POST", base, {"metadata": {"name": "dup"}})
    dup = raw(sandbox, "POST", base, {"metadata": {"name": "dup"}})
    assert dup.body == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"configmaps \\"dup\\" already exists","reason":"AlreadyExists",'
        b'"details":{"name":"dup","kind":"configmaps"},"code":409}\n'
    )
    gone = raw(sandbox, "DELETE", base + "/dup")
    body = gone.json()
    assert gone.body.endswith(b"}\n") and b" " not in gone.body
    assert list(body) == ["kind", "apiVersion", "metadata", "status", "details"]
    assert list(body["details"]) == ["name", "kind", "uid"] and body["status"] == "Success"
    # objects: TypeMeta first, compact, newline-terminated; HTML characters escaped as Go does
    obj = raw(sandbox, "POST", base, {"metadata": {"name": "html"}, "data": {"k": "<a&b>"}})
    assert obj.body.startswith(b'{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"html","namespace":')
    assert b'"\\u003ca\\u0026b\\u003e"' in obj.body and obj.body.endswith(b"}\n")


def test_delete_answers_per_resource(sandbox, namespace):
    ns = f"/api/v1/namespaces/{namespace}"
    raw(sandbox, "POST", ns + "/services", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    svc = raw(sandbox, "DELETE", ns + "/services/web")
    assert svc.status == 200 and svc.json()["kind"] == "Service" and svc.json()["metadata"]["name"] == "web"
    raw(sandbox, "POST", ns + "/serviceaccounts", {"metadata": {"name": "robot"}})
    sa = raw(sandbox, "DELETE", ns + "/serviceaccounts/robot")
    assert sa.status == 200 and sa.json()["kind"] == "ServiceAccount"
    raw(sandbox, "POST", "/apis/storage.k8s.io/v1/storageclasses", {"metadata": {"name": f"sc-{namespace}"}, "provisioner": "disk.csi.azure.com"})
    sc = raw(sandbox, "DELETE", f"/apis/storage.k8s.io/v1/storageclasses/sc-{namespace}")
    assert sc.status == 200 and sc.json()["kind"] == "StorageClass"
    raw(sandbox, "POST", ns + "/secrets", {"metadata": {"name": "s"}})
    secret = raw(sandbox, "DELETE", ns + "/secrets/s")
    assert secret.json()["kind"] == "Status" and secret.json()["details"]["kind"] == "secrets"
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "60"]}]}}
    raw(sandbox, "POST", ns + "/pods", pod)
    graceful = raw(sandbox, "DELETE", ns + "/pods/p")
    assert graceful.status == 200 and graceful.json()["kind"] == "Pod"
    assert graceful.json()["metadata"]["deletionTimestamp"] and graceful.json()["metadata"]["deletionGracePeriodSeconds"] == 30
    assert raw(sandbox, "POST", ns + "/secrets", {"metadata": {"name": "s2"}}).status == 201
    dry = raw(sandbox, "DELETE", ns + "/secrets/s2?dryRun=All")
    assert dry.json()["kind"] == "Status" and dry.json()["status"] == "Success"
    # a typed client that expects the Service back decodes it
    core = sandbox.kube(namespace).core
    core.create_namespaced_service(namespace, {"metadata": {"name": "typed"}, "spec": {"ports": [{"port": 81}]}})
    answer = core.delete_namespaced_service("typed", namespace)
    assert answer.kind == "Service" and answer.metadata.name == "typed"
