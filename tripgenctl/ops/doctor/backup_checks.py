"""Is there a recent verified backup of this environment? The SPEC's backups are weekly and
nothing else warns when the last one is old (or when there never was one): the newest verified
backup of this namespace in the local backup directory or the team store ([backup] store) older
than [backup] max_age_days (default 7) is a warning; none at all is critical. A store that
cannot be read is said so, and the local directory still answers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tripgenctl.errors import ToolError
from tripgenctl.ops.doctor.model import Finding

FIX = "take one now; a store set in [backup] store makes the nightly down take one every evening"


def _when(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def newest(cfg, namespace: str) -> tuple[datetime | None, str, list[str]]:
    """(time, where, problems) of the newest verified backup of `namespace`."""
    from tripgenctl.ops import catalog, store

    found: list[tuple[datetime, str]] = []
    problems: list[str] = []
    directory = Path(cfg.backup.dir)
    try:
        for e in catalog.list_backups(directory):
            when = _when(e.time)
            if e.namespace == namespace and e.kind == "backup" and e.state in ("recorded", "verified") and when:
                found.append((when, f"{directory}/{e.file}"))
    except (ToolError, OSError) as exc:
        problems.append(f"backup directory {directory}: {getattr(exc, 'message', exc)}")
    url = cfg.backup.store  # $TRIPGENCTL_BACKUP_STORE already applied (config.apply_environ)
    if url:
        try:
            for e in store.list_store(store.parse(url)):
                when = _when(e.time)
                if e.namespace == namespace and e.kind == "backup" and e.state == "verified" and when:
                    found.append((when, e.url))
        except ToolError as exc:
            problems.append(exc.message)
    if not found:
        return None, "", problems
    when, where = max(found)
    return when, where, problems


def check_backups(snap, cfg, ctx) -> list[Finding]:
    limit = float(cfg.backup.max_age_days)
    when, where, problems = newest(cfg, snap.namespace)
    findings = [Finding("backup", "warning", "backup-store", "could not read where backups are kept", p,
                        fix="check the store's credentials (TRIPGENCTL_BACKUP_STORE_CONNECTION_STRING, az login)") for p in problems]
    command = f"tripgenctl db backup -n {snap.namespace}" + (" --to azure" if cfg.backup.store else "")
    if when is None:
        findings.append(Finding("backup", "critical", f"namespace/{snap.namespace}", "no verified backup of this environment",
                                f"none in {cfg.backup.dir}" + (f" or {cfg.backup.store}" if cfg.backup.store else ""),
                                cause="backups are manual and nobody took one", fix=FIX, command=command))
        return findings
    age = (ctx.now - when).total_seconds() / 86400
    if age > limit:
        findings.append(Finding("backup", "warning", f"namespace/{snap.namespace}",
                                f"the newest verified backup is {age:.1f} days old (more than {limit:g})", where,
                                cause="no backup since then", fix=FIX, command=command))
    return findings
