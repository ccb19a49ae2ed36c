"""The nightly `down --scheduled` takes a verified backup to the team store before it scales
anything (config [backup] before_scheduled_down; on by default when a store is set): the backup
nobody has to remember. The local copy is written to a private temporary directory (a CronJob's
pod has no backup directory worth keeping) and removed once the store holds the verified blob.
A failure is the run's failure: nothing is scaled, and the webhook hears of it like any other."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tripgenctl.errors import ToolError
from tripgenctl.ops import store


def target(cfg) -> store.StoreUrl | None:
    """The store a scheduled down backs up to, or None when that is off."""
    url = cfg.backup.store  # $TRIPGENCTL_BACKUP_STORE already applied (config.apply_environ)
    wanted = cfg.backup.before_scheduled_down
    if wanted is None:
        wanted = bool(url)
    if not wanted:
        return None
    if not url:
        raise ToolError("backup.before_scheduled_down is on but no backup store is set ([backup] store)")
    return store.parse(url)


def take(kube, cfg, where: store.StoreUrl) -> store.StoredBackup:
    tmp = Path(tempfile.mkdtemp(prefix="tripgenctl-scheduled-"))
    try:
        return store.backup_to_store(kube, tmp / "backups", where, fmt=cfg.backup.format, name_format=cfg.backup.name_format)
    except ToolError as exc:
        raise ToolError(f"the scheduled backup to {where} failed, nothing was scaled: {exc.message}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
