"""Pods see their volumes at their real mountPath (private mount namespace, nothing new on the
host), get a service-account token like a real kubelet mounts it, and the official client's
in-cluster configuration works inside them -- held to the ServiceAccount's RBAC."""

from __future__ import annotations

import os
import textwrap

from kubernetes import watch

import tripgenctl


def run_pod(sandbox, namespace: str, name: str, spec: dict, timeout: int = 40) -> tuple[str, str]:
    """Create a restartPolicy Never pod, wait (watch, no polling) until it finishes: (phase, log)."""
    kube = sandbox.kube(namespace)
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"restartPolicy": "Never", **spec}}
    kube.core.create_namespaced_pod(namespace, body)
    phase = ""
    w = watch.Watch()
    for event in w.stream(kube.core.list_namespaced_pod, namespace, field_selector=f"metadata.name={name}", timeout_seconds=timeout):
        phase = event["object"].status.phase or ""
        if phase in ("Succeeded", "Failed"):
            w.stop()
    log = kube.core.read_namespaced_pod_log(name, namespace)
    return phase, log


def test_volumes_are_at_their_mount_path_without_changing_the_host(sandbox, namespace):
    core = sandbox.kube(namespace).core
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"x.txt": "from-configmap\n", "y.txt": "second-key\n"}})
    assert not os.path.exists("/config") and not os.path.exists("/opt/tripgen-incluster")
    script = textwrap.dedent("""\
        cat /con""fig/x.txt
        cat /etc/tripgen-y/y.txt
        echo scratch > /opt/tripgen-incluster/data/f && cat /opt/tripgen-incluster/data/f
        touch /con""fig/new 2>/dev/null && echo config-writable || echo config-read-only
        test -e /var/run/secrets/kubernetes.io/serviceaccount/token && echo token || echo no-token
        echo "HOME=$HOME KUBECONFIG=${KUBECONFIG:-unset}"
        ls -A "$HOME/.kube" 2>/dev/null | grep -q . && echo host-kube-dir-visible || echo home-clean
    """)
    phase, log = run_pod(sandbox, namespace, "reader", {
        "automountServiceAccountToken": False,
        "containers": [{
            "name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script],
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/config"},
                {"name": "cfg", "mountPath": "/etc/tripgen-y/y.txt", "subPath": "y.txt"},
                {"name": "scratch", "mountPath": "/opt/tripgen-incluster/data"},
            ],
        }],
        "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "scratch", "emptyDir": {}}],
    })
    lines = log.splitlines()
    assert phase == "Succeeded", log
    assert lines[:4] == ["from-configmap", "second-key", "scratch", "config-read-only"], log
    assert lines[4] == "no-token", log  # automountServiceAccountToken: false
    assert lines[5] == "HOME=/root KUBECONFIG=unset", log  # the host's HOME/KUBECONFIG do not leak
    assert lines[6] == "home-clean", log  # nor the host's ~/.kube (hidden behind the pod's own /root)
    # the mount points were never created on the host
    for path in ("/config", "/etc/tripgen-y", "/opt/tripgen-incluster"):
        assert not os.path.exists(path), path


def test_service_account_token_and_rbac_in_cluster(sandbox, namespace):
    kube = sandbox.kube(namespace)
    kube.core.create_namespaced_service_account(namespace, {"metadata": {"name": "tripgenctl"}})
    kube.rbac.create_namespaced_role(namespace, {"metadata": {"name": "pod-reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    kube.rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "pod-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "tripgenctl", "namespace": namespace}],
    })
    kube.apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "app"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}},
    })
    script = textwrap.dedent(f"""\
        import os
        from kubernetes import client, config
        from kubernetes.client.rest import ApiException
        config.load_incluster_config()
        sa = "/var/run/secrets/kubernetes.io/serviceaccount"
        print("namespace", open(sa + "/namespace").read())
        core = client.CoreV1Api()
        names = [p.metadata.name for p in core.list_namespaced_pod("{namespace}").items]
        print("pods", "incluster" in names)
        try:
            client.AppsV1Api().patch_namespaced_deployment_scale("app", "{namespace}", {{"spec": {{"replicas": 3}}}})
            print("scale allowed")
        except ApiException as exc:
            print("scale", exc.status, exc.reason)
    """)
    phase, log = run_pod(sandbox, namespace, "incluster", {
        "serviceAccountName": "tripgenctl",
        "containers": [{"name": "main", "image": "python:3.12-slim", "command": ["python", "-c", script]}],
    })
    assert phase == "Succeeded", log
    assert f"namespace {namespace}" in log
    assert "pods True" in log
    assert "scale 403 Forbidden" in log
    assert kube.apps.read_namespaced_deployment(namespace=namespace, name="app").spec.replicas == 0


def test_tripgenctl_image_runs_the_projects_tripgenctl(sandbox, namespace):
    phase, log = run_pod(sandbox, namespace, "version", {
        "containers": [{"name": "main", "image": "tripgendev.azurecr.io/tripgenctl:0.1.0", "command": ["sh", "-c", "tripgenctl --version && pwd && command -v tripgenctl"]}],
    })
    assert phase == "Succeeded", log
    lines = log.splitlines()
    assert tripgenctl.__version__ in lines[0], log
    assert lines[1] == "/app", log
    assert lines[2].endswith("/bin/tripgenctl"), log
    assert not os.path.exists("/app")


def test_exec_enters_the_running_containers_view(sandbox, namespace):
    """kubectl exec and exec probes see what the container sees: its volumes at their mountPath
    and files it wrote outside any volume (its own root), by /etc/hosts the Services' names."""
    core = sandbox.kube(namespace).core
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"x.txt": "exec-sees-this\n"}})
    core.create_namespaced_service(namespace, {"metadata": {"name": "db"}, "spec": {"selector": {"app": "none"}, "ports": [{"port": 5432}]}})
    core.create_namespaced_pod(namespace, {"metadata": {"name": "long"}, "spec": {"containers": [{
        "name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "echo mine > /marker-written-by-main; exec sleep 300"],
        "volumeMounts": [{"name": "cfg", "mountPath": "/config"}],
        "readinessProbe": {"exec": {"command": ["cat", "/marker-written-by-main"]}, "periodSeconds": 1},
    }], "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]}})
    sandbox.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/long", "--timeout=30s", check=True)
    out = sandbox.kubectl("exec", "-n", namespace, "long", "--", "sh", "-c", 'cat /con""fig/x.txt /marker-written-by-main; grep -c "db.' + namespace + '.svc.cluster.local" /etc/hosts', check=True)
    assert out.stdout.decode().split() == ["exec-sees-this", "mine", "1"], out
    assert not os.path.exists("/marker-written-by-main")
