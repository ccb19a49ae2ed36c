"""Backups you can trust: pg_dump runs inside postgresql-0 and streams over exec into
`<name>.partial` (0600, flock'ed while written, in a 0700 directory), hashed on both ends; the
remote exit status, both hashes and a full read-back of the archive must agree before the file
gets its final name and its metadata. Anything else leaves no file behind. Listing, verifying
and pruning live in ops/catalog.py, restoring in ops/restore.py."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from tripgenctl import __version__
from tripgenctl.errors import ToolError, UsageError
from tripgenctl.kube import execstream
from tripgenctl.ops import archive, globals_dump, postgres

Progress = Callable[[int], None]  # bytes done so far

# One psql session exports a snapshot and holds it open; the row counts and pg_dump both read
# that snapshot, side by side (counting a big table costs about what dumping it does), so the
# metadata's counts describe exactly the rows in the dump even while the apps keep writing (a
# restore compares against them). Every client of the script carries our
# application_name and the lock/statement deadlines (postgres.session_env, prepended), pg_dump
# gets --lock-wait-timeout, and the watchdog (postgres.watchdog) names whoever blocks us.
BACKUP_SCRIPT = r"""
DB="$1"; FMT="$2"; COUNTS="$3"; LOCKWAIT="$4"; TG_WATCH="$5"; COMP="$6"
echo "TRIPGENCTL-PGDUMP $(pg_dump --version)" >&2
if [ -n "$COMP" ]; then
  # pg_dump checks --compress before it connects: a socket directory that does not exist
  # makes the probe fail at once either way, and only a refused method mentions compression.
  probe=$(pg_dump --compress="$COMP" -h /nonexistent-tripgenctl -d probe 2>&1 | head -n 1)
  case "$probe" in *ompress*) echo "TRIPGENCTL-NOCOMPRESS $probe" >&2; echo "TRIPGENCTL-RC 94" >&2; exit 94;; esac
  set -- --compress="$COMP"
else
  set --
