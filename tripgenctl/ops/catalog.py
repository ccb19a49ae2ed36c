"""The backup directory as people and scripts see it: `db list` (a row per backup and per
`.partial` of an interrupted run, "verified" only for what `--check` re-hashed now), `db verify`
(the sha256 against the metadata and a full read-back; without metadata only what the archive
can prove by itself) and `db prune` (age and count rules, never the newest intact backup,
every file's action and reason reported)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tripgenctl.errors import ToolError, UsageError
from tripgenctl.ops import archive
from tripgenctl.ops.backup import in_use, iso, metadata_path, now_utc, read_metadata

RECORDED = "sha256 recorded, not re-checked"


@dataclass
class BackupEntry:
    """One row of `db list`. `verified` is what people read; `state` the same as a word for
    scripts: recorded (metadata says it was verified when written; bytes not re-read now),
    verified (re-hashed by this run, `--check`), damaged, no metadata, metadata unreadable,
    incomplete (a `.partial` left by a killed run) or in progress (a backup writing it now)."""

    file: str
    time: str
    size: int
    database: str
    namespace: str
    context: str
    kind: str
    verified: str
    state: str = "recorded"
    checked_at: str | None = None  # when --check re-hashed it
    compression: str = "-"  # as the metadata records it (none, gzip, gzip:6, lz4, zstd); "-" unknown

    __table__ = ("file", "time", "size", "compression", "database", "namespace", "kind", "verified")


@dataclass
class VerifyResult:
    file: str
    ok: bool
    sha256_ok: bool | None
    complete: bool
    reason: str


@dataclass
class PruneAction:
    file: str
    age: str
    action: str  # delete | deleted | keep
    reason: str


@dataclass
class PruneResult:
    deleted: list[str]
    kept: list[str]
    dry_run: bool
    actions: list[PruneAction] = field(default_factory=list)

    __sections__ = ("actions",)


def verify(path: Path) -> VerifyResult:
    """The sha256 against the metadata, then the archive read back whole. Without metadata a
    plain dump can only show its trailer; a custom archive is proven by its compressed blocks'
    own checksums, and an uncompressed one cannot be proven at all (a changed byte of row data
    reads back fine), which is said and is not ok."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a backup file")
    meta = read_metadata(path)
    sha_ok = None
    if meta is not None:
        sha_ok = archive.sha256_file(path) == meta.sha256
        if not sha_ok:
            return VerifyResult(str(path), False, False, False, "sha256 does not match the metadata: the file changed or is damaged")
    fmt = meta.format if meta else None
    complete, reason = archive.check_complete(path, fmt)
    ok = complete and sha_ok is not False
    if meta is None and complete:
        if (fmt or archive.detect_format(path)) == "custom":
            compression = archive.compression(path)
            if compression in ("none", "0", None):
                return VerifyResult(str(path), False, None, True,
                                    f"cannot prove {path.name} is intact without its metadata: the archive is uncompressed, so its data "
                                    "carries no checksum of its own (it reads back, but a changed byte of row data would too); "
                                    "restore it with --allow-unverified if you trust it")
            reason += f" and its {compression}-compressed data passed its checksums (no metadata file: origin unknown)"
        else:
            reason += " (no metadata file: checksum and origin unknown)"
    return VerifyResult(str(path), ok, sha_ok, complete, reason)


def _backup_files(backup_dir: Path) -> list[Path]:
    if not backup_dir.exists():
        return []
    return sorted(p for p in backup_dir.iterdir() if p.is_file() and p.suffix in (".dump", ".sql"))


def _partial_files(backup_dir: Path) -> list[Path]:
    if not backup_dir.exists():
        return []
    return sorted(p for p in backup_dir.iterdir() if p.is_file() and p.name.endswith((".dump.partial", ".sql.partial")))


def _mtime(st) -> str:
    return iso(datetime.fromtimestamp(st.st_mtime, timezone.utc))


