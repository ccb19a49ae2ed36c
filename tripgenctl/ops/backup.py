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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

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
    globals_file: str | None = None  # `<file>.globals`: pg_dumpall --globals-only (ops/globals_dump.py)
    globals_sha256: str | None = None

    __table__ = ("file", "format", "size", "database", "namespace", "finished_at", "verified")


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
    limits = postgres.limits(kube)
    dump_version = execstream.run(kube, postgres.pod_name(kube), ["pg_dump", "--version"], timeout=limits.exec).stdout.decode().strip()
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
                kube, postgres.pod_name(kube),
                ["sh", "-c", script, "sh", creds.database, "-Fc" if fmt == "custom" else "-Fp", postgres.COUNTS_SQL,
                 f"{postgres._ms(limits.lock_wait)}ms", postgres.watch_sql(app, limits.lock_wait, limits.statement)],
                timeout=stream_idle(limits), what=f"pg_dump in pod {postgres.pod_name(kube)}")

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
        from tripgenctl.ops import globals_dump

        roles = globals_dump.dump(kube)
        globals_path = globals_dump.path_for(final)
        with open_private(globals_path) as gh:
            gh.write(roles)
            gh.flush()
            os.fsync(gh.fileno())
        info = BackupInfo(
            file=final.name, format=fmt, size=written, sha256=local_sum, context=kube.context_name, namespace=kube.namespace,
            server=kube.server, database=creds.database, server_version=server_version, pg_dump_version=dump_version,
            table_counts=counts, started_at=iso(started), finished_at=iso(now_utc()), kind=kind,
            globals_file=globals_path.name, globals_sha256=globals_dump.sha256(roles),
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
                final.with_name(final.name + ".globals").unlink(missing_ok=True)
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
