"""`deploy`: server-side apply of the rendered manifests (field manager tripgenctl), then a
watch until every Deployment and StatefulSet has rolled out. Applying forces ownership of the
fields the manifests set; drift that apply cannot undo by itself (an env var someone added by
hand is owned by its own field manager) is removed with a guarded update afterwards, so that
after a deploy `diff` is clean.

Plan first (`plan()`, also what --dry-run shows): every object's action, the objects of the
deploy's ApplySet the manifests no longer hold (pruned; volumes kept), changes the API server
would refuse in place ("needs recreate", with what happens to the data), and the profile
recorded on the namespace. A different profile needs --change-profile; a needed recreate needs
--recreate (else nothing is applied); prunes, a profile change or a recreate are confirmed
through the `confirm` callback, once, before the first write."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from tripgenctl import manifests as m
from tripgenctl.errors import ProblemFound, ToolError, UsageError
from tripgenctl.kube import resources
from tripgenctl.kube.errors import KubeError
from tripgenctl.ops import applyset
from tripgenctl.ops import diff as d
from tripgenctl.ops import immutable

WORKLOAD_KINDS = ("Deployment", "StatefulSet")


@dataclass
class ObjectResult:
    object: str
    action: str  # created | configured | unchanged | would create | would change | needs recreate | recreated
    #              would prune | pruned | kept (holds data)
    changes: list[str] = field(default_factory=list)  # field paths (values are not shown here)
    note: str = ""  # what happens to the data (recreate, a StatefulSet moved off its data, a kept volume)

    __table__ = ("object", "action", "changes", "note")


@dataclass
class WorkloadStatus:
    workload: str
    desired: int
    ready: int
    updated: int
    done: bool
    detail: str = ""

    __table__ = ("workload", "desired", "ready", "done", "detail")

    @property
    def ready_text(self) -> str:
        return f"{self.ready}/{self.desired}"


@dataclass
class DeployResult:
    namespace: str
    profile: str
    context: str
    dry_run: bool
    ok: bool
    objects: list[ObjectResult] = field(default_factory=list)
    workloads: list[WorkloadStatus] = field(default_factory=list)
    message: str = ""
    recorded_profile: str = ""  # the profile the namespace was deployed with ("" = none known)

    __sections__ = ("objects", "workloads")


# ---- pure: rollout state -----------------------------------------------------------------------

def workload_status(obj: dict) -> WorkloadStatus:
    """Rolled out = the controller has seen the current generation and every desired replica
    is updated and ready (Deployments: also available)."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    observed = int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
    if obj.get("kind") == "Deployment":
        available = int(status.get("availableReplicas") or 0)
        done = observed and updated >= desired and ready >= desired and available >= desired and int(status.get("replicas") or 0) <= desired
    else:
        same_revision = not status.get("updateRevision") or status.get("currentRevision") in (None, status.get("updateRevision")) or updated >= desired
        done = observed and ready >= desired and same_revision and (updated >= desired or "updatedReplicas" not in status)
    if desired == 0:
        done = observed and int(status.get("replicas") or 0) == 0
    detail = "" if done else ("waiting for the controller" if not observed else f"{updated} updated, {ready} ready of {desired}")
    return WorkloadStatus(m.ref(obj), desired, ready, updated, done, detail)


def prune_extras(live: dict, desired: dict) -> dict | None:
    """The live object without the drift diff calls "extra" (items of named lists and keys of
    strict maps the manifests do not have), or None when there is none."""
    import copy

    extras = [p for p, change, _, _ in d.compare(desired, d.normalize(live)) if change == "extra"]
    if not extras:
        return None
    out = copy.deepcopy(live)
    for path in extras:
        _remove(out, path)
    return out


def _remove(obj: dict, path: str) -> None:
    """Remove the element at a diff path (a.b['name'].c['x'])."""
    import re

    tokens = re.findall(r"\['([^']*)'\]|\[(\d+)\]|([^.\[\]]+)", path)
    parent, last = obj, None
    for i, (name_key, index, attr) in enumerate(tokens):
        node = parent if last is None else _step(parent, last)
        if node is None:
            return
        parent, last = node, (name_key, index, attr)
    if last is None:
        return
    name_key, index, attr = last
    if attr and isinstance(parent, dict):
        parent.pop(attr, None)
    elif name_key and isinstance(parent, list):
        parent[:] = [x for x in parent if d._key(x) != name_key]
    elif index and isinstance(parent, list) and int(index) < len(parent):
        parent.pop(int(index))


