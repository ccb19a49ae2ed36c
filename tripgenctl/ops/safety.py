"""The one safety contract of every command that can lose data or availability (docs/ARCHITECTURE.md,
"Destructive commands"). Each such command goes through a `Gate`, in this order:

1. target guard  the kube context is one configured for the environment (ops/guard.py); a
                 mismatch needs --allow-other-context, never just --yes;
2. plan          what will change (objects, row or key counts, context, namespace, database);
                 --dry-run shows exactly this plan and stops;
3. confirm       the caller's confirm(question) callback: a question on a terminal, a refusal
                 without one unless --yes (ops never read the terminal themselves);
4. data first    a plan that deletes or overwrites rows gets a verified safety backup before
                 anything changes (ops.backup keeps a file only after reading it back whole),
                 skipped only by --no-safety-backup;
5. trail         who, what, when and the result as a Kubernetes Event on the namespace (and a JSON
                 line with --log-format json), also when the run fails or is interrupted.

A run that ends with exit 2 (refused, not confirmed, bad input, cluster unreachable) changed nothing
and leaves no Event; anything else that got past the question does."""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from tripgenctl.errors import EXIT_USAGE, ToolError
from tripgenctl.ops import guard

T = TypeVar("T")
EVENT_COMPONENT = "tripgenctl"
ANNOTATION_PREFIX = "tripgenctl.io/"


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: handled alike (finally blocks run, locks are released, partial
    files removed); the CLI exits 128 + signal number."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


def signum_of(exc: BaseException) -> int:
    return getattr(exc, "signum", int(signal.SIGINT))


# ---- the plan ------------------------------------------------------------------------------------

@dataclass
class Change:
    object: str  # "table users", "Secret postgresql-secret", "Redis db 0", "Deployment/trip-service"
    change: str  # "11 rows deleted, reloaded", "replaced", "1000 keys deleted", "1 -> 0"


@dataclass
class Plan:
    action: str  # the command as typed: "data init --force", "cache flush"
    context: str
    namespace: str
    changes: list[Change] = field(default_factory=list)
    database: str | None = None
    overwrites_rows: bool = False  # rows go or are overwritten: a verified safety backup first
    destructive: bool = True  # False: nothing exists that could be lost, so no question
    note: str | None = None
    dry_run: bool = False
    _backup_prefix: str | None = None  # (not shown) safety backup name: <prefix>-YYYYmmdd-HHMMSS (default pre-<action>)
    safety_backup: str | None = None  # filled once taken (the plan of a real run is reported)

    __sections__ = ("changes",)

    def where(self) -> str:
        return f"context {self.context}, namespace {self.namespace}" + (f", database {self.database}" if self.database else "")

    def summary(self) -> str:
        what = "; ".join(f"{c.object}: {c.change}" for c in self.changes) or "nothing to change"
        return f"{self.action} in {self.where()}: {what}"

    def question(self) -> str:
        backup = " (a safety backup is taken first)" if self.overwrites_rows else ""
        return f"{self.summary()}{backup}. Continue?"


# ---- the trail -----------------------------------------------------------------------------------

def who() -> str:
    from tripgenctl.ops.lock import user_host

    return user_host()


def _reason(action: str) -> str:
    """`data init --force` -> DataInit: an Event reason is UpperCamelCase."""
    words = [part for w in action.split() if not w.startswith("-") for part in w.split("-") if part]
    return "".join(w[:1].upper() + w[1:] for w in words) or "Tripgenctl"


def event_body(namespace: str, action: str, result: str, message: str, by: str, at: datetime | None = None,
               details: dict[str, Any] | None = None) -> dict:
    at = at or datetime.now(timezone.utc)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    annotations = {f"{ANNOTATION_PREFIX}action": action, f"{ANNOTATION_PREFIX}result": result, f"{ANNOTATION_PREFIX}by": by}
    for k, v in (details or {}).items():
        if v is not None:
            annotations[f"{ANNOTATION_PREFIX}{k}"] = str(v)
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{namespace}.tripgenctl.{time.time_ns():x}", "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "tripgenctl"}, "annotations": annotations},
        "involvedObject": {"apiVersion": "v1", "kind": "Namespace", "name": namespace},
        "reason": _reason(action),
        "message": f"{action} by {by}: {result}" + (f": {message}" if message else ""),
        "type": "Normal" if result == "ok" else "Warning",
        "source": {"component": EVENT_COMPONENT},
        "reportingComponent": EVENT_COMPONENT, "reportingInstance": by[:128],
        "action": action[:128],
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }


def record_event(kube, namespace: str, action: str, result: str, message: str = "", by: str | None = None,
                 details: dict[str, Any] | None = None) -> str | None:
    """Write the Event; return None, or why it could not be written (the run itself has already
    happened: a missing `create events` right must not turn a done run into a failure)."""
    from tripgenctl.kube import resources

    body = event_body(namespace, action, result, message, by or who(), details=details)
    try:
        resources.create_event(kube, namespace, body)
    except Exception as exc:  # noqa: BLE001 - refused or transport trouble: reported, not raised
        code = resources.http_status(exc)
        if code is None:
            return f"{type(exc).__name__}: {exc}"[:200]
        why = resources.api_message(exc)
        return f"HTTP {code}" + (f": {why}" if why else "")
    return None


