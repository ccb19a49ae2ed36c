"""`db restore`: verify first, refuse the wrong target, take a safety backup, restore in one
transaction (a failure changes nothing; a lock or statement past its deadline is cancelled and
named), then compare the database with the backup: row counts against the metadata, and the
relations the database has but the backup lacks (reported; `--drop-extra` drops them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from tripgenctl.errors import ToolError, UsageError
from tripgenctl.kube import execstream
from tripgenctl.ops import archive, postgres
from tripgenctl.ops.backup import BackupInfo, Progress, backup, now_utc, read_metadata, stream_idle
from tripgenctl.ops.catalog import verify

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
    globals: str | None = None  # --globals: which roles were created, which existing ones were left alone

    __sections__ = ("problems",)

    @property
    def exit_code(self) -> int:
        """1 when the restored row counts differ from the backup's (errors.exit_code_of)."""
        return 1 if self.counts_match is False else 0


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
    no_privileges: bool = False,
    with_globals: bool = False,
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
    from tripgenctl.ops import globals_dump

    roles_file = globals_dump.path_for(path)
    if with_globals and not roles_file.exists():
        raise UsageError(f"--globals: {path.name} has no roles file beside it ({roles_file.name}); backups before this version had none")
    if confirm:
        confirm(f"Restore {path.name} into database {database} in {kube.context_name}/{kube.namespace}" + (f" ({mismatch})" if mismatch else "") + "?")
    safety = None
    created = False
    if into:
        postgres.psql(kube, f'CREATE DATABASE "{into}"', "postgres")
        created = True
    elif safety_backup:
        safety = backup(kube, backup_dir, name=now_utc().strftime("pre-restore-%Y%m%d-%H%M%S"), kind="safety", unique=True).file
    roles_note = globals_dump.apply(kube, roles_file, meta.globals_sha256 if meta else None).text() if with_globals else None
    limits = postgres.limits(kube)
    app = postgres.application_name("restore")
    # pg_restore and plain dumps set lock_timeout and statement_timeout to 0 themselves: the
    # watchdog enforces both (and names the blocker); PGOPTIONS covers what runs before that.
    head = (postgres.ENV_PRELUDE + postgres.session_env(app, limits.lock_wait, limits.statement) + postgres.watchdog(limits.lock_wait)
            + 'DB="$1"; TG_WATCH="$2"; tg_start; ')
    tail = '; rc=$?; tg_unwatch; exit "$rc"'
    if fmt == "custom":
        script = head + 'pg_restore --no-password -U "$U" -d "$DB" --single-transaction --exit-on-error ' + ("" if into else "--clean --if-exists ") + "--no-owner" + (" --no-privileges" if no_privileges else "") + tail
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
        session = execstream.open_exec(kube, postgres.pod_name(kube), ["sh", "-c", script, "sh", database, postgres.watch_sql(app, limits.lock_wait, limits.statement)],
                                       stdin=True, timeout=stream_idle(limits), what=f"restore in pod {postgres.pod_name(kube)}")
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
        extra_objects=extra_names, dropped_extra=dropped, problems=problems, globals=roles_note,
    )
