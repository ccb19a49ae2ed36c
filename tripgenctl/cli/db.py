"""`tripgenctl db backup|restore|verify|list|prune`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tripgenctl.cli.common import confirm, handle_errors, options, report

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
        from tripgenctl.ops import backup
        from tripgenctl.cli.validate import file_path

        file_path(file, "backup file")

        result = backup.verify(file)
        report(result, options(ctx).output)

    @db.command("list")
    @handle_errors
    def list_cmd(
        ctx: typer.Context,
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help=DIR_HELP),
        check: bool = typer.Option(False, "--check", help="Re-hash every file (slow)."),
    ) -> None:
        """Backups with time, size, database and verified state."""
        from tripgenctl.ops import backup
        from tripgenctl.render import render

        render(backup.list_backups(_dir(backup_dir), check=check), options(ctx).output, title="Backups")

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
        """Delete old backups; never the newest verified one."""
        from tripgenctl.config import load
        from tripgenctl.errors import UsageError
        from tripgenctl.ops import backup
        from tripgenctl.render import render

        days = keep_days if keep_days is not None else load().backup.keep_days
        if isinstance(days, int) and days > MAX_KEEP_DAYS:  # before any date arithmetic could overflow
            raise UsageError(f"keep days {days} (--keep-days or backup.keep_days): at most {MAX_KEEP_DAYS} (100 years)")
        plan = backup.prune(_dir(backup_dir), days, keep_last, dry_run=True)
        if not dry_run and plan.deleted:
            confirm(f"Delete {len(plan.deleted)} backup(s): {', '.join(plan.deleted)}?", yes)
            plan = backup.prune(_dir(backup_dir), days, keep_last, dry_run=False)
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
    ) -> None:
        """Verify, confirm, take a safety backup, then restore in one transaction."""
        from tripgenctl.cli.progress import byte_progress
        from tripgenctl.cli.validate import file_path
        from tripgenctl.ops import backup
        from tripgenctl.render import render

        file_path(file, "backup file")  # before any call: a directory is not a backup

        from tripgenctl.config import load
        from tripgenctl.ops import guard

        opts = options(ctx)
        kube = opts.kube()
        guard.require_expected(kube, load(), "restore", yes=yes)
        with byte_progress("restore", total=file.stat().st_size if file.exists() else None) as progress:
            result = backup.restore(
                kube, file, _dir(backup_dir), into=into, safety_backup=not no_safety_backup,
                confirm=lambda q: confirm(q, yes), allow_other_target=yes, progress=progress,
            )
        render(result, opts.output)
        if result.counts_match is False:
            raise typer.Exit(1)
