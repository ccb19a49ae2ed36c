"""`tripgenctl down` and `tripgenctl up`: plan, confirm, lock, act, report. The run lives in
ops/updown.py (the scaling rules in ops/scaling.py); this module only declares the options and
supplies what a terminal adds: the question, the rendering and the exit code."""

from __future__ import annotations

from typing import List, Optional, Sequence

import typer

from tripgenctl.cli.common import ALLOW_OTHER_CONTEXT_HELP, confirm, handle_errors, options

EXCLUDE_HELP = "Leave this workload alone (repeatable). The annotation tripgenctl.io/exclude=true does the same."
CLUSTER_HELP_DOWN = "Then stop the AKS cluster itself (Azure; the config's azure section): the nodes are most of the bill. Only after the namespace went down cleanly."
CLUSTER_HELP_UP = "First start the AKS cluster (Azure; the config's azure section), fetch fresh credentials, wait for the API server."
NOTIFY_HELP = "Webhook (Slack/Teams-compatible) told when the run fails or skips. With --scheduled, $TRIPGENCTL_NOTIFY_URL or config schedule.notify_url are used too."


def execute(ctx: typer.Context, action: str, *, yes: bool = False, dry_run: bool = False, exclude: Sequence[str] = (),
            include_data: bool = False, wait: bool = True, timeout: float = 300, wait_lock: bool = False, scheduled: bool = False,
            log_format: str = "text", notify_url: str | None = None, cluster: bool = False,
            allow_other_context: bool = False, ignore_gitops: bool = False) -> None:
    """Shared by `down`, `up` and `wake`, so the three print, log and exit alike."""
    from dataclasses import replace

    from tripgenctl.ops import updown
    from tripgenctl.presentation.render import is_machine, render
    from tripgenctl.presentation.reporter import reporter

    from tripgenctl.cli.validate import seconds, workload_ref

    for ref in exclude:  # before any call: a name that could not be a workload's never reaches the cluster
        workload_ref(ref, "--exclude")
    seconds(timeout, "--timeout")  # inf/nan/huge would overflow the waits' clocks
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    if cluster and dry_run:
        raise typer.BadParameter("--dry-run does not combine with --cluster", param_hint="--cluster")
    opts = options(ctx)
    request = updown.Request(action, opts.namespace, opts.context, opts.kubeconfig, yes=yes, dry_run=dry_run, exclude=tuple(exclude),
                             include_data=include_data, wait=wait, timeout=timeout, wait_lock=wait_lock, scheduled=scheduled,
                             log_format=log_format, notify_url=notify_url, cluster=cluster,
                             allow_other_context=allow_other_context, ignore_gitops=ignore_gitops)

    def show_result(result) -> None:
        if log_format != "json" or is_machine(opts.output):  # JSON log lines already carry it, unless -o json/yaml asks for stdout
            render(result, opts.output)

    outcome = updown.run(
        request,
        connect=lambda context: replace(opts, context=context).kube(),
        confirm=lambda question: confirm(question, yes),
        show_plan=lambda view: render(view, opts.output),
        show_result=show_result,
        say=lambda text, err: typer.echo(text, err=err),
        reporter=reporter(action, log_format=log_format),
    )
    if outcome.error is not None:
        if log_format == "json":
            raise typer.Exit(outcome.error.exit_code)  # already logged as one JSON line: no plain `error:` line
        raise outcome.error
    if not outcome.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    @app.command("down")
    @handle_errors
    def down(
        ctx: typer.Context,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (cron). Without a terminal, required."),
        include_data: bool = typer.Option(False, "--include-data", help="Also stop Redis, then PostgreSQL (after the apps; the PVC is kept)."),
        exclude: Optional[List[str]] = typer.Option(None, "--exclude", help=EXCLUDE_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (workload, from → to) and change nothing."),
        no_wait: bool = typer.Option(False, "--no-wait", help="Scale and return without waiting for the pods to stop."),
        timeout: float = typer.Option(300, "--timeout", help="Seconds to wait for the pods to stop."),
        wait_lock: bool = typer.Option(False, "--wait-lock", help="If another up/down holds the lock, wait for it instead of failing."),
        scheduled: bool = typer.Option(False, "--scheduled", help="Run as the nightly job: skip when someone keeps the environment awake."),
        log_format: str = typer.Option("text", "--log-format", help="Progress lines: text or json (a terminal gets a live view)."),
        notify: Optional[str] = typer.Option(None, "--notify", metavar="URL", help=NOTIFY_HELP),
        cluster: bool = typer.Option(False, "--cluster", help=CLUSTER_HELP_DOWN),
        allow_other_context: bool = typer.Option(False, "--allow-other-context", help=ALLOW_OTHER_CONTEXT_HELP),
        ignore_gitops: bool = typer.Option(False, "--ignore-gitops", help="Scale even where an Argo CD Application or Flux object managing the namespace cannot be paused (it will likely put the replicas back)."),
    ) -> None:
        """Scale the applications to 0, remembering each one's replica count (databases stay up).
        Exit codes: 0 done (or a scheduled run skipped), 1 a workload did not stop or the cluster
        refused (forbidden, lock held), 2 usage error or the cluster cannot be reached."""
        execute(ctx, "down", yes=yes, dry_run=dry_run, exclude=exclude or (), include_data=include_data, wait=not no_wait, timeout=timeout,
                wait_lock=wait_lock, scheduled=scheduled, log_format=log_format, notify_url=notify, cluster=cluster,
                allow_other_context=allow_other_context, ignore_gitops=ignore_gitops)

    @app.command("up")
    @handle_errors
    def up(
        ctx: typer.Context,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (cron). Without a terminal, required."),
        exclude: Optional[List[str]] = typer.Option(None, "--exclude", help=EXCLUDE_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (workload, from → to) and change nothing."),
        no_wait: bool = typer.Option(False, "--no-wait", help="Scale in order and return without waiting for readiness."),
        timeout: float = typer.Option(300, "--timeout", help="Seconds to wait for everything to become Ready."),
        wait_lock: bool = typer.Option(False, "--wait-lock", help="If another up/down holds the lock, wait for it instead of failing."),
        scheduled: bool = typer.Option(False, "--scheduled", help="Run as the morning job: skip on configured holidays."),
        log_format: str = typer.Option("text", "--log-format", help="Progress lines: text or json (a terminal gets a live view)."),
        notify: Optional[str] = typer.Option(None, "--notify", metavar="URL", help=NOTIFY_HELP),
        cluster: bool = typer.Option(False, "--cluster", help=CLUSTER_HELP_UP),
        allow_other_context: bool = typer.Option(False, "--allow-other-context", help=ALLOW_OTHER_CONTEXT_HELP),
    ) -> None:
        """Restore every workload's remembered count: PostgreSQL and Redis first (Ready, and
        PostgreSQL answers SELECT 1), then the applications, then a health smoke test.
        Exit codes: 0 done (or a scheduled run skipped), 1 something did not come up or the
        cluster refused, 2 usage error or the cluster cannot be reached."""
        execute(ctx, "up", yes=yes, dry_run=dry_run, exclude=exclude or (), wait=not no_wait, timeout=timeout,
                wait_lock=wait_lock, scheduled=scheduled, log_format=log_format, notify_url=notify, cluster=cluster,
                allow_other_context=allow_other_context)
