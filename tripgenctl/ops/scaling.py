"""The nightly `down` and the morning `up`, as a plan (pure, testable, shown by --dry-run and
before the question) and its execution.

Invariants that make both safe to run twice, concurrently (under the lock) or half-way
interrupted:
- `down` writes the remembered count BEFORE scaling to 0, and only when the workload is not
  already down (no tripgenctl.io/scaled-down annotation, replicas > 0): a second `down` never
  replaces the count with 0;
- `up` scales to the remembered count BEFORE removing the annotations, so an interrupted `up`
  still knows the count;
- scaling goes through the scale subresource; every write is retried on transient errors with
  back-off, and on 409 where that is safe (kube/retry.py: the guarded ledger write re-reads);
- every write (each attempt of it) is preceded by `guard()` when one is given: under the lock
  that is Lock.confirm(), so a run that lost the lock makes no further write."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from tripgenctl.errors import ProblemFound, ToolError
from tripgenctl.kube import resources, retry
from tripgenctl.kube import workloads as kw
from tripgenctl.kube.errors import Conflict
from tripgenctl.ops import controls as ctl
from tripgenctl.ops import waiting
from tripgenctl.ops.controls import Control, ControlRow
from tripgenctl.ops.drift import SNAPSHOT_ANNOTATION
from tripgenctl.ops import workloads as wl
from tripgenctl.reporting import SILENT, Reporter

DEFAULT_UP_REPLICAS = 1
Guard = Optional[Callable[[], None]]  # raises (LostLock) when a write must not happen


@dataclass
class Step:
    kind: str
    name: str
    role: str
    stage: int  # execution order: lower first
    current: int
    target: int
    record: int | None = None  # down: the count to remember (None: keep / nothing to keep)
    change: bool = True  # False: nothing to write (already there)
    note: str = ""
    selector: dict = field(default_factory=dict)
    resource_version: str = ""
    hold: bool = False  # at 0 before down (a person's doing): recorded as 0, so up leaves it at 0
    snapshot: str = ""  # down: its containers as they were (ops/drift.py), kept with the ledger
    # filled by execution
    result: str = ""
    ok: bool | None = None
    reason: str | None = None
    ready_at: str | None = None
    started: float | None = None  # monotonic time of the scale call
    seconds: float | None = None  # from the scale call until stopped / Ready

    __table__ = ("kind", "name", "transition", "note")

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def transition(self) -> str:
        return f"{self.current} → {self.target}" if self.change else f"{self.current} (unchanged)"


@dataclass
class PlanRow:
    kind: str
    name: str
    order: int
    from_replicas: int
    to_replicas: int
    transition: str
    note: str


@dataclass
class PlanView:
    """What --dry-run and the question show: (workload, from → to) in execution order."""

    action: str
    namespace: str
    steps: list[PlanRow] = field(default_factory=list)
    skipped: list[PlanRow] = field(default_factory=list)
    controls: list[ControlRow] = field(default_factory=list)  # GitOps, autoscalers, CronJobs paused / restored
    warnings: str | None = None  # what could not be looked at (a refused list)

    __sections__ = ("steps", "skipped", "controls")


@dataclass
class Plan:
    action: str  # up | down
    namespace: str
    steps: list[Step] = field(default_factory=list)  # in execution order
    skipped: list[Step] = field(default_factory=list)  # excluded / left alone, with the reason
    controls: list[Control] = field(default_factory=list)  # ops/controls.py: held at down, restored at up
    refusals: list[str] = field(default_factory=list)  # GitOps objects down could not pause (it refuses)
    drift: list = field(default_factory=list)  # up: ops/drift.DriftRow, what changed while asleep
    warnings: list[str] = field(default_factory=list)  # autoscalers / CronJobs that could not be listed
    ignore_gitops: bool = False

    __sections__ = ("steps", "skipped")

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.change]

    def view(self) -> PlanView:
        def row(s: Step, order: int) -> PlanRow:
            return PlanRow(s.kind, s.name, order, s.current, s.target, s.transition, s.note)

        return PlanView(self.action, self.namespace, [row(s, s.stage + 1) for s in self.steps], [row(s, 0) for s in self.skipped],
                        [control_row(c, self.action, planned=True, ignore_gitops=self.ignore_gitops) for c in self.controls],
                        "; ".join(self.warnings + (self.refusals if self.action == "down" else [])) or None)


@dataclass
class WorkloadResult:
    kind: str
    name: str
    change: str
    result: str  # ready / down / failed / unchanged / not started
    reason: str | None = None
    health: str | None = None  # up: smoke test of the app's health endpoint
    from_replicas: int | None = None
    to_replicas: int | None = None
    seconds: float | None = None  # scale call -> stopped / Ready (cron logs: per-workload duration)

    __table__ = ("kind", "name", "change", "result", "reason", "health")


@dataclass
class RunResult:
    action: str
    namespace: str
    dry_run: bool
    ok: bool
    message: str
    seconds: float
    workloads: list[WorkloadResult] = field(default_factory=list)
    skipped: list[WorkloadResult] = field(default_factory=list)
    postgres_query: str | None = None  # up: "SELECT 1 ok" / why not
    controls: list[ControlRow] = field(default_factory=list)  # GitOps, autoscalers, CronJobs: what was paused / restored
    drift: list = field(default_factory=list)  # up: what changed while the environment slept (ops/drift.py)
    warnings: str | None = None

    __sections__ = ("workloads", "skipped", "controls", "drift")


# ---- planning (pure) --------------------------------------------------------------------------


def _data_stage_down(name: str, data_names: tuple[str, str]) -> int:
    postgres, redis = data_names
    return 2 if name == postgres else 1 if name == redis else 1


def plan_down(status: wl.NamespaceStatus, data_names: tuple[str, str], include_data: bool = False, exclude: tuple[str, ...] = ()) -> Plan:
    """Apps first (stage 0), then Redis (1), then PostgreSQL (2) when include_data."""
    plan = Plan("down", status.namespace)
    for w in status.workloads:
        step = Step(w.kind, w.name, w.role, 0, w.desired, 0, selector=w.selector, resource_version=w._resource_version, snapshot=w._snapshot)
        if w.name in exclude or w.ref in exclude:
            step.change, step.target, step.note = False, w.desired, "excluded (--exclude)"
            plan.skipped.append(step)
            continue
        if w.excluded:
            step.change, step.target, step.note = False, w.desired, f"excluded ({wl.EXCLUDE_ANNOTATION})"
            plan.skipped.append(step)
            continue
        if w.role == "data":
            if not include_data:
                step.change, step.target, step.note = False, w.desired, "data stays up (--include-data to stop it)"
                plan.skipped.append(step)
                continue
            step.stage = _data_stage_down(w.name, data_names)
        already_down = w.scaled_down_at is not None or w.remembered is not None
        if already_down:
            step.record = None
            step.note = f"already down; remembers {w.remembered}" if w.remembered is not None else "already down"
            if w.drift:
                step.note += f"; {w.drift}"
        elif w.desired == 0:
            step.record = None
            step.hold = True
            step.note = "at 0 before down (by hand): recorded, up leaves it at 0"
        else:
            step.record = w.desired
            step.note = f"remember {w.desired}"
        step.change = w.desired != 0 or step.record is not None
        plan.steps.append(step)
    plan.steps.sort(key=lambda s: (s.stage, s.kind, s.name))
    return plan


def asleep_since(status: wl.NamespaceStatus):
    """When the environment went to sleep: the earliest scaled-down stamp of the ledger (None:
    it is not asleep, nothing carries the ledger)."""
    stamps = [t for w in status.workloads if (t := wl.parse_time(w.scaled_down_at)) is not None]
    return min(stamps) if stamps else None


def plan_up(status: wl.NamespaceStatus, data_names: tuple[str, str], exclude: tuple[str, ...] = ()) -> Plan:
    """Data (PostgreSQL, Redis) first (stage 0), then the apps (1). Each goes back to its
    remembered count; without one, a workload at 0 gets 1 and a running one keeps its count."""
    plan = Plan("up", status.namespace)
    slept = asleep_since(status)
    for w in status.workloads:
        step = Step(w.kind, w.name, w.role, 0 if w.role == "data" else 1, w.desired, w.desired, selector=w.selector, resource_version=w._resource_version)
        created = wl.parse_time(w._created)
        if slept is not None and w.remembered is None and w.scaled_down_at is None and created is not None and created > slept:
            step.change, step.note = False, f"created while the environment slept (after {wl.rfc3339(slept)}): up leaves it alone"
            plan.skipped.append(step)
            continue
        if w.name in exclude or w.ref in exclude:
            step.change, step.note = False, "excluded (--exclude)"
            plan.skipped.append(step)
            continue
        if w.excluded:
            step.change, step.note = False, f"excluded ({wl.EXCLUDE_ANNOTATION})"
            plan.skipped.append(step)
            continue
        if w.remembered == 0:  # a person had it at 0 before down: up does not start it
            step.hold = True
            step.note = "was at 0 before down (by hand): stays at 0" if w.desired == 0 else f"was at 0 before down; scaled to {w.desired} while asleep: kept"
        elif w.remembered is not None:
            step.target = w.remembered
            step.note = f"remembered {w.remembered}"
            if w.drift:
                step.note += f"; {w.drift}"
        elif w.desired == 0:
            step.target = DEFAULT_UP_REPLICAS
            step.note = f"nothing remembered: {DEFAULT_UP_REPLICAS}"
        else:
            step.note = "running"
        has_annotations = w.remembered is not None or w.scaled_down_at is not None
        step.change = step.target != w.desired or has_annotations
        plan.steps.append(step)
    plan.steps.sort(key=lambda s: (s.stage, s.kind, s.name))
    plan.drift = [r for r in status.spec_drift if r.against == "down"]
    return plan


# ---- the controls (GitOps, autoscalers, CronJobs) ------------------------------------------------

FAMILY_ORDER = {"gitops": 0, "autoscaler": 1, "job": 2}


def control_row(c: Control, action: str, planned: bool = False, ignore_gitops: bool = False) -> ControlRow:
    """What happens (planned) or happened to one control, in words."""
    fields = ", ".join(p[-1] for p in c.pause)
    if c.result and not planned:
        change = c.result
    elif action == "down":
        if c.allowed is False:
            change = "left on (--ignore-gitops)" if c.family == "gitops" and ignore_gitops else "not allowed to patch: left as is"
        elif not c.needs_pause:
            change = "already paused (original kept)"
        else:
            change = f"pause ({ctl.describe(c.pause)})"
    else:
        change = f"restore ({ctl.describe(c.recorded)})" if c.recorded is not None else "nothing recorded"
    note = c.note or (f"original {fields} recorded on it" if action == "down" and c.recorded is None and c.allowed is not False else "")
    return ControlRow(c.kind, c.namespace, c.name, c.now, change, note)


def attach_controls(plan: Plan, found: list[Control], bounds: dict[str, tuple[int, int]] | None = None) -> None:
    """Add the controls to the plan (down: all found; up: the ones with a ledger). Up also keeps
    each target within its HPA's bounds as they will be after the restore."""
    keep = found if plan.action == "down" else [c for c in found if c.recorded is not None]
    plan.controls = sorted(keep, key=lambda c: (FAMILY_ORDER.get(c.family, 9), c.kind, c.namespace, c.name))
    if plan.action == "up":
        for s in plan.steps:
            lo, hi = (bounds or {}).get(s.ref, (0, 0))
            if s.change and s.target > 0 and not s.hold:  # a running workload is the HPA's own business
                wanted = max(s.target, lo) if lo else s.target
                wanted = min(wanted, hi) if hi else wanted
                if wanted != s.target:
                    s.note += f"; {wanted} to agree with its HPA ({lo}..{hi})"
                    s.target, s.change = wanted, True