def _step(node, token):
    name_key, index, attr = token
    if attr:
        return node.get(attr) if isinstance(node, dict) else None
    if name_key:
        return next((x for x in node if d._key(x) == name_key), None) if isinstance(node, list) else None
    return node[int(index)] if isinstance(node, list) and int(index) < len(node) else None


# ---- against a cluster -------------------------------------------------------------------------

def apply_all(kube, objects: list[dict], dry_run: bool = False) -> list[ObjectResult]:
    results = []
    namespace_missing = False
    for obj in objects:
        meta = obj["metadata"]
        ref = m.ref(obj)
        live = None
        if not (namespace_missing and meta.get("namespace")):
            live = resources.get(kube, obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        obj = m.respect_scaled_down(obj, live)
        changes = [f.field for f in d.diff_object(obj, live)] if live is not None else []
        if dry_run:
            if obj["kind"] == "Namespace" and live is None:
                namespace_missing = True
            if not (namespace_missing and meta.get("namespace")):
                # the server validates and admits it, or says why not (it cannot for objects
                # of a namespace that does not exist yet)
                resources.apply(kube, obj, dry_run=True)
            action = "would create" if live is None else ("would change" if changes else "unchanged")
            results.append(ObjectResult(ref, action, changes))
            continue
        applied = resources.apply(kube, obj)
        pruned = prune_extras(applied, obj)
        if pruned is not None:
            applied = resources.replace(kube, pruned)
        results.append(ObjectResult(ref, applied_action(live, applied, obj), changes))
    return results


def applied_action(live: dict | None, applied: dict, desired: dict) -> str:
    """created / configured / unchanged, as the apply itself changed things. A new
    resourceVersion alone does not say so: a controller writing status or its own annotation
    (a rollout still settling) between our read and our apply moves it too."""
    if live is None:
        return "created"
    return "configured" if _ours(live, desired) != _ours(applied, desired) else "unchanged"


def _ours(obj: dict, desired: dict) -> dict:
    """What an apply of `desired` can change: everything but status and the server's
    bookkeeping, without the annotations Kubernetes' own controllers write (a
    `*kubernetes.io/` key the manifest does not set, e.g. deployment.kubernetes.io/revision)."""
    mine = desired.get("metadata", {}).get("annotations") or {}
    meta = obj.get("metadata", {})
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k in mine or "kubernetes.io/" not in k}
    return {**{k: v for k, v in obj.items() if k not in ("status", "metadata")},
            "labels": meta.get("labels") or {}, "annotations": notes}


def _list_workloads(kube, namespace: str, kind: str) -> tuple[list[dict], str]:
    try:
        found = resources.listing(kube, "apps/v1", kind, namespace, what=f"list {kind.lower()}s in {namespace}")
    except KubeError as exc:
        raise ProblemFound(f"list {kind.lower()}s in {namespace}: HTTP {exc.status}") from None
    return found.items, found.resource_version


def wait_rollout(kube, namespace: str, names: dict[str, set[str]], timeout: float = 300.0, on_update: Callable[[WorkloadStatus], None] | None = None) -> list[WorkloadStatus]:
    """Watch Deployments and StatefulSets (kind -> names) until all are rolled out or the
    timeout passes. One watch thread per kind feeds a queue; each re-lists on expiry."""
    states: dict[str, WorkloadStatus] = {}
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    deadline = time.monotonic() + timeout

    def feed(kind: str) -> None:
        try:
            while not stop.is_set():
                items, rv = _list_workloads(kube, namespace, kind)
                for item in items:
                    item.setdefault("kind", kind)
                    events.put(item)
                left = max(1, min(30, int(deadline - time.monotonic()) + 1))
                for type_, obj in resources.watch(kube, "apps/v1", kind, namespace, resource_version=rv, timeout_seconds=left, stop=stop.is_set):
                    if type_ == "ERROR":
                        break  # 410 Gone and friends: re-list
                    if type_ in ("ADDED", "MODIFIED"):
                        obj.setdefault("kind", kind)
                        events.put(obj)
        except Exception as exc:  # noqa: BLE001 - reported to the waiting loop
            events.put(exc)

    threads = [threading.Thread(target=feed, args=(kind,), daemon=True) for kind in names if names[kind]]
    for t in threads:
        t.start()
    wanted = {(kind, n) for kind, ns in names.items() for n in ns}
    try:
        while True:
            if wanted and all(f"{k.lower()}/{n}" in states and states[f"{k.lower()}/{n}"].done for k, n in wanted):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = events.get(timeout=min(remaining, 5.0))
            except queue.Empty:
                continue
            if isinstance(item, Exception):
                raise item
            kind = item.get("kind")
            name = (item.get("metadata") or {}).get("name")
            if (kind, name) not in wanted:
                continue
            st = workload_status(item)
            previous = states.get(st.workload)
            states[st.workload] = st
            if on_update and (previous is None or (previous.ready, previous.done, previous.desired) != (st.ready, st.done, st.desired)):
                on_update(st)
    finally:
        stop.set()
    out = []
    for kind, name in sorted(wanted, key=lambda kn: (WORKLOAD_KINDS.index(kn[0]) if kn[0] in WORKLOAD_KINDS else 9, kn[1])):
        ref = f"{kind.lower()}/{name}"
        st = states.get(ref) or WorkloadStatus(ref, 0, 0, 0, False, "not seen")
        if not st.done:
            st.detail = _why_not_ready(kube, namespace, kind, name) or st.detail
        out.append(st)
    return out


