"""The team-shared backup store (`azure://<account>/<container>[/<prefix>]`): a backup that lives
only on one laptop is no backup when that laptop is away.

- `push`: a verified local backup goes up block by block; the blob carries the sha256, size and
  origin as metadata and `<file>.json` beside it holds the full metadata (the per-table counts
  do not fit Azure's 8 KB of metadata). After the upload the service's content MD5 and size are
  compared and the blob is read back whole and re-hashed; only then is it marked verified=true
  and its sidecar written. A failure before that deletes what was uploaded.
- `fetch`: download streamed into a private temporary directory, the sha256 compared with the
  blob's metadata AND the sidecar, the MD5 with the service's; nothing else happens before all
  of them agree (ops/restore.py then verifies the local copy once more).
- `list_store` / `prune_store`: the same rules as the local directory: age from the backup's own
  finish time, and never fewer than `keep_min` verified backups left.

Only tripgenctl/azure/blobstore.py imports the SDK."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from tripgenctl.config import STORE_VAR  # noqa: F401 - applied by config.apply_environ; named here for callers
from tripgenctl.errors import ToolError, UsageError
from tripgenctl.ops.backup import BackupInfo, Progress, iso, metadata_path, now_utc, private_dir

SIDECAR = ".json"
GLOBALS = ".globals"
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


@dataclass(frozen=True)
class StoreUrl:
    account: str
    container: str
    prefix: str = ""  # "" or "some/folder" (no slashes at either end)

    def __str__(self) -> str:
        return f"azure://{self.account}/{self.container}" + (f"/{self.prefix}" if self.prefix else "")

    def blob(self, file: str) -> str:
        return f"{self.prefix}/{file}" if self.prefix else file

    def url_of(self, file: str) -> str:
        return f"azure://{self.account}/{self.container}/{self.blob(file)}"


def parse(url: str, what: str = "backup store") -> StoreUrl:
    """`azure://account/container[/prefix]`, with Azure's naming rules checked here (one
    clear line instead of a 400 from the service)."""
    if not url or not url.startswith("azure://"):
        raise UsageError(f"{what} {url!r}: expected azure://<account>/<container>")
    parts = [p for p in url[len("azure://"):].split("/")]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise UsageError(f"{what} {url!r}: expected azure://<account>/<container>")
    account, container, rest = parts[0], parts[1], [p for p in parts[2:] if p]
    if not _ACCOUNT.fullmatch(account):
        raise UsageError(f"{what} {url!r}: the account name must be 3-24 lowercase letters and digits")
    if not _CONTAINER.fullmatch(container):
        raise UsageError(f"{what} {url!r}: the container name must be 3-63 lowercase letters, digits and single hyphens")
    return StoreUrl(account, container, "/".join(rest))


def parse_blob_url(url: str) -> tuple[StoreUrl, str]:
    """`azure://account/container/[prefix/]file` -> (the store with that prefix, file)."""
    store = parse(url, "backup")
    if not store.prefix:
        raise UsageError(f"backup {url!r}: expected azure://<account>/<container>/<file>")
    prefix, _, file = store.prefix.rpartition("/")
    return StoreUrl(store.account, store.container, prefix), file


def resolve(explicit: str | None, cfg) -> StoreUrl:
    """--store URL, else the config's store ($TRIPGENCTL_BACKUP_STORE applied when it was built)."""
    url = explicit or cfg.backup.store
    if not url:
        raise UsageError("no backup store: pass --store azure://<account>/<container> or set [backup] store in the config")
    return parse(url)


def _container(store: StoreUrl):
    from tripgenctl.azure.blobstore import Container

    return Container(store.account, store.container)


def _blob_metadata(info: BackupInfo, verified: bool) -> dict[str, str]:
    return {"sha256": info.sha256, "size": str(info.size), "format": info.format, "database": info.database,
            "namespace": info.namespace, "kind": info.kind, "finished_at": info.finished_at,
            "tool_version": info.tool_version, "verified": "true" if verified else "false",
            "compression": info.compression or "unknown"}


# ---- push -------------------------------------------------------------------------------------
@dataclass
class StoredBackup:
    """A backup as it is in the store after `push` (checked by reading it back)."""

    file: str
    url: str
    size: int
    sha256: str
    content_md5: str
    database: str
    namespace: str
    finished_at: str
    verified: bool
    local_file: str | None = None
    table_counts: dict[str, int] = field(default_factory=dict)

    __table__ = ("file", "url", "size", "database", "finished_at", "verified")