def _run_controls(kube, cs: list[Control], action: str, rep: Reporter, who: str, at: str, guard: Guard) -> None:
    for c in cs:
        if action == "down" and c.allowed is False:
            c.ok, c.result = True, "left as is (not allowed to patch)"
            continue
        if action == "down":
            ctl.pause(kube, c, who, at, guard)
        else:
            ctl.resume(kube, c, guard)
        rep.item(f"{c.kind.lower()}/{c.name}", c.result, True)


# ---- API writes (kube/workloads.py: the paths, the retry policy) ---------------------------------


def scale(kube, kind: str, name: str, replicas: int, guard: Guard = None) -> None:
    """Through the scale subresource, like `kubectl scale` and the HPA (only spec.replicas);
    sent again on 409, 429 and 5xx (kube/retry.py), guard() before every attempt."""
    kw.Workload(kind, name, kube.namespace, 0, "", kube=kube).scale(replicas, guard)


def remember(kube, step: Step, by: str, at: str, guard: Guard = None) -> int | None:
    """Record the count (rv-guarded). Re-reads on a conflict: if someone else recorded it in
    the meantime, theirs stands; if the count changed by hand, the fresh one is recorded.
    Returns what is remembered now (None when the workload turned out to be at 0)."""
    target = kw.Workload(step.kind, step.name, kube.namespace, step.current, step.resource_version, kube=kube)
    rv = step.resource_version
    count = 0 if step.hold else step.record
    for i in range(6):
        annotations = {wl.REPLICAS_ANNOTATION: str(count), wl.SCALED_DOWN_ANNOTATION: json.dumps({"by": by, "at": at}, separators=(",", ":"))}
        if step.snapshot:
            annotations[SNAPSHOT_ANNOTATION] = step.snapshot
        try:
            target.annotate(annotations, expected_resource_version=rv or None, guard=guard, what=f"record replicas of {step.ref}")
            return count
        except Conflict:
            pass
        cur = kw.get(kube, step.kind, step.name, what=f"read {step.ref}", policy=retry.READ)  # gone: NotFound
        if wl.remembered_of(cur.annotations) is not None:
            return wl.remembered_of(cur.annotations)
        count = cur.replicas
        if count == 0 and not step.hold:
            return None
        step.hold = count == 0  # scaled up meanwhile: an ordinary step, recorded and scaled
        rv = cur.resource_version
        step.snapshot = wl.drift_snapshot(cur.raw)
        time.sleep(min(0.1 * 2**i, 1.0))
    raise ProblemFound(f"record replicas of {step.ref}: kept conflicting")