fi
tg_start
tmp=$(mktemp -d) || exit 90
trap 'tg_unwatch; rm -rf "$tmp"' EXIT
mkfifo "$tmp/f" "$tmp/ctl" || exit 91
psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$U" -d "$DB" < "$tmp/ctl" > "$tmp/snap" 2> "$tmp/snaperr" &
sp=$!
exec 3> "$tmp/ctl"
echo "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot();" >&3
i=0
while [ ! -s "$tmp/snap" ] && kill -0 "$sp" 2>/dev/null && [ "$i" -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
snap=$(head -n 1 "$tmp/snap")
if [ -z "$snap" ]; then cat "$tmp/snaperr" >&2; echo "could not export a snapshot" >&2; echo "TRIPGENCTL-RC 92" >&2; exit 92; fi
{ psql -X -q -A -t -F "$(printf '\t')" -v ON_ERROR_STOP=1 -U "$U" -d "$DB" \
     -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '$snap'; $COUNTS; COMMIT" > "$tmp/counts"; echo $? > "$tmp/crc"; } &
cp=$!
sha256sum < "$tmp/f" > "$tmp/sum" &
hp=$!
{ pg_dump --no-password --lock-wait-timeout="$LOCKWAIT" --snapshot="$snap" -U "$U" "$FMT" "$@" "$DB"; echo $? > "$tmp/rc"; } | tee "$tmp/f"
wait $hp
wait $cp
if [ "$(cat "$tmp/crc" 2>/dev/null)" != 0 ]; then tg_unwatch; echo "TRIPGENCTL-RC 93" >&2; exit 93; fi
while IFS= read -r line; do echo "TRIPGENCTL-COUNT $line" >&2; done < "$tmp/counts"
echo "COMMIT;" >&3
exec 3>&-
wait "$sp"
tg_unwatch
rc=$(cat "$tmp/rc" 2>/dev/null || echo 99)
echo "TRIPGENCTL-SHA256 $(cut -d' ' -f1 < "$tmp/sum")" >&2
echo "TRIPGENCTL-RC $rc" >&2
exit "$rc"
"""

# --compress: pg_dump 16's method[:level]; a pg_dump built without a library refuses the method
# (the script's probe), and older ones know only gzip levels.
COMPRESS_LEVELS = {"gzip": (1, 9), "lz4": (1, 12), "zstd": (1, 22)}


def compress_spec(value: str | None, fmt: str) -> str | None:
    """`gzip`, `gzip:6`, `lz4[:N]`, `zstd[:N]` or `none`, checked here (one line, exit 2) before
    anything runs. None: pg_dump's default (gzip for the custom format)."""
    if value is None:
        return None
    text = value.strip().lower()
    method, _, level = text.partition(":")
    if method == "none" and not level:
        spec = "none"
    elif method in COMPRESS_LEVELS:
        low, high = COMPRESS_LEVELS[method]
        if level and not (level.isdigit() and low <= int(level) <= high):
            raise UsageError(f"--compress {value!r}: the {method} level must be {low}-{high}")
        spec = f"{method}:{int(level)}" if level else method
    else:
        raise UsageError(f"--compress {value!r}: expected gzip[:1-9], lz4[:1-12], zstd[:1-22] or none")
    if fmt != "custom":
        raise UsageError("--compress applies to the custom format (--format custom); a plain SQL dump is restored as it is written")
    return spec


def recorded_compression(spec: str | None, declared: str | None) -> str:
    """What the metadata says: the archive's own header names the method, the level is the one
    asked for (the header does not hold it)."""
    method = declared or (spec.partition(":")[0] if spec else "none")
    level = spec.partition(":")[2] if spec and spec.partition(":")[0] == method else ""
    return f"{method}:{level}" if level else method


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
    globals_file: str | None = None  # `<file>.globals`: pg_dumpall --globals-only (ops/globals_dump.py)
    globals_sha256: str | None = None
    compression: str | None = None  # none, gzip (pg_dump's default for custom), gzip:6, lz4, zstd; None: recorded before --compress

    __table__ = ("file", "format", "compression", "size", "database", "namespace", "finished_at", "verified")


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


BACKUP_SUFFIXES = (".dump", ".sql", ".json", ".partial", ".tmp")


def private_dir(path: Path) -> None:
    """Backups hold password hashes and e-mail addresses: their directory is 0700, created so
    or tightened when it is ours, wider, and holds nothing but backups (a directory with other
    things in it, say `--backup-dir .`, is left as it is; the files are 0600 anyway)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077 and all(e.name.endswith(BACKUP_SUFFIXES) for e in path.iterdir()):
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
    compress: str | None = None,
) -> BackupInfo:
    """`unique`: add -1, -2 ... to `name` when taken instead of refusing (safety backups).
    `compress`: pg_dump's --compress (compress_spec), refused with one line when the pod's
    pg_dump lacks the method.

    One exec does the work (versions, snapshot, counts, dump, remote hash) while a second line
    of execs beside it asks the server's version (within [timeouts] exec: a frozen server ends
    the backup then, not after the stream's idle deadline) and fetches the roles; the archive is read back by a local pg_restore fed from the
    stream as it is written, so a small backup costs little more than pg_dump itself."""
    if fmt not in ("custom", "plain"):
        raise UsageError(f"--format must be custom or plain, not {fmt!r}")
    spec = compress_spec(compress, fmt)
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
    limits = postgres.limits(kube)
    pod = postgres.pod_name(kube)
    app = postgres.application_name("backup")
    script = (postgres.ENV_PRELUDE + postgres.session_env(app, limits.lock_wait, limits.statement)
              + postgres.watchdog(limits.lock_wait) + BACKUP_SCRIPT)
    hasher = hashlib.sha256()
    written = 0
    head = b""
    renamed = False
    side = _Beside(kube, creds.database)
    readback = archive.ReadBack() if fmt == "custom" else None
    try:
        out = open_private(partial)  # 0600, and flock'ed: prune leaves a .partial in use alone
        try:
            session = execstream.open_exec(
                kube, pod,
                ["sh", "-c", script, "sh", creds.database, "-Fc" if fmt == "custom" else "-Fp", postgres.COUNTS_SQL,
                 f"{postgres._ms(limits.lock_wait)}ms", postgres.watch_sql(app, limits.lock_wait, limits.statement), spec or ""],
                timeout=stream_idle(limits), what=f"pg_dump in pod {pod}")
            side.start(session)  # the version check and the roles travel on their own execs meanwhile

            def sink(chunk: bytes) -> None:
                nonlocal written, head
                out.write(chunk)
                hasher.update(chunk)
                if readback is not None:
                    readback.feed(chunk)
                if len(head) < 32:
                    head += chunk[:32]
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
            side.raise_error()  # a frozen server: the version check's deadline ended the stream
            raise ToolError(f"backup failed: the exec stream ended after {written} bytes without an exit status (connection dropped)")
        if remote.get("RC") == "94" and "NOCOMPRESS" in remote:
            raise UsageError(f"--compress {compress}: the pod's pg_dump does not support it ({remote['NOCOMPRESS'].removeprefix('pg_dump: error: ')})")
        if result.exit_code != 0:
            why = postgres.lock_message(result.stderr_text(), limits.lock_wait, limits.statement)
            if why:
                raise ToolError(f"backup failed: {why}")
            raise ToolError(f"backup failed: pg_dump exited {remote.get('RC', result.exit_code)}: {postgres.error_summary(result.stderr_text())}")
        local_sum = hasher.hexdigest()
        if remote.get("SHA256") != local_sum:
            raise ToolError(f"backup failed: checksum mismatch (pod {remote.get('SHA256', 'none')[:12]}…, local {local_sum[:12]}…): the stream was corrupted or truncated")
        judged = readback.finish() if readback is not None else None
        complete, reason = judged if judged is not None else archive.check_complete(partial, fmt)
        if not complete:
            raise ToolError(f"backup failed verification: {reason}")
        server_version, globals_bytes = side.result()
        globals_path = globals_dump.path_for(final)
        with open_private(globals_path) as gh:
            gh.write(globals_bytes)
            gh.flush()
            os.fsync(gh.fileno())
        info = BackupInfo(
            file=final.name, format=fmt, size=written, sha256=local_sum, context=kube.context_name, namespace=kube.namespace,
            server=kube.server, database=creds.database, server_version=server_version,
            pg_dump_version=remote.get("PGDUMP", "unknown"),
            table_counts=counts, started_at=iso(started), finished_at=iso(now_utc()), kind=kind,
            globals_file=globals_path.name, globals_sha256=globals_dump.sha256(globals_bytes),
            compression=recorded_compression(spec, archive.header_compression(head)) if fmt == "custom" else "none",
        )
        # Metadata first, then the atomic rename: a file under the final name always has it.
        try:
            _write_json_atomic(meta_file, info.__dict__)
        except OSError as exc:
            raise ToolError(f"backup failed: cannot write {meta_file.name}: {exc.strerror or exc}") from None
        os.replace(partial, final)
        renamed = True
    except BaseException:
        if readback is not None:
            readback.abort()
        if not renamed:  # Ctrl-C or any failure before the rename: no metadata without its file
            with contextlib.suppress(OSError):
                meta_file.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                final.with_name(final.name + ".globals").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                meta_file.with_name(meta_file.name + ".tmp").unlink(missing_ok=True)
        raise
    finally:  # an exec beside still running after a failure is a daemon thread: it ends with us
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return info


class _Beside:
    """What runs beside the dump on a thread of its own: `SHOW server_version` (a psql exec with
    a whole-run deadline, as every small query has), then `pg_dumpall --globals-only`
    (ops/globals_dump.py). Their execs overlap the dump instead of preceding or following it.
    A failure of either ends the dump's stream too (`session.abort`): against a frozen server
    the backup stops within [timeouts] exec with that exec's own message."""

    def __init__(self, kube, database: str) -> None:
        self._kube, self._database = kube, database
        self._thread: threading.Thread | None = None
        self._version = "unknown"
        self._roles: bytes | None = None
        self._error: BaseException | None = None

    def start(self, session) -> None:
        def run() -> None:
            try:
                self._version = postgres.server_version(self._kube, self._database)
                self._roles = globals_dump.dump(self._kube)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._error = exc
                session.abort()

        self._thread = threading.Thread(target=run, name="backup-beside", daemon=True)
        self._thread.start()

    def raise_error(self) -> None:
        if self._error is not None:  # set before it aborts the stream
            raise self._error

    def result(self) -> tuple[str, bytes]:
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._roles is not None
        return self._version, self._roles


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


_MOVED = {
    "catalog": ("RECORDED", "BackupEntry", "VerifyResult", "PruneAction", "PruneResult", "verify", "list_backups", "prune"),
    "restore": ("RestoreProblem", "RestoreResult", "restore", "restore_target_mismatch", "PLAIN_PREAMBLE", "PLAIN_BEGIN", "PLAIN_COMMIT"),
}


def __getattr__(name: str):
    """`backup.verify`, `backup.restore` ... from before the split keep working."""
    import importlib

    for module, names in _MOVED.items():
        if name in names:
            return getattr(importlib.import_module(f"tripgenctl.ops.{module}"), name)
    raise AttributeError(name)