def push(path: Path, info: BackupInfo, store: StoreUrl, progress: Progress | None = None) -> StoredBackup:
    blob = store.blob(path.name)
    with _container(store) as c:
        c.ensure()
        verified = False
        try:
            sent_sha, sent_md5 = c.upload_file(path, blob, _blob_metadata(info, verified=False), progress)
            if sent_sha != info.sha256:
                raise ToolError(f"upload of {path.name} refused: the local file changed since it was verified (sha256 {sent_sha[:12]}…, metadata {info.sha256[:12]}…)")
            facts = c.facts(blob)
            if facts is None or facts.size != info.size:
                raise ToolError(f"upload of {path.name} failed verification: the store holds {facts.size if facts else 'no'} bytes, {info.size} were sent")
            if facts.content_md5 is not None and facts.content_md5 != sent_md5:
                raise ToolError(f"upload of {path.name} failed verification: the service's content MD5 differs from what was sent")
            if facts.metadata.get("sha256") != info.sha256:
                raise ToolError(f"upload of {path.name} failed verification: the blob's metadata lost its sha256")
            back = hashlib.sha256()
            size = 0
            for chunk in c.chunks(blob):
                back.update(chunk)
                size += len(chunk)
            if back.hexdigest() != info.sha256 or size != info.size:
                raise ToolError(f"upload of {path.name} failed verification: reading it back gave sha256 {back.hexdigest()[:12]}… ({size} bytes)")
            globals_local = path.with_name(path.name + ".globals")
            if info.globals_file and globals_local.exists():  # the roles beside the dump (ops/globals_dump.py)
                roles = globals_local.read_bytes()
                if hashlib.sha256(roles).hexdigest() != info.globals_sha256:
                    raise ToolError(f"upload of {path.name} refused: {globals_local.name} changed since the backup")
                c.put_small(blob + GLOBALS, roles)
            c.set_metadata(blob, _blob_metadata(info, verified=True))
            c.put_small(blob + SIDECAR, json.dumps(dict(info.__dict__, content_md5=sent_md5, store=str(store)), indent=2).encode())
            verified = True
        finally:
            if not verified:  # nothing half-checked stays in the team's store
                with contextlib.suppress(ToolError):
                    c.delete(blob)
                with contextlib.suppress(ToolError):
                    c.delete(blob + SIDECAR)
                with contextlib.suppress(ToolError):
                    c.delete(blob + GLOBALS)
    return StoredBackup(file=path.name, url=store.url_of(path.name), size=info.size, sha256=info.sha256, content_md5=sent_md5,
                        database=info.database, namespace=info.namespace, finished_at=info.finished_at, verified=True,
                        local_file=str(path), table_counts=info.table_counts)


def backup_to_store(kube, backup_dir: Path, store: StoreUrl, progress: Progress | None = None, **kwargs) -> StoredBackup:
    """A verified local backup (ops/backup.py), then `push`: the local copy is kept too."""
    from tripgenctl.ops.backup import backup

    info = backup(kube, backup_dir, progress=progress, **kwargs)
    return push(backup_dir / info.file, info, store, progress=None)


# ---- list -------------------------------------------------------------------------------------
@dataclass
class StoreEntry:
    file: str
    time: str
    size: int
    database: str
    namespace: str
    kind: str
    verified: str  # "verified after upload" | "unverified" (never read back) | "no metadata"
    state: str  # verified | unverified | no metadata
    url: str
    compression: str = "?"  # from the blob's metadata (ops/backup.py BackupInfo.compression)

    __table__ = ("file", "time", "size", "compression", "database", "namespace", "kind", "verified")


def _entries(c, store: StoreUrl) -> list[StoreEntry]:
    prefix = store.prefix + "/" if store.prefix else None
    blobs = c.list(prefix)
    names = {b.name for b in blobs}
    out = []
    for b in blobs:
        if b.name.endswith((SIDECAR, GLOBALS)):
            continue
        file = b.name[len(prefix):] if prefix else b.name
        if "/" in file:
            continue  # a deeper folder is another store
        md = b.metadata
        if md.get("verified") == "true" and b.name + SIDECAR in names:
            state, word = "verified", "verified after upload"
        elif md.get("sha256"):
            state, word = "unverified", "unverified (upload not read back)"
        else:
            state, word = "no metadata", "no metadata"
        out.append(StoreEntry(file=file, time=md.get("finished_at") or b.last_modified, size=b.size, database=md.get("database", "?"),
                              namespace=md.get("namespace", "?"), kind=md.get("kind", "?"), verified=word, state=state,
                              url=store.url_of(file), compression=md.get("compression", "?")))
    return sorted(out, key=lambda e: e.time, reverse=True)


def list_store(store: StoreUrl) -> list[StoreEntry]:
    with _container(store) as c:
        return _entries(c, store)


def newest_verified(store: StoreUrl) -> StoreEntry | None:
    return next((e for e in list_store(store) if e.state == "verified" and e.kind == "backup"), None)


