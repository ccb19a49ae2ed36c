"""A test stand-in for Argo CD's self-heal (the application controller with
spec.syncPolicy.automated.selfHeal: true): it puts the replicas of the Deployments and
StatefulSets in an Application's destination namespace back to "git" the moment they differ,
and again on every reconcile period, which is exactly what undoes a downscaler that does not
pause it (argo-cd #8207). Only replicas are healed; nothing else of Argo CD is imitated.

"Git" is the annotation sandbox.tripgen.io/git-replicas on the Application, a JSON object
{"Deployment/name": count, ...}; without it, the counts the controller first saw while the
Application was automated. With automated absent (or selfHeal false) it does nothing, and it
reports status.sync.status Synced / OutOfSync like Argo CD does (a status write per change, so
clients patching the Application meet resourceVersion conflicts, as with the real one).

Only active when the Application CRD is installed (tripgen_sandbox/gitops.py installs it)."""

from __future__ import annotations

import json
import logging

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.manager import Controller

log = logging.getLogger(__name__)

APPS_KEY = "applications.argoproj.io"
GIT_ANNOTATION = "sandbox.tripgen.io/git-replicas"
PERIOD = 1.0  # seconds between looks (Argo CD's default is minutes; tests want several periods fast)
KINDS = {"deployments.apps": "Deployment", "statefulsets.apps": "StatefulSet"}


class ArgoSelfHealController(Controller):
    name = "argo-selfheal"
    primary = APPS_KEY
    watches = tuple(KINDS)

    def __init__(self, manager):
        super().__init__(manager)
        self._seen: dict[str, dict[str, int]] = {}  # Application uid -> counts first seen

    def _apps(self) -> list[dict]:
        try:
            return list(self.store.iter(APPS_KEY))
        except ApiError:  # the CRD is not installed: no Applications
            return []

    def resync_keys(self):
        return [(a["metadata"]["namespace"], a["metadata"]["name"]) for a in self._apps()]

    def keys_for(self, type_, key, obj):
        if key in KINDS:
            ns = obj["metadata"].get("namespace")
            for app in self._apps():
                if ((app.get("spec") or {}).get("destination") or {}).get("namespace") == ns:
                    yield (app["metadata"]["namespace"], app["metadata"]["name"])
        else:
            yield from super().keys_for(type_, key, obj)

    def get(self, key):
        try:
            return super().get(key)
        except ApiError:
            return None

    def _live(self, ns: str) -> dict[str, int]:
        out = {}
        for key, kind in KINDS.items():
            for o in self.store.iter(key, ns):
                if not o["metadata"].get("deletionTimestamp"):
                    out[f"{kind}/{o['metadata']['name']}"] = int((o.get("spec") or {}).get("replicas", 1))
        return out

    def _git(self, app: dict, live: dict[str, int]) -> dict[str, int]:
        raw = (app["metadata"].get("annotations") or {}).get(GIT_ANNOTATION)
        if raw:
            try:
                return {str(k): int(v) for k, v in json.loads(raw).items()}
            except (ValueError, TypeError, AttributeError):
                log.warning("%s: unreadable %s", app["metadata"]["name"], GIT_ANNOTATION)
        return self._seen.setdefault(app["metadata"]["uid"], dict(live))

    def reconcile(self, key) -> float | None:
        app = self.get(key)
        if app is None or app["metadata"].get("deletionTimestamp"):
            return None
        spec = app.get("spec") or {}
        automated = (spec.get("syncPolicy") or {}).get("automated")
        ns = (spec.get("destination") or {}).get("namespace")
        if not ns:
            return None
        live = self._live(ns)
        if not isinstance(automated, dict) or automated.get("enabled") is False:
            self._seen.pop(app["metadata"]["uid"], None)  # manual: the next automation starts from what it sees
            self._status(key, app, live, None)
            return PERIOD
        git = self._git(app, live)
        if automated.get("selfHeal"):
            for ref, want in git.items():
                if ref in live and live[ref] != want:
                    kind, name = ref.split("/", 1)
                    store_key = next(k for k, v in KINDS.items() if v == kind)
                    self.store.mutate(store_key, ns, name, lambda o, w=want: o.setdefault("spec", {}).__setitem__("replicas", w))
                    log.info("self-heal %s: %s %s -> %s", app["metadata"]["name"], ref, live[ref], want)
                    live[ref] = want
        self._status(key, app, live, git)
        return PERIOD

    def _status(self, key, app: dict, live: dict[str, int], git: dict[str, int] | None) -> None:
        synced = git is None or all(live.get(r, w) == w for r, w in git.items())
        want = "Synced" if synced else "OutOfSync"
        if ((app.get("status") or {}).get("sync") or {}).get("status") != want:
            self.store.mutate(APPS_KEY, key[0], key[1], lambda o: o.setdefault("status", {}).setdefault("sync", {}).__setitem__("status", want))
