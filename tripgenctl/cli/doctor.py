"""`tripgenctl doctor`."""

from __future__ import annotations

from typing import List, Optional

import typer

from tripgenctl.cli.common import handle_errors, options


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    @handle_errors
    def doctor(
        ctx: typer.Context,
        only: Optional[List[str]] = typer.Option(None, "--only", help="Run only this check (repeatable)."),
        skip: Optional[List[str]] = typer.Option(None, "--skip", help="Skip this check (repeatable)."),
        fail_on: str = typer.Option("critical", "--fail-on", help="critical (default) or warning: what makes the exit code 1."),
    ) -> None:
        """Diagnose the environment: the SPEC's troubleshooting table and alert thresholds."""
        from tripgenctl.config import load
        from tripgenctl.errors import UsageError
        from tripgenctl.ops.doctor import run_doctor

        if fail_on not in ("critical", "warning"):
            raise UsageError("--fail-on must be critical or warning")
        opts = options(ctx)
        report = run_doctor(opts.kube(), load(), only=only, skip=skip)
        if opts.output == "junit":
            from tripgenctl.ops.doctor.junit import to_junit

            typer.echo(to_junit(report, fail_on), nl=False)
        elif opts.output in ("json", "yaml"):
            from tripgenctl.render import render

            render(report, opts.output)
        else:
            _print_report(report)
        raise typer.Exit(report.exit_code(fail_on))


def _print_report(report) -> None:
    from rich.console import Console
    from rich.panel import Panel

    console = Console(highlight=False)
    style = {"critical": "bold red", "warning": "yellow", "ok": "green"}
    console.print(f"[bold]doctor[/bold] {report.context} / {report.namespace}: "
                  + ("[green]healthy[/green]" if report.healthy else f"[red]{report.critical} critical[/red]") + f", {report.warnings} warning(s)")
    for severity in ("critical", "warning"):
        for f in (x for x in report.findings if x.severity == severity):
            body = [f"[bold]{f.title}[/bold]"]
            if f.evidence:
                body.append(f"evidence: {f.evidence}")
            if f.cause:
                body.append(f"cause: {f.cause}")
            if f.fix:
                body.append(f"fix: {f.fix}")
            if f.prevention:
                body.append(f"prevention: {f.prevention}")
            if f.command:
                body.append(f"try: [cyan]{f.command}[/cyan]")
            console.print(Panel("\n".join(body), title=f"[{style[severity]}]{severity.upper()}[/] {f.check} · {f.object}", title_align="left"))
    ok = [f.check for f in report.findings if f.severity == "ok"]
    if ok:
        console.print("[green]ok:[/green] " + ", ".join(ok))