def forget(kube, step: Step, guard: Guard = None) -> None:
    target = kw.Workload(step.kind, step.name, kube.namespace, step.current, "", kube=kube)
    target.annotate({wl.REPLICAS_ANNOTATION: None, wl.SCALED_DOWN_ANNOTATION: None, SNAPSHOT_ANNOTATION: None}, guard=guard,
                    what=f"clear remembered replicas of {step.ref}")


# ---- execution --------------------------------------------------------------------------------


def _targets(steps: list[Step], replicas: Callable[[Step], int]) -> list[waiting.Target]:
    return [waiting.Target(s.kind, s.name, replicas(s), s.selector) for s in steps]


def _stages(steps: list[Step]) -> list[list[Step]]:
    out: dict[int, list[Step]] = {}
    for s in steps:
        out.setdefault(s.stage, []).append(s)
    return [out[k] for k in sorted(out)]


def _settle(s: Step) -> None:
    """The first time a step is seen settled fixes its duration (later looks do not stretch it)."""
    if s.seconds is None and s.started is not None:
        s.seconds = round(time.monotonic() - s.started, 2)


def _not_waited(stage: list[Step]) -> None:
    """--no-wait: the scale call is the result."""
    for s in stage:
        s.ok, s.result = True, f"scaled to {s.target}"
        _settle(s)


