"""`tripgenctl data init | validate | reset`: schema, sample data and checks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import exit_for, gate, options

PROFILE_HELP = "Design revision whose images the Jobs use: 001 (default, from config) or 000."
TIMEOUT_HELP = "Seconds to wait for PostgreSQL, and for each Job to Complete or Failed."
BACKUP_DIR_HELP = "Where the safety backup goes (default from config: backups/)."
SQL_DIR_HELP = "Directory with schema.sql and the sample files (default: the repository's sql/, or $TRIPGENCTL_SQL)."


def _progress(log_format: str):
    """The op's progress lines through the one Reporter, on stderr so `-o json` stays
    parseable: indented lines, or JSON objects with --log-format json."""
    from tripgenctl.presentation.reporter import reporter

    return reporter("data", log_format=log_format, stamp=False, indent="  ").log


def _show_failure(result) -> None:
    failed = result.failed_job if result is not None else None
    if failed is None:
        return
    if failed.log_tail:
        where = f"pod {failed.pod}" + (f", container {failed.container}" if failed.container else "")
        print(f"--- last {len(failed.log_tail)} log lines of {where} ---", file=sys.stderr)
        for line in failed.log_tail:
            print(f"  {line}", file=sys.stderr)
    if failed.error_line:
        print(f"error line: {failed.error_line}", file=sys.stderr)
    print(f"error: {result.message}", file=sys.stderr, flush=True)


def register(app: typer.Typer) -> None:
    data = typer.Typer(help="Schema, sample data and their checks: init, validate, reset.", no_args_is_help=True)
    app.add_typer(data, name="data")

    @data.command("init")
    def init_cmd(
        ctx: typer.Context,
        force: bool = option.force("Run even if the database already holds sample data (drops and reloads it: asks, and takes a safety backup first)."),
        yes: bool = option.yes("With --force: do not ask. Without a terminal, required."),
        dry_run: bool = option.dry_run("With --force: show what would be deleted (tables and row counts) and change nothing."),
        no_safety_backup: bool = option.no_safety_backup(),
        backup_dir: Optional[str] = option.backup_dir(BACKUP_DIR_HELP),
        allow_other_context: bool = option.allow_other_context(),
        log_format: str = option.log_format(),
        timeout: float = option.timeout(300.0, TIMEOUT_HELP),
        profile: Optional[str] = option.profile(PROFILE_HELP),
        sql_dir: Optional[Path] = option.sql_dir(SQL_DIR_HELP),
    ) -> None:
        """Apply the script ConfigMaps (from sql/) and the Jobs database-schema-init, sample-data-load,
        data-validation in order; stop at the first that fails and show its log."""
        from tripgenctl.ops import data as ops
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        safety = gate(ctx, yes=yes, dry_run=dry_run, allow_other_context=allow_other_context, no_safety_backup=no_safety_backup,
                      backup_dir=backup_dir, log_format=log_format)
        if dry_run and not force:
            raise typer.BadParameter("--dry-run shows what --force would delete; without --force data init deletes nothing", param_hint="--dry-run")
        result = ops.init(opts.kube(), profile or safety.config.profile, force=force, timeout=timeout, sql_path=sql_dir,
                          on_update=_progress(log_format), gate=safety)
        if result is None:  # dry run: the plan was shown
            return
        render(result, opts.output)
        if not result.ok:
            _show_failure(result)
        exit_for(result)

    @data.command("validate")
    def validate_cmd(
        ctx: typer.Context,
        expect_sample: bool = typer.Option(False, "--expect-sample", help="Want the sample exactly (users = 10, ...), as right after `data init`; default: at least the sample's counts."),
    ) -> None:
        """Check the database through a port-forward to postgresql-0. Integrity, always: tables,
        foreign-key orphans, ratings 1-5, durations 1-7, coordinates in bounds, bcrypt hashes.
        Sample expectations (SPEC row counts, named users and their trips, 12 months): at least
        the sample's numbers, so a database in use passes; exactly with --expect-sample."""
        from tripgenctl.ops import data as ops
        from tripgenctl.presentation.render import is_machine, render

        opts = options(ctx)
        report = ops.validate(opts.kube(), expect_sample=expect_sample)
        render(report, opts.output)
        if not report.ok and not is_machine(opts.output):
            print(f"error: {report.message}", file=sys.stderr)
        exit_for(report)

    @data.command("reset")
    def reset_cmd(
        ctx: typer.Context,
        yes: bool = option.yes("Do not ask. Without a terminal, required."),
        dry_run: bool = option.dry_run("Show what would be dropped (tables and row counts) and change nothing."),
        no_safety_backup: bool = option.no_safety_backup(option.NO_SAFETY_BACKUP_HELP, "--no-backup"),
        backup_dir: Optional[str] = option.backup_dir(BACKUP_DIR_HELP),
        allow_other_context: bool = option.allow_other_context(),
        log_format: str = option.log_format(),
        timeout: float = option.timeout(300.0, TIMEOUT_HELP),
        profile: Optional[str] = option.profile(PROFILE_HELP),
        sql_dir: Optional[Path] = option.sql_dir(SQL_DIR_HELP),
    ) -> None:
        """Back up (verified), DROP SCHEMA public CASCADE, recreate it, and run `data init` again."""
        from tripgenctl.ops import data as ops
        from tripgenctl.presentation.render import is_machine, render

        opts = options(ctx)
        safety = gate(ctx, yes=yes, dry_run=dry_run, allow_other_context=allow_other_context, no_safety_backup=no_safety_backup,
                      backup_dir=backup_dir, log_format=log_format)
        result = ops.reset(opts.kube(), safety, profile=profile or safety.config.profile, timeout=timeout, sql_path=sql_dir,
                           on_update=_progress(log_format))
        if result is None:  # dry run: the plan was shown
            return
        render(result, opts.output)
        if result.init is not None and not is_machine(opts.output):
            render(result.init, opts.output)
        if not result.ok:
            _show_failure(result.init)
        exit_for(result)
