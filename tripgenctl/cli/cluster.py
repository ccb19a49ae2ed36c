"""`tripgenctl cluster status|start|stop|credentials`: the AKS cluster itself (Azure), as
opposed to the workloads in it. JSON (-o json): status {cluster, resource_group, subscription,
location, power_state, provisioning_state, kubernetes_version, api_server, node_pools: [{name,
count, vm_size, spot, mode, power_state}]}; start/stop {action, cluster, outcome, power_state,
provisioning_state, elapsed_seconds, message, kubeconfig, context, api_server, api_version};
credentials {cluster, file, context, server, replaced, kept_contexts}."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli.common import confirm, handle_errors, options

SUBSCRIPTION_HELP = "Azure subscription id (default: AZURE_SUBSCRIPTION_ID, then config azure.subscription)."
RG_HELP = "Resource group (default: config azure.resource_group, rg-tripgen-dev)."
NAME_HELP = "AKS cluster name (default: config azure.cluster_name, aks-tripgen-dev)."


def _history(ctx, action: str, detail: str, context: Optional[str] = None, quiet: bool = False) -> None:
    """The environment's durable history (ops/history.py, read by `tripgenctl cost`): best
    effort, a cluster that cannot take the line is a warning, never the command's failure."""
    from tripgenctl.config import load
    from tripgenctl.errors import ToolError
    from tripgenctl.kube.client import connect
    from tripgenctl.ops import history
    from tripgenctl.ops.lock import user_host

    opts = options(ctx)
    try:
        kube = connect(kubeconfig=opts.kubeconfig, context=context or opts.context, namespace=opts.namespace)
        warning = history.record(kube, opts.namespace, action, "ok", user_host(), detail[:200],
                                 keep_months=(opts.config or load()).cost.history_months)
    except ToolError as exc:
        warning = f"history not recorded: {exc.message}"
    if warning and not quiet:
        typer.echo(f"warning: {warning}", err=True)