def _watcher(stage: list[Step], rep: Reporter, describe: Callable[[waiting.Readiness], tuple[str, bool | None]]) -> Callable[[waiting.Readiness], None]:
    """The wait's on_update: fix a step's duration the moment it settles and show its state."""
    by_ref = {s.ref: s for s in stage}

    def update(o: waiting.Readiness) -> None:
        if o.ok and o.ref in by_ref:
            _settle(by_ref[o.ref])
        text, good = describe(o)
        rep.item(o.ref.split("/", 1)[1], text, good)

    return update


def _result(s: Step, result: str, reason: str | None, health: str | None = None) -> WorkloadResult:
    return WorkloadResult(s.kind, s.name, s.transition, result, reason, health, s.current, s.target, s.seconds)


STAGE_TITLES_DOWN = {0: "applications", 1: "Redis", 2: "PostgreSQL"}
STAGE_TITLES_UP = {0: "PostgreSQL and Redis", 1: "applications"}


def run_down(kube, plan: Plan, who: str, wait: bool = True, timeout: float = 300, reporter: Reporter | None = None, guard: Guard = None) -> RunResult:
    """guard: called before every write (ops/updown passes the lock's confirm)."""
    rep = reporter or SILENT
    started = time.monotonic()
    deadline = started + timeout
    at = wl.rfc3339()
    ok = True
    if plan.controls:  # before any scaling: a self-healing controller would undo it
        rep.phase("pausing GitOps, autoscalers and CronJobs")
        _run_controls(kube, plan.controls, "down", rep, who, at, guard)
    for stage in _stages(plan.steps):
        rep.phase(f"stopping {STAGE_TITLES_DOWN.get(stage[0].stage, 'workloads')}")
        for s in stage:
            if s.record is not None or s.hold:
                remembered = remember(kube, s, who, at, guard)
                if s.hold is False and s.current == 0 and remembered:  # scaled up since the plan
                    s.current = remembered
                s.note = (f"remembered {remembered}" if not s.hold else s.note) if remembered is not None else s.note
            s.started = time.monotonic()
            if s.current != 0:
                scale(kube, s.kind, s.name, 0, guard)
                rep.item(s.name, f"{s.current} → 0")
            else:
                rep.item(s.name, "already at 0")
        if not wait:
            _not_waited(stage)
            continue
        update = _watcher(stage, rep, lambda o: ("stopped" if o.ok else (o.reason or "stopping"), True if o.ok else None))
        outcomes = waiting.wait_gone(kube, _targets(stage, lambda s: 0), max(1.0, deadline - time.monotonic()), on_update=update)
        for s in stage:
            o = outcomes[s.ref]
            _settle(s)
            s.ok = o.ok
            s.result = "down" if o.ok else "stopping"
            s.reason = None if o.ok else o.reason
            if not o.ok:
                ok = False
                rep.item(s.name, o.reason or "still stopping", False)
        if not ok:
            break  # never stop PostgreSQL while apps may still be writing to it
    workloads = [_result(s, s.result or "not stopped", s.reason or (None if s.result else "an earlier stage did not finish")) for s in plan.steps]
    skipped = [_result(s, "left alone", s.note) for s in plan.skipped]
    stopped = sum(1 for s in plan.steps if s.ok)
    message = f"{stopped} workload(s) down" + (f", {len(plan.skipped)} left alone" if plan.skipped else "") if ok else "down did not finish: " + "; ".join(f"{s.name}: {s.reason}" for s in plan.steps if s.ok is False)
    held = [s.name for s in plan.steps if s.hold]
    if held:
        message += f"; {', '.join(held)} already at 0 by hand (stays at 0 after up)"
    paused = [c for c in plan.controls if c.result in ("paused", "already paused")]
    if paused:
        message += f"; paused {len(paused)} controller object(s) ({', '.join(sorted({c.kind for c in paused}))})"
    return RunResult("down", plan.namespace, False, ok, message, round(time.monotonic() - started, 2), workloads, skipped,
                     controls=[control_row(c, "down", ignore_gitops=plan.ignore_gitops) for c in plan.controls],
                     warnings="; ".join(plan.warnings + plan.refusals) or None)


