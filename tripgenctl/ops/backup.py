"""Backups you can trust: pg_dump runs inside postgresql-0 and streams over exec into
`<name>.partial`, hashed on both ends; the remote exit status, both hashes and a full read-back
of the archive must agree before the file gets its final name and its metadata. Anything else
leaves no file behind. Restores verify first, refuse the wrong target, take a safety backup and
run in one transaction so a failure changes nothing."""

from __future__ import annotations

import contextlib
import errno
import fcntl
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
# apps keep writing (a restore compares against them). Every client of the script carries our
# application_name and the lock/statement deadlines (postgres.session_env, prepended), pg_dump
# gets --lock-wait-timeout, and the watchdog (postgres.watchdog) names whoever blocks us.
BACKUP_SCRIPT = r"""
DB="$1"; FMT="$2"; COUNTS="$3"; LOCKWAIT="$4"; TG_WATCH="$5"
tg_start
tmp=$(mktemp -d) || exit 90
trap 'tg_unwatch; rm -rf "$tmp"' EXIT
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
  tg_unwatch; echo "TRIPGENCTL-RC 93" >&2; exit 93
fi
while IFS= read -r line; do echo "TRIPGENCTL-COUNT $line" >&2; done < "$tmp/counts"
sha256sum < "$tmp/f" > "$tmp/sum" &
hp=$!
{ pg_dump --no-password --lock-wait-timeout="$LOCKWAIT" --snapshot="$snap" -U "$U" "$FMT" "$DB"; echo $? > "$tmp/rc"; } | tee "$tmp/f"
wait $hp
echo "COMMIT;" >&3
exec 3>&-
wait "$sp"
tg_unwatch
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

    __table__ = ("file", "time", "size", "database", "namespace", "kind", "verified")


@dataclass
class VerifyResult:
    file: str
    ok: bool
    sha256_ok: bool | None
    complete: bool
    reason: str


@dataclass
class RestoreProblem:
    """A difference between the restored database and the backup, shown as a table."""

    object: str
    problem: str


@dataclass
class RestoreResult:
    file: str
    target_context: str
    target_namespace: str
    target_database: str
    safety_backup: str | None
    counts_match: bool | None  # never True while objects absent from the backup remain
    mismatches: dict[str, str] = field(default_factory=dict)
    table_counts: dict[str, int] = field(default_factory=dict)
    extra_objects: list[str] = field(default_factory=list)  # "table public.x": in the database, not in the backup
    dropped_extra: list[str] = field(default_factory=list)  # removed by --drop-extra
    problems: list[RestoreProblem] = field(default_factory=list)

    __sections__ = ("problems",)


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
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def private_dir(path: Path) -> None:
    """Backups hold password hashes and e-mail addresses: their directory is 0700 (created so,
    or tightened when it is ours and wider)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise ToolError(f"cannot create backup directory {path}: {exc.strerror or exc}") from None


