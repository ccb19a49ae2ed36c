"""OpenAPI as kube-apiserver publishes it: /openapi/v2 (the gnostic protobuf kubectl <= 1.28
reads, or JSON) and /openapi/v3 per group-version, with the real schema of every served kind.
Checked with the stock clients that read them: `kubectl explain` on every version (1.27/1.28 read
v2, later ones v3), and `kubectl apply` client- and server-side on 1.27 and 1.28, which fetch
/openapi/v2 before they write."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tripgen_sandbox import resources


def _raw(sandbox, path: str) -> dict:
    proc = sandbox.kubectl("get", "--raw", path, check=True)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("version", ["1.27", "1.28", "1.29", "1.31", "1.33"])
def test_explain_deployment_template(sandbox, version):
    proc = sandbox.kubectl("explain", "deployment.spec.template", version=version)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert "KIND:       Deployment" in out and "<PodTemplateSpec>" in out
    assert "metadata\t<ObjectMeta>" in out and "spec\t<PodSpec>" in out
    deep = sandbox.kubectl("explain", "pods.spec.containers.resources.limits", version=version, check=True).stdout.decode()
    assert "map[string]Quantity" in deep or "<map[string]Quantity>" in deep or "Quantity" in deep


def test_every_served_kind_has_a_schema(sandbox):
    """Every stored kind (and its list) has its definition in v2 and in its group-version's v3
    document, tied to it by x-kubernetes-group-version-kind, with real properties."""
    v2 = _raw(sandbox, "/openapi/v2")
    gvks = {(g["group"], g["version"], g["kind"]) for s in v2["definitions"].values() for g in s.get("x-kubernetes-group-version-kind", ())}
    for t in resources.STORED:
        assert (t.group, t.version, t.kind) in gvks, t.kind
        assert (t.group, t.version, t.list_kind) in gvks, t.list_kind
    index = _raw(sandbox, "/openapi/v3")["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/apiextensions.k8s.io/v1"} <= set(index)
    for key in index:
        doc = _raw(sandbox, index[key]["serverRelativeURL"])
        schemas = doc["components"]["schemas"]
        kinds = {g["kind"] for s in schemas.values() for g in s.get("x-kubernetes-group-version-kind", ())}
        for t in resources.STORED:
            if "/".join(filter(None, ("apis" if t.group else "api", t.group, t.version))) == key:
                assert t.kind in kinds, (key, t.kind)
        for s in schemas.values():  # every reference resolves inside the document
            for ref in _refs(s):
                assert ref.rsplit("/", 1)[-1] in schemas, ref
    dep = doc_schema = _raw(sandbox, index["apis/apps/v1"]["serverRelativeURL"])["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]
    assert dep["required"] == ["selector", "template"] and doc_schema["properties"]["replicas"]["type"] == "integer"


def _refs(s):
    if isinstance(s, dict):
        if isinstance(s.get("$ref"), str):
            yield s["$ref"]
        for v in s.values():
            yield from _refs(v)
    elif isinstance(s, list):
        for v in s:
            yield from _refs(v)


def test_openapi_v2_protobuf_and_etag(sandbox):
    """The protobuf answer kubectl 1.27 asks for, and a 304 for a matching If-None-Match."""
    import ssl
    import urllib.request

    import yaml

    cfg = yaml.safe_load(sandbox.kubeconfig.read_text())
    server = cfg["clusters"][0]["cluster"]["server"]
    user = cfg["users"][0]["user"]
    ctx = ssl.create_default_context(cafile=str(sandbox.state_dir / "pki" / "ca.crt"))
    if "client-certificate" in user:
        ctx.load_cert_chain(user["client-certificate"], user["client-key"])
    headers = {"Authorization": f"Bearer {user['token']}"} if "token" in user else {}
    req = urllib.request.Request(server + "/openapi/v2", headers={**headers, "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    with urllib.request.urlopen(req, context=ctx) as resp:
        assert resp.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        body, etag = resp.read(), resp.headers["ETag"]
    assert body[:2] == b"\x0a\x03" and body[2:5] == b"2.0"  # Document.swagger = "2.0"
    assert b"io.k8s.api.apps.v1.Deployment" in body
    req = urllib.request.Request(server + "/openapi/v2", headers={**headers, "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "If-None-Match": etag})
    try:
        urllib.request.urlopen(req, context=ctx)
        raise AssertionError("expected 304")
    except urllib.error.HTTPError as exc:
        assert exc.code == 304


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-{v}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - {{name: c, image: busybox:1.36, command: [sleep, "3600"], ports: [{{containerPort: 80}}]}}
"""


def test_apply_on_old_kubectl(sandbox, namespace):
    """kubectl 1.27 and 1.28 fetch /openapi/v2 for apply: client-side create and update, then
    server-side apply, each change visible in the stored object."""

    def run(v: str) -> None:
        name = f"web-{v.replace('.', '')}"
        for replicas, flags in ((0, ()), (2, ()), (3, ("--server-side", "--force-conflicts"))):
            doc = DEPLOYMENT.format(v=v.replace(".", ""), replicas=replicas)
            sandbox.kubectl("-n", namespace, "apply", *flags, "-f", "-", version=v, input=doc, check=True)
            got = json.loads(sandbox.kubectl("-n", namespace, "get", "deploy", name, "-o", "json", check=True).stdout)
            assert got["spec"]["replicas"] == replicas, (v, flags)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, ["1.27", "1.28"]))
