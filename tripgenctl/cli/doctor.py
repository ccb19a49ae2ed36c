"""`tripgenctl doctor`."""

from __future__ import annotations

from typing import List, Optional

import typer

from tripgenctl.cli.common import options, config_of


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        ctx: typer.Context,
        only: Optional[List[str]] = typer.Option(None, "--only", help="Run only this check (repeatable)."),
        skip: Optional[List[str]] = typer.Option(None, "--skip", help="Skip this check (repeatable)."),
        fail_on: str = typer.Option("critical", "--fail-on", help="critical (default) or warning: what makes the exit code 1."),
        allow_skipped: bool = typer.Option(False, "--allow-skipped", help="A check that could not run does not make the exit code 1 (it is still reported)."),
    ) -> None:
        """Diagnose the environment: the SPEC's troubleshooting table and alert thresholds.
        Exit 1 on a critical finding or a check that could not run (its answer is unknown, not
        "fine"; --allow-skipped accepts that), 2 when the cluster cannot be reached."""
        from tripgenctl.errors import UsageError
        from tripgenctl.ops.doctor import run_doctor

        if fail_on not in ("critical", "warning"):
            raise UsageError("--fail-on must be critical or warning")
        opts = options(ctx)
        report = run_doctor(opts.kube(), config_of(ctx), only=only, skip=skip)
        if opts.output == "junit":
            from tripgenctl.ops.doctor.junit import to_junit

            typer.echo(to_junit(report, fail_on, allow_skipped), nl=False)
        elif opts.output in ("json", "yaml"):
            from tripgenctl.presentation.render import render

            render(report, opts.output)
        else:
            from tripgenctl.presentation.doctor import print_report

            print_report(report)
        raise typer.Exit(report.exit_code(fail_on, allow_skipped))

