"""`db drill`: a backup nobody ever restored is a hope, not a backup. The drill restores the
newest backup (the team store's, or the backup directory's for this namespace) into a scratch
database beside the live one, runs the data validation of sql/checks.sql on it, drops it again
whatever happened, and reports the time to recover (download + restore) against the SPEC's
30-minute recovery target. The live database is never touched."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from tripgenctl.errors import ToolError, UsageError
from tripgenctl.ops import postgres, store
from tripgenctl.ops.backup import now_utc

RECOVERY_TARGET_SECONDS = 30 * 60  # SPEC: recovery within 30 minutes


@dataclass
class DrillResult:
    backup: str
    source: str  # the backup directory or the store URL
    scratch_database: str
    download_seconds: float
    restore_seconds: float
    recovery_seconds: float  # download + restore: what a real recovery would take
    target_seconds: int
    within_target: bool
    counts_match: bool | None
    validation: str  # the validation's one-line summary
    failed_checks: list[str] = field(default_factory=list)
    dropped: bool = True  # the scratch database was removed again
    ok: bool = False
    message: str = ""

    __table__ = ("backup", "scratch_database", "recovery_seconds", "target_seconds", "within_target", "validation", "ok")


def newest_local(backup_dir: Path, namespace: str) -> Path | None:
    from tripgenctl.ops import catalog

    for e in catalog.list_backups(backup_dir):  # newest first
        if e.namespace == namespace and e.kind == "backup" and e.state in ("recorded", "verified"):
            return backup_dir / e.file
    return None


def _validate(kube, database: str):
    from tripgenctl import pg
    from tripgenctl.ops import validation

    with pg.session(kube, application_name="tripgenctl-drill", database=database) as session:
        return validation.validate_session(session, database, target=f"{kube.namespace}/{postgres.pod_name(kube)}")


def drill(kube, backup_dir: Path, into: str | None = None, where: store.StoreUrl | None = None,
          target_seconds: int = RECOVERY_TARGET_SECONDS) -> DrillResult:
    from tripgenctl.ops import restore

    scratch = into or now_utc().strftime("drill_%Y%m%d_%H%M%S")
    postgres.require_ready(kube)
    if scratch in postgres.databases(kube):
        raise UsageError(f"database {scratch} already exists; --into wants a new, scratch database name")
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if where is not None:
            entry = next((e for e in store.list_store(where) if e.state == "verified" and e.kind == "backup" and e.namespace == kube.namespace), None)
            if entry is None:
                raise ToolError(f"no verified backup of namespace {kube.namespace} in {where} to drill")
            path = stack.enter_context(store.fetch(where, entry.file))
            source = str(where)
        else:
            path = newest_local(backup_dir, kube.namespace)
            if path is None:
                raise ToolError(f"no verified backup of namespace {kube.namespace} in {backup_dir} to drill")
            source = str(backup_dir)
        fetched = time.monotonic()
        result = restore.restore(kube, path, backup_dir, into=scratch, safety_backup=False, confirm=None)
        restored = time.monotonic()
        try:
            report = _validate(kube, scratch)
        finally:
            dropped = restore._drop_database(kube, scratch)
    recovery = restored - started
    failed = [c.check for c in report.checks if not c.ok]
    within = recovery <= target_seconds
    ok = report.ok and within and result.counts_match is not False and dropped
    problems = []
    if failed:
        problems.append("validation failed: " + "; ".join(f"{c.check}: expected {c.expected}, found {c.found}" for c in report.checks if not c.ok))
    if result.counts_match is False:
        problems.append(f"row counts differ from the backup's: {result.mismatches}")
    if not within:
        problems.append(f"recovery took {recovery:.0f} s, more than the {target_seconds} s target")
    if not dropped:
        problems.append(f"the scratch database {scratch} could not be dropped: drop it by hand")
    message = (f"drill of {path.name}: recovered in {recovery:.1f} s (target {target_seconds // 60} min), {report.message}"
               if ok else f"drill of {path.name} failed: " + "; ".join(problems))
    return DrillResult(backup=path.name, source=source, scratch_database=scratch, download_seconds=round(fetched - started, 2),
                       restore_seconds=round(restored - fetched, 2), recovery_seconds=round(recovery, 2), target_seconds=target_seconds,
                       within_target=within, counts_match=result.counts_match, validation=report.message, failed_checks=failed,
                       dropped=dropped, ok=ok, message=message)


def announce_failure(url: str | None, namespace: str, context: str, reason: str, seconds: float) -> None:
    """A scheduled drill that failed is posted to the webhook like a failed nightly run (a
    backup that cannot be restored is news the team must hear before they need it)."""
    from tripgenctl import notify
    from tripgenctl.ops import runlog

    summary = runlog.RunSummary("drill", namespace, context, "failed", reason, round(seconds, 2), True)
    notify.post(url, summary.payload())