def open_private(path: Path):
    """A new file, 0600 whatever the umask, exclusively locked while it is written."""
    try:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a leftover of a killed run with the same name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ToolError(f"cannot create {path}: {exc.strerror or exc}") from None
    os.fchmod(fd, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return os.fdopen(fd, "wb")


def stream_idle(limits) -> float:
    """The longest silence on a backup/restore stream: a statement may run (and a lock be
    waited for) that long inside the pod before its watchdog cancels it; beyond that and a
    margin the pod is not answering."""
    return limits.statement + limits.lock_wait + 30


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
    private_dir(backup_dir)
    final = backup_dir / f"{base}{suffix}"
    if final.exists() and name and not unique:
        raise UsageError(f"{final} already exists")
    n = 1
    # two backups in one second (a running one holds its .partial)
    while final.exists() or metadata_path(final).exists() or in_use(final.with_name(final.name + ".partial")):
        final = backup_dir / f"{base}-{n}{suffix}"
        n += 1
    partial = final.with_name(final.name + ".partial")
    meta_file = metadata_path(final)
    server_version = postgres.server_version(kube, creds.database)
    limits = postgres.limits()
    dump_version = execstream.run(kube, postgres.pod_name(), ["pg_dump", "--version"], timeout=limits.exec).stdout.decode().strip()
    app = postgres.application_name("backup")
    script = (postgres.ENV_PRELUDE + postgres.session_env(app, limits.lock_wait, limits.statement)
              + postgres.watchdog(limits.lock_wait) + BACKUP_SCRIPT)
    hasher = hashlib.sha256()
    written = 0
    renamed = False
    try:
        out = open_private(partial)  # 0600, and flock'ed: prune leaves a .partial in use alone
        try:
            session = execstream.open_exec(
                kube, postgres.pod_name(),
                ["sh", "-c", script, "sh", creds.database, "-Fc" if fmt == "custom" else "-Fp", postgres.COUNTS_SQL,
                 f"{postgres._ms(limits.lock_wait)}ms", postgres.watch_sql(app, limits.lock_wait, limits.statement)],
                timeout=stream_idle(limits), what=f"pg_dump in pod {postgres.pod_name()}")

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
            why = postgres.lock_message(result.stderr_text(), limits.lock_wait, limits.statement)
            if why:
                raise ToolError(f"backup failed: {why}")
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


def in_use(path: Path) -> bool:
    """A running backup holds an exclusive flock on its .partial (open_private)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


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
        row = BackupEntry(p.name, meta.finished_at, st.st_size, meta.database, meta.namespace, meta.context, meta.kind, RECORDED)
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
        else:
            kept.append(e.file)
        actions.append(PruneAction(e.file, age, ("would delete" if dry_run else "deleted") if delete else "keep", reason))
    return PruneResult(deleted, kept, dry_run, actions)


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


RELATIONS_SQL = """
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'table' END,
       n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 2, 3
"""
DROP_ORDER = ("view", "materialized view", "foreign table", "table", "sequence")  # dependents first


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def extra_relations(kube, database: str, in_backup: set[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(kind, schema, name) of relations in the database that the backup does not hold:
    tables created after it, which a custom-format restore (--clean) leaves in place."""
    rows = postgres.psql(kube, RELATIONS_SQL, database)
    return [(kind, schema, name) for kind, schema, name in rows if (kind, f"{schema}.{name}") not in in_backup]


def drop_relations(kube, database: str, extras: list[tuple[str, str, str]]) -> None:
    """Drop them in one transaction (views before tables before sequences; no CASCADE, so a
    dependency we did not see fails loudly instead of taking more with it)."""
    statements = []
    for kind in DROP_ORDER:
        names = [f"{_ident(schema)}.{_ident(name)}" for k, schema, name in extras if k == kind]
        if names:
            statements.append(f"DROP {kind.upper()} IF EXISTS {', '.join(names)}")
    if statements:
        postgres.psql(kube, "BEGIN; " + "; ".join(statements) + "; COMMIT", database)


def restore(
    kube,
    path: Path,
    backup_dir: Path,
    into: str | None = None,
    safety_backup: bool = True,
    confirm: Callable[[str], None] | None = None,
    allow_other_target: bool = False,
    progress: Progress | None = None,
    drop_extra: bool = False,
    allow_unverified: bool = False,
) -> RestoreResult:
    """`drop_extra`: also drop relations the backup does not hold (after the restore
    committed; the safety backup has them). `allow_unverified`: restore a file verify cannot
    prove (an uncompressed custom archive without metadata)."""
    if into is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,62}", into):
        raise UsageError(f"--into {into!r}: use letters, digits, '_' and '-' (a new database name)")
    check = verify(path)
    provable = check.ok or (allow_unverified and check.complete and check.sha256_ok is None)
    if not provable:
        raise ToolError(f"refusing to restore {path.name}: {check.reason}")
    meta = read_metadata(path)
    fmt = meta.format if meta else archive.detect_format(path)
    in_backup = archive.relations(path, fmt)
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
    limits = postgres.limits()
    app = postgres.application_name("restore")
    # pg_restore and plain dumps set lock_timeout and statement_timeout to 0 themselves: the
    # watchdog enforces both (and names the blocker); PGOPTIONS covers what runs before that.
    head = (postgres.ENV_PRELUDE + postgres.session_env(app, limits.lock_wait, limits.statement) + postgres.watchdog(limits.lock_wait)
            + 'DB="$1"; TG_WATCH="$2"; tg_start; ')
    tail = '; rc=$?; tg_unwatch; exit "$rc"'
    if fmt == "custom":
        script = head + 'pg_restore --no-password -U "$U" -d "$DB" --single-transaction --exit-on-error ' + ("" if into else "--clean --if-exists ") + "--no-owner" + tail
        stdin = _file_chunks(path, progress)
    else:
        # Not `psql -1`: at end of input it COMMITs whatever arrived, and a client that dies
        # mid-stream ends the pod's stdin just like a finished file. COMMIT travels only after
        # the file's last byte, so a cut stream ends inside the transaction and rolls back.
        script = head + 'psql -X -q -v ON_ERROR_STOP=1 -U "$U" -d "$DB" -o /dev/null -f -' + tail  # -f -: errors name their input line
        stdin = _file_chunks(path, progress, prefix=PLAIN_BEGIN + (b"" if into else PLAIN_PREAMBLE), suffix=PLAIN_COMMIT)
    sent_all: list[bool] = []

    def tracked() -> Iterator[bytes]:
        yield from stdin
        sent_all.append(True)

    try:
        session = execstream.open_exec(kube, postgres.pod_name(), ["sh", "-c", script, "sh", database, postgres.watch_sql(app, limits.lock_wait, limits.statement)],
                                       stdin=True, timeout=stream_idle(limits), what=f"restore in pod {postgres.pod_name()}")
        result = session.pump(stdin=tracked())
        if result.exit_code is None and sent_all and not into:
            # COMMIT (or the archive's end) had gone out: whether it landed is unknown
            raise ToolError(f"restore outcome unknown: the exec stream dropped after the whole file was sent, before the exit status arrived; "
                            f"check the database{' (safety backup ' + safety + ')' if safety else ''}")
        if result.exit_code != 0:
            offset = 0 if fmt == "custom" else (PLAIN_BEGIN + (b"" if into else PLAIN_PREAMBLE)).count(b"\n")
            why = (postgres.lock_message(result.stderr_text(), limits.lock_wait, limits.statement)
                   or postgres.error_summary(result.stderr_text(), path.name, offset) or result.failure_message or "stream dropped")
            if into:
                created = not _drop_database(kube, into)
                left = f"database {into} is left behind: drop it by hand" if created else "the new database was removed again"
                raise ToolError(f"restore into {into} failed ({left}): {why}")
            raise ToolError(f"restore failed and was rolled back (nothing changed{'; safety backup ' + safety if safety else ''}): {why}")
    except BaseException:
        if created:  # Ctrl-C or a dropped connection: never leave a half-made database behind
            _drop_database(kube, into)
        raise
    extras = extra_relations(kube, database, in_backup) if in_backup is not None else []
    dropped: list[str] = []
    if extras and drop_extra:
        drop_relations(kube, database, extras)
        dropped = [f"{k} {schema}.{name}" for k, schema, name in extras]
        extras = extra_relations(kube, database, in_backup)
    counts = postgres.table_counts(kube, database)
    mismatches: dict[str, str] = {}
    problems: list[RestoreProblem] = []
    if meta is not None:
        for table, expected in meta.table_counts.items():
            found = counts.get(table)
            if found != expected:
                mismatches[table] = f"expected {expected}, found {found}"
                problems.append(RestoreProblem(table, f"row count: expected {expected}, found {found}"))
    extra_names = [f"{k} {schema}.{name}" for k, schema, name in extras]
    problems += [RestoreProblem(n, "in the database but not in the backup (kept; --drop-extra removes it)") for n in extra_names]
    problems += [RestoreProblem(n, "not in the backup: dropped (--drop-extra)") for n in dropped]
    if in_backup is None:
        problems.append(RestoreProblem(path.name, "could not list the backup's objects, so objects absent from it were not looked for"))
    matched = (not mismatches and not extras) if meta is not None else (False if extras else None)
    return RestoreResult(
        file=path.name, target_context=kube.context_name, target_namespace=kube.namespace, target_database=database,
        safety_backup=safety, counts_match=matched, mismatches=mismatches, table_counts=counts,
        extra_objects=extra_names, dropped_extra=dropped, problems=problems,
    )
