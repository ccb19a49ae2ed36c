"""garbage-collector's periodic sweep: the store already cascades deletes along
ownerReferences when an owner is deleted, but dependents can still be orphaned (an owner deleted
with an older store, objects restored from a file, a PUT that dropped an owner). Any object
whose every owner uid no longer exists is deleted, as the real collector would eventually do.
Objects with no owners, and those whose owners are only partly gone, are left alone."""

from __future__ import annotations

from tripgen_sandbox import resources
from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.manager import Controller

SWEEP = ("", "sweep")


class GarbageCollector(Controller):
    name = "garbagecollector"
    primary = ""

    def resync_keys(self):
        return [SWEEP]

    def reconcile(self, key) -> float | None:
        uids: set[str] = set()
        keys = [t.key for t in resources.STORED]
        for k in keys:
            for o in self.store.iter(k):
                uids.add(o["metadata"].get("uid"))
        for k in keys:
            if k in ("events",):
                continue
            for o in list(self.store.iter(k)):
                refs = o["metadata"].get("ownerReferences") or []
                if not refs or any(r.get("uid") in uids for r in refs):
                    continue
                meta = o["metadata"]
                if k == "pods" and meta.get("deletionTimestamp"):
                    continue  # already going; the kubelet finishes it
                try:
                    self.store.delete(k, meta.get("namespace"), meta["name"], propagation="Background")
                except ApiError:
                    pass
        return None
