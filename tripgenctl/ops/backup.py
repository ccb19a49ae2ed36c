"""Backups you can trust: pg_dump runs inside postgresql-0 and streams over exec into
`<name>.partial`, hashed on both ends; the remote exit status, both hashes and a full read-back
of the archive must agree before the file gets its final name and its metadata. Anything else
leaves no file behind. Restores verify first, refuse the wrong target, take a safety backup and
run in one transaction so a failure changes nothing."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from tripgenctl import __version__
from tripgenctl.errors import ToolError, UsageError
from tripgenctl.kube import execstream
from tripgenctl.ops import archive, postgres

Progress = Callable[[int], None]  # bytes done so far

# One psql session exports a snapshot and holds it open; the row counts and pg_dump both read
# that snapshot, so the metadata's counts describe exactly the rows in the dump even while the
# apps keep writing (a restore compares against them).
BACKUP_SCRIPT = postgres.ENV_PRELUDE + r"""
DB="$1"; FMT="$2"; COUNTS="$3"
tmp=$(mktemp -d) || exit 90
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/f" "$tmp/ctl" || exit 91
psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$U" -d "$DB" < "$tmp/ctl" > "$tmp/snap" 2> "$tmp/snaperr" &
sp=$!
exec 3> "$tmp/ctl"
echo "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot();" >&3
i=0
while [ ! -s "$tmp/snap" ] && kill -0 "$sp" 2>/dev/null && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
snap=$(head -n 1 "$tmp/snap")
if [ -z "$snap" ]; then cat "$tmp/snaperr" >&2; echo "could not export a snapshot" >&2; echo "TRIPGENCTL-RC 92" >&2; exit 92; fi
if ! psql -X -q -A -t -F "$(printf '\t')" -v ON_ERROR_STOP=1 -U "$U" -d "$DB" \
     -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '$snap'; $COUNTS; COMMIT" > "$tmp/counts"; then
  echo "TRIPGENCTL-RC 93" >&2; exit 93