def events(kube, namespace: str) -> list[dict]:
    """tripgenctl's own Events on a namespace, oldest first (for tests and `doctor`)."""
    from tripgenctl.kube import resources

    items = resources.events(kube, namespace)
    own = [e for e in items if (e.get("source") or {}).get("component") == EVENT_COMPONENT
           or e.get("reportingComponent") == EVENT_COMPONENT]
    return sorted(own, key=lambda e: (e.get("lastTimestamp") or "", e["metadata"]["name"]))


def _verdict(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ToolError):
        return "failed", exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", f"interrupted ({Interrupted(signum_of(exc)).name})"
    return "failed", f"{type(exc).__name__}: {exc}"


# ---- the gate ------------------------------------------------------------------------------------

@dataclass
class Options:
    """What the person asked for on the command line."""

    yes: bool = False
    dry_run: bool = False
    allow_other_context: bool = False
    no_safety_backup: bool = False
    backup_dir: Path | None = None
    log_format: str = "text"  # text | json


@dataclass
class Gate:
    options: Options
    config: Any  # ToolConfig
    confirm: Callable[[str], None]  # raises NotConfirmed (no, no terminal, end of input) or Interrupted
    show_plan: Callable[[Plan], None] = lambda plan: None  # the --dry-run plan
    say: Callable[[str], None] = lambda text: None  # progress / warning lines (stderr)
    emit: Callable[..., None] | None = None  # runlog.emit-like, for --log-format json

    # 1. target guard
    def guard(self, kube, action: str) -> guard.Target:
        return guard.require_expected(kube, self.config, action, allow_other_context=self.options.allow_other_context)

    # 2. + 3. plan and confirm
    def approve(self, plan: Plan) -> bool:
        """False: a dry run (the plan was shown). True: go ahead. Raises when refused."""
        if self.options.dry_run:
            plan.dry_run = True
            self.show_plan(plan)
            return False
        if plan.destructive and not self.options.yes:
            self.confirm(plan.question())
        return True

    # 4. data first
    def safety_backup(self, kube, plan: Plan) -> str | None:
        if not plan.overwrites_rows:
            return None
        if self.options.no_safety_backup:
            self.say(f"{plan.action}: no safety backup (--no-safety-backup)")
            return None
        from tripgenctl.ops import backup

        directory = self.options.backup_dir or Path(self.config.backup.dir)
        prefix = plan._backup_prefix or "pre-" + "-".join(w for w in plan.action.split() if not w.startswith("-"))
        name = f"{prefix}-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        self.say(f"safety backup of database {plan.database or '?'} before {plan.action}: {directory / name}")
        info = backup.backup(kube, directory, name=name, fmt=self.config.backup.format, kind="safety", unique=True)
        path = directory / info.file
        check = backup.verify(path)  # the file on disk, re-read: only then may the rows go
        if not check.ok:
            raise ToolError(f"{plan.action} stopped before changing anything: the safety backup {path} does not verify ({check.reason})")
        plan.safety_backup = str(path)
        return str(path)

    # 5. trail
    @contextlib.contextmanager
    def trail(self, kube, plan: Plan, approved: bool = True) -> Iterator["Record"]:
        """approved=False: the question is asked inside the block (an op that confirms itself,
        like restore); the caller sets record.approved once it was answered, and a Ctrl-C at
        the question is then not recorded as an interrupted run."""
        record = Record(approved=approved)
        started = time.monotonic()
        try:
            yield record
        except ToolError as exc:
            if exc.exit_code != EXIT_USAGE and record.approved:  # exit 2: refused / not confirmed, nothing changed
                self._record(kube, plan, *_verdict(exc), started)
            raise
        except BaseException as exc:  # failed or interrupted (Ctrl-C, SIGTERM): recorded, then re-raised
            if record.approved:
                self._record(kube, plan, *_verdict(exc), started)
            raise
        else:
            self._record(kube, plan, record.result, record.message, started)

    def _record(self, kube, plan: Plan, result: str, message: str, started: float) -> None:
        by = who()
        details = {"context": plan.context, "database": plan.database, "safety-backup": plan.safety_backup,
                   "duration": f"{time.monotonic() - started:.2f}s"}
        failed = record_event(kube, plan.namespace, plan.action, result, message, by, details)
        if self.options.log_format == "json" and self.emit is not None:
            self.emit(plan.action, f"{plan.action} by {by}: {result}" + (f": {message}" if message else ""),
                      level="info" if result == "ok" else "error", action=plan.action, namespace=plan.namespace,
                      context=plan.context, database=plan.database, result=result, by=by, safety_backup=plan.safety_backup,
                      changes=[f"{c.object}: {c.change}" for c in plan.changes], event=failed is None)
        if failed:
            self.say(f"warning: the run was not recorded as an Event in namespace {plan.namespace}: {failed}")

    # all five, for the common case
    def perform(self, kube, plan: Plan, work: Callable[[str | None], T], outcome: Callable[[T], tuple[bool, str]] | None = None) -> T | None:
        """approve -> safety backup -> work(backup_file) inside the trail. None for a dry run.
        `outcome(result)` -> (ok, message) for the Event; default: ok."""
        if not self.approve(plan):
            return None
        with self.trail(kube, plan) as record:
            backup_file = self.safety_backup(kube, plan)
            result = work(backup_file)
            if outcome is not None:
                ok, message = outcome(result)
                record.result, record.message = ("ok" if ok else "failed"), message
        return result


@dataclass
class Record:
    result: str = "ok"
    message: str = ""
    approved: bool = True
