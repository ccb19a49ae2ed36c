"""Stock kubectl against the sandbox API server, for what a real 1.29 server does and the sandbox
once did not: kubectl >= 1.31's protobuf `create` generators, `auth can-i`/`whoami` (with
--as impersonation), `describe service` reading EndpointSlices, `describe namespace` reading
quotas, chunked lists, foreground cascading delete and finalizers, and server-side apply keeping
client-side apply's annotation in step. Every check is on the API's answer, not only the exit
code. No pod has to run: these are API semantics."""

from __future__ import annotations

import json
import time

import pytest


def _json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)


def test_protobuf_bodies_decoded(sandbox, namespace):
    """kubectl 1.32 sends `create` generator objects as protobuf; every kind is decoded (the
    kinds without a protobuf form are refused with a 415: see test_sandbox_protobuf.py)."""
    k = lambda *a: sandbox.kubectl("-n", namespace, *a, check=True)  # noqa: E731
    k("create", "configmap", "c1", "--from-literal=a=1")
    assert _json(sandbox.kubectl("get", "cm", "c1", "-n", namespace, "-o", "json"))["data"] == {"a": "1"}
    k("create", "secret", "generic", "s1", "--from-literal=password=xyz")
    assert _json(sandbox.kubectl("get", "secret", "s1", "-n", namespace, "-o", "json"))["data"] == {"password": "eHl6"}
    k("create", "serviceaccount", "robot")
    k("create", "deployment", "x", "--image=busybox:1.36")
    assert _json(sandbox.kubectl("get", "deploy", "x", "-n", namespace, "-o", "json"))["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"


def test_create_generators(sandbox, namespace):
    """The generators' objects arrive field for field (kubectl 1.29 sends them as JSON)."""
    k = lambda *a: sandbox.kubectl("-n", namespace, *a, version="1.29", check=True)  # noqa: E731
    k("create", "deployment", "web", "--image=busybox:1.36", "--port=8080", "--replicas=0", "--", "sleep", "60")
    dep = _json(sandbox.kubectl("get", "deploy", "web", "-n", namespace, "-o", "json"))
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["sleep", "60"] and c["image"] == "busybox:1.36"
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert dep["spec"]["replicas"] == 0  # a pointer zero survives the decoding
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "web"}} and dep["spec"]["strategy"]["type"] == "RollingUpdate"
    assert dep["metadata"]["generation"] == 1 and "creationTimestamp" in dep["metadata"]

    k("create", "service", "clusterip", "web", "--tcp=80:8080")
    svc = _json(sandbox.kubectl("get", "svc", "web", "-n", namespace, "-o", "json"))
    assert svc["spec"]["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]

    k("create", "ingress", "web", "--rule=foo.example/api=web:80")
    ing = _json(sandbox.kubectl("get", "ingress", "web", "-n", namespace, "-o", "json"))
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "foo.example"  # IngressRuleValue is inlined in JSON
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "web", "port": {"number": 80}}

    k("create", "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 3 * * *", "--", "echo", "hi")
    cj = _json(sandbox.kubectl("get", "cronjob", "nightly", "-n", namespace, "-o", "json"))
    assert cj["spec"]["schedule"] == "0 3 * * *"
    assert cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]

    k("create", "role", "reader", "--verb=get,list", "--resource=pods")
    role = _json(sandbox.kubectl("get", "role", "reader", "-n", namespace, "-o", "json"))
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    k("create", "rolebinding", "reader", "--role=reader", f"--serviceaccount={namespace}:default")
    rb = _json(sandbox.kubectl("get", "rolebinding", "reader", "-n", namespace, "-o", "json"))
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]

    k("create", "quota", "small", "--hard=pods=10,requests.cpu=2")
    quota = _json(sandbox.kubectl("get", "quota", "small", "-n", namespace, "-o", "json"))
    assert quota["spec"]["hard"] == {"pods": "10", "requests.cpu": "2"}
    k("create", "pdb", "web", "--selector=app=web", "--min-available=1")
    assert _json(sandbox.kubectl("get", "pdb", "web", "-n", namespace, "-o", "json"))["spec"]["minAvailable"] == 1

    out = sandbox.kubectl("run", "one", "-n", namespace, "--image=busybox:1.36", "--restart=Never", "--dry-run=server", "-o", "json", "--", "true", version="1.29")
    pod = _json(out)
    assert pod["spec"]["containers"][0]["args"] == ["true"] and pod["spec"]["restartPolicy"] == "Never"
    assert "generation" not in pod["metadata"]  # pods have no generation in 1.29
    assert sandbox.kubectl("get", "pod", "one", "-n", namespace).returncode == 1  # dry run wrote nothing


