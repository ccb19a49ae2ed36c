"""Protobuf both ways, checked with the stock clients that use it: kubectl >= 1.31 sends its
`create` generators' objects as protobuf and asks for protobuf answers. Each object created that
way must be stored exactly as the one kubectl 1.29 creates from the same command as JSON, and
kubectl must read the sandbox's protobuf answer back into the same object. A protobuf body of a
kind with no protobuf form (a custom resource) is refused with 415, as kube-apiserver does."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
import yaml

COMMANDS = [
    ("deployment", "web", ["create", "deployment", "web", "--image=busybox:1.36", "--port=8080", "--replicas=0", "--", "sleep", "60"]),
    ("job", "once", ["create", "job", "once", "--image=busybox:1.36", "--", "echo", "hi"]),
    ("cronjob", "nightly", ["create", "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 3 * * *", "--", "echo", "hi"]),
    ("service", "web", ["create", "service", "clusterip", "web", "--tcp=80:8080"]),
    ("role", "reader", ["create", "role", "reader", "--verb=get,list,watch", "--resource=pods,deployments.apps,configmaps"]),
    ("rolebinding", "readers", ["create", "rolebinding", "readers", "--role=reader", "--user=alice", "--group=team", "--serviceaccount=default:robot"]),
    ("ingress", "web", ["create", "ingress", "web", "--rule=foo.example/api=web:80", "--annotation=a=b"]),
    ("poddisruptionbudget", "web", ["create", "pdb", "web", "--selector=app=web", "--min-available=1"]),
    ("resourcequota", "q", ["create", "quota", "q", "--hard=pods=10,requests.cpu=2"]),
    ("secret", "s", ["create", "secret", "generic", "s", "--from-literal=password=xyz"]),
]

VOLATILE = ("uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields", "generation")


def _stable(obj: dict) -> dict:
    meta = {k: v for k, v in obj["metadata"].items() if k not in VOLATILE}
    spec = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    if obj["kind"] == "Service":
        spec["spec"] = {k: v for k, v in spec["spec"].items() if k not in ("clusterIP", "clusterIPs")}
    if obj["kind"] == "RoleBinding":
        for s in spec.get("subjects") or []:
            s.pop("namespace", None) if s.get("kind") != "ServiceAccount" else None
    if obj["kind"] == "Job":  # the controller-uid label/selector differ per object
        spec["spec"].pop("selector", None)
        spec["spec"]["template"]["metadata"].pop("labels", None)  # added by the job controller, maybe after the answer
        meta["labels"] = {k: v for k, v in meta.get("labels", {}).items() if "controller-uid" not in k}
    return {"metadata": meta, **spec}


@pytest.fixture
def json_namespace(sandbox, namespace):
    """Objects made by kubectl 1.29 (JSON bodies) to compare with."""
    ns = namespace + "-json"
    sandbox.kubectl("create", "namespace", ns, version="1.29", check=True)
    for _, _, cmd in COMMANDS:
        sandbox.kubectl("-n", ns, *cmd, version="1.29", check=True)
    yield ns
    sandbox.kubectl("delete", "namespace", ns, "--wait=false", version="1.29")


@pytest.mark.parametrize("version", ["1.32", "1.33"])
def test_protobuf_create_generators_match_json(sandbox, namespace, json_namespace, version):
    for resource, name, cmd in COMMANDS:
        proc = sandbox.kubectl("-n", namespace, "-o", "json", "-v=8", *cmd, version=version)
        assert proc.returncode == 0, (cmd, proc.stderr.decode()[-2000:])
        log = proc.stderr.decode()
        assert "Content-Type: application/vnd.kubernetes.protobuf" in log  # sent as protobuf
        answered = json.loads(proc.stdout)  # kubectl's decoding of the sandbox's protobuf answer
        stored = json.loads(sandbox.kubectl("-n", namespace, "get", resource, name, "-o", "json", version="1.29", check=True).stdout)
        reference = json.loads(sandbox.kubectl("-n", json_namespace, "get", resource, name, "-o", "json", version="1.29", check=True).stdout)
        assert _stable(stored) == _stable(reference), resource
        body = lambda o: {k: v for k, v in _stable(o).items() if k != "metadata"}  # noqa: E731 - controllers annotate later
        assert answered["metadata"]["uid"] == stored["metadata"]["uid"] and body(answered) == body(stored), resource
    # the request's and the answer's Content-Type
    assert sum(line.strip().endswith("Content-Type: application/vnd.kubernetes.protobuf") for line in log.splitlines()) >= 2


def _client(sandbox):
    cfg = yaml.safe_load(sandbox.kubeconfig.read_text())
    server = cfg["clusters"][0]["cluster"]["server"]
    user = cfg["users"][0]["user"]
    ctx = ssl.create_default_context(cafile=str(sandbox.state_dir / "pki" / "ca.crt"))
    if "client-certificate" in user:
        ctx.load_cert_chain(user["client-certificate"], user["client-key"])
    headers = {"Authorization": f"Bearer {user['token']}"} if "token" in user else {}
    return server, ctx, headers


def _pb(api_version: str, kind: str, raw: bytes) -> bytes:
    def field(num, data):
        return bytes([num << 3 | 2, len(data)]) + data

    tm = field(1, api_version.encode()) + field(2, kind.encode())
    return b"k8s\x00" + field(1, tm) + field(2, raw)


def _field(num: int, data: bytes) -> bytes:
    return bytes([num << 3 | 2, len(data)]) + data


def test_protobuf_bodies_by_hand(sandbox, namespace):
    """A Pod written byte by byte (Pod{metadata{name}, spec{containers[{name, image}]}}) is
    created; a kind without a protobuf form is refused with 415."""
    server, ctx, headers = _client(sandbox)
    pod = _field(1, _field(1, b"hand")) + _field(2, _field(2, _field(1, b"c") + _field(2, b"busybox:1.36")))
    req = urllib.request.Request(f"{server}/api/v1/namespaces/{namespace}/pods?dryRun=All", data=_pb("v1", "Pod", pod), method="POST",
                                 headers={**headers, "Content-Type": "application/vnd.kubernetes.protobuf", "Accept": "application/json"})
    with urllib.request.urlopen(req, context=ctx) as resp:
        made = json.loads(resp.read())
    assert resp.status == 201 and made["metadata"]["name"] == "hand"
    assert [(c["name"], c["image"]) for c in made["spec"]["containers"]] == [("c", "busybox:1.36")]
    body = _pb("example.com/v1", "Widget", b"\x0a\x03\x0a\x01w")
    req = urllib.request.Request(f"{server}/api/v1/namespaces/{namespace}/configmaps", data=body, method="POST",
                                 headers={**headers, "Content-Type": "application/vnd.kubernetes.protobuf", "Accept": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, context=ctx)
    assert exc.value.code == 415
    assert json.loads(exc.value.read())["reason"] == "UnsupportedMediaType"


def test_protobuf_answers_for_reads(sandbox, namespace):
    """GET with client-go's Accept gets protobuf; kubectl 1.33 reads lists and objects that way."""
    server, ctx, headers = _client(sandbox)
    sandbox.kubectl("-n", namespace, "create", "configmap", "c1", "--from-literal=a=1", version="1.29", check=True)
    req = urllib.request.Request(f"{server}/api/v1/namespaces/{namespace}/configmaps/c1", headers={**headers, "Accept": "application/vnd.kubernetes.protobuf,application/json"})
    with urllib.request.urlopen(req, context=ctx) as resp:
        assert resp.headers["Content-Type"] == "application/vnd.kubernetes.protobuf"
        body = resp.read()
    assert body.startswith(b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap")
    req = urllib.request.Request(f"{server}/api/v1/namespaces/{namespace}/configmaps/c1", headers={**headers, "Accept": "application/json"})
    with urllib.request.urlopen(req, context=ctx) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
