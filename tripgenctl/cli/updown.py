"""`tripgenctl down` and `tripgenctl up`: plan, confirm, lock, act, report. The run lives in
ops/updown.py (the scaling rules in ops/scaling.py); this module only declares the options and
supplies what a terminal adds: the question, the rendering and the exit code."""

from __future__ import annotations

from typing import List, Optional, Sequence

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import config_of, confirm, exit_for, options

CLUSTER_HELP_DOWN = "Then stop the AKS cluster itself (Azure; the config's azure section): the nodes are most of the bill. Only after the namespace went down cleanly."
CLUSTER_HELP_UP = "First start the AKS cluster (Azure; the config's azure section), fetch fresh credentials, wait for the API server."


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
                             allow_other_context=allow_other_context, ignore_gitops=ignore_gitops, config=config_of(ctx))

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
    if outcome.error is not None and log_format != "json":
        raise outcome.error  # one plain `error:` line (with --log-format json it is already logged as a JSON line)
    exit_for(outcome)


# The options `up` and `down` both take, declared once: option.shared adds them to each command
# (the ones whose help says what that command waits for or skips are the commands' own).
RUN_OPTIONS = dict(
    yes=(bool, lambda: option.yes(option.YES_CRON_HELP)),
    exclude=(Optional[List[str]], option.exclude),
    dry_run=(bool, lambda: option.dry_run("Print the plan (workload, from → to) and change nothing.")),
    wait_lock=(bool, option.wait_lock),
    log_format=(str, lambda: option.log_format(option.RUN_LOG_FORMAT_HELP)),
    notify=(Optional[str], option.notify),
    allow_other_context=(bool, option.allow_other_context),
)


def _run(shared: dict) -> dict:
    """RUN_OPTIONS' values as execute() takes them."""
    shared = dict(shared)
    shared["exclude"] = shared.get("exclude") or ()
    shared["notify_url"] = shared.pop("notify", None)
    return shared


def register(app: typer.Typer) -> None:
    @app.command("down")
    @option.shared(**RUN_OPTIONS)
    def down(
        ctx: typer.Context,
        include_data: bool = typer.Option(False, "--include-data", help="Also stop Redis, then PostgreSQL (after the apps; the PVC is kept)."),
        no_wait: bool = option.no_wait("Scale and return without waiting for the pods to stop."),
        timeout: float = option.timeout(300, "Seconds to wait for the pods to stop."),
        scheduled: bool = option.scheduled("Run as the nightly job: skip when someone keeps the environment awake."),
        cluster: bool = option.cluster(CLUSTER_HELP_DOWN),
        ignore_gitops: bool = typer.Option(False, "--ignore-gitops", help="Scale even where an Argo CD Application or Flux object managing the namespace cannot be paused (it will likely put the replicas back)."),
        **shared,
    ) -> None:
        """Scale the applications to 0, remembering each one's replica count (databases stay up).
        Exit codes: 0 done (or a scheduled run skipped), 1 a workload did not stop or the cluster
        refused (forbidden, lock held), 2 usage error or the cluster cannot be reached."""
        execute(ctx, "down", include_data=include_data, wait=not no_wait, timeout=timeout, scheduled=scheduled, cluster=cluster,
                ignore_gitops=ignore_gitops, **_run(shared))

    @app.command("up")
    @option.shared(**RUN_OPTIONS)
    def up(
        ctx: typer.Context,
        no_wait: bool = option.no_wait("Scale in order and return without waiting for readiness."),
        timeout: float = option.timeout(300, "Seconds to wait for everything to become Ready."),
        scheduled: bool = option.scheduled("Run as the morning job: skip on configured holidays."),
        cluster: bool = option.cluster(CLUSTER_HELP_UP),
        **shared,
    ) -> None:
        """Restore every workload's remembered count: PostgreSQL and Redis first (Ready, and
        PostgreSQL answers SELECT 1), then the applications, then a health smoke test.
        Exit codes: 0 done (or a scheduled run skipped), 1 something did not come up or the
        cluster refused, 2 usage error or the cluster cannot be reached."""
        execute(ctx, "up", wait=not no_wait, timeout=timeout, scheduled=scheduled, cluster=cluster, **_run(shared))
