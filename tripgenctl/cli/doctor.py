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
            from tripgenctl.render import render

            render(report, opts.output)
        else:
            _print_report(report)
        raise typer.Exit(report.exit_code(fail_on, allow_skipped))


def _print_report(report) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel

    console = Console(highlight=False)
    style = {"critical": "bold red", "warning": "yellow", "ok": "green"}
    if report.healthy:
        verdict = "[green]healthy[/green]"
    else:
        verdict = f"[red]{report.critical} critical[/red]" if report.critical else "no critical finding"
        if report.could_not_run:
            verdict += f", [red]{len(report.could_not_run)} check(s) could not run ({', '.join(report.could_not_run)})[/red]"
    console.print(f"[bold]doctor[/bold] {escape(report.context)} / {escape(report.namespace)}: {verdict}, {report.warnings} warning(s)", soft_wrap=True)
    for severity in ("critical", "warning"):
        for f in (x for x in report.findings if x.severity == severity):
            # finding texts are data (messages, config keys like [thresholds]), never markup
            body = [f"[bold]{escape(f.title)}[/bold]"]
            if f.evidence:
                body.append(f"evidence: {escape(f.evidence)}")
            if f.cause:
                body.append(f"cause: {escape(f.cause)}")
            if f.fix:
                body.append(f"fix: {escape(f.fix)}")
            if f.prevention:
                body.append(f"prevention: {escape(f.prevention)}")
            if f.command:
                body.append(f"try: [cyan]{escape(f.command)}[/cyan]")
            console.print(Panel("\n".join(body), title=f"[{style[severity]}]{severity.upper()}[/] {f.check} · {escape(f.object)}", title_align="left"))
    ok = [f.check for f in report.findings if f.severity == "ok"]
    if ok:
        console.print("[green]ok:[/green] " + ", ".join(ok))
