"""`tripgenctl cluster status|start|stop|credentials`: the AKS cluster itself (Azure), as
opposed to the workloads in it. JSON (-o json): status {cluster, resource_group, subscription,
location, power_state, provisioning_state, kubernetes_version, api_server, node_pools: [{name,
count, vm_size, spot, mode, power_state}]}; start/stop {action, cluster, outcome, power_state,
provisioning_state, elapsed_seconds, message, kubeconfig, context, api_server, api_version,
saves_per_hour, currency (stop), nodes_ready, checks, critical, warnings, findings: [{severity, check,
object, title, command}], refreshed (start)}; stop --dry-run {action, cluster, resource_group,
power_state, saves_per_hour, still_billed_per_hour, currency, destructive, dry_run, refused, note,
changes: [{object, change}], savings: [{item, per_hour, basis}]};
credentials {cluster, file, context, server, replaced, kept_contexts}."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import config_of, confirm, options


def _history(ctx, action: str, detail: str, context: Optional[str] = None, quiet: bool = False) -> None:
    """The environment's durable history (ops/history.py, read by `tripgenctl cost`): best
    effort, a cluster that cannot take the line is a warning, never the command's failure."""
    from tripgenctl.errors import ToolError
    from tripgenctl.kube.client import connect
    from tripgenctl.ops import history
    from tripgenctl.ops.lock import user_host

    opts = options(ctx)
    try:
        kube = connect(kubeconfig=opts.kubeconfig, context=context or opts.context, namespace=opts.namespace, config=config_of(ctx))
        warning = history.record(kube, opts.namespace, action, "ok", user_host(), detail[:200],
                                 keep_months=config_of(ctx).cost.history_months)
    except ToolError as exc:
        warning = f"history not recorded: {exc.message}"
    if warning and not quiet:
        typer.echo(f"warning: {warning}", err=True)


def _target(ctx, subscription, resource_group, cluster_name):
    from tripgenctl.ops.cluster import resolve_target

    return resolve_target(subscription, resource_group, cluster_name, config=config_of(ctx))


class _ProgressView:
    """Elapsed time and the ARM operation's status through the one Reporter (presentation/
    reporter.py) on stderr: a live row on a terminal, otherwise a line when the status changes
    and every 30 s (cron logs stay short). Drawn from the first tick, after any question."""

    def __init__(self, action: str, cluster: str):
        from tripgenctl.presentation.reporter import reporter

        self.action, self.cluster = action, cluster
        self._rep = reporter(f"cluster {action} {cluster}", stamp=False)

    def __call__(self, p) -> None:
        self._rep.item(f"{p.action} {self.cluster}", p.status, detail=f"{int(p.elapsed // 60)}m{int(p.elapsed % 60):02d}s elapsed")

    def close(self) -> None:
        self._rep.close()


