"""The Kubernetes door against the sandbox: `KUBECONFIG=a:b` with two valid files works as with
kubectl, errors of real API answers arrive as the door's typed errors, and `-o yaml` carries the
same facts as `-o json`."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.helpers import cli


def other_kubeconfig(path, with_current: bool) -> str:
    data = {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:9"}}],
            "users": [{"name": "someone", "user": {"token": "not-the-sandbox"}}],
            "contexts": [{"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "someone"}}]}
    if with_current:
        data["current-context"] = "elsewhere"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_two_kubeconfig_files_work_as_with_kubectl(sandbox, namespace, tmp_path):
    own = yaml.safe_load(sandbox.kubeconfig.read_text())["current-context"]
    bare = other_kubeconfig(tmp_path / "bare", with_current=False)
    current = other_kubeconfig(tmp_path / "current", with_current=True)
    for value, extra in ((f"{bare}{os.pathsep}{sandbox.kubeconfig}", []),  # current-context from the sandbox's file
                         (f"{sandbox.kubeconfig}{os.pathsep}{current}", []),  # the first file's current-context wins
                         (f"{current}{os.pathsep}{sandbox.kubeconfig}", ["--context", own])):
        kubectl = sandbox.kubectl("get", "namespace", namespace, "-o", "name", *extra, env={"KUBECONFIG": value})
        assert kubectl.returncode == 0, kubectl.stderr
        r = cli(sandbox, "status", "-n", namespace, "-o", "json", *extra, env={"KUBECONFIG": value})
        assert r.returncode == 0, (value, r.stderr)
        data = json.loads(r.stdout)
        assert data["namespace"] == namespace and data["context"] == own


def test_real_api_errors_are_typed(sandbox, namespace):
    from tripgenctl.kube.errors import Conflict, NotFound

    kube = sandbox.kube(namespace)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "door", "namespace": namespace}, "data": {"a": "1"}}
    created = kube.apply_object(cm)
    stale = dict(created, data={"a": "2"})
    kube.replace_object(dict(created, data={"a": "3"}))
    with pytest.raises(Conflict) as conflict:
        kube.replace_object(stale)
    assert conflict.value.exit_code == 1 and "configmap/door" in conflict.value.message and "409" in conflict.value.message
    missing = dict(cm, metadata={"name": "nope", "namespace": namespace, "resourceVersion": "1"})
    with pytest.raises(NotFound) as not_found:
        kube.replace_object(missing)
    assert "configmap/nope" in not_found.value.message and "404" in not_found.value.message
    assert kube.get_object("v1", "ConfigMap", "nope") is None  # a 404 asked as a question is still an answer


def test_status_as_yaml_is_the_json_document(sandbox, namespace):
    as_json = cli(sandbox, "status", "-n", namespace, "-o", "json")
    as_yaml = cli(sandbox, "status", "-n", namespace, "-o", "yaml")
    assert as_json.returncode == as_yaml.returncode == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)
