"""Doctor's report for a person: the verdict line, a panel per critical finding and warning
(evidence, cause, fix, prevention, the command to try), then the checks that were fine. Finding
texts are data (messages, config keys like [thresholds]), so they are escaped, never markup.
Scripts get the same report through render (-o json / yaml) or ops/doctor/junit.py."""

from __future__ import annotations

from typing import IO


def print_report(report, file: IO[str] | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel

    console = Console(file=file, highlight=False)
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