@pytest.mark.parametrize("version", ["1.32", "1.29"])
def test_auth_can_i_whoami_and_impersonation(sandbox, namespace, version):
    sa = f"system:serviceaccount:{namespace}:default"
    k = lambda *a: sandbox.kubectl(*a, version=version)  # noqa: E731
    assert k("auth", "can-i", "create", "pods", "-n", namespace).stdout.strip() == b"yes"
    sandbox.kubectl("create", "role", "reader", "-n", namespace, "--verb=get,list", "--resource=pods", version="1.29", check=True)
    sandbox.kubectl("create", "rolebinding", "reader", "-n", namespace, "--role=reader", f"--serviceaccount={namespace}:default", version="1.29", check=True)
    assert k("auth", "can-i", "list", "pods", "-n", namespace, "--as", sa).stdout.strip() == b"yes"
    denied = k("auth", "can-i", "delete", "pods", "-n", namespace, "--as", sa)
    assert denied.stdout.strip() == b"no" and denied.returncode == 1
    assert k("auth", "can-i", "list", "pods", "-n", "default", "--as", sa).stdout.strip() == b"no"
    listed = k("auth", "can-i", "--list", "-n", namespace, "--as", sa).stdout.decode()
    assert any(line.split()[:1] == ["pods"] and "[get list]" in line for line in listed.splitlines())
    # what can-i says is what the server then enforces
    sandbox.kubectl("create", "cm", "x", "-n", namespace, version="1.29", check=True)
    forbidden = k("delete", "cm", "x", "-n", namespace, "--as", sa)
    assert forbidden.returncode == 1 and b"Forbidden" in forbidden.stderr and b"cannot delete" in forbidden.stderr
    assert k("get", "pods", "-n", namespace, "--as", sa).returncode == 0
    who = k("auth", "whoami", "-o", "json")
    if version == "1.32":
        assert _json(who)["status"]["userInfo"]["groups"][0] == "system:masters"
        as_sa = _json(k("auth", "whoami", "-o", "json", "--as", sa))["status"]["userInfo"]
        assert as_sa["username"] == sa and f"system:serviceaccounts:{namespace}" in as_sa["groups"]


def test_describe_service_and_namespace(sandbox, namespace):
    """kubectl 1.32 describe service reads EndpointSlices; describe namespace reads quotas and
    limit ranges. A selector-less Service with hand-written Endpoints needs no pod."""
    k = lambda *a, **kw: sandbox.kubectl("-n", namespace, *a, **kw)  # noqa: E731
    k("create", "service", "clusterip", "db", "--tcp=5432:5432", check=True, version="1.29")
    sandbox.kubectl("patch", "svc", "db", "-n", namespace, "--type=json", "-p", '[{"op":"remove","path":"/spec/selector"}]')
    eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db", "namespace": namespace},
           "subsets": [{"addresses": [{"ip": "127.1.200.7"}], "ports": [{"name": "5432-5432", "port": 5432, "protocol": "TCP"}]}]}
    k("apply", "-f", "-", input=json.dumps(eps), check=True)
    # the EndpointSlice mirroring controller follows the Endpoints asynchronously (as in a real
    # cluster): kubectl 1.32's describe reads the slice, so wait until it is there
    deadline = time.monotonic() + 30
    while not _json(k("get", "endpointslices", "-l", "kubernetes.io/service-name=db", "-o", "json"))["items"]:
        assert time.monotonic() < deadline, "no EndpointSlice mirrored from the Endpoints"
        time.sleep(0.2)
    for version in ("1.32", "1.29"):
        out = sandbox.kubectl("describe", "svc", "db", "-n", namespace, version=version)
        assert out.returncode == 0, out.stderr
        line = next(li for li in out.stdout.decode().splitlines() if li.startswith("Endpoints:"))
        assert "127.1.200.7:5432" in line, out.stdout.decode()
    slices = _json(k("get", "endpointslices", "-l", "kubernetes.io/service-name=db", "-o", "json"))
    assert [e["addresses"] for e in slices["items"][0]["endpoints"]] == [["127.1.200.7"]]
    assert slices["items"][0]["ports"] == [{"name": "5432-5432", "port": 5432, "protocol": "TCP"}]
    described = sandbox.kubectl("describe", "ns", namespace, "-v=6")
    assert described.returncode == 0
    assert b"No resource quota." in described.stdout and b"No LimitRange resource." in described.stdout
    # no request answered 404 (kubectl -v=6 logs "GET <url> 404 Not Found in N milliseconds"; a
    # bare "404" also turns up in its microsecond timestamps)
    assert b" 404 Not Found" not in described.stderr.replace(b"kube-node-lease", b""), described.stderr.decode()