# ---- fetch ------------------------------------------------------------------------------------
@contextlib.contextmanager
def fetch(store: StoreUrl, file: str, progress: Progress | None = None) -> Iterator[Path]:
    """The blob in a private temporary directory (0700, the file 0600) with its metadata file
    beside it, yielded only after every checksum agrees; removed again afterwards."""
    from tripgenctl.ops.backup import open_private

    blob = store.blob(file)
    tmp = Path(tempfile.mkdtemp(prefix="tripgenctl-restore-"))
    try:
        private_dir(tmp)
        with _container(store) as c:
            facts = c.facts(blob)
            if facts is None:
                raise UsageError(f"{store.url_of(file)}: no such backup in the store")
            raw = c.read_small(blob + SIDECAR)
            if raw is None:
                raise ToolError(f"refusing {file}: the store has no metadata ({file}{SIDECAR}) for it, so it cannot be verified")
            try:
                side = json.loads(raw)
                known = set(BackupInfo.__dataclass_fields__)
                info = BackupInfo(**{k: v for k, v in side.items() if k in known})
            except (ValueError, TypeError) as exc:
                raise ToolError(f"refusing {file}: its metadata in the store is unreadable: {exc}") from None
            if facts.metadata.get("verified") != "true":
                raise ToolError(f"refusing {file}: its upload was never verified")
            if facts.metadata.get("sha256") != info.sha256:
                raise ToolError(f"refusing {file}: the blob's sha256 metadata and its metadata file disagree")
            path = tmp / file
            sha, md5 = hashlib.sha256(), hashlib.md5()
            done = 0
            with open_private(path) as out:
                for chunk in c.chunks(blob):
                    out.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done)
                out.flush()
                os.fsync(out.fileno())
        if done != info.size or sha.hexdigest() != info.sha256:
            raise ToolError(f"refusing {file}: downloaded {done} bytes with sha256 {sha.hexdigest()[:12]}…, "
                            f"the metadata says {info.size} bytes and {info.sha256[:12]}…: the blob is damaged; nothing was restored")
        if facts.content_md5 and facts.content_md5 != md5.hexdigest():
            raise ToolError(f"refusing {file}: the service's content MD5 does not match the downloaded bytes; nothing was restored")
        if info.globals_file:
            with _container(store) as c:
                roles = c.read_small(blob + GLOBALS, limit=64 << 20)
            if roles is None or hashlib.sha256(roles).hexdigest() != info.globals_sha256:
                raise ToolError(f"refusing {file}: its roles ({file}{GLOBALS}) are missing or damaged in the store; nothing was restored")
            with open_private(path.with_name(path.name + GLOBALS)) as gh:
                gh.write(roles)
        metadata_path(path).write_text(json.dumps(info.__dict__, indent=2) + "\n")
        os.chmod(metadata_path(path), 0o600)
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- prune ------------------------------------------------------------------------------------
def prune_store(store: StoreUrl, keep_days: int, keep_min: int, dry_run: bool = True, now: datetime | None = None):
    """Delete backups older than keep_days, but always leave the newest `keep_min` verified
    ones (at least one), whatever their age. Unverified uploads older than the limit go too."""
    from tripgenctl.ops.catalog import PruneAction, PruneResult

    if keep_days < 0 or keep_min < 0:
        raise UsageError("--keep-days and --keep-last must be 0 or more")
    keep_min = max(1, keep_min)
    now = now or now_utc()
    limit = now - timedelta(days=keep_days)
    with _container(store) as c:
        entries = _entries(c, store)
        protected = {e.file for e in [e for e in entries if e.state == "verified"][:keep_min]}
        actions, deleted, kept = [], [], []
        for e in entries:
            when = _parse_time(e.time)
            age = f"{(now - when).total_seconds() / 86400:.1f}d" if when else "?"
            if e.file in protected:
                actions.append(PruneAction(e.file, age, "keep", f"one of the newest {keep_min} verified"))
                kept.append(e.file)
            elif when is not None and when >= limit:
                actions.append(PruneAction(e.file, age, "keep", f"younger than {keep_days} days"))
                kept.append(e.file)
            else:
                if not dry_run:
                    c.delete(store.blob(e.file))
                    c.delete(store.blob(e.file) + SIDECAR)
                    c.delete(store.blob(e.file) + GLOBALS)
                actions.append(PruneAction(e.file, age, "delete" if dry_run else "deleted", f"older than {keep_days} days" if when else "no readable time"))
                deleted.append(e.file)
    return PruneResult(deleted=deleted, kept=kept, dry_run=dry_run, actions=actions)


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


__all__ = ["StoreUrl", "parse", "parse_blob_url", "resolve", "push", "backup_to_store", "list_store", "newest_verified",
           "fetch", "prune_store", "StoredBackup", "StoreEntry", "iso"]
