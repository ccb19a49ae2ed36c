"""What else would undo a `down` or wake pods at night, and how `down`/`up` hold it: GitOps
controllers (ops/gitops.py), autoscalers and CronJobs (ops/autoscalers.py). Each is a Control:
an object, the fields of it that `down` sets (Argo's spec.syncPolicy.automated, Flux's
spec.suspend, a CronJob's spec.suspend, KEDA's paused-replicas annotation, an HPA's
minReplicas) and the values they had.

The originals are kept ON the object, in the annotation tripgenctl.io/paused, written in the
same merge patch that pauses it (with the object's resourceVersion: all or nothing), exactly as
the replica ledger is kept on each workload. A second `down` finds the annotation and never
replaces it; `up` restores the recorded values and removes the annotation in one patch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Optional

from tripgenctl.errors import ProblemFound, ToolError
from tripgenctl.kube import objects, retry
from tripgenctl.kube.client import answered
from tripgenctl.kube.errors import Conflict, Forbidden, KubeError, NotFound, Unavailable, body_message

LEDGER_ANNOTATION = "tripgenctl.io/paused"
Guard = Optional[Callable[[], None]]
Path = tuple[str, ...]


@dataclass
class Control:
    kind: str
    namespace: str
    name: str
    api_version: str  # group/version of its kind, e.g. argoproj.io/v1alpha1
    group: str  # for the permission check (SelfSubjectAccessReview)
    plural: str
    family: str  # gitops | autoscaler | job
    now: str  # what it does now, in words ("automated (selfHeal, prune)", "suspend: false")
    pause: dict[Path, object] = field(default_factory=dict)  # field -> value while asleep
    current: dict[Path, object] = field(default_factory=dict)  # field -> value now (None: absent)
    recorded: dict[Path, object] | None = None  # the ledger's originals (None: not paused by us)
    resource_version: str = ""
    note: str = ""
    allowed: bool | None = None  # may we patch it (None: not asked)
    # execution
    result: str = ""
    ok: bool | None = None

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def needs_pause(self) -> bool:
        """Something to write at down: no ledger yet, or the ledger is there but someone turned
        the automation back on (the originals stay the recorded ones)."""
        if self.recorded is None:
            return True
        return any(self.current.get(p) != v for p, v in self.pause.items())

    def originals(self) -> dict[Path, object]:
        return self.recorded if self.recorded is not None else dict(self.current)


@dataclass
class ControlRow:
    """A plan / result line for one control."""

    kind: str
    namespace: str
    name: str
    now: str
    change: str
    note: str

    __table__ = ("kind", "namespace", "name", "now", "change", "note")


# ---- the ledger --------------------------------------------------------------------------------


def get_path(obj: dict, path: Path):
    cur = obj
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def ledger_of(obj: dict) -> dict[Path, object] | None:
    """The recorded originals, or None (absent or unreadable: an unreadable ledger is treated
    as absent only for reading; down never overwrites an existing annotation, see pause())."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(LEDGER_ANNOTATION)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return {tuple(p): v for p, v in data["fields"]}
    except (ValueError, KeyError, TypeError):
        return {}


def _ledger_text(originals: dict[Path, object], by: str, at: str) -> str:
    return json.dumps({"fields": [[list(p), v] for p, v in originals.items()], "by": by, "at": at}, separators=(",", ":"))


def _patch(values: dict[Path, object], annotation: str | None, rv: str) -> dict:
    """One merge patch setting each path (None deletes it) and the ledger annotation (None
    removes it), guarded by the resourceVersion."""
    patch: dict = {"metadata": {"annotations": {LEDGER_ANNOTATION: annotation}}}
    if rv:
        patch["metadata"]["resourceVersion"] = rv
    for path, value in values.items():
        cur = patch
        for p in path[:-1]:
            cur = cur.setdefault(p, {})
        cur[path[-1]] = value
    return patch


def describe(values: dict[Path, object]) -> str:
    parts = []
    for path, v in values.items():
        shown = "absent" if v is None else json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else str(v)
        parts.append(f"{path[-1]}: {shown}")
    return ", ".join(parts)


# ---- permission ------------------------------------------------------------------------------


def may_patch(kube, namespace: str, group: str, plural: str, cache: dict | None = None) -> tuple[bool, str]:
    """A SelfSubjectAccessReview (`kubectl auth can-i patch`), asked once per kind and
    namespace: a down that cannot turn a controller off must say so before it scales."""
    key = (namespace, group, plural)
    if cache is not None and key in cache:
        return cache[key]
    answer = kube.can_i("patch", group, plural, namespace) or (True, "")  # cannot ask: find out at the write
    if cache is not None:
        cache[key] = answer
    return answer