fi
while IFS= read -r line; do echo "TRIPGENCTL-COUNT $line" >&2; done < "$tmp/counts"
sha256sum < "$tmp/f" > "$tmp/sum" &
hp=$!
{ pg_dump --no-password --snapshot="$snap" -U "$U" "$FMT" "$DB"; echo $? > "$tmp/rc"; } | tee "$tmp/f"
wait $hp
echo "COMMIT;" >&3
exec 3>&-
wait "$sp"
rc=$(cat "$tmp/rc" 2>/dev/null || echo 99)
echo "TRIPGENCTL-SHA256 $(cut -d' ' -f1 < "$tmp/sum")" >&2
echo "TRIPGENCTL-RC $rc" >&2
exit "$rc"
"""


@dataclass
class BackupInfo:
    """The metadata file written beside every verified backup (`<file>.json`)."""

    file: str
    format: str
    size: int
    sha256: str
    context: str
    namespace: str
    server: str
    database: str
    server_version: str
    pg_dump_version: str
    table_counts: dict[str, int]
    started_at: str
    finished_at: str
    tool_version: str = __version__
    kind: str = "backup"  # backup | safety
    verified: bool = True

    __table__ = ("file", "format", "size", "database", "namespace", "finished_at", "verified")


@dataclass
class BackupEntry:
    file: str
    time: str
    size: int
    database: str
    namespace: str
    context: str
    kind: str
    verified: str  # verified | size mismatch | checksum mismatch (--check) | no metadata | metadata unreadable


@dataclass
class VerifyResult:
    file: str
    ok: bool
    sha256_ok: bool | None
    complete: bool
    reason: str


@dataclass
class RestoreResult:
    file: str
    target_context: str
    target_namespace: str
    target_database: str
    safety_backup: str | None
    counts_match: bool | None
    mismatches: dict[str, str] = field(default_factory=dict)
    table_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class PruneResult:
    deleted: list[str]
    kept: list[str]
    dry_run: bool


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_metadata(path: Path) -> BackupInfo | None:
    meta = metadata_path(path)
    if not meta.exists():
        return None
    try:
        data = json.loads(meta.read_text())
        known = set(BackupInfo.__dataclass_fields__)
        return BackupInfo(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError) as exc:
        raise ToolError(f"metadata {meta} is unreadable: {exc}") from None


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


# ---- backup ---------------------------------------------------------------------------------
def backup(
    kube,
    backup_dir: Path,
    name: str | None = None,
    fmt: str = "custom",
    name_format: str = "dev-backup-%Y%m%d-%H%M%S",
    progress: Progress | None = None,
    kind: str = "backup",
    unique: bool = False,
) -> BackupInfo:
    """`unique`: add -1, -2 ... to `name` when taken instead of refusing (safety backups)."""
    if fmt not in ("custom", "plain"):
        raise UsageError(f"--format must be custom or plain, not {fmt!r}")
    postgres.require_ready(kube)
    creds = postgres.credentials(kube)
    started = now_utc()
    base = name or started.strftime(name_format)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", base):
        raise UsageError(f"backup name {base!r} may only contain letters, digits, '.', '_' and '-'")
    suffix = ".dump" if fmt == "custom" else ".sql"
    try:
        backup_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ToolError(f"cannot create backup directory {backup_dir}: {exc.strerror or exc}") from None
    final = backup_dir / f"{base}{suffix}"
    if final.exists() and name and not unique:
        raise UsageError(f"{final} already exists")
    n = 1
    while final.exists() or metadata_path(final).exists():  # two backups in one second
        final = backup_dir / f"{base}-{n}{suffix}"
        n += 1
    partial = final.with_name(final.name + ".partial")
    meta_file = metadata_path(final)
    server_version = postgres.server_version(kube, creds.database)
    dump_version = execstream.run(kube, postgres.pod_name(), ["pg_dump", "--version"]).stdout.decode().strip()
    hasher = hashlib.sha256()
    written = 0
    renamed = False
    try:
        try:
            out = open(partial, "wb")
        except OSError as exc:
            raise ToolError(f"cannot create {partial}: {exc.strerror or exc}") from None
        try:
            session = execstream.open_exec(kube, postgres.pod_name(), ["sh", "-c", BACKUP_SCRIPT, "sh", creds.database, "-Fc" if fmt == "custom" else "-Fp", postgres.COUNTS_SQL])

            def sink(chunk: bytes) -> None:
                nonlocal written
                out.write(chunk)
                hasher.update(chunk)
                written += len(chunk)
                if progress:
                    progress(written)

            result = session.pump(on_stdout=sink)
            out.flush()
            os.fsync(out.fileno())
        except OSError as exc:  # ENOSPC, EFBIG (quota, RLIMIT_FSIZE), EIO: whatever the disk says
            why = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
            raise ToolError(f"backup failed: cannot write {partial.name} after {written} bytes: {why}") from None
        finally:
            try:
                out.close()
            except OSError:
                pass  # the write error above already says what happened
        remote, counts = _remote_report(result.stderr_text())
        if result.exit_code is None:
            raise ToolError(f"backup failed: the exec stream ended after {written} bytes without an exit status (connection dropped)")
        if result.exit_code != 0:
            raise ToolError(f"backup failed: pg_dump exited {remote.get('RC', result.exit_code)}: {postgres.error_summary(result.stderr_text())}")
        local_sum = hasher.hexdigest()
        if remote.get("SHA256") != local_sum:
            raise ToolError(f"backup failed: checksum mismatch (pod {remote.get('SHA256', 'none')[:12]}…, local {local_sum[:12]}…): the stream was corrupted or truncated")
        complete, reason = archive.check_complete(partial, fmt)
        if not complete:
            raise ToolError(f"backup failed verification: {reason}")
        info = BackupInfo(
            file=final.name, format=fmt, size=written, sha256=local_sum, context=kube.context_name, namespace=kube.namespace,
            server=kube.server, database=creds.database, server_version=server_version, pg_dump_version=dump_version,
            table_counts=counts, started_at=iso(started), finished_at=iso(now_utc()), kind=kind,
        )
        # Metadata first, then the atomic rename: a file under the final name always has it.
        try:
            _write_json_atomic(meta_file, info.__dict__)
        except OSError as exc:
            raise ToolError(f"backup failed: cannot write {meta_file.name}: {exc.strerror or exc}") from None
        os.replace(partial, final)
        renamed = True
    except BaseException:
        if not renamed:  # Ctrl-C or any failure before the rename: no metadata without its file
            with contextlib.suppress(OSError):
                meta_file.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                meta_file.with_name(meta_file.name + ".tmp").unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return info


def _remote_report(stderr: str) -> tuple[dict[str, str], dict[str, int]]:
    """The script's `TRIPGENCTL-<KEY> <value>` lines: the markers (RC, SHA256) and the
    `COUNT <table>\t<rows>` lines (counted in the dump's snapshot)."""
    markers: dict[str, str] = {}
    counts: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("TRIPGENCTL-"):
            continue
        key, _, value = line[len("TRIPGENCTL-"):].partition(" ")
        if key == "COUNT":
            table, _, rows = value.rpartition("\t")
            if table and rows.strip().isdigit():
                counts[table] = int(rows)
        else:
            markers[key] = value.strip()
    return markers, counts


# ---- verify / list / prune ----------------------------------------------------------------
def verify(path: Path) -> VerifyResult:
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    meta = read_metadata(path)
    sha_ok = None
    if meta is not None:
        sha_ok = archive.sha256_file(path) == meta.sha256
        if not sha_ok:
            return VerifyResult(str(path), False, False, False, "sha256 does not match the metadata: the file changed or is damaged")
    complete, reason = archive.check_complete(path, meta.format if meta else None)
    ok = complete and sha_ok is not False
    if meta is None and complete:
        reason += " (no metadata file: checksum and origin unknown)"
    return VerifyResult(str(path), ok, sha_ok, complete, reason)


def _backup_files(backup_dir: Path) -> list[Path]:
    if not backup_dir.exists():
        return []
    return sorted(p for p in backup_dir.iterdir() if p.is_file() and p.suffix in (".dump", ".sql"))


def list_backups(backup_dir: Path, check: bool = False) -> list[BackupEntry]:
    entries = []
    for p in _backup_files(backup_dir):
        st = p.stat()
        try:
            meta = read_metadata(p)
            missing = None if meta is not None else "no metadata"
        except ToolError:
            meta, missing = None, "metadata unreadable"
        if meta is None:  # the file's own time stands in for the backup's
            entries.append(BackupEntry(p.name, iso(datetime.fromtimestamp(st.st_mtime, timezone.utc)), st.st_size, "-", "-", "-", "-", missing))
            continue
        state = "verified" if meta.verified and meta.size == st.st_size else "size mismatch"
        if check and state == "verified":
            state = "verified" if archive.sha256_file(p) == meta.sha256 else "checksum mismatch"
        entries.append(BackupEntry(p.name, meta.finished_at, st.st_size, meta.database, meta.namespace, meta.context, meta.kind, state))
    entries.sort(key=lambda e: e.time)
    return entries


def _newest_intact(backup_dir: Path, entries: list[BackupEntry]) -> set[str]:
    """The newest verified backup whose bytes still match its recorded sha256 (a file changed
    in place keeps its size and would otherwise pass for verified). When none matches, the
    newest one recorded as verified is kept all the same: prune never makes things worse."""
    verified = [e for e in entries if e.verified == "verified"]
    for e in reversed(verified):
        meta = read_metadata(backup_dir / e.file)
        if meta is not None and archive.sha256_file(backup_dir / e.file) == meta.sha256:
            return {e.file}
    return {verified[-1].file} if verified else set()


def prune(backup_dir: Path, keep_days: int | None = 7, keep_last: int | None = None, dry_run: bool = False, now: datetime | None = None) -> PruneResult:
    """Delete old backups, never the newest verified one."""
    for option, value in (("--keep-days", keep_days), ("--keep-last", keep_last)):
        if value is not None and value < 0:
            raise UsageError(f"{option} must be 0 or more, not {value}")
    entries = list_backups(backup_dir)
    now = now or now_utc()
    protect = _newest_intact(backup_dir, entries)
    if keep_last:
        protect |= {e.file for e in entries[-keep_last:]}
    deleted, kept = [], []
    for e in entries:
        t = datetime.strptime(e.time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        old = keep_days is not None and now - t > timedelta(days=keep_days)
        if old and e.file not in protect:
            deleted.append(e.file)
            if not dry_run:
                (backup_dir / e.file).unlink(missing_ok=True)
                metadata_path(backup_dir / e.file).unlink(missing_ok=True)
        else:
            kept.append(e.file)
    return PruneResult(deleted, kept, dry_run)


# ---- restore ----------------------------------------------------------------------------------
PLAIN_PREAMBLE = b"DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
PLAIN_BEGIN = b"BEGIN;\n"
PLAIN_COMMIT = b"\n;\nCOMMIT;\n\\q\n"  # `;` ends a last statement left open; \q quits without needing EOF


def _file_chunks(path: Path, progress: Progress | None, prefix: bytes = b"", suffix: bytes = b"", chunk: int = 1 << 20) -> Iterator[bytes]:
    if prefix:
        yield prefix
    done = 0
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk)
            if not data:
                break
            done += len(data)
            if progress:
                progress(done)
            yield data
    if suffix:
        yield suffix


def restore_target_mismatch(meta: BackupInfo | None, kube, database: str) -> str | None:
    """Why this target is not where the backup came from (None: same place)."""
    if meta is None:
        return "the file has no metadata, so its origin cannot be checked"
    diffs = []
    if meta.context != kube.context_name:
        diffs.append(f"context {meta.context} -> {kube.context_name}")
    if meta.namespace != kube.namespace:
        diffs.append(f"namespace {meta.namespace} -> {kube.namespace}")
    if meta.database != database:
        diffs.append(f"database {meta.database} -> {database}")
    return "; ".join(diffs) or None


def _drop_database(kube, name: str) -> bool:
    try:
        postgres.psql(kube, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', "postgres")
        return True
    except Exception:  # noqa: BLE001 - reported by the caller as "left behind"
        return False


def restore(
    kube,
    path: Path,
    backup_dir: Path,
    into: str | None = None,
    safety_backup: bool = True,
    confirm: Callable[[str], None] | None = None,
    allow_other_target: bool = False,
    progress: Progress | None = None,
) -> RestoreResult:
    if into is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,62}", into):
        raise UsageError(f"--into {into!r}: use letters, digits, '_' and '-' (a new database name)")
    check = verify(path)
    if not check.ok:
        raise ToolError(f"refusing to restore {path.name}: {check.reason}")
    meta = read_metadata(path)
    fmt = meta.format if meta else archive.detect_format(path)
    postgres.require_ready(kube)
    creds = postgres.credentials(kube)
    database = into or creds.database
    mismatch = restore_target_mismatch(meta, kube, database) if not into else None
    if mismatch and meta is not None and not allow_other_target:
        raise UsageError(f"refusing to restore {path.name} into a different target ({mismatch}); pass --yes if that is intended")
    if into and into in postgres.databases(kube):
        raise UsageError(f"database {into} already exists; --into wants a new database name")
    if confirm:
        confirm(f"Restore {path.name} into database {database} in {kube.context_name}/{kube.namespace}" + (f" ({mismatch})" if mismatch else "") + "?")
    safety = None
    created = False
    if into:
        postgres.psql(kube, f'CREATE DATABASE "{into}"', "postgres")
        created = True
    elif safety_backup:
        safety = backup(kube, backup_dir, name=now_utc().strftime("pre-restore-%Y%m%d-%H%M%S"), kind="safety", unique=True).file
    if fmt == "custom":
        script = postgres.ENV_PRELUDE + 'exec pg_restore --no-password -U "$U" -d "$1" --single-transaction --exit-on-error ' + ("" if into else "--clean --if-exists ") + "--no-owner"
        stdin = _file_chunks(path, progress)
    else:
        # Not `psql -1`: at end of input it COMMITs whatever arrived, and a client that dies
        # mid-stream ends the pod's stdin just like a finished file. COMMIT travels only after
        # the file's last byte, so a cut stream ends inside the transaction and rolls back.
        script = postgres.ENV_PRELUDE + 'exec psql -X -q -v ON_ERROR_STOP=1 -U "$U" -d "$1" -o /dev/null -f -'  # -f -: errors name their input line
        stdin = _file_chunks(path, progress, prefix=PLAIN_BEGIN + (b"" if into else PLAIN_PREAMBLE), suffix=PLAIN_COMMIT)
    sent_all: list[bool] = []

    def tracked() -> Iterator[bytes]:
        yield from stdin
        sent_all.append(True)

    try:
        session = execstream.open_exec(kube, postgres.pod_name(), ["sh", "-c", script, "sh", database], stdin=True)
        result = session.pump(stdin=tracked())
        if result.exit_code is None and sent_all and not into:
            # COMMIT (or the archive's end) had gone out: whether it landed is unknown
            raise ToolError(f"restore outcome unknown: the exec stream dropped after the whole file was sent, before the exit status arrived; "
                            f"check the database{' (safety backup ' + safety + ')' if safety else ''}")
        if result.exit_code != 0:
            offset = 0 if fmt == "custom" else (PLAIN_BEGIN + (b"" if into else PLAIN_PREAMBLE)).count(b"\n")
            why = postgres.error_summary(result.stderr_text(), path.name, offset) or result.failure_message or "stream dropped"
            if into:
                created = not _drop_database(kube, into)
                left = f"database {into} is left behind: drop it by hand" if created else "the new database was removed again"
                raise ToolError(f"restore into {into} failed ({left}): {why}")
            raise ToolError(f"restore failed and was rolled back (nothing changed{'; safety backup ' + safety if safety else ''}): {why}")
    except BaseException:
        if created:  # Ctrl-C or a dropped connection: never leave a half-made database behind
            _drop_database(kube, into)
        raise
    counts = postgres.table_counts(kube, database)
    mismatches: dict[str, str] = {}
    if meta is not None:
        for table, expected in meta.table_counts.items():
            found = counts.get(table)
            if found != expected:
                mismatches[table] = f"expected {expected}, found {found}"
    return RestoreResult(
        file=path.name, target_context=kube.context_name, target_namespace=kube.namespace, target_database=database,
        safety_backup=safety, counts_match=(not mismatches) if meta is not None else None, mismatches=mismatches, table_counts=counts,
    )