def run_up(
    kube,
    plan: Plan,
    data_names: tuple[str, str],
    wait: bool = True,
    timeout: float = 300,
    reporter: Reporter | None = None,
    smoke: bool = True,
    guard: Guard = None,
) -> RunResult:
    """guard: called before every write (ops/updown passes the lock's confirm)."""
    rep = reporter or SILENT
    started = time.monotonic()
    deadline = started + timeout
    ok = True
    pg_query: str | None = None
    stages = _stages(plan.steps)
    blocked: str | None = None
    # KEDA paused at 0 holds its target at 0 (and an HPA's bounds shape it): resumed first
    early = [c for c in plan.controls if c.family == "autoscaler"]
    late = sorted((c for c in plan.controls if c.family != "autoscaler"), key=lambda c: -FAMILY_ORDER.get(c.family, 9))
    if early:
        rep.phase("resuming autoscalers")
        _run_controls(kube, early, "up", rep, "", "", guard)
    for stage in stages:
        title = STAGE_TITLES_UP.get(stage[0].stage, "workloads")
        if blocked:
            for s in stage:
                s.ok, s.result, s.reason = False, "not started", blocked
                rep.item(s.name, f"not started: {blocked}", False)
            continue
        rep.phase(f"starting {title}")
        for s in stage:
            s.started = time.monotonic()
            if s.change and s.target != s.current:
                scale(kube, s.kind, s.name, s.target, guard)
            # the count is applied: the remembered annotations have done their job
            if s.change:
                forget(kube, s, guard)
            rep.item(s.name, f"{s.current} → {s.target}" if s.target != s.current else f"{s.target} (unchanged)")
        if not wait:
            _not_waited(stage)
            continue

        def describe(o: waiting.Readiness) -> tuple[str, bool | None]:
            text = f"{o.ready}/{o.wanted} Ready" if o.ok else f"{o.ready}/{o.wanted} " + (o.reason or "starting")
            return text, True if o.ok else (False if o.reason and wl.is_failure(o.reason) else None)

        update = _watcher(stage, rep, describe)
        outcomes = waiting.wait_workloads(kube, _targets(stage, lambda s: s.target), max(1.0, deadline - time.monotonic()), on_update=update)
        for s in stage:
            o = outcomes[s.ref]
            _settle(s)
            s.ok, s.reason, s.ready_at = o.ok, o.reason, o.ready_at
            s.result = ("ready" if s.target > 0 else "down") if o.ok else "failed"
            if not o.ok:
                ok = False
                rep.item(s.name, o.reason or "not ready", False)
        if stage[0].stage == 0:
            postgres = next((s for s in stage if s.name == data_names[0]), None)
            if postgres is not None and postgres.ok and postgres.target > 0:
                rep.item(postgres.name, "SELECT 1 …")
                try:
                    pg_query = postgres_accepts_query(kube, f"{postgres.name}-0", max(5.0, deadline - time.monotonic()))
                    rep.item(postgres.name, f"Ready, {pg_query}", True)
                except ToolError as exc:
                    ok = False
                    postgres.ok, postgres.result, postgres.reason = False, "failed", exc.message
                    pg_query = exc.message
                    rep.item(postgres.name, exc.message, False)
            failed = [s.name for s in stage if not s.ok]
            if failed:
                blocked = f"{', '.join(failed)} did not come up"
    health: dict[str, str] = {}
    apps_ready = [s for s in plan.steps if s.role == "app" and s.ok and s.target > 0 and wait]
    if smoke and apps_ready:
        rep.phase("smoke test")
        health = smoke_test(kube, apps_ready, max(5.0, deadline - time.monotonic()), rep)
        for s in apps_ready:
            h = health.get(s.name)
            if h and not h.startswith("UP") and not h.startswith("no service"):
                ok = False
                s.ok, s.result, s.reason = False, "unhealthy", h
    if ok and late:  # CronJobs, then GitOps last: only once the workloads are up
        rep.phase("resuming CronJobs and GitOps")
        _run_controls(kube, late, "up", rep, "", "", guard)
    for c in late:
        if c.ok is None:
            c.result = "left paused: up incomplete (the next up restores it)"
    for s in plan.steps:
        if s.hold and s.target == 0 and s.ok:
            s.result, s.reason = "left at 0", "was at 0 before down (by hand)"
    workloads = [_result(s, s.result, s.reason, health.get(s.name)) for s in plan.steps]
    skipped = [_result(s, "left alone", s.note) for s in plan.skipped]
    took = round(time.monotonic() - started, 2)
    if ok:
        message = f"{sum(1 for s in plan.steps if s.target > 0)} workload(s) up in {took}s" if wait else f"scaled {len(plan.changes)} workload(s) (not waiting)"
    else:
        message = "up incomplete: " + "; ".join(f"{s.ref} {s.reason}" for s in plan.steps if s.ok is False)
    held = [s.name for s in plan.steps if s.hold and s.target == 0]
    if held:
        message += f"; {', '.join(held)} left at 0 (at 0 by hand before down)"
    newborn = [s.name for s in plan.skipped if s.note.startswith("created while")]
    if newborn:
        message += f"; {', '.join(newborn)} created while asleep, left alone"
    restored = [c for c in plan.controls if c.result.startswith("restored")]
    if restored:
        message += f"; restored {len(restored)} controller object(s) ({', '.join(sorted({c.kind for c in restored}))})"
    if plan.drift:
        message += f"; changed while asleep: " + ", ".join(f"{r.name} {r.field} ({r.by})" for r in plan.drift)
    return RunResult("up", plan.namespace, False, ok, message, took, workloads, skipped, pg_query,
                     controls=[control_row(c, "up") for c in plan.controls], drift=list(plan.drift), warnings="; ".join(plan.warnings) or None)