# ---- writes ----------------------------------------------------------------------------------


def _write(kube, c: Control, patch: dict, what: str, guard: Guard):
    """One guarded merge patch under the door's retry policy (429/5xx/unreachable again with
    back-off, guard() before each attempt); its 409 is raised for _settle to re-read."""
    return retry.run(lambda: objects.merge_patch(kube, c.api_version, c.plural, c.name, patch, c.namespace, what=what), retry.WRITE, guard)


def _reread(kube, c: Control, refresh: Callable[[dict], None]) -> bool:
    obj = objects.read(kube, c.api_version, c.plural, c.name, c.namespace, what=f"read {c.ref}")
    if obj is None:
        return False
    if not isinstance(obj, dict):
        raise ProblemFound(f"read {c.ref}: 200 {str(obj or '')[:200]}")
    refresh(obj)
    return True


def refresh_from(c: Control, obj: dict) -> None:
    c.current = {p: get_path(obj, p) for p in c.pause}
    c.recorded = ledger_of(obj)
    c.resource_version = (obj.get("metadata") or {}).get("resourceVersion", "")


def pause(kube, c: Control, by: str, at: str, guard: Guard = None) -> None:
    """Set the pause values; record the originals unless a ledger is already there."""
    what = f"pause {c.ref}"
    for _ in range(6):
        if not c.needs_pause:
            c.ok, c.result = True, "already paused"
            return
        annotation = None
        if c.recorded is None:
            annotation = _ledger_text(c.originals(), by, at)
        patch = _patch(c.pause, annotation, c.resource_version)
        if annotation is None:  # keep the existing ledger as it is
            del patch["metadata"]["annotations"]
        settled, body = _settle(kube, c, lambda: _write(kube, c, patch, what, guard))
        if settled is None:
            continue
        if settled:
            return
        if isinstance(body, dict):
            refresh_from(c, body)
        c.ok, c.result = True, "paused"
        return
    raise ProblemFound(f"{what}: kept conflicting")


def _settle(kube, c: Control, write: Callable[[], object]) -> tuple[bool | None, object]:
    """A write and what its answer means: (None, _) to try again (409: re-read), (True, _) when
    the object is gone (recorded as such), (False, body) when the write succeeded; any other
    error is raised."""
    try:
        return False, write()
    except Conflict:
        if _reread(kube, c, lambda o: refresh_from(c, o)):
            return None, None
    except NotFound:
        pass
    c.ok, c.result = True, "gone"
    return True, None


def resume(kube, c: Control, guard: Guard = None) -> None:
    """Put the recorded originals back and drop the ledger (one patch)."""
    what = f"restore {c.ref}"
    for _ in range(6):
        if c.recorded is None:
            c.ok, c.result = True, "nothing recorded"
            return
        patch = _patch(dict(c.recorded), None, c.resource_version)
        settled, _ = _settle(kube, c, lambda: _write(kube, c, patch, what, guard))
        if settled is None:
            continue
        if settled:
            return
        c.ok, c.result = True, f"restored ({describe(c.recorded)})"
        return
    raise ProblemFound(f"{what}: kept conflicting")


def list_objects(kube, api_version: str, plural: str, namespace: str) -> tuple[list[dict] | None, str | None]:
    """(items, None); (None, None) when the kind is not served (no CRD: simply none);
    (None, why) when the answer is a refusal or an error."""
    try:
        body = objects.list_answer(kube, api_version, plural, namespace, missing_ok=True)
    except (KubeError, Unavailable) as exc:
        if not answered(exc):
            raise  # no answer at all: the command cannot go on
        return None, _why(exc)
    if body is None:
        return None, None
    if not isinstance(body, dict):
        return None, f"200 {str(body or '')[:200]}"
    return body.get("items") or [], None


def _why(exc: ToolError) -> str:
    """A refused list in the words of before: "forbidden (403): <message>" / "503 <message>"."""
    message = body_message(getattr(exc, "body", None))
    return f"forbidden (403): {message}" if isinstance(exc, Forbidden) else f"{exc.status} {message}"


def served_version(kube, group: str, cache: dict | None = None) -> str | None:
    """The group's preferred version, or None when the cluster does not serve the group."""
    return kube.preferred_version(group, cache)
