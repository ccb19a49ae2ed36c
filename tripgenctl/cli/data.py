"""`tripgenctl data init | validate | reset`: schema, sample data and checks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from tripgenctl.cli.common import confirm, handle_errors, options

PROFILE_HELP = "Design revision whose images the Jobs use: 001 (default, from config) or 000."
TIMEOUT_HELP = "Seconds to wait for PostgreSQL, and for each Job to Complete or Failed."
SQL_DIR_HELP = "Directory with schema.sql and the sample files (default: the repository's sql/, or $TRIPGENCTL_SQL)."


def _progress(output: str):
    """Progress lines on stderr, so `-o json` stays parseable."""

    def line(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    return line


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
    @handle_errors
    def init_cmd(
        ctx: typer.Context,
        force: bool = typer.Option(False, "--force", help="Run even if the database already holds sample data (drops and reloads it)."),
        timeout: float = typer.Option(300.0, "--timeout", help=TIMEOUT_HELP),
        profile: Optional[str] = typer.Option(None, "--profile", help=PROFILE_HELP),
        sql_dir: Optional[Path] = typer.Option(None, "--sql-dir", help=SQL_DIR_HELP),
    ) -> None:
        """Apply the script ConfigMaps (from sql/) and the Jobs database-schema-init, sample-data-load,
        data-validation in order; stop at the first that fails and show its log."""
        from tripgenctl.config import load
        from tripgenctl.ops import data as ops
        from tripgenctl.render import render

        opts = options(ctx)
        result = ops.init(opts.kube(), profile or load().profile, force=force, timeout=timeout, sql_path=sql_dir, on_update=_progress(opts.output))
        render(result, opts.output)
        if not result.ok:
            _show_failure(result)
            raise typer.Exit(1)

    @data.command("validate")
    @handle_errors
    def validate_cmd(
        ctx: typer.Context,
        expect_sample: bool = typer.Option(False, "--expect-sample", help="Want the sample exactly (users = 10, ...), as right after `data init`; default: at least the sample's counts."),
    ) -> None:
        """Check the database through a port-forward to postgresql-0. Integrity, always: tables,
        foreign-key orphans, ratings 1-5, durations 1-7, coordinates in bounds, bcrypt hashes.
        Sample expectations (SPEC row counts, named users and their trips, 12 months): at least
        the sample's numbers, so a database in use passes; exactly with --expect-sample."""
        from tripgenctl.ops import data as ops
        from tripgenctl.render import is_machine, render

        opts = options(ctx)
        report = ops.validate(opts.kube(), expect_sample=expect_sample)
        render(report, opts.output)
        if not report.ok:
            if not is_machine(opts.output):
                print(f"error: {report.message}", file=sys.stderr)
            raise typer.Exit(1)

    @data.command("reset")
    @handle_errors
    def reset_cmd(
        ctx: typer.Context,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask; also allow a context other than the configured environment."),
        no_backup: bool = typer.Option(False, "--no-backup", help="Skip the backup taken before dropping the schema."),
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help="Where the pre-reset backup goes (default from config: backups/)."),
        timeout: float = typer.Option(300.0, "--timeout", help=TIMEOUT_HELP),
        profile: Optional[str] = typer.Option(None, "--profile", help=PROFILE_HELP),
        sql_dir: Optional[Path] = typer.Option(None, "--sql-dir", help=SQL_DIR_HELP),
    ) -> None:
        """Back up, DROP SCHEMA public CASCADE, recreate it, and run `data init` again."""
        from tripgenctl.config import load
        from tripgenctl.ops import data as ops
        from tripgenctl.ops import guard
        from tripgenctl.render import is_machine, render

        cfg = load()
        opts = options(ctx)
        kube = opts.kube()
        guard.require_expected(kube, cfg, "data reset", yes=yes)
        backup_note = "" if no_backup or not ops.backup_available() else " (a backup is taken first)"
        confirm(f"Drop every table in schema public of namespace {opts.namespace} and reload the sample data{backup_note}?", yes)
        result = ops.reset(kube, take_backup=not no_backup, backup_dir=Path(backup_dir) if backup_dir else None,
                           profile=profile or cfg.profile, timeout=timeout, sql_path=sql_dir, on_update=_progress(opts.output))
        render(result, opts.output)
        if result.init is not None and not is_machine(opts.output):
            render(result.init, opts.output)
        if not result.ok:
            _show_failure(result.init)
            raise typer.Exit(1)
