"""The sandbox's etcd: every object, a global resourceVersion counter, watch fan-out with a
bounded history (so a watch can resume from a resourceVersion, or get 410 Gone like etcd
compaction), and persistence to one JSON file so objects survive a stop/start.

Everything runs on one asyncio loop, so the methods are synchronous and atomic."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from tripgen_sandbox import resources
from tripgen_sandbox.apierrors import ApiError, already_exists, conflict, invalid, not_found
from tripgen_sandbox.selectors import parse_field_selector, parse_label_selector

HISTORY = 20000  # watch events kept for resuming; older resourceVersions get 410 Gone
# Kinds whose registry strategy maintains metadata.generation (bumped on spec changes). Pods,
# Services, Namespaces, ConfigMaps... have none in 1.29.
GENERATION_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "NetworkPolicy", "Ingress", "PodDisruptionBudget", "IngressClass", "CustomResourceDefinition"}
FOREGROUND = "foregroundDeletion"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Watch:
    """One watcher. Iterate with `async for type_, obj in watch`; the store pushes events."""

    def __init__(self, store: "Store", key: str, namespace: str | None, label_sel, field_sel):
        self.store = store
        self.key = key
        self.namespace = namespace
        self.label_sel = label_sel
        self.field_sel = field_sel
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    def matches(self, key: str, obj: dict) -> bool:
        if key != self.key:
            return False
        meta = obj.get("metadata", {})
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return self.label_sel(meta.get("labels") or {}) and self.field_sel(obj)

    def push(self, type_: str, obj: dict) -> None:
        if not self.closed:
            self.queue.put_nowait((type_, obj))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
            self.store._watches.discard(self)

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item


class Store:
    def __init__(self, path: Path | None = None):
        self.path = path
        # key -> {(namespace, name): obj}
        self._objects: dict[str, dict[tuple[str, str], dict]] = {t.key: {} for t in resources.STORED}
        self._rv = 0
        self._history: deque[tuple[int, str, str, dict]] = deque(maxlen=HISTORY)
        self._watches: set[Watch] = set()
        self._listeners: list[Callable[[str, str, dict], None]] = []
        self._dirty = False
        self._save_handle: asyncio.TimerHandle | None = None
        if path and path.exists():
            self._load()

    # ---- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        data = json.loads(self.path.read_text())
        self._rv = int(data.get("resourceVersion", 0))
        for key, items in data.get("objects", {}).items():
            bucket = self._objects.setdefault(key, {})
            for obj in items:
                meta = obj["metadata"]
                bucket[(meta.get("namespace", ""), meta["name"])] = obj

    def save(self) -> None:
        if not self.path:
            return
        data = {
            "resourceVersion": self._rv,
            "objects": {k: list(v.values()) for k, v in self._objects.items() if v},
        }
        from tripgen_sandbox.private import write_private

        write_private(self.path, json.dumps(data))  # every Secret is in here: 0600
        self._dirty = False

    def _schedule_save(self) -> None:
        self._dirty = True
        if not self.path or self._save_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return

        def _do():
            self._save_handle = None
            if self._dirty:
                self.save()

        self._save_handle = loop.call_later(0.5, _do)

    # ---- helpers -------------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def _bucket(self, key: str) -> dict[tuple[str, str], dict]:
        if key not in self._objects and key in resources.BY_KEY:
            self._objects[key] = {}  # a custom resource served since the store was made
        if key not in self._objects:
            raise ApiError(404, f"the server could not find the requested resource ({key})")
        return self._objects[key]

    def _type(self, key: str) -> resources.ResourceType:
        return resources.BY_KEY[key]

    def _emit(self, type_: str, key: str, obj: dict) -> None:
        self._history.append((self._rv, type_, key, obj))
        for w in list(self._watches):
            if w.matches(key, obj):
                w.push(type_, copy.deepcopy(obj))
        for cb in list(self._listeners):
            try:
                cb(type_, key, obj)
            except Exception:  # noqa: BLE001 - a buggy listener must not break the store
                import logging

                logging.getLogger(__name__).exception("store listener failed")
        self._schedule_save()

    def on_change(self, callback: Callable[[str, str, dict], None]) -> None:
        self._listeners.append(callback)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    # ---- reads ---------------------------------------------------------------------------
    def get(self, key: str, namespace: str | None, name: str) -> dict | None:
        obj = self._bucket(key).get((namespace or "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def require(self, key: str, namespace: str | None, name: str) -> dict:
        obj = self.get(key, namespace, name)
        if obj is None:
            t = self._type(key)
            raise not_found(t.plural, name, t.group)
        return obj

    def iter(self, key: str, namespace: str | None = None) -> Iterable[dict]:
        """No-copy iteration for controllers that only read. Do not mutate what you get."""
        for (ns, _), obj in list(self._bucket(key).items()):
            if namespace is None or ns == namespace:
                yield obj

    def list(self, key: str, namespace: str | None = None, label_selector: str | None = None, field_selector: str | None = None) -> tuple[list[dict], str]:
        lsel = parse_label_selector(label_selector)
        fsel = parse_field_selector(field_selector)
        out = []
        for obj in self.iter(key, namespace):
            if lsel(obj["metadata"].get("labels") or {}) and fsel(obj):
                out.append(copy.deepcopy(obj))
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return out, self.resource_version

    # ---- writes --------------------------------------------------------------------------
    def create(self, key: str, obj: dict, dry_run: bool = False) -> dict:
        t = self._type(key)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        obj["apiVersion"] = t.api_version
        obj["kind"] = t.kind
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise invalid(t.kind, "", [("metadata.name", "Required value: name or generateName is required")], t.group)
            meta["name"] = prefix + uuid.uuid4().hex[:5]
        ns = meta.get("namespace", "") if t.namespaced else ""
        if t.namespaced and not ns:
            raise ApiError(400, "the namespace of the provided object does not match the namespace sent on the request")
        if not t.namespaced:
            meta.pop("namespace", None)
        if t.namespaced and key != "namespaces" and key != "events":
            nsobj = self._objects["namespaces"].get(("", ns))
            if nsobj is None:
                raise ApiError(404, f'namespaces "{ns}" not found', "NotFound", {"name": ns, "kind": "namespaces"})
            if nsobj["metadata"].get("deletionTimestamp"):
                raise ApiError(403, f'{t.plural} "{meta["name"]}" is forbidden: unable to create new content in namespace {ns} because it is being terminated', "Forbidden")
        bucket = self._bucket(key)
        if (ns, meta["name"]) in bucket:
            raise already_exists(t.plural, meta["name"], t.group)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta.pop("resourceVersion", None)
        meta.pop("deletionTimestamp", None)
        meta.pop("generation", None)
        if t.kind in GENERATION_KINDS or t.custom:
            meta["generation"] = 1
        if dry_run:
            meta["resourceVersion"] = self.resource_version
            return obj
        meta["resourceVersion"] = self._next_rv()
        bucket[(ns, meta["name"])] = obj
        self._emit("ADDED", key, obj)
        return copy.deepcopy(obj)

    def update(self, key: str, obj: dict, subresource: str | None = None, dry_run: bool = False, check_rv: bool = True, internal: bool = False) -> dict:
        """Replace an object (PUT). With subresource='status' only .status changes; otherwise
        .status is kept from the stored object for types with a status subresource."""
        t = self._type(key)
        meta = obj.get("metadata", {})
        ns = meta.get("namespace", "") if t.namespaced else ""
        name = meta.get("name")
        bucket = self._bucket(key)
        cur = bucket.get((ns, name))
        if cur is None:
            raise not_found(t.plural, name, t.group)
        rv = meta.get("resourceVersion")
        if check_rv and rv and rv != cur["metadata"]["resourceVersion"]:
            raise conflict(t.plural, name, t.group)
        new = copy.deepcopy(obj)
        new["apiVersion"] = t.api_version
        new["kind"] = t.kind
        if subresource == "status":
            merged = copy.deepcopy(cur)
            merged["status"] = new.get("status", {})
            new = merged
        else:
            if t.has_status and key != "namespaces":
                if "status" in cur:
                    new["status"] = copy.deepcopy(cur["status"])
                else:
                    new.pop("status", None)
            # metadata a client cannot change (the store's own callers may set deletion marks)
            protected = ("uid", "creationTimestamp", "generation") if internal else ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
            for f in protected:
                if f in cur["metadata"]:
                    new["metadata"][f] = cur["metadata"][f]
                else:
                    new["metadata"].pop(f, None)
            if not t.namespaced:
                new["metadata"].pop("namespace", None)
            if "generation" in cur["metadata"] and _spec_of(new) != _spec_of(cur):
                new["metadata"]["generation"] = cur["metadata"]["generation"] + 1
        if _same_ignoring_rv(new, cur):
            return copy.deepcopy(cur)  # no-op writes do not bump resourceVersion (like etcd3 storage)
        if dry_run:
            new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            return new
        new["metadata"]["resourceVersion"] = self._next_rv()
        bucket[(ns, name)] = new
        self._emit("MODIFIED", key, new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") and key not in ("pods", "namespaces"):
            # the last finalizer is gone: the object goes, and its dependents after it
            self._remove(key, ns, name)
            self._delete_dependents(new["metadata"]["uid"])
        return copy.deepcopy(new)

    def mutate(self, key: str, namespace: str | None, name: str, fn: Callable[[dict], Any], subresource: str | None = None) -> dict | None:
        """Read-modify-write without a resourceVersion check, for controllers and the kubelet.
        Returns the stored object, or None when it does not exist."""
        cur = self.get(key, namespace, name)
        if cur is None:
            return None
        fn(cur)
        return self.update(key, cur, subresource=subresource, check_rv=False, internal=True)

    def delete(self, key: str, namespace: str | None, name: str, propagation: str | None = None, dry_run: bool = False, force: bool = False, grace_period: int | None = None) -> dict:
        t = self._type(key)
        ns = (namespace or "") if t.namespaced else ""
        cur = self._bucket(key).get((ns, name))
        if cur is None:
            raise not_found(t.plural, name, t.group)
        if dry_run:
            return copy.deepcopy(cur)
        if key == "pods" and not force and grace_period != 0:
            # graceful: the kubelet stops the containers, then removes the pod
            if not cur["metadata"].get("deletionTimestamp"):
                def mark(o):
                    o["metadata"]["deletionTimestamp"] = now_iso()
                    o["metadata"]["deletionGracePeriodSeconds"] = grace_period if grace_period is not None else 30
                return self.mutate(key, ns, name, mark)
            return copy.deepcopy(cur)
        if key == "namespaces":
            return self._delete_namespace(name)
        finalizers = list(cur["metadata"].get("finalizers") or [])
        if propagation == "Foreground" and FOREGROUND not in finalizers and self._dependents(cur["metadata"]["uid"]):
            finalizers.append(FOREGROUND)
        if finalizers:
            return self._delete_with_finalizers(key, ns, name, cur, finalizers, propagation)
        if propagation == "Orphan":
            self._orphan_dependents(cur["metadata"]["uid"])
        removed = self._remove(key, ns, name)
        if propagation != "Orphan":
            self._delete_dependents(cur["metadata"]["uid"])
        return removed

    def _delete_with_finalizers(self, key: str, ns: str, name: str, cur: dict, finalizers: list[str], propagation: str | None) -> dict:
        """metadata.finalizers hold the object (deletionTimestamp set, still readable) until
        whoever owns each finalizer removes it. foregroundDeletion is the garbage collector's:
        dependents are deleted first (foreground, recursively) and the owner goes after the last
        blocking one (see _release_owners)."""

        def mark(o):
            o["metadata"]["deletionTimestamp"] = o["metadata"].get("deletionTimestamp") or now_iso()
            o["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            o["metadata"]["finalizers"] = finalizers

        marked = self.mutate(key, ns, name, mark)
        if propagation == "Orphan":
            self._orphan_dependents(cur["metadata"]["uid"])
        elif FOREGROUND in finalizers:
            for dkey, dep in self._dependents(cur["metadata"]["uid"]):
                dmeta = dep["metadata"]
                try:
                    self.delete(dkey, dmeta.get("namespace"), dmeta["name"], propagation="Foreground")
                except ApiError:
                    pass
            marked = self._finish_foreground(key, ns, name) or marked
        return marked or copy.deepcopy(cur)

    def _finish_foreground(self, key: str, ns: str, name: str) -> dict | None:
        """Drop the foregroundDeletion finalizer once no dependent blocks it any more."""
        obj = self._bucket(key).get((ns, name))
        if obj is None or FOREGROUND not in (obj["metadata"].get("finalizers") or []):
            return None
        uid = obj["metadata"]["uid"]
        if any(
            r.get("uid") == uid and r.get("blockOwnerDeletion")
            for _, d in self._dependents(uid)
            for r in d["metadata"].get("ownerReferences") or []
        ):
            return None

        def drop(o):
            o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or [] if f != FOREGROUND]
            if not o["metadata"]["finalizers"]:
                o["metadata"].pop("finalizers")

        return self.mutate(key, ns, name, drop)

    def _release_owners(self, obj: dict) -> None:
        """A dependent is gone: owners waiting in foreground deletion may now go too."""
        meta = obj["metadata"]
        for ref in meta.get("ownerReferences") or []:
            t = resources.BY_KIND.get((ref.get("apiVersion", ""), ref.get("kind", "")))
            if t is None or t.key not in self._objects:
                continue
            owner_ns = meta.get("namespace", "") if t.namespaced else ""
            owner = self._objects[t.key].get((owner_ns, ref.get("name")))
            if owner is not None and owner["metadata"].get("uid") == ref.get("uid") and owner["metadata"].get("deletionTimestamp"):
                self._finish_foreground(t.key, owner_ns, ref["name"])

    def _remove(self, key: str, ns: str, name: str) -> dict:
        obj = self._bucket(key).pop((ns, name), None)
        if obj is None:
            return {}
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit("DELETED", key, obj)
        if obj["metadata"].get("ownerReferences"):
            self._release_owners(obj)
        return obj

    def _dependents(self, uid: str) -> list[tuple[str, dict]]:
        out = []
        for key, bucket in self._objects.items():
            for obj in list(bucket.values()):
                for ref in obj["metadata"].get("ownerReferences") or []:
                    if ref.get("uid") == uid:
                        out.append((key, obj))
                        break
        return out

    def _delete_dependents(self, uid: str) -> None:
        for key, obj in self._dependents(uid):
            meta = obj["metadata"]
            try:
                self.delete(key, meta.get("namespace"), meta["name"], propagation="Background")
            except ApiError:
                pass

    def _orphan_dependents(self, uid: str) -> None:
        for key, obj in self._dependents(uid):
            meta = obj["metadata"]

            def strip(o, uid=uid):
                refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                if refs:
                    o["metadata"]["ownerReferences"] = refs
                else:
                    o["metadata"].pop("ownerReferences", None)

            self.mutate(key, meta.get("namespace"), meta["name"], strip)

    def _delete_namespace(self, name: str) -> dict:
        """Mark Terminating, delete everything inside; the namespace disappears once its pods
        are gone (the kubelet removes them), like the namespace controller."""

        def mark(o):
            o["metadata"]["deletionTimestamp"] = o["metadata"].get("deletionTimestamp") or now_iso()
            o.setdefault("status", {})["phase"] = "Terminating"

        ns_obj = self.mutate("namespaces", None, name, mark)
        for key, bucket in self._objects.items():
            if key == "namespaces":
                continue
            for (ns, oname) in [k for k in bucket if k[0] == name]:
                try:
                    self.delete(key, ns, oname)
                except ApiError:
                    pass
        self.finish_namespace_deletion(name)
        return ns_obj or {}

    def finish_namespace_deletion(self, name: str) -> None:
        ns_obj = self._objects["namespaces"].get(("", name))
        if not ns_obj or not ns_obj["metadata"].get("deletionTimestamp"):
            return
        if any(k[0] == name for k in self._objects["pods"]):
            return
        for key, bucket in self._objects.items():
            for k in [k for k in bucket if k[0] == name]:
                self._remove(key, *k)
        self._remove("namespaces", "", name)

    # ---- watch ---------------------------------------------------------------------------
    def watch(self, key: str, namespace: str | None = None, resource_version: str | None = None, label_selector: str | None = None, field_selector: str | None = None, send_initial: bool = False) -> Watch:
        """Start a watch. resource_version "" / None / "0": current state as ADDED events first
        (as the API server does for rv=0/unset), then changes. A specific rv: the changes after
        it from history, or 410 Gone when it is older than the history."""
        self._bucket(key)
        w = Watch(self, key, namespace, parse_label_selector(label_selector), parse_field_selector(field_selector))
        if resource_version in (None, "", "0"):
            for obj, in ((o,) for o in self.list(key, namespace, label_selector, field_selector)[0]):
                w.push("ADDED", obj)
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise ApiError(400, f"invalid resourceVersion {resource_version!r}")
            if since < self._rv:
                oldest = self._history[0][0] if self._history else self._rv + 1
                if since < oldest - 1:
                    raise ApiError(410, f"too old resource version: {since} ({oldest - 1})", "Expired")
                for rv, type_, k, obj in self._history:
                    if rv > since and w.matches(k, obj):
                        w.push(type_, copy.deepcopy(obj))
        self._watches.add(w)
        return w

    # ---- events --------------------------------------------------------------------------
    def record_event(self, obj: dict, reason: str, message: str, type_: str = "Normal", component: str = "sandbox", host: str | None = None) -> dict:
        """Record (or bump the count of) a core/v1 Event about obj, like client-go's recorder."""
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        for ev in self.iter("events", ns):
            io = ev.get("involvedObject", {})
            if io.get("uid") == meta.get("uid") and ev.get("reason") == reason and ev.get("message") == message:
                def bump(e):
                    e["count"] = e.get("count", 1) + 1
                    e["lastTimestamp"] = now_iso()
                    e["eventTime"] = None
                return self.mutate("events", ns, ev["metadata"]["name"], bump)
        ts = now_iso()
        event = {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": ns},
            "involvedObject": {
                "kind": obj.get("kind"),
                "namespace": meta.get("namespace"),
                "name": meta["name"],
                "uid": meta.get("uid"),
                "apiVersion": obj.get("apiVersion"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "source": {"component": component, **({"host": host} if host else {})},
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        if ns != meta.get("namespace") and "namespaces" in self._objects and ("", ns) not in self._objects["namespaces"]:
            return event
        try:
            return self.create("events", event)
        except ApiError:
            return event


def _spec_of(obj: dict) -> Any:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _same_ignoring_rv(a: dict, b: dict) -> bool:
    a = dict(a, metadata={k: v for k, v in a["metadata"].items() if k not in ("resourceVersion", "managedFields")})
    b = dict(b, metadata={k: v for k, v in b["metadata"].items() if k not in ("resourceVersion", "managedFields")})
    return a == b
