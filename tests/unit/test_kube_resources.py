"""kube/resources.py, the door for objects of any kind: built-in paths without discovery, other
kinds by discovery, missing objects as answers and other statuses as typed errors, selectors,
patch types, delete options, the proxy, wait_gone. (The rule that ops use it: test_door_rules.py.)"""

from __future__ import annotations


import pytest

from tripgenctl.kube import resources


def test_builtin_paths_need_no_discovery():
    class NoDiscovery:
        namespace = "ns1"

        def resource_path(self, *args, **kwargs):
            raise AssertionError("discovery asked for a built-in kind")

    kube = NoDiscovery()
    assert resources.path(kube, "v1", "Event") == "/api/v1/namespaces/ns1/events"
    assert resources.path(kube, "v1", "Pod", all_namespaces=True) == "/api/v1/pods"
    assert resources.path(kube, "v1", "Namespace", "ignored", "ns2") == "/api/v1/namespaces/ns2"
    assert resources.path(kube, "apps/v1", "StatefulSet", "ns3", "db") == "/apis/apps/v1/namespaces/ns3/statefulsets/db"
    assert resources.path(kube, "rbac.authorization.k8s.io/v1", "ClusterRole", name="view") == "/apis/rbac.authorization.k8s.io/v1/clusterroles/view"
    assert resources.proxy_path("ns1", "services/web:8080", "/actuator/health") == "/api/v1/namespaces/ns1/services/web:8080/proxy/actuator/health"


def test_other_kinds_are_found_by_discovery_and_listed_across_namespaces():
    class Discovery:
        namespace = "ns1"

        def resource_path(self, api_version, kind, namespace=None, name=None):
            base = f"/apis/{api_version}/namespaces/{namespace}/widgets"
            return f"{base}/{name}" if name else base

    assert resources.path(Discovery(), "example.com/v1", "Widget", name="w") == "/apis/example.com/v1/namespaces/ns1/widgets/w"
    assert resources.path(Discovery(), "example.com/v1", "Widget", all_namespaces=True) == "/apis/example.com/v1/widgets"