def list_backups(backup_dir: Path, check: bool = False) -> list[BackupEntry]:
    """Every backup, and the `.partial` files of runs that did not finish. Only `check`
    re-reads the bytes: without it a row says what the metadata recorded, never "verified"."""
    entries = []
    for p in _backup_files(backup_dir):
        st = p.stat()
        try:
            meta = read_metadata(p)
            missing = None if meta is not None else "no metadata"
        except ToolError:
            meta, missing = None, "metadata unreadable"
        if meta is None:  # the file's own time stands in for the backup's
            entries.append(BackupEntry(p.name, _mtime(st), st.st_size, "-", "-", "-", "-", missing, missing))
            continue
        row = BackupEntry(p.name, meta.finished_at, st.st_size, meta.database, meta.namespace, meta.context, meta.kind, RECORDED,
                          compression=meta.compression or "-")
        if not meta.verified:
            row.verified = row.state = "not verified when written"
        elif meta.size != st.st_size:
            row.verified, row.state = "damaged: size mismatch", "damaged"
        elif check:
            row.checked_at = iso(now_utc())
            if archive.sha256_file(p) == meta.sha256:
                row.verified, row.state = f"verified {row.checked_at}", "verified"
            else:
                row.verified, row.state = "damaged: checksum mismatch", "damaged"
        entries.append(row)
    for p in _partial_files(backup_dir):
        st = p.stat()
        busy = in_use(p)
        text = "in progress: a backup is writing it" if busy else "incomplete: left by an interrupted backup (db prune removes it)"
        entries.append(BackupEntry(p.name, _mtime(st), st.st_size, "-", "-", "-", "-", text, "in progress" if busy else "incomplete"))
    entries.sort(key=lambda e: e.time)
    return entries


def _newest_intact(backup_dir: Path, entries: list[BackupEntry]) -> set[str]:
    """The newest verified backup whose bytes still match its recorded sha256 (a file changed
    in place keeps its size and would otherwise pass for verified). When none matches, the
    newest one recorded as verified is kept all the same: prune never makes things worse."""
    verified = [e for e in entries if e.state in ("recorded", "verified")]
    for e in reversed(verified):
        meta = read_metadata(backup_dir / e.file)
        if meta is not None and archive.sha256_file(backup_dir / e.file) == meta.sha256:
            return {e.file}
    return {verified[-1].file} if verified else set()


def _age(delta: timedelta) -> str:
    secs = max(0, int(delta.total_seconds()))
    days, rest = divmod(secs, 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"


def prune(backup_dir: Path, keep_days: int | None = 7, keep_last: int | None = None, dry_run: bool = False, now: datetime | None = None) -> PruneResult:
    """Delete old backups, never the newest verified one, and every `.partial` a killed run
    left (one a running backup holds is kept). Each file's action and reason are reported."""
    for option, value in (("--keep-days", keep_days), ("--keep-last", keep_last)):
        if value is not None and value < 0:
            raise UsageError(f"{option} must be 0 or more, not {value}")
    entries = list_backups(backup_dir)
    now = now or now_utc()
    backups = [e for e in entries if e.state not in ("incomplete", "in progress")]
    protect = _newest_intact(backup_dir, backups)
    last = {e.file for e in backups[-keep_last:]} if keep_last else set()
    deleted, kept, actions = [], [], []
    for e in entries:
        t = datetime.strptime(e.time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        age = _age(now - t)
        if e.state == "incomplete":
            delete, reason = True, "incomplete .partial left by an interrupted backup"
        elif e.state == "in progress":
            delete, reason = False, "a running backup is writing it"
        elif e.file in protect:
            delete, reason = False, "the newest intact backup is never pruned"
        elif e.file in last:
            delete, reason = False, f"one of the newest {keep_last} (--keep-last)"
        elif keep_days is not None and now - t > timedelta(days=keep_days):
            delete, reason = True, f"older than {keep_days} days" + ("" if e.state in ("recorded", "verified") else f" ({e.verified})")
        else:
            delete, reason = False, f"younger than {keep_days} days" if keep_days is not None else "no age limit"
        if delete:
            deleted.append(e.file)
            if not dry_run:
                (backup_dir / e.file).unlink(missing_ok=True)
                if e.state != "incomplete":
                    metadata_path(backup_dir / e.file).unlink(missing_ok=True)
                    (backup_dir / (e.file + ".globals")).unlink(missing_ok=True)  # its roles (ops/globals_dump.py)
        else:
            kept.append(e.file)
        actions.append(PruneAction(e.file, age, ("would delete" if dry_run else "deleted") if delete else "keep", reason))
    return PruneResult(deleted, kept, dry_run, actions)


