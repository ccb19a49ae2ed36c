"""serviceaccount-controller and root-ca-cert-publisher: every active namespace has a `default`
ServiceAccount (pods name it implicitly; tokens for in-cluster clients are issued for it) and
the `kube-root-ca.crt` ConfigMap holding the cluster CA (the projected kube-api-access volume
of every pod reads its ca.crt from there), recreated or restored when deleted or edited."""

from __future__ import annotations

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.manager import Controller

ROOT_CA = "kube-root-ca.crt"
DESCRIPTION = "kubernetes.io/description"
DESCRIPTION_TEXT = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
                    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.")


class ServiceAccountController(Controller):
    name = "serviceaccounts"
    primary = "namespaces"
    watches = ("serviceaccounts", "configmaps")

    def keys_for(self, type_, key, obj):
        if key == "serviceaccounts":
            if type_ == "DELETED" and obj["metadata"]["name"] == "default":
                yield ("", obj["metadata"]["namespace"])
        elif key == "configmaps":
            if obj["metadata"]["name"] == ROOT_CA:
                yield ("", obj["metadata"]["namespace"])
        else:
            yield from super().keys_for(type_, key, obj)

    def reconcile(self, key) -> float | None:
        ns = self.store.get("namespaces", None, key[1])
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return None
        if self.store.get("serviceaccounts", key[1], "default") is None:
            try:
                self.store.create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                      "metadata": {"name": "default", "namespace": key[1]}})
            except ApiError:
                pass
        self._publish_root_ca(key[1])
        return None

    def _publish_root_ca(self, namespace: str) -> None:
        ca = self.config.state_dir / "pki" / "ca.crt"
        if not ca.exists():
            return
        data = {"ca.crt": ca.read_text()}
        cur = self.store.get("configmaps", namespace, ROOT_CA)
        if cur is None:
            try:
                self.store.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
                                                 "metadata": {"name": ROOT_CA, "namespace": namespace, "annotations": {DESCRIPTION: DESCRIPTION_TEXT}}})
            except ApiError:
                pass
        elif cur.get("data") != data:
            self.store.mutate("configmaps", namespace, ROOT_CA, lambda o: o.update(data=data))