# ---- checks -----------------------------------------------------------------------------------


def postgres_accepts_query(kube, pod: str, timeout: float) -> str:
    """SELECT 1 with the Secret's credentials (never shown), through pg.address. Retried
    with back-off: Ready can come a moment before the server accepts connections."""
    from tripgenctl import pg
    from tripgenctl.ops import postgres

    try:
        creds = postgres.credentials(kube)
        user, password, database = creds.username, creds.password, creds.database
    except ToolError:
        user, password, database = "postgres", "", "postgres"
    deadline = time.monotonic() + timeout
    last = ""
    attempt = 0
    with pg.address(kube, pod) as (host, port):
        while True:
            try:
                with pg.connect(host, port, user, password, database, "tripgenctl-smoke", connect_timeout=5) as session:
                    if session.rows("SELECT 1") == [(1,)]:
                        return "SELECT 1 ok"
            except (pg.ConnectFailed, pg.QueryFailed) as exc:
                last = exc.message
            if time.monotonic() >= deadline:
                raise ProblemFound(f"PostgreSQL in {pod} is Ready but does not accept a query: {last}")
            attempt += 1
            time.sleep(min(0.2 * 2**attempt, 2.0))


def _service_for(services: list[dict], template_labels: dict) -> tuple[str, int | str] | None:
    for svc in services:
        sel = (svc.get("spec") or {}).get("selector") or {}
        if sel and all(template_labels.get(k) == v for k, v in sel.items()):
            ports = (svc.get("spec") or {}).get("ports") or []
            port = next((p for p in ports if p.get("port") == 8080), ports[0] if ports else None)
            if port is not None:
                return svc["metadata"]["name"], port.get("port")
    return None


