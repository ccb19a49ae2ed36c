"""deployment-controller: one ReplicaSet per pod template (named <deployment>-<pod-template-hash>,
revision annotation), rolled with the real RollingUpdate arithmetic (maxSurge / maxUnavailable,
unhealthy old pods cleaned up first) or Recreate, old sets pruned to revisionHistoryLimit, and
the status fields and conditions `kubectl rollout status` reads (observedGeneration,
updatedReplicas, availableReplicas, Progressing reason NewReplicaSetAvailable when done,
ProgressDeadlineExceeded when stuck)."""

from __future__ import annotations

import copy
import math

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.common import (
    controller_ref, drop_empty, fmt_time, owned, owner_ref, parse_time, safe_hash, set_condition,
)
from tripgen_sandbox.controllers.manager import Controller

COMPONENT = "deployment-controller"
REVISION = "deployment.kubernetes.io/revision"
HASH = "pod-template-hash"


def _strip_hash(template: dict) -> dict:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH, None)
    return t


def _revision(rs: dict) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _int_or_percent(value, total: int, round_up: bool) -> int:
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        frac = float(value[:-1]) * total / 100
        return math.ceil(frac) if round_up else math.floor(frac)
    return int(value)


def surge_unavailable(spec: dict, replicas: int) -> tuple[int, int]:
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _int_or_percent(ru.get("maxSurge"), replicas, True)
    unavailable = _int_or_percent(ru.get("maxUnavailable"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _spec_replicas(rs: dict) -> int:
    return int((rs.get("spec") or {}).get("replicas") or 0)


def _st(rs: dict, field: str) -> int:
    return int((rs.get("status") or {}).get(field) or 0)


class DeploymentController(Controller):
    name = "deployments"
    primary = "deployments.apps"
    watches = ("replicasets.apps",)

    def keys_for(self, type_, key, obj):
        if key == "replicasets.apps":
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "Deployment":
                yield (obj["metadata"]["namespace"], ref["name"])
        else:
            yield from super().keys_for(type_, key, obj)

    # ---- helpers -------------------------------------------------------------------------
    def _scale(self, d: dict, rs: dict, to: int) -> dict:
        cur = _spec_replicas(rs)
        if cur == to:
            return rs
        replicas = int(d["spec"].get("replicas", 1))
        surge, _ = surge_unavailable(d["spec"], replicas)

        def set_(o):
            o["spec"]["replicas"] = to
            ann = o["metadata"].setdefault("annotations", {})
            ann["deployment.kubernetes.io/desired-replicas"] = str(replicas)
            ann["deployment.kubernetes.io/max-replicas"] = str(replicas + surge)
        updated = self.store.mutate("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"], set_) or rs
        direction = "up" if to > cur else "down"
        self.store.record_event(d, "ScalingReplicaSet", f"Scaled {direction} replica set {rs['metadata']['name']} to {to} from {cur}", "Normal", COMPONENT)
        return updated

    def _create_rs(self, d: dict, revision: int, replicas_now: int) -> dict | None:
        meta, spec = d["metadata"], d["spec"]
        template = copy.deepcopy(spec.get("template") or {})
        h = safe_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH] = h
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH] = h
        replicas = int(spec.get("replicas", 1))
        surge, _ = surge_unavailable(spec, replicas)
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                       if not k.startswith("deployment.kubernetes.io/") and k != "kubectl.kubernetes.io/last-applied-configuration"}
        annotations.update({"deployment.kubernetes.io/desired-replicas": str(replicas),
                            "deployment.kubernetes.io/max-replicas": str(replicas + surge), REVISION: str(revision)})
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{h}", "namespace": meta["namespace"], "labels": dict(template["metadata"]["labels"]),
                         "annotations": annotations, "ownerReferences": [owner_ref(d)]},
            "spec": {"replicas": replicas_now, "minReadySeconds": int(spec.get("minReadySeconds") or 0), "selector": selector, "template": template},
        }
        try:
            created = self.store.create("replicasets.apps", rs)
        except ApiError as exc:
            self.store.record_event(d, "FailedCreate", f"Failed to create new replica set {rs['metadata']['name']}: {exc.message}", "Warning", COMPONENT)
            return None
        if replicas_now:
            self.store.record_event(d, "ScalingReplicaSet", f"Scaled up replica set {rs['metadata']['name']} to {replicas_now}", "Normal", COMPONENT)
        return created

    # ---- reconcile -----------------------------------------------------------------------
    def reconcile(self, key) -> float | None:
        d = self.get(key)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return None
        ns = key[0]
        spec = d.setdefault("spec", {})
        replicas = int(spec.get("replicas", 1))
        paused = bool(spec.get("paused"))
        sets = [rs for rs in owned(self.store, "replicasets.apps", ns, d["metadata"]["uid"]) if not rs["metadata"].get("deletionTimestamp")]
        want_tpl = _strip_hash(spec.get("template"))
        new = next((rs for rs in sets if _strip_hash(rs["spec"].get("template")) == want_tpl), None)
        olds = sorted((rs for rs in sets if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]),
                      key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        max_old = max((_revision(rs) for rs in olds), default=0)
        created_new = False
        if new is None and not paused:
            strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
            start = 0
            if strategy != "Recreate":
                surge, _ = surge_unavailable(spec, replicas)
                current = sum(_spec_replicas(rs) for rs in olds)
                start = max(0, min(replicas + surge - current, replicas))
            new = self._create_rs(d, max_old + 1, start)
            created_new = new is not None
        elif new is not None and _revision(new) <= max_old and not paused:
            # a rollback to an old template: that set becomes the newest revision
            rev = str(max_old + 1)
            new = self.store.mutate("replicasets.apps", ns, new["metadata"]["name"],
                                    lambda o: o["metadata"].setdefault("annotations", {}).update({REVISION: rev})) or new
        if not paused and new is not None:
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                self._recreate(d, new, olds, replicas)
            else:
                new, olds = self._rolling(d, new, olds, replicas)
        elif paused and new is not None and not any(_spec_replicas(rs) for rs in olds):
            new = self._scale(d, new, replicas)
        self._cleanup(d, new, olds)
        return self._sync_status(d, new, olds, replicas, created_new)

    def _recreate(self, d: dict, new: dict, olds: list[dict], replicas: int) -> None:
        for rs in olds:
            self._scale(d, rs, 0)
        ns = d["metadata"]["namespace"]
        old_uids = {rs["metadata"]["uid"] for rs in olds}
        if any(controller_ref(p) and controller_ref(p)["uid"] in old_uids for p in self.store.iter("pods", ns)):
            return  # wait until every old pod is gone
        self._scale(d, new, replicas)

    def _rolling(self, d: dict, new: dict, olds: list[dict], replicas: int) -> tuple[dict, list[dict]]:
        spec = d["spec"]
        surge, max_unavailable = surge_unavailable(spec, replicas)
        cur_new = _spec_replicas(new)
        if cur_new > replicas:
            new = self._scale(d, new, replicas)
        elif cur_new < replicas:
            total = cur_new + sum(_spec_replicas(rs) for rs in olds)
            room = replicas + surge - total
            if room > 0:
                new = self._scale(d, new, cur_new + min(room, replicas - cur_new))
        # scale down old sets without going below minAvailable
        all_pods = _spec_replicas(new) + sum(_spec_replicas(rs) for rs in olds)
        min_available = replicas - max_unavailable
        new_unavailable = max(0, _spec_replicas(new) - _st(new, "availableReplicas"))
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return new, olds
        out = []
        scaled = 0
        for rs in olds:  # unhealthy replicas first: they do not count towards availability
            unhealthy = _spec_replicas(rs) - _st(rs, "availableReplicas")
            if unhealthy > 0 and scaled < max_scaled_down:
                n = min(unhealthy, max_scaled_down - scaled)
                rs = self._scale(d, rs, _spec_replicas(rs) - n)
                scaled += n
            out.append(rs)
        olds = out
        available = _st(new, "availableReplicas") + sum(min(_st(rs, "availableReplicas"), _spec_replicas(rs)) for rs in olds)
        if available > min_available:
            budget = available - min_available
            out = []
            for rs in olds:
                n = min(_spec_replicas(rs), budget)
                if n > 0:
                    rs = self._scale(d, rs, _spec_replicas(rs) - n)
                    budget -= n
                out.append(rs)
            olds = out
        return new, olds

    def _cleanup(self, d: dict, new: dict | None, olds: list[dict]) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in olds if not _spec_replicas(rs) and not _st(rs, "replicas")]
        idle.sort(key=_revision)
        for rs in idle[: max(0, len(idle) - limit)]:
            try:
                self.store.delete("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"])
            except ApiError:
                pass

    def _sync_status(self, d: dict, new: dict | None, olds: list[dict], replicas: int, created_new: bool) -> float | None:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        spec = d["spec"]
        sets = ([new] if new else []) + [rs for rs in olds if self.store.get("replicasets.apps", ns, rs["metadata"]["name"]) is not None]
        _, max_unavailable = surge_unavailable(spec, replicas)
        total_spec = sum(_spec_replicas(rs) for rs in sets)
        available = sum(_st(rs, "availableReplicas") for rs in sets)
        updated = _st(new, "replicas") if new else 0
        actual = sum(_st(rs, "replicas") for rs in sets)
        old_status = d.get("status") or {}
        counts = {
            "replicas": actual,
            "updatedReplicas": updated,
            "readyReplicas": sum(_st(rs, "readyReplicas") for rs in sets),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total_spec - available),
        }
        now = fmt_time(self.now())
        conds = old_status.get("conditions") or []
        if available >= replicas - max_unavailable:
            conds = set_condition(conds, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now, True)
        else:
            conds = set_condition(conds, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now, True)
        rs_name = new["metadata"]["name"] if new else ""
        complete = new is not None and updated == replicas and actual == replicas and available >= replicas and \
            _spec_replicas(new) == replicas and not any(_spec_replicas(rs) or _st(rs, "replicas") for rs in olds)
        progress = any(old_status.get(k, 0) != v for k, v in counts.items())
        wait = None
        prog = next((c for c in conds if c.get("type") == "Progressing"), None)
        deadline = spec.get("progressDeadlineSeconds")
        if spec.get("paused"):
            conds = set_condition(conds, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now, True)
        elif complete:
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.', now, True)
        elif created_new:
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"', now, True, refresh=True)
        elif prog is None or prog.get("reason") in ("DeploymentPaused", "DeploymentResumed") and not progress:
            conds = set_condition(conds, "Progressing", "True", "FoundNewReplicaSet", f'Found new replica set "{rs_name}"', now, True, refresh=True)
        elif progress or prog.get("reason") == "NewReplicaSetAvailable":
            conds = set_condition(conds, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.', now, True, refresh=True)
        elif deadline and prog.get("reason") != "ProgressDeadlineExceeded":
            last = parse_time(prog.get("lastUpdateTime"))
            left = float(deadline) - (self.now() - last).total_seconds() if last else 0.0
            if left <= 0:
                conds = set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.', now, True)
            else:
                wait = left + 0.5
        status = drop_empty({**counts, "observedGeneration": d["metadata"].get("generation", 1)})
        status["conditions"] = conds
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        if status != old_status:
            self.store.mutate("deployments.apps", ns, name, lambda o: o.update(status=status), subresource="status")
        if new is not None:
            rev = (new["metadata"].get("annotations") or {}).get(REVISION)
            if rev and (d["metadata"].get("annotations") or {}).get(REVISION) != rev:
                self.store.mutate("deployments.apps", ns, name, lambda o: o["metadata"].setdefault("annotations", {}).update({REVISION: rev}))
        return wait