def test_selectors_and_nodes():
    assert resources.selector_text({"app": "web", "tier": "application"}) == "app=web,tier=application"
    assert resources.selector_text("a,b=c") == "a,b=c" and resources.selector_text({}) is None
    node = resources.Node.of({"metadata": {"name": "n1"}, "spec": {"unschedulable": True},
                              "status": {"allocatable": {"cpu": "1900m", "memory": "4Gi"},
                                         "conditions": [{"type": "Ready", "status": "True"}]}})
    assert (node.name, node.ready, node.schedulable, node.memory_bytes) == ("n1", True, False, 4 * 1024**3)
    assert node.cpu_millis == pytest.approx(1900)
    assert not resources.Node.of({"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}).ready


class Answering:
    """A Kube whose request_json gives one fixed (status, body): the door's own seam (no SDK)."""

    namespace = "ns1"

    def __init__(self, status, body):
        self.status, self.body, self.asked = status, body, []

    def request_json(self, method, path, body=None, **kw):
        self.asked.append((method, path, body, kw.get("query"), kw.get("content_type")))
        return self.status, self.body


def test_missing_is_an_answer_and_other_statuses_are_typed_errors():
    from tripgenctl.kube.errors import Conflict, Forbidden, KubeError, NotFound, Unavailable

    assert resources.get(Answering(404, {"message": "not found"}), "v1", "ConfigMap", "x") is None
    assert resources.delete(Answering(404, {}), "v1", "ConfigMap", "x") is False
    assert resources.delete(Answering(200, {}), "v1", "ConfigMap", "x") is True
    assert resources.items(Answering(404, {}), "v1", "Pod", missing_ok=True) == []
    with pytest.raises(NotFound):
        resources.items(Answering(404, {}), "v1", "Pod")
    with pytest.raises(resources.AlreadyExists) as taken:
        resources.create(Answering(409, {"message": 'configmaps "x" already exists'}), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert isinstance(taken.value, Conflict) and resources.api_message(taken.value) == 'configmaps "x" already exists'
    with pytest.raises(Forbidden) as refused:
        resources.create_event(Answering(403, {"message": "cannot create events"}), "ns1", {})
    assert resources.http_status(refused.value) == 403 and refused.value.exit_code == 1
    with pytest.raises(Unavailable) as busy:
        resources.patch(Answering(503, {"message": "etcd"}), "v1", "Namespace", "ns1", {})
    assert resources.http_status(busy.value) == 503
    with pytest.raises(KubeError) as invalid:
        resources.delete(Answering(422, {"message": "bad"}), "v1", "Secret", "s", what="prune secret/s")
    assert invalid.value.message == "prune secret/s: 422 bad"
    assert resources.http_status(Unavailable("cannot reach the cluster")) is None


def test_requests_carry_selector_patch_type_and_delete_options():
    kube = Answering(200, {"items": [{"metadata": {"name": "a"}}], "metadata": {"resourceVersion": "7"}})
    found = resources.listing(kube, "v1", "Namespace", selector={"tripgenctl.io/environment": "ana"})
    assert found.items == [{"metadata": {"name": "a"}}] and found.resource_version == "7"
    assert kube.asked[-1][:2] == ("GET", "/api/v1/namespaces") and kube.asked[-1][3] == {"labelSelector": "tripgenctl.io/environment=ana"}
    resources.patch(kube, "v1", "Namespace", "ns1", {"metadata": {}})
    assert kube.asked[-1][4] == "application/merge-patch+json"
    resources.patch(kube, "v1", "Secret", "s", [{"op": "remove", "path": "/data/x"}], type="json")
    assert kube.asked[-1][4] == "application/json-patch+json"
    resources.delete(kube, "apps/v1", "StatefulSet", "db", propagation="Orphan", uid="u1")
    assert kube.asked[-1][:3] == ("DELETE", "/apis/apps/v1/namespaces/ns1/statefulsets/db",
                                  {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan", "preconditions": {"uid": "u1"}})
    with pytest.raises(ValueError):
        resources.patch(kube, "v1", "Secret", "s", {}, type="yaml")


def test_an_apps_own_answer_through_the_proxy_is_not_an_error():
    down = resources.proxy_get(Answering(503, {"status": "DOWN"}), "services/web:8080", "actuator/health")
    assert (down.ok, down.code, down.body) == (False, 503, {"status": "DOWN"})
    assert resources.proxy_get(Answering(200, {"status": "UP"}), "pods/web-1:8080", "actuator/health").ok
    assert resources.optional_items(Answering(404, {"message": "the server could not find the requested resource"}),
                                    "metrics.k8s.io/v1beta1", "NodeMetrics") == \
        (None, "metrics.k8s.io unavailable (404: the server could not find the requested resource)")


class Watching(Answering):
    """Lists the object once, then its watch reports it DELETED (after an unrelated event)."""

    def __init__(self):
        super().__init__(200, {"items": [{"metadata": {"name": "db"}}], "metadata": {"resourceVersion": "41"}})
        self.watched = []

    def watch_json(self, path, resource_version=None, timeout_seconds=60, stop=None):
        self.watched.append((path, resource_version, timeout_seconds))
        yield "MODIFIED", {"metadata": {"name": "other"}}
        yield "DELETED", {"metadata": {"name": "db"}}


def test_wait_gone_lists_then_watches_from_the_lists_version():
    kube = Watching()
    assert resources.wait_gone(kube, "apps/v1", "StatefulSet", "db", timeout=5)
    assert kube.watched == [("/apis/apps/v1/namespaces/ns1/statefulsets", "41", 5)]
    assert resources.wait_gone(Answering(200, {"items": [], "metadata": {}}), "apps/v1", "StatefulSet", "db", timeout=5)
    assert not resources.wait_gone(Watching(), "apps/v1", "StatefulSet", "db", timeout=0)  # still listed, no time left