def smoke_test(kube, steps: list[Step], timeout: float, rep: Reporter) -> dict[str, str]:
    """Each app's /actuator/health through the API server's service proxy: "UP", "DOWN (db)",
    or "no service" (a workload without a Service is not smoke-tested)."""
    services = resources.items(kube, "v1", "Service")
    deployments = {w.name: w.raw for w in kw.list_kind(kube, "Deployment")}
    out: dict[str, str] = {}
    deadline = time.monotonic() + min(timeout, 30.0)
    for s in steps:
        obj = deployments.get(s.name)
        labels = (((obj or {}).get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        found = _service_for(services, labels)
        if found is None:
            out[s.name] = "no service (not checked)"
            rep.item(s.name, "Ready (no service to smoke-test)", True)
            continue
        name, port = found
        attempt = 0
        while True:
            answer = resources.proxy_get(kube, f"services/{name}:{port}", "actuator/health")
            verdict = _health_verdict(answer.code, answer.body if answer.code else answer.body.get("error"))
            if verdict == "UP" or time.monotonic() >= deadline:
                break
            attempt += 1
            time.sleep(min(0.2 * 2**attempt, 2.0))
        out[s.name] = verdict
        rep.item(s.name, f"Ready, health {verdict}", verdict == "UP")
    return out


def _health_verdict(status: int, body) -> str:
    if isinstance(body, dict) and body.get("status"):
        state = str(body["status"])
        if state == "UP":
            return "UP"
        down = [k for k, v in (body.get("components") or {}).items() if isinstance(v, dict) and v.get("status") != "UP"]
        return f"{state} ({', '.join(down)})" if down else state
    return f"HTTP {status}" if status else f"unreachable: {body}"