def _why_not_ready(kube, namespace: str, kind: str, name: str) -> str:
    """The first waiting reason or unready condition among the workload's pods, for the report."""
    obj = resources.get(kube, "apps/v1", kind, name, namespace)
    if obj is None:
        return "not found"
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    pods = resources.items(kube, "v1", "Pod", namespace, labels)
    if not pods:
        return "no pods"
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason"):
                return f"pod {pod['metadata']['name']}: {waiting['reason']}"
            if not cs.get("ready"):
                return f"pod {pod['metadata']['name']}: container {cs.get('name')} not ready"
        if (pod.get("status") or {}).get("phase") == "Pending":
            return f"pod {pod['metadata']['name']}: Pending"
    return ""


PROFILE_ANNOTATION = "tripgenctl.io/profile"  # on the namespace: the profile deploy last applied


@dataclass
class Planned:
    obj: dict
    live: dict | None
    changes: list[str]
    immutable: list[str]  # field paths the server would refuse to change in place
    note: str = ""

    @property
    def ref(self) -> str:
        return m.ref(self.obj)


@dataclass
class Plan:
    namespace: str
    profile: str
    recorded: str  # the namespace's profile, "" when unknown
    recorded_how: str  # recorded (annotation) | inferred (from PostgreSQL's image) | ""
    namespace_missing: bool
    items: list[Planned]
    prune: list[applyset.Member]
    keep: list[applyset.Member]  # stale members that hold data: listed, never deleted
    group_kinds: set[str]
    previous_group_kinds: set[str]

    @property
    def profile_change(self) -> bool:
        return bool(self.recorded) and self.recorded != self.profile

    @property
    def recreate(self) -> list[Planned]:
        return [p for p in self.items if p.immutable]

    @property
    def destructive(self) -> bool:
        return bool(self.prune or self.profile_change or self.recreate)

    def rows(self) -> list[ObjectResult]:
        out = []
        for p in self.items:
            if p.immutable:
                out.append(ObjectResult(p.ref, "needs recreate", p.immutable, p.note))
            else:
                action = "would create" if p.live is None else ("would change" if p.changes else "unchanged")
                out.append(ObjectResult(p.ref, action, p.changes, p.note))
        out += [ObjectResult(x.ref, "would prune", [], "deployed by tripgenctl, no longer in the manifests") for x in self.prune]
        out += [ObjectResult(x.ref, "kept (holds data)", [], "no longer in the manifests; deploy never deletes volumes: "
                             "delete it by hand once its data is not needed") for x in self.keep]
        return out

    def question(self, context: str) -> str:
        parts = []
        if self.profile_change:
            parts.append(f"change profile {self.recorded} -> {self.profile}")
        if self.recreate:
            parts.append(f"recreate {', '.join(p.ref for p in self.recreate)}")
        if self.prune:
            parts.append(f"delete {len(self.prune)} object(s) no longer in the manifests ({', '.join(x.ref for x in self.prune)})")
        return f"deploy profile {self.profile} to {context}/{self.namespace}: {'; '.join(parts)}. Continue?"


def _infer_profile(namespace: str, items: list[Planned], cfg) -> str:
    """For a namespace deployed before the profile was recorded: the one profile whose
    PostgreSQL image is the live one, else ""."""
    pg = cfg.workloads.postgres
    live = next((p.live for p in items if p.obj["kind"] == "StatefulSet" and p.obj["metadata"]["name"] == pg and p.live), None)
    if live is None:
        return ""
    image = next(iter(c.get("image") for c in m.containers(live)), None)
    _default, profiles = m.load_profiles()
    found = []
    for name in profiles:
        sts = next((o for o in m.render(namespace, name, config=cfg) if o["kind"] == "StatefulSet" and o["metadata"]["name"] == pg), None)
        if sts is not None and next(iter(c.get("image") for c in m.containers(sts)), None) == image:
            found.append(name)
    return found[0] if len(found) == 1 else ""