def _target(subscription, resource_group, cluster_name):
    from tripgenctl.ops.cluster import resolve_target

    return resolve_target(subscription, resource_group, cluster_name)


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
    @handle_errors
    def status(
        ctx: typer.Context,
        subscription: Optional[str] = typer.Option(None, "--subscription", help=SUBSCRIPTION_HELP),
        resource_group: Optional[str] = typer.Option(None, "--resource-group", "-g", help=RG_HELP),
        cluster_name: Optional[str] = typer.Option(None, "--cluster-name", help=NAME_HELP),
    ) -> None:
        """Power state, provisioning state, Kubernetes version, node pools, API server FQDN."""
        from tripgenctl.ops.cluster import cluster_status
        from tripgenctl.presentation.render import render

        render(cluster_status(_target(subscription, resource_group, cluster_name)), options(ctx).output)

    @cluster_app.command("stop")
    @handle_errors
    def stop(
        ctx: typer.Context,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask (cron). Without a terminal, required."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show what would stop (the cluster, its node pools) and change nothing."),
        no_wait: bool = typer.Option(False, "--no-wait", help="Return once Azure has accepted the stop."),
        timeout: float = typer.Option(1800, "--timeout", help="Seconds to wait for the stop to finish."),
        subscription: Optional[str] = typer.Option(None, "--subscription", help=SUBSCRIPTION_HELP),
        resource_group: Optional[str] = typer.Option(None, "--resource-group", "-g", help=RG_HELP),
        cluster_name: Optional[str] = typer.Option(None, "--cluster-name", help=NAME_HELP),
    ) -> None:
        """Stop the cluster (nodes and API server; data on disks is kept). Pre-checks: no
        operation in progress, provisioning Succeeded; already stopped -> says so, exit 0."""
        from tripgenctl.ops.cluster import cluster_status, cluster_stop
        from tripgenctl.presentation.render import render

        target = _target(subscription, resource_group, cluster_name)
        if dry_run:  # the safety contract's plan (ops/safety.py), from the cluster's current state
            from tripgenctl.ops.safety import Change, Plan

            state = cluster_status(target)
            pools = [Change(f"node pool {p.name}", f"{p.count} x {p.vm_size} {p.power_state} -> Stopped") for p in state.node_pools]
            plan = Plan("cluster stop", f"AKS {target.resource_group}/{target.cluster_name}", "(every namespace)",
                        [Change(f"AKS cluster {state.cluster}", f"{state.power_state} -> Stopped: every node and the API server go down; disks kept"),
                         *pools], destructive=state.power_state != "Stopped", dry_run=True)
            render(plan, options(ctx).output)
            return
        view = _ProgressView("stopping", target.cluster_name)

        def confirmed(question: str) -> None:  # asked, answered: written while the cluster still takes it
            confirm(question + "?", yes)
            _history(ctx, "cluster-stop", f"stopping {target.cluster_name}")

        try:
            result = cluster_stop(target, confirm=confirmed, wait=not no_wait, on_progress=view, timeout=timeout)
        except Exception:
            _history(ctx, "cluster-start", "the stop failed; the cluster kept running", quiet=True)
            raise
        finally:
            view.close()
        render(result, options(ctx).output)

    @cluster_app.command("start")
    @handle_errors
    def start(
        ctx: typer.Context,
        no_wait: bool = typer.Option(False, "--no-wait", help="Return once Azure has accepted the start (no credentials, no API check)."),
        timeout: float = typer.Option(1800, "--timeout", help="Seconds to wait for the start to finish."),
        api_timeout: float = typer.Option(300, "--api-timeout", help="Seconds to wait for the API server to answer after the start."),
        file: Optional[str] = typer.Option(None, "--file", help="Kubeconfig to merge fresh credentials into (default: --kubeconfig/KUBECONFIG, else ~/.kube/config)."),
        subscription: Optional[str] = typer.Option(None, "--subscription", help=SUBSCRIPTION_HELP),
        resource_group: Optional[str] = typer.Option(None, "--resource-group", "-g", help=RG_HELP),
        cluster_name: Optional[str] = typer.Option(None, "--cluster-name", help=NAME_HELP),
    ) -> None:
        """Start the cluster, then fetch fresh credentials (the API server address may change)
        and wait until the API server answers."""
        from tripgenctl.ops.cluster import cluster_start, first_kubeconfig
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        target = _target(subscription, resource_group, cluster_name)
        view = _ProgressView("starting", target.cluster_name)
        try:
            result = cluster_start(target, wait=not no_wait, on_progress=view, timeout=timeout,
                                   kubeconfig_file=file or first_kubeconfig(opts.kubeconfig), api_timeout=api_timeout)
        finally:
            view.close()
        if not no_wait:
            _history(ctx, "cluster-start", result.message, context=result.context)
        render(result, opts.output)

    @cluster_app.command("credentials")
    @handle_errors
    def credentials(
        ctx: typer.Context,
        file: Optional[str] = typer.Option(None, "--file", help="Kubeconfig to merge into (default: --kubeconfig/KUBECONFIG, else ~/.kube/config)."),
        subscription: Optional[str] = typer.Option(None, "--subscription", help=SUBSCRIPTION_HELP),
        resource_group: Optional[str] = typer.Option(None, "--resource-group", "-g", help=RG_HELP),
        cluster_name: Optional[str] = typer.Option(None, "--cluster-name", help=NAME_HELP),
    ) -> None:
        """Fetch the cluster's user kubeconfig and merge it like `az aks get-credentials`:
        this cluster's entries are replaced, every other context is kept."""
        from tripgenctl.ops.cluster import cluster_credentials, first_kubeconfig
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        result = cluster_credentials(_target(subscription, resource_group, cluster_name), file or first_kubeconfig(opts.kubeconfig))
        render(result, opts.output)

    app.add_typer(cluster_app, name="cluster")
