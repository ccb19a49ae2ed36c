"""A fresh sandbox looks like a fresh AKS 1.29 cluster: pods read back with the defaults the
admission chain adds, kube-root-ca.crt in every namespace, the bootstrap ClusterRoles (enforced),
the kube-system add-on pods Running and Ready, every built-in group served and validated, the
DaemonSet and ReplicationController controllers, nginx and python images, postgres Ready only
once the real server accepts connections, and a slow node on request."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from rawhttp import raw


def _json(proc):
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def _until(fn, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def test_pod_reads_back_with_the_admission_defaults(sandbox, namespace):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"},
           "spec": {"containers": [{"name": "bare", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}
    got = raw(sandbox, "POST", f"/api/v1/namespaces/{namespace}/pods", pod).json()
    spec = got["spec"]
    [vol] = spec["volumes"]
    assert re.fullmatch(r"kube-api-access-[a-z0-9]{5}", vol["name"])
    assert vol["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}
    assert spec["containers"] == [{
        "name": "bare", "image": "busybox:1.36", "command": ["sleep", "3600"], "resources": {},
        "volumeMounts": [{"name": vol["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
    }]
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]
    for field, value in {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                         "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
                         "schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": True,
                         "preemptionPolicy": "PreemptLowerPriority"}.items():
        assert spec[field] == value, field
    assert got["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    # untagged or :latest images are pulled Always
    latest = dict(pod, metadata={"name": "latest"}, spec={"containers": [{"name": "c", "image": "busybox", "command": ["true"]}]})
    assert raw(sandbox, "POST", f"/api/v1/namespaces/{namespace}/pods", latest).json()["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    # the token, CA and namespace arrive through that volume
    core = sandbox.kube(namespace).core
    _until(lambda: (core.read_namespaced_pod("bare", namespace).status.phase == "Running"), what="bare Running")
    out = sandbox.kubectl("exec", "-n", namespace, "bare", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    assert out.stdout.decode() == namespace


def test_kube_root_ca_in_every_namespace(sandbox, namespace):
    core = sandbox.kube(namespace).core
    cm = _until(lambda: next((c for c in core.list_namespaced_config_map(namespace).items if c.metadata.name == "kube-root-ca.crt"), None), 20, "kube-root-ca.crt")
    ca = yaml.safe_load(sandbox.kubeconfig.read_text())["clusters"][0]["cluster"]["certificate-authority-data"]
    assert cm.data == {"ca.crt": base64.b64decode(ca).decode()}
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert core.read_namespaced_config_map("kube-root-ca.crt", ns).data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    core.delete_namespaced_config_map("kube-root-ca.crt", namespace)  # the publisher puts it back
    _until(lambda: any(c.metadata.name == "kube-root-ca.crt" for c in core.list_namespaced_config_map(namespace).items), 20, "republished")


def test_builtin_cluster_roles_and_bindings(sandbox, namespace):
    out = sandbox.kubectl("get", "clusterrole", "view", version="1.29")
    lines = out.stdout.decode().splitlines()
    assert re.fullmatch(r"NAME\s+CREATED AT", lines[0]) and re.fullmatch(r"view\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[1])
    view = _json(sandbox.kubectl("get", "clusterrole", "view", "-o", "json"))
    assert view["aggregationRule"] == {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}
    assert view["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults", "rbac.authorization.k8s.io/aggregate-to-edit": "true"}
    assert {"apiGroups": ["apps"], "resources": ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
            "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale",
            "statefulsets/status"], "verbs": ["get", "list", "watch"]} in view["rules"]
    edit = _json(sandbox.kubectl("get", "clusterrole", "edit", "-o", "json"))
    assert all(rule in edit["rules"] for rule in view["rules"])  # view aggregates into edit
    names = sandbox.kubectl("get", "clusterroles", "-o", "name").stdout.decode().split()
    for n in ("cluster-admin", "admin", "edit", "view", "system:auth-delegator", "system:basic-user", "system:discovery", "system:node", "system:kube-scheduler"):
        assert f"clusterrole.rbac.authorization.k8s.io/{n}" in names
    crb = _json(sandbox.kubectl("get", "clusterrolebinding", "cluster-admin", "-o", "json"))
    assert crb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]
    # enforced: a ServiceAccount bound to system:auth-delegator may create TokenReviews
    core = sandbox.kube(namespace).core
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "delegator"}})
    token = core.create_namespaced_service_account_token("delegator", namespace, {"spec": {"expirationSeconds": 600}}).status.token
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    as_sa = {"Authorization": f"Bearer {token}"}
    refused = raw(sandbox, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review, headers=as_sa)
    assert refused.status == 403 and refused.json()["reason"] == "Forbidden"
    rbac = client.RbacAuthorizationV1Api(core.api_client)
    rbac.create_cluster_role_binding({"metadata": {"name": f"{namespace}-delegator"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
                                      "subjects": [{"kind": "ServiceAccount", "name": "delegator", "namespace": namespace}]})
    try:
        ok = raw(sandbox, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review, headers=as_sa)
        assert ok.status == 201 and ok.json()["status"]["authenticated"] is True
        assert ok.json()["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:delegator"
    finally:
        rbac.delete_cluster_role_binding(f"{namespace}-delegator")


AKS_SYSTEM_PODS = {  # owner name -> (Deployment | DaemonSet, pods on 2 nodes, containers per pod)
    "azure-ip-masq-agent": ("DaemonSet", 2, 1), "cloud-node-manager": ("DaemonSet", 2, 1), "coredns": ("Deployment", 2, 1),
    "coredns-autoscaler": ("Deployment", 1, 1), "csi-azuredisk-node": ("DaemonSet", 2, 3), "csi-azurefile-node": ("DaemonSet", 2, 3),
    "konnectivity-agent": ("Deployment", 2, 1), "kube-proxy": ("DaemonSet", 2, 1), "metrics-server": ("Deployment", 2, 2),
}


def test_kube_system_runs_the_aks_add_ons(sandbox):
    def rows():
        out = sandbox.kubectl("get", "pods", "-n", "kube-system", "--no-headers", version="1.29").stdout.decode().splitlines()
        return [line.split() for line in out]

    def all_ready():
        r = rows()
        return r if len(r) == 17 and all(c[2] == "Running" and c[1].split("/")[0] == c[1].split("/")[1] for c in r) else None

    table = _until(all_ready, 120, "17 kube-system pods Running and Ready")
    for owner, (kind, count, containers) in AKS_SYSTEM_PODS.items():
        pattern = rf"{owner}-[a-z0-9]{{8,10}}-[a-z0-9]{{5}}" if kind == "Deployment" else rf"{owner}-[a-z0-9]{{5}}"
        got = [c for c in table if re.fullmatch(pattern, c[0])]
        assert len(got) == count, (owner, table)
        assert all(c[1] == f"{containers}/{containers}" and c[3] == "0" for c in got), (owner, got)
    ds = _json(sandbox.kubectl("get", "ds", "kube-proxy", "-n", "kube-system", "-o", "json"))
    assert ds["status"]["desiredNumberScheduled"] == 2 and ds["status"]["numberReady"] == 2
    nodes = {p["spec"]["nodeName"] for p in _json(sandbox.kubectl("get", "pods", "-n", "kube-system", "-l", "component=kube-proxy", "-o", "json"))["items"]}
    assert nodes == {"sandbox-node-1", "sandbox-node-2"}  # one per node


def test_every_builtin_group_is_served_and_validated(sandbox, namespace):
    out = sandbox.kubectl("api-resources", "--no-headers", version="1.29").stdout.decode()
    kinds = {line.split()[-1] for line in out.splitlines()}
    for kind in ("CertificateSigningRequest", "CSIDriver", "CSINode", "CSIStorageCapacity", "VolumeAttachment", "DaemonSet",
                 "ControllerRevision", "ReplicationController", "PodTemplate", "HorizontalPodAutoscaler", "PriorityClass", "RuntimeClass",
                 "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService", "FlowSchema", "PriorityLevelConfiguration"):
        assert kind in kinds, kind
    storage = client.StorageV1Api(sandbox.kube(namespace).core.api_client)
    driver = storage.create_csi_driver({"metadata": {"name": f"{namespace}.csi.example.com"}, "spec": {"attachRequired": False}})
    assert driver.metadata.uid
    assert storage.delete_csi_driver(driver.metadata.name).kind == "CSIDriver"  # ReturnDeletedObject
    with pytest.raises(ApiException) as exc:
        storage.create_csi_driver({"metadata": {"name": "Not_Valid"}, "spec": {}})
    assert exc.value.status == 422
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    pem = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])).sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    csr = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": f"{namespace}-csr"},
           "spec": {"request": base64.b64encode(pem).decode(), "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]}}
    assert raw(sandbox, "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", csr).status == 201
    bogus = dict(csr, metadata={"name": f"{namespace}-bogus"}, spec={"request": base64.b64encode(b"not a csr").decode(), "usages": ["client auth"]})
    refused = raw(sandbox, "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", bogus)
    assert refused.status == 422 and "PEM block type must be CERTIFICATE REQUEST" in refused.json()["message"]
    assert "spec.signerName: Required value" in refused.json()["message"]
    assert sandbox.kubectl("get", "csr", f"{namespace}-csr", version="1.29").returncode == 0
    strict = raw(sandbox, "POST", "/apis/storage.k8s.io/v1/csinodes?fieldValidation=Strict", {"metadata": {"name": "n"}, "spec": {"drivers": []}, "bogus": 1})
    assert strict.status == 400 and 'unknown field "bogus"' in strict.json()["message"]


def test_daemonset_and_replicationcontroller(sandbox, namespace):
    apps = sandbox.kube(namespace).apps
    core = sandbox.kube(namespace).core
    tpl = {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}
    apps.create_namespaced_daemon_set(namespace, {"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": tpl}})
    ds = _until(lambda: (lambda d: d if (d.status.number_ready or 0) == 2 else None)(apps.read_namespaced_daemon_set("agent", namespace)), 60, "ds ready")
    assert ds.status.desired_number_scheduled == 2 and ds.spec.update_strategy.rolling_update.max_unavailable == 1
    pods = core.list_namespaced_pod(namespace, label_selector="app=agent").items
    assert sorted(p.spec.node_name for p in pods) == ["sandbox-node-1", "sandbox-node-2"]
    assert all(p.metadata.owner_references[0].kind == "DaemonSet" for p in pods)
    assert pods[0].spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms[0].match_fields[0].key == "metadata.name"
    rc_tpl = {"metadata": {"labels": {"app": "legacy"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}
    rc = core.create_namespaced_replication_controller(namespace, {"metadata": {"name": "legacy"}, "spec": {"replicas": 2, "template": rc_tpl}})
    assert rc.spec.selector == {"app": "legacy"}  # defaulted from the template
    _until(lambda: (core.read_namespaced_replication_controller("legacy", namespace).status.ready_replicas or 0) == 2, 60, "rc ready")
    out = sandbox.kubectl("scale", "rc", "legacy", "--replicas=1", "-n", namespace, version="1.29")
    assert out.returncode == 0, out.stderr
    _until(lambda: len([p for p in core.list_namespaced_pod(namespace, label_selector="app=legacy").items if not p.metadata.deletion_timestamp]) == 1, 60, "scaled to 1")


def test_nginx_and_python_images(sandbox, namespace):
    core = sandbox.kube(namespace).core
    core.create_namespaced_pod(namespace, {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}})
    core.create_namespaced_pod(namespace, {"metadata": {"name": "py"}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "py", "image": "python:3.13-slim", "command": ["python", "-c", "import sys, json; print(json.dumps(sys.version_info[:2] >= (3, 8)))"]}]}})
    core.create_namespaced_pod(namespace, {"metadata": {"name": "untagged"}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "py", "image": "python", "command": ["python3", "-c", "print('hi')"]}]}})
    _until(lambda: core.read_namespaced_pod("web", namespace).status.phase == "Running", 60, "nginx Running")
    page = _until(lambda: (lambda r: r if r.status == 200 else None)(raw(sandbox, "GET", f"/api/v1/namespaces/{namespace}/pods/web:80/proxy/", headers={"Accept": "*/*"})), 30, "index page")
    assert b"<title>Welcome to nginx!</title>" in page.body
    missing = raw(sandbox, "GET", f"/api/v1/namespaces/{namespace}/pods/web:80/proxy/nope", headers={"Accept": "*/*"})
    assert missing.status == 404 and b"nginx" in missing.body
    _until(lambda: core.read_namespaced_pod("py", namespace).status.phase == "Succeeded", 60, "python done")
    assert core.read_namespaced_pod_log("py", namespace).strip() == "true"
    _until(lambda: core.read_namespaced_pod("untagged", namespace).status.phase == "Succeeded", 60, "untagged python done")


def test_postgres_ready_means_psql_works(sandbox, namespace):
    init = {"metadata": {"name": "init"}, "data": {"01-slow.sql": "SELECT pg_sleep(2); CREATE TABLE seeded (id int);"}}
    sandbox.kube(namespace).core.create_namespaced_config_map(namespace, init)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pg"}, "spec": {
        "containers": [{"name": "postgres", "image": "postgres:16", "env": [{"name": "POSTGRES_PASSWORD", "value": "pw"}],
                        "volumeMounts": [{"name": "init", "mountPath": "/docker-entrypoint-initdb.d"}]}],
        "volumes": [{"name": "init", "configMap": {"name": "init"}}]}}
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod), check=True)
    waited = sandbox.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/pg", "--timeout=120s", version="1.29", timeout=150)
    assert waited.returncode == 0, waited.stderr
    out = sandbox.kubectl("exec", "-n", namespace, "pg", "--", "psql", "-U", "postgres", "-tAc", "SELECT count(*) FROM seeded", version="1.29")
    assert out.returncode == 0 and out.stdout.decode().strip() == "0", out.stderr


def test_slow_node_start_up_is_configurable(sandbox, namespace):
    core = sandbox.kube(namespace).core
    sandbox.fault("pod_startup_seconds", 4)
    try:
        t0 = time.monotonic()
        core.create_namespaced_pod(namespace, {"metadata": {"name": "slow"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}})
        time.sleep(2)
        st = core.read_namespaced_pod("slow", namespace).status
        assert st.phase == "Pending" and st.container_statuses[0].state.waiting.reason == "ContainerCreating"
        _until(lambda: core.read_namespaced_pod("slow", namespace).status.phase == "Running", 30, "slow pod Running")
        assert time.monotonic() - t0 >= 4
    finally:
        sandbox.fault("pod_startup_seconds", None)


def test_field_selectors_take_only_the_labels_the_api_server_converts(sandbox, namespace):
    """kube-apiserver 1.29 converts metadata.name / metadata.namespace for every kind and a few
    labels per kind (pods: spec.nodeName, status.phase, ...; events: involvedObject.*, reason,
    type; secrets: type); anything else is 400 "field label not supported", and a term without
    an operator 400 "invalid selector"."""
    def get(path):
        return sandbox.kubectl("get", "--raw", path, version="1.29")

    base = f"/api/v1/namespaces/{namespace}"
    for ok in (f"{base}/pods?fieldSelector=status.phase%3DRunning,spec.nodeName!%3Dx",
               f"{base}/events?fieldSelector=involvedObject.name%3Dweb,reason%3DStarted,type%3DNormal",
               f"{base}/secrets?fieldSelector=type%3DOpaque", f"{base}/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt",
               f"/apis/apps/v1/namespaces/{namespace}/replicasets?fieldSelector=status.replicas%3D1"):
        proc = get(ok)
        assert proc.returncode == 0, (ok, proc.stderr.decode())
    assert [o["metadata"]["name"] for o in json.loads(get(f"{base}/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt").stdout)["items"]] == ["kube-root-ca.crt"]
    for bad, message in ((f"{base}/pods?fieldSelector=spec.containers%3Dx", "field label not supported: spec.containers"),
                         (f"/apis/apps/v1/namespaces/{namespace}/deployments?fieldSelector=status.replicas%3D1", "field label not supported: status.replicas"),
                         (f"{base}/pods?fieldSelector=status.phase", "invalid selector: 'status.phase'; can't understand 'status.phase'")):
        proc = get(bad)
        assert proc.returncode != 0 and message in proc.stderr.decode(), (bad, proc.stderr.decode())
    watch = sandbox.kubectl("get", "configmaps", "-n", namespace, "--field-selector", "spec.x=1", version="1.29")
    assert watch.returncode != 0 and "field label not supported: spec.x" in watch.stderr.decode()
