"""serviceaccount-controller: every active namespace has a `default` ServiceAccount (pods
name it implicitly; tokens for in-cluster clients are issued for it), and the
`kube-root-ca.crt` ConfigMap is left to the API server's PKI owner."""

from __future__ import annotations

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.manager import Controller


class ServiceAccountController(Controller):
    name = "serviceaccounts"
    primary = "namespaces"
    watches = ("serviceaccounts",)

    def keys_for(self, type_, key, obj):
        if key == "serviceaccounts":
            if type_ == "DELETED" and obj["metadata"]["name"] == "default":
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
        return None