def test_chunked_list_and_get_all(sandbox, namespace):
    for i in range(7):
        sandbox.kubectl("create", "cm", f"c{i}", "-n", namespace, check=True, version="1.29")
    out = sandbox.kubectl("get", "cm", "-n", namespace, "--chunk-size=3", "-o", "name", "-v=6")
    names = out.stdout.decode().split()
    assert sorted(names) == sorted([f"configmap/c{i}" for i in range(7)] + ["configmap/kube-root-ca.crt"])  # published in every namespace
    assert out.stderr.count(b"continue=") >= 2  # really paged: 3 + 3 + 1(+root CA)


def test_foreground_delete_and_finalizers_with_kubectl(sandbox, namespace):
    """--cascade=foreground: the owner stays (deletionTimestamp, foregroundDeletion) until its
    blocking dependents are gone; a dependent's own finalizer holds everything until removed."""
    k = lambda *a, **kw: sandbox.kubectl("-n", namespace, *a, **kw)  # noqa: E731
    owner = _json(k("create", "cm", "owner", "-o", "json"))
    child = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "child", "namespace": namespace, "finalizers": ["example.com/hold"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}]}}
    k("create", "-f", "-", input=json.dumps(child), check=True)
    k("delete", "cm", "owner", "--cascade=foreground", "--wait=false", check=True)
    held = _json(k("get", "cm", "owner", "-o", "json"))
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"] and held["metadata"]["deletionTimestamp"]
    child_now = _json(k("get", "cm", "child", "-o", "json"))
    assert child_now["metadata"]["deletionTimestamp"] and child_now["metadata"]["finalizers"] == ["example.com/hold"]
    k("patch", "cm", "child", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]', check=True)
    waited = k("wait", "--for=delete", "cm/owner", "cm/child", "--timeout=10s")
    assert waited.returncode == 0, waited.stderr
    assert k("get", "cm", "owner").returncode == 1 and k("get", "cm", "child").returncode == 1


def test_server_side_apply_keeps_last_applied_in_step(sandbox, namespace):
    """After `apply --server-side`, client-side apply and diff see that config as the last
    applied one (the server's lastAppliedUpdater), so removing a key from the file and applying
    again removes it from the object."""
    def cm(data):
        return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": namespace}, "data": data})

    sandbox.kubectl("apply", "-f", "-", input=cm({"a": "1", "b": "2", "c": "3"}), check=True)
    sandbox.kubectl("apply", "--server-side", "-f", "-", input=cm({"a": "1", "b": "2"}), check=True)
    live = _json(sandbox.kubectl("get", "cm", "cfg", "-n", namespace, "-o", "json"))
    assert live["data"]["a"] == "1" and live["data"]["b"] == "2"  # c stays: client-side apply's manager owns it
    last = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["data"] == {"a": "1", "b": "2"}
    assert sandbox.kubectl("diff", "-f", "-", input=cm({"a": "1", "b": "2"})).returncode == 0
    differs = sandbox.kubectl("diff", "-f", "-", input=cm({"a": "1"}))
    assert differs.returncode == 1 and b"-  b: \"2\"" in differs.stdout
    sandbox.kubectl("apply", "-f", "-", input=cm({"a": "1"}), check=True)
    data = _json(sandbox.kubectl("get", "cm", "cfg", "-n", namespace, "-o", "json"))["data"]
    assert data["a"] == "1" and "b" not in data
