"""`tripgenctl db backup|restore|verify|list|prune`. SIGTERM and SIGHUP (a CronJob's deadline,
a closed terminal) end a db command as Ctrl-C does: the cleanup runs (no `.partial` file is
left), one line says what happened, and the exit code is 128 + the signal."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tripgenctl.cli.common import ALLOW_OTHER_CONTEXT_HELP, LOG_FORMAT_HELP, confirm, gate, handle_errors, options, report

DIR_HELP = "Where backups live (default from config: backups/)."
MAX_KEEP_DAYS = 36500  # a retention beyond 100 years is a typo, and overflows date arithmetic


def _dir(backup_dir: Optional[str]) -> Path:
    from tripgenctl.config import load

    return Path(backup_dir or load().backup.dir)




def register(app: typer.Typer) -> None:
    db = typer.Typer(help="PostgreSQL backups you can trust: backup, verify, list, prune, restore.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("backup")
    @handle_errors
    def backup_cmd(
        ctx: typer.Context,
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help=DIR_HELP),
        name: Optional[str] = typer.Option(None, "--name", help="File name without extension (default dev-backup-YYYYmmdd-HHMMSS)."),
        fmt: Optional[str] = typer.Option(None, "--format", help="custom (pg_dump -Fc, default) or plain (SQL)."),
    ) -> None:
        """pg_dump inside postgresql-0, streamed, checksummed on both ends and read back before it is kept."""
        from tripgenctl.cli.progress import byte_progress
        from tripgenctl.config import load
        from tripgenctl.ops import backup
        from tripgenctl.render import render

        cfg = load()
        opts = options(ctx)
        kube = opts.kube()
        with byte_progress("pg_dump") as progress:
            info = backup.backup(kube, _dir(backup_dir), name=name, fmt=fmt or cfg.backup.format, name_format=cfg.backup.name_format, progress=progress)
        render(info, opts.output)

    @db.command("verify")
    @handle_errors
    def verify_cmd(ctx: typer.Context, file: Path = typer.Argument(..., help="Backup file.")) -> None:
        """Re-check a backup's sha256 against its metadata and that the archive is complete."""
        from tripgenctl.cli.validate import file_path
        from tripgenctl.ops import catalog

        file_path(file, "backup file")

        result = catalog.verify(file)
        report(result, options(ctx).output)

    @db.command("list")
    @handle_errors
    def list_cmd(
        ctx: typer.Context,
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help=DIR_HELP),
        check: bool = typer.Option(False, "--check", help="Re-hash every file (slow); only then is a file called verified."),
    ) -> None:
        """Backups with time, size, database and state: "verified <time>" only for what --check
        re-hashed now, otherwise "sha256 recorded, not re-checked"; `.partial` files of
        interrupted runs show as incomplete."""
        from tripgenctl.ops import catalog
        from tripgenctl.render import render

        entries = catalog.list_backups(_dir(backup_dir), check=check)
        render(entries, options(ctx).output, title="Backups")
        if check and any(e.state == "damaged" for e in entries):
            raise typer.Exit(1)  # --check is a check: damage found is a problem found

    @db.command("prune")
    @handle_errors
    def prune_cmd(
        ctx: typer.Context,
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help=DIR_HELP),
        keep_days: Optional[int] = typer.Option(None, "--keep-days", help="Delete backups older than this (default 7, the SPEC's retention)."),
        keep_last: Optional[int] = typer.Option(None, "--keep-last", help="Always keep the newest N."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be deleted."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    ) -> None:
        """Delete old backups and the `.partial` files of interrupted runs; never the newest
        intact backup. Every file's action and reason is shown."""
        from tripgenctl.config import load
        from tripgenctl.errors import UsageError
        from tripgenctl.ops import catalog
        from tripgenctl.render import render

        days = keep_days if keep_days is not None else load().backup.keep_days
        if isinstance(days, int) and days > MAX_KEEP_DAYS:  # before any date arithmetic could overflow
            raise UsageError(f"keep days {days} (--keep-days or backup.keep_days): at most {MAX_KEEP_DAYS} (100 years)")
        plan = catalog.prune(_dir(backup_dir), days, keep_last, dry_run=True)
        if not dry_run and plan.deleted:
            confirm(f"Delete {len(plan.deleted)} backup(s): {', '.join(plan.deleted)}?", yes)
            plan = catalog.prune(_dir(backup_dir), days, keep_last, dry_run=False)
        render(plan, options(ctx).output)

    @db.command("restore")
    @handle_errors
    def restore_cmd(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="Backup file (custom .dump or plain .sql, including the old runbook's)."),
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help=DIR_HELP),
        into: Optional[str] = typer.Option(None, "--into", help="Restore into a NEW database beside the live one."),
        no_safety_backup: bool = typer.Option(False, "--no-safety-backup", help="Skip the automatic backup of the current database."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask; also allow a target other than the backup's origin."),
        drop_extra: bool = typer.Option(False, "--drop-extra", help="Also drop tables, views and sequences the backup does not hold."),
        allow_unverified: bool = typer.Option(False, "--allow-unverified", help="Restore a file that cannot be proven intact (an uncompressed custom archive without metadata)."),
        allow_other_context: bool = typer.Option(False, "--allow-other-context", help=ALLOW_OTHER_CONTEXT_HELP),
        log_format: str = typer.Option("text", "--log-format", help=LOG_FORMAT_HELP),
    ) -> None:
        """Verify, confirm, take a safety backup, then restore in one transaction. Objects in
        the database that the backup lacks are reported (and with --drop-extra removed)."""
        from tripgenctl.cli.progress import byte_progress
        from tripgenctl.cli.validate import file_path
        from tripgenctl.ops import restore
        from tripgenctl.ops.safety import Change, Plan
        from tripgenctl.render import render

        file_path(file, "backup file")  # before any call: a directory is not a backup
        opts = options(ctx)
        kube = opts.kube()
        safety = gate(ctx, yes=yes, allow_other_context=allow_other_context, no_safety_backup=no_safety_backup, log_format=log_format)
        safety.guard(kube, "db restore")
        plan = Plan("db restore", kube.context_name, kube.namespace, [Change(f"database {into or '(the live one)'}", f"restored from {file.name}")],
                    database=into, overwrites_rows=not into)
        with safety.trail(kube, plan, approved=False) as record:  # restore asks itself, after verifying the file

            def ask(question: str) -> None:
                confirm(question, yes)
                record.approved = True

            with byte_progress("restore", total=file.stat().st_size if file.exists() else None) as progress:
                result = restore.restore(
                    kube, file, _dir(backup_dir), into=into, safety_backup=not no_safety_backup,
                    confirm=ask, allow_other_target=yes, progress=progress,
                    drop_extra=drop_extra, allow_unverified=allow_unverified,
                )
            plan.database, plan.safety_backup = result.target_database, result.safety_backup
            record.result = "ok" if result.counts_match is not False else "failed"
            record.message = f"{file.name} into {result.target_database}" + ("" if result.counts_match is not False else f"; counts differ: {result.mismatches}")
        render(result, opts.output)
        if result.counts_match is False:
            raise typer.Exit(1)