def plan(kube, namespace: str, objects: list[dict], profile: str) -> Plan:
    """Everything deploy would do, read-only."""
    ns_live = resources.get(kube, "v1", "Namespace", namespace)
    missing = ns_live is None
    claims: set[str] = set()
    if not missing:
        claims = {c["metadata"]["name"] for c in resources.items(kube, "v1", "PersistentVolumeClaim", namespace)}
    items = []
    for obj in objects:
        meta = obj["metadata"]
        live = None if missing and meta.get("namespace") else resources.get(kube, obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        obj = m.respect_scaled_down(obj, live)
        if live is None:
            items.append(Planned(obj, None, [], []))
            continue
        frozen = immutable.changes(obj, live)
        note = immutable.consequence(obj, live, frozen, claims) if frozen else immutable.data_note(obj, live)
        items.append(Planned(obj, live, [f.field for f in d.diff_object(obj, live)], frozen, note))
    previous = set() if missing else applyset.recorded_group_kinds(kube, namespace)
    current = {applyset.group_kind(o) for o in objects}
    wanted = {(applyset.group_kind(o), o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}
    stale = [x for x in ([] if missing else applyset.members(kube, namespace, previous | current))
             if (x.group_kind, x.namespace, x.name) not in wanted]
    recorded = ((ns_live or {}).get("metadata", {}).get("annotations") or {}).get(PROFILE_ANNOTATION, "")
    how = "recorded" if recorded else ""
    if not recorded and not missing:
        recorded = _infer_profile(namespace, items, kube.config)
        how = "inferred from PostgreSQL's image" if recorded else ""
    return Plan(namespace, profile, recorded, how, missing, items,
                prune=[x for x in stale if x.kind not in applyset.NEVER_PRUNED], keep=[x for x in stale if x.kind in applyset.NEVER_PRUNED],
                group_kinds=current, previous_group_kinds=previous)


def _recreate(kube, p: Planned, timeout: float = 120.0) -> dict:
    """Delete (a StatefulSet with its pods orphaned, so they run on until the new one adopts and
    replaces them) and wait until it is gone, then apply it anew."""
    meta = p.obj["metadata"]
    api_version, kind, namespace = p.obj["apiVersion"], p.obj["kind"], meta.get("namespace")
    policy = "Orphan" if kind == "StatefulSet" else "Background"
    try:
        resources.delete(kube, api_version, kind, meta["name"], namespace, propagation=policy, uid=(p.live or {}).get("metadata", {}).get("uid"))
    except KubeError as exc:
        raise ToolError(f"recreate {p.ref}: delete answered {exc.status} {resources.reason(exc)}") from None
    if not resources.wait_gone(kube, api_version, kind, meta["name"], namespace, timeout):
        raise ToolError(f"recreate {p.ref}: still there {timeout:g}s after the delete")
    return resources.apply(kube, p.obj)


def execute(kube, pl: Plan) -> list[ObjectResult]:
    """Apply the plan: the ApplySet parent (with the old and new group-kinds, so an interrupted
    run still finds everything), the objects in order (recreating the ones planned so), then the
    prunes, then the parent with what the set holds now."""
    results = []
    parent_done = False
    for p in pl.items:
        if p.obj["metadata"].get("namespace") and not parent_done:
            resources.apply(kube, applyset.parent(pl.namespace, pl.group_kinds | pl.previous_group_kinds))
            parent_done = True
        if p.immutable:
            _recreate(kube, p)
            results.append(ObjectResult(p.ref, "recreated", p.immutable, p.note))
            continue
        applied = resources.apply(kube, p.obj)
        pruned = prune_extras(applied, p.obj)
        if pruned is not None:
            applied = resources.replace(kube, pruned)
        results.append(ObjectResult(p.ref, applied_action(p.live, applied, p.obj), p.changes, p.note))
    for x in pl.prune:
        applyset.delete(kube, x)
        results.append(ObjectResult(x.ref, "pruned", [], "deployed by tripgenctl, no longer in the manifests"))
    results += [r for r in pl.rows() if r.action == "kept (holds data)"]
    resources.apply(kube, applyset.parent(pl.namespace, pl.group_kinds | {x.group_kind for x in pl.keep}))
    return results


def deploy(kube, namespace: str, profile: str | None = None, dry_run: bool = False, wait: bool = True, timeout: float = 300.0,
           on_update: Callable[[WorkloadStatus], None] | None = None, change_profile: bool = False, recreate: bool = False,
           confirm: Callable[[str], None] | None = None) -> DeployResult:
    prof = m.get_profile(profile)
    objects = [applyset.mark(o, namespace) for o in m.render(namespace, prof.name, config=kube.config)]
    for o in objects:
        if o["kind"] == "Namespace":
            o["metadata"].setdefault("annotations", {})[PROFILE_ANNOTATION] = prof.name
    if not dry_run:
        _require_secrets(kube, namespace)
    result = DeployResult(namespace=namespace, profile=prof.name, context=kube.context_name, dry_run=dry_run, ok=True)
    pl = plan(kube, namespace, objects, prof.name)
    result.recorded_profile = pl.recorded
    result.objects = pl.rows()
    notes = []
    if pl.profile_change:
        notes.append(f"profile change {pl.recorded} -> {prof.name}" + ("" if change_profile else " needs --change-profile"))
    blocked = [p for p in pl.recreate if not recreate or p.obj["kind"] not in immutable.RECREATABLE]
    if blocked:
        notes.append("needs recreate: " + ", ".join(p.ref for p in blocked) + ("" if recreate else " (--recreate)"))
    if dry_run:
        for p in pl.items:
            if not p.immutable and not (pl.namespace_missing and p.obj["metadata"].get("namespace")):
                # the server validates and admits it, or says why not (it cannot for objects of a
                # namespace that does not exist yet, nor judge a change it would refuse in place)
                resources.apply(kube, p.obj, dry_run=True)
        result.message = "dry run: " + _counts(result.objects) + "".join(f"; {n}" for n in notes)
        return result
    if pl.profile_change and not change_profile:
        raise UsageError(f"deploy refused: namespace {namespace} was deployed with profile {pl.recorded} ({pl.recorded_how}); profile {prof.name} "
                         f"changes images, storage and policies: see `tripgenctl deploy --profile {prof.name} --dry-run`, then pass --change-profile")
    if blocked:
        result.ok = False
        what = "; ".join(f"{p.ref} ({', '.join(p.immutable[:2])}{', ...' if len(p.immutable) > 2 else ''})" for p in blocked)
        hint = ("rerun with --recreate once the plan's note on the data is acceptable" if not recreate
                else "deploy does not recreate what holds data: see the note")
        result.message = f"nothing applied: a change the API server refuses in place needs recreate: {what}; {hint}"
        return result
    if pl.destructive:
        if confirm is None:
            raise ProblemFound("deploy would delete or recreate objects and nobody confirmed it")
        confirm(pl.question(kube.context_name))
    result.objects = execute(kube, pl)
    if not wait:
        result.message = _counts(result.objects)
        return result
    names: dict[str, set[str]] = {k: set() for k in WORKLOAD_KINDS}
    for obj in objects:
        if obj["kind"] in names:
            names[obj["kind"]].add(obj["metadata"]["name"])
    result.workloads = wait_rollout(kube, namespace, names, timeout=timeout, on_update=on_update)
    not_ready = [w.workload for w in result.workloads if not w.done]
    result.ok = not not_ready
    result.message = f"{_counts(result.objects)}; " + (f"all {len(result.workloads)} workloads ready" if result.ok else f"not ready after {timeout:g}s: {', '.join(not_ready)}")
    return result


def _require_secrets(kube, namespace: str) -> None:
    """Without the Secrets every app pod stops at CreateContainerConfigError: say so up front
    instead of after a five-minute wait."""
    from tripgenctl.ops import secrets

    if resources.get(kube, "v1", "Namespace", namespace) is None:
        raise ProblemFound(f"namespace {namespace} has no Secrets yet: run `tripgenctl secrets init -n {namespace}` first")
    check = secrets.check(kube, namespace)
    if not check.ok:
        bad = sorted(set(check.missing_secrets) | {r.secret for r in check.keys if not (r.present and r.non_empty)})
        raise ProblemFound(f"Secret(s) missing or incomplete: {', '.join(bad)}; run `tripgenctl secrets init -n {namespace}` first (see `tripgenctl secrets check`)")


def _counts(objects: list[ObjectResult]) -> str:
    counts: dict[str, int] = {}
    for o in objects:
        counts[o.action] = counts.get(o.action, 0) + 1
    return ", ".join(f"{n} {a}" for a, n in counts.items())