def register(app: typer.Typer) -> None:
    cluster_app = typer.Typer(help="The AKS cluster itself (Azure): status, stop/start (nights and weekends), credentials.",
                              no_args_is_help=True)

    @cluster_app.command("status")
    def status(
        ctx: typer.Context,
        subscription: Optional[str] = option.subscription(),
        resource_group: Optional[str] = option.resource_group(),
        cluster_name: Optional[str] = option.cluster_name(),
    ) -> None:
        """Power state, provisioning state, Kubernetes version, node pools, API server FQDN."""
        from tripgenctl.ops.cluster import cluster_status
        from tripgenctl.presentation.render import render

        render(cluster_status(_target(ctx, subscription, resource_group, cluster_name)), options(ctx).output)

    @cluster_app.command("stop")
    def stop(
        ctx: typer.Context,
        yes: bool = option.yes(option.YES_CRON_HELP),
        dry_run: bool = option.dry_run("Show what would stop (the cluster, its node pools), what that saves per hour, and any refusal; change nothing."),
        no_wait: bool = option.no_wait("Return once Azure has accepted the stop."),
        timeout: float = option.timeout(1800, "Seconds to wait for the stop to finish."),
        subscription: Optional[str] = option.subscription(),
        resource_group: Optional[str] = option.resource_group(),
        cluster_name: Optional[str] = option.cluster_name(),
    ) -> None:
        """Stop the cluster (nodes and API server; data on disks is kept). Refused (exit 1, with
        the reason and when it will be allowed) while a power operation runs, within the
        cool-down after the last start/stop ([azure] power_cooldown_minutes), or when the cluster
        uses node auto-provisioning; already stopped -> says so, exit 0. The question shows the
        plan and what it saves per hour ([cost])."""
        from tripgenctl.ops.cluster import cluster_stop, plan_stop
        from tripgenctl.presentation.render import render

        config = config_of(ctx)
        target = _target(ctx, subscription, resource_group, cluster_name)
        if dry_run:  # the plan from the cluster's current state: what stops, what it saves, a refusal it would meet
            render(plan_stop(target, config.cost, config.azure.power_cooldown_minutes), options(ctx).output)
            return
        view = _ProgressView("stopping", target.cluster_name)

        def confirmed(question: str) -> None:  # asked, answered: written while the cluster still takes it
            confirm(question + ". Continue?", yes)
            _history(ctx, "cluster-stop", f"stopping {target.cluster_name}")

        try:
            result = cluster_stop(target, confirm=confirmed, wait=not no_wait, on_progress=view, timeout=timeout,
                                  poll_interval=config.azure.poll_interval, cooldown=config.azure.power_cooldown_minutes, cost=config.cost)
        except Exception:
            _history(ctx, "cluster-start", "the stop failed; the cluster kept running", quiet=True)
            raise
        finally:
            view.close()
        render(result, options(ctx).output)

    @cluster_app.command("start")
    def start(
        ctx: typer.Context,
        no_wait: bool = option.no_wait("Return once Azure has accepted the start (no credentials, no API check)."),
        timeout: float = option.timeout(1800, "Seconds to wait for the start to finish."),
        api_timeout: float = typer.Option(300, "--api-timeout", help="Seconds to wait for the API server to answer after the start."),
        nodes_timeout: float = typer.Option(600, "--nodes-timeout", help="Seconds to wait for every node to be Ready after the start."),
        no_checks: bool = typer.Option(False, "--no-checks", help="Do not run doctor's checks after the start."),
        file: Optional[str] = option.kubeconfig_file("Kubeconfig to merge fresh credentials into (default: --kubeconfig/KUBECONFIG, else ~/.kube/config)."),
        subscription: Optional[str] = option.subscription(),
        resource_group: Optional[str] = option.resource_group(),
        cluster_name: Optional[str] = option.cluster_name(),
    ) -> None:
        """Start the cluster, then fetch fresh credentials (the API server address may change),
        wait until the API server answers and every node is Ready, and run doctor's checks in
        the namespace (-n). Exit 1 on a critical finding or nodes not Ready in time."""
        from tripgenctl.ops.cluster import cluster_start, first_kubeconfig
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        target = _target(ctx, subscription, resource_group, cluster_name)
        view = _ProgressView("starting", target.cluster_name)
        try:
            result = cluster_start(target, wait=not no_wait, on_progress=view, timeout=timeout,
                                   kubeconfig_file=file or first_kubeconfig(opts.kubeconfig), api_timeout=api_timeout,
                                   context=opts.context, namespace=opts.namespace, config=config_of(ctx), poll_interval=config_of(ctx).azure.poll_interval,
                                   nodes_timeout=nodes_timeout, checks=not no_checks)
        finally:
            view.close()
        if not no_wait:
            _history(ctx, "cluster-start", result.message, context=result.context)
        render(result, opts.output)
        if result.critical:
            raise typer.Exit(1)

    @cluster_app.command("credentials")
    def credentials(
        ctx: typer.Context,
        file: Optional[str] = option.kubeconfig_file("Kubeconfig to merge into (default: --kubeconfig/KUBECONFIG, else ~/.kube/config)."),
        subscription: Optional[str] = option.subscription(),
        resource_group: Optional[str] = option.resource_group(),
        cluster_name: Optional[str] = option.cluster_name(),
    ) -> None:
        """Fetch the cluster's user kubeconfig and merge it like `az aks get-credentials`:
        this cluster's entries are replaced, every other context is kept."""
        from tripgenctl.ops.cluster import cluster_credentials, first_kubeconfig
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        result = cluster_credentials(_target(ctx, subscription, resource_group, cluster_name), file or first_kubeconfig(opts.kubeconfig))
        render(result, opts.output)

    app.add_typer(cluster_app, name="cluster")
