"""`tripgenctl db backup|restore|verify|list|prune`. SIGTERM and SIGHUP (a CronJob's deadline,
a closed terminal) end a db command as Ctrl-C does: the cleanup runs (no `.partial` file is
left), one line says what happened, and the exit code is 128 + the signal."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Optional

import typer

from tripgenctl.errors import ToolError
from tripgenctl.cli import options as option
from tripgenctl.cli.common import confirm, exit_for, gate, options, report, config_of

MAX_KEEP_DAYS = 36500  # a retention beyond 100 years is a typo, and overflows date arithmetic
COMPRESS_HELP = ("Custom archives: gzip[:1-9] (pg_dump's default), lz4[:1-12], zstd[:1-22] or none; lz4 and zstd only where "
                 "the pod's pg_dump was built with them (refused otherwise). `bench/backup.py` shows the size/time trade-off.")
CONFIGURED = "(configured)"  # `--store` given without a value: the config's store


def _store(ctx, value: Optional[str]):
    """--store URL, or --store alone for the configured one."""
    from tripgenctl.ops import store

    return store.resolve(None if value in (None, CONFIGURED) else value, config_of(ctx))


def _dir(ctx, backup_dir: Optional[str]) -> Path:
    return Path(backup_dir or config_of(ctx).backup.dir)


def _notify_url(ctx) -> Optional[str]:
    from tripgenctl import notify

    return notify.resolve_url(None, config_of(ctx).schedule.notify_url)


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="PostgreSQL backups you can trust: backup, verify, list, prune, restore.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("backup")
    def backup_cmd(
        ctx: typer.Context,
        backup_dir: Optional[str] = option.backup_dir(),
        name: Optional[str] = typer.Option(None, "--name", help="File name without extension (default dev-backup-YYYYmmdd-HHMMSS)."),
        fmt: Optional[str] = typer.Option(None, "--format", help="custom (pg_dump -Fc, default) or plain (SQL)."),
        to: str = typer.Option("local", "--to", help="local (the backup directory) or azure (also the team store, verified after upload)."),
        store_url: Optional[str] = option.store(option.STORE_HELP + " Implies --to azure."),
        compress: Optional[str] = typer.Option(None, "--compress", help=COMPRESS_HELP),
    ) -> None:
        """pg_dump inside postgresql-0, streamed, checksummed on both ends and read back before it
        is kept; with --to azure then uploaded in blocks and read back from the store."""
        from tripgenctl.errors import UsageError
        from tripgenctl.ops import backup, store
        from tripgenctl.presentation.render import render
        from tripgenctl.presentation.reporter import reporter

        if to not in ("local", "azure"):
            raise UsageError(f"--to must be local or azure, not {to!r}")
        cfg = config_of(ctx)
        opts = options(ctx)
        kw = dict(name=name, fmt=fmt or cfg.backup.format, name_format=cfg.backup.name_format, compress=compress)
        backup.compress_spec(compress, kw["fmt"])  # a bad --compress is refused before any call
        target = _store(ctx, store_url) if (to == "azure" or store_url) else None
        kube = opts.kube()
        with reporter("db backup") as rep:
            progress = rep.transfer("pg_dump")
            if target is None:
                result = backup.backup(kube, _dir(ctx, backup_dir), progress=progress, **kw)
            else:
                result = store.backup_to_store(kube, _dir(ctx, backup_dir), target, progress=progress, **kw)
        render(result, opts.output)

    @db.command("verify")
    def verify_cmd(ctx: typer.Context, file: Path = typer.Argument(..., help="Backup file.")) -> None:
        """Re-check a backup's sha256 against its metadata and that the archive is complete."""
        from tripgenctl.cli.validate import file_path
        from tripgenctl.ops import catalog

        file_path(file, "backup file")

        result = catalog.verify(file)
        report(result, options(ctx).output)

    @db.command("list")
    def list_cmd(
        ctx: typer.Context,
        backup_dir: Optional[str] = option.backup_dir(),
        check: bool = typer.Option(False, "--check", help="Re-hash every file (slow); only then is a file called verified."),
        store_url: Optional[str] = option.store(option.STORE_HELP + " Lists the store instead of the directory."),
    ) -> None:
        """Backups with time, size, database and state: "verified <time>" only for what --check
        re-hashed now, otherwise "sha256 recorded, not re-checked"; `.partial` files of
        interrupted runs show as incomplete. With --store: the team store's backups, "verified
        after upload" for those read back whole after their upload."""
        from tripgenctl.ops import catalog, store
        from tripgenctl.presentation.render import render

        if store_url:
            target = _store(ctx, store_url)
            render(store.list_store(target), options(ctx).output, title=f"Backups in {target}")
            return
        entries = catalog.list_backups(_dir(ctx, backup_dir), check=check)
        render(entries, options(ctx).output, title="Backups")
        if check and any(e.state == "damaged" for e in entries):
            raise typer.Exit(1)  # --check is a check: damage found is a problem found

    @db.command("prune")
    def prune_cmd(
        ctx: typer.Context,
        backup_dir: Optional[str] = option.backup_dir(),
        keep_days: Optional[int] = typer.Option(None, "--keep-days", help="Delete backups older than this (default 7, the SPEC's retention)."),
        keep_last: Optional[int] = typer.Option(None, "--keep-last", help="Always keep the newest N."),
        dry_run: bool = option.dry_run("Only show what would be deleted."),
        yes: bool = option.yes(),
        store_url: Optional[str] = option.store(option.STORE_HELP + " Prunes the store (--keep-last defaults to [backup] store_keep_min)."),
    ) -> None:
        """Delete old backups and the `.partial` files of interrupted runs; never the newest
        intact backup. Every file's action and reason is shown."""
        from tripgenctl.errors import UsageError
        from tripgenctl.ops import catalog, store
        from tripgenctl.presentation.render import render

        cfg = config_of(ctx)
        days = keep_days if keep_days is not None else cfg.backup.keep_days
        if isinstance(days, int) and days > MAX_KEEP_DAYS:  # before any date arithmetic could overflow
            raise UsageError(f"keep days {days} (--keep-days or backup.keep_days): at most {MAX_KEEP_DAYS} (100 years)")
        if store_url:
            target = _store(ctx, store_url)
            keep_min = keep_last if keep_last is not None else cfg.backup.store_keep_min
            plan = store.prune_store(target, days, keep_min, dry_run=True)
            if not dry_run and plan.deleted:
                confirm(f"Delete {len(plan.deleted)} backup(s) from {target}: {', '.join(plan.deleted)}?", yes)
                plan = store.prune_store(target, days, keep_min, dry_run=False)
            render(plan, options(ctx).output)
            return
        plan = catalog.prune(_dir(ctx, backup_dir), days, keep_last, dry_run=True)
        if not dry_run and plan.deleted:
            confirm(f"Delete {len(plan.deleted)} backup(s): {', '.join(plan.deleted)}?", yes)
            plan = catalog.prune(_dir(ctx, backup_dir), days, keep_last, dry_run=False)
        render(plan, options(ctx).output)

    @db.command("drill")
    def drill_cmd(
        ctx: typer.Context,
        into: Optional[str] = option.into("The scratch database (default drill_YYYYmmdd_HHMMSS); must not exist."),
        backup_dir: Optional[str] = option.backup_dir(),
        store_url: Optional[str] = option.store(option.STORE_HELP + " Drill the store's newest backup instead of the directory's."),
        target_minutes: float = typer.Option(30.0, "--target-minutes", help="The recovery target (SPEC: 30 minutes)."),
        scheduled: bool = option.scheduled("An unattended run (the weekly CronJob of `schedule install --drill`): a failed drill is posted to the webhook ($TRIPGENCTL_NOTIFY_URL, then config schedule.notify_url)."),
    ) -> None:
        """Restore the newest backup of this namespace into a scratch database, run the data
        validation on it, drop it, and report the time to recover against the target. Exit 1
        when a check fails, the counts differ or the target is missed. The live database is not
        touched."""
        from tripgenctl.ops import drill
        from tripgenctl.presentation.render import is_machine, render

        opts = options(ctx)
        where = _store(ctx, store_url) if store_url else None
        kube = opts.kube()
        started = time.monotonic()
        try:
            result = drill.drill(kube, _dir(ctx, backup_dir), into=into, where=where, target_seconds=int(target_minutes * 60))
        except ToolError as exc:
            if scheduled:
                drill.announce_failure(_notify_url(ctx), kube.namespace, kube.context_name, exc.message, time.monotonic() - started)
            raise
        if scheduled and not result.ok:
            drill.announce_failure(_notify_url(ctx), kube.namespace, kube.context_name, result.message, time.monotonic() - started)
        render(result, opts.output)
        if not result.ok and not is_machine(opts.output):
            typer.echo(f"error: {result.message}", err=True)
        exit_for(result)

    @db.command("restore")
    def restore_cmd(
        ctx: typer.Context,
        file: str = typer.Argument(..., help="Backup file (custom .dump or plain .sql, including the old runbook's), or azure://<account>/<container>/<file> from the team store."),
        backup_dir: Optional[str] = option.backup_dir(),
        into: Optional[str] = option.into("Restore into a NEW database beside the live one."),
        no_safety_backup: bool = option.no_safety_backup("Skip the automatic backup of the current database."),
        yes: bool = option.yes("Do not ask; also allow a target other than the backup's origin."),
        drop_extra: bool = typer.Option(False, "--drop-extra", help="Also drop tables, views and sequences the backup does not hold."),
        with_globals: bool = typer.Option(False, "--globals", help="Also restore the roles saved beside the dump (pg_dumpall --globals-only): missing roles are created, existing ones left as they are."),
        allow_unverified: bool = typer.Option(False, "--allow-unverified", help="Restore a file that cannot be proven intact (an uncompressed custom archive without metadata)."),
        allow_other_context: bool = option.allow_other_context(),
        log_format: str = option.log_format(),
    ) -> None:
        """Verify, confirm, take a safety backup, then restore in one transaction. Objects in
        the database that the backup lacks are reported (and with --drop-extra removed)."""
        from tripgenctl.cli.validate import file_path
        from tripgenctl.ops import restore
        from tripgenctl.ops.safety import Change, Plan
        from tripgenctl.presentation.render import render
        from tripgenctl.presentation.reporter import reporter

        from tripgenctl.ops import store

        remote = store.parse_blob_url(file) if file.startswith("azure://") else None
        if remote is None:
            file_path(file, "backup file")  # before any call: a directory is not a backup
        label = remote[1] if remote else Path(file).name
        opts = options(ctx)
        kube = opts.kube()
        safety = gate(ctx, yes=yes, allow_other_context=allow_other_context, no_safety_backup=no_safety_backup, log_format=log_format)
        safety.guard(kube, "db restore")
        plan = Plan("db restore", kube.context_name, kube.namespace, [Change(f"database {into or '(the live one)'}", f"restored from {file if remote else label}")],
                    database=into, overwrites_rows=not into)
        with safety.trail(kube, plan, approved=False) as record:  # restore asks itself, after verifying the file

            def ask(question: str) -> None:
                confirm(question, yes)
                record.approved = True

            # the bars start with the first byte; the question (ask) takes them down first
            with reporter("db restore", log_format=log_format) as rep, contextlib.ExitStack() as stack:
                if remote:  # downloaded and verified before anything else happens
                    path = stack.enter_context(store.fetch(remote[0], remote[1], progress=rep.transfer("download")))
                else:
                    path = Path(file)
                progress = rep.transfer("restore", total=path.stat().st_size if path.exists() else None)
                result = restore.restore(
                    kube, path, _dir(ctx, backup_dir), into=into, safety_backup=not no_safety_backup,
                    confirm=ask, allow_other_target=yes, progress=progress,
                    drop_extra=drop_extra, allow_unverified=allow_unverified, with_globals=with_globals,
                )
            plan.database, plan.safety_backup = result.target_database, result.safety_backup
            record.result = "ok" if result.counts_match is not False else "failed"
            record.message = f"{label} into {result.target_database}" + ("" if result.counts_match is not False else f"; counts differ: {result.mismatches}")
        render(result, opts.output)
        exit_for(result)
