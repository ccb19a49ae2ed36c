"""`tripgenctl env list`: the config's named environments, each read from its own cluster."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli.common import handle_errors, options, report


def register(app: typer.Typer) -> None:
    env = typer.Typer(help="Named environments (the config's environments tables) and their state.", no_args_is_help=True)
    app.add_typer(env, name="env")

    @env.command("list")
    @handle_errors
    def list_cmd(ctx: typer.Context) -> None:
        """Each environment: state (UP / DOWN / ... or unknown with the reason), namespace,
        context, newest backup, owner, expiry. Exit 1 when one could not be read."""
        from tripgenctl.config import load
        from tripgenctl.kube.client import connect
        from tripgenctl.ops import environments

        opts = options(ctx)
        result = environments.list_environments(
            opts.config or load(), lambda context, namespace: connect(kubeconfig=opts.kubeconfig, context=context, namespace=namespace))
        report(result, opts.output)

    @env.command("create")
    @handle_errors
    def create_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The copy's name: its namespace is <source namespace>-<name>."),
        source: Optional[str] = typer.Option(None, "--from", help="The environment to copy (default: the default one)."),
        data: str = typer.Option("latest", "--data", help="latest (the source's newest verified backup), sample, none, or a backup file."),
        ttl: Optional[str] = typer.Option(None, "--ttl", help="Expire after this long (3d, 12h; at most 30 days): env gc removes it then."),
        apps_only: bool = typer.Option(False, "--apps-only", help="Share the source's PostgreSQL and Redis (a database and a Redis DB of its own)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan (objects, capacity, data) and change nothing."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help="Where the source's backups are (default from config)."),
        timeout: float = typer.Option(600, "--timeout", help="Seconds to wait for the copy to become Ready."),
    ) -> None:
        """A copy of an environment for one developer: the manifests in its own namespace,
        the source's Secrets, data from the newest verified backup. Capacity is checked first."""
        from pathlib import Path

        from tripgenctl.cli.common import confirm
        from tripgenctl.ops import envcopy
        from tripgenctl.ops.lock import user_host
        from tripgenctl.render import render

        opts = options(ctx)
        cfg, kube, source_name, source_ns = _source(opts, source)
        plan = envcopy.plan(kube, cfg, name, source_name, source_ns, data, ttl, apps_only)
        if dry_run or not plan.capacity.fits:
            render(plan, opts.output)
            if not plan.capacity.fits:
                from tripgenctl.errors import ProblemFound

                raise ProblemFound(envcopy.capacity_refusal(plan))
            return
        confirm(f"Create {plan.namespace} from {source_ns} ({len(plan.objects)} objects, data: {data}) in {kube.context_name}?", yes)
        result = envcopy.create(kube, cfg, plan, user_host(), Path(backup_dir or cfg.backup.dir), timeout=timeout,
                                say=lambda line: typer.echo(line, err=True))
        report(result, opts.output)

    @env.command("delete")
    @handle_errors
    def delete_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The copy to remove."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go and change nothing."),
        no_safety_backup: bool = typer.Option(False, "--no-safety-backup", help="Skip the backup of the copy's database."),
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help="Where the safety backup goes (default from config)."),
    ) -> None:
        """Remove a developer's copy: a safety backup of its database first, then its namespace."""
        _remove(ctx, lambda kube, envcopy: [envcopy.plan_delete(kube, name)], yes, dry_run, no_safety_backup, backup_dir)

    @env.command("gc")
    @handle_errors
    def gc_cmd(
        ctx: typer.Context,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
        dry_run: bool = typer.Option(False, "--dry-run", help="List the expired copies and change nothing."),
        no_safety_backup: bool = typer.Option(False, "--no-safety-backup", help="Skip the backups of their databases."),
        backup_dir: Optional[str] = typer.Option(None, "--backup-dir", help="Where the safety backups go (default from config)."),
    ) -> None:
        """Remove every copy whose expiry has passed (what the scheduled job runs too)."""
        _remove(ctx, lambda kube, envcopy: envcopy.plan_gc(kube), yes, dry_run, no_safety_backup, backup_dir)


def _source(opts, source: Optional[str]):
    """(config, kube of the source's context, source name, source namespace)."""
    from tripgenctl.config import load, select_environment
    from tripgenctl.kube.client import connect

    cfg = opts.config or load()
    if source:
        cfg = select_environment(cfg, source)
    name = cfg.environment or "default"
    context = opts.context if not source else (cfg.environments[source].context or opts.context)
    kube = connect(kubeconfig=opts.kubeconfig, context=context, namespace=cfg.namespace)
    return cfg, kube, name, cfg.namespace


def _remove(ctx, planner, yes: bool, dry_run: bool, no_safety_backup: bool, backup_dir: Optional[str]) -> None:
    from pathlib import Path

    from tripgenctl.cli.common import confirm
    from tripgenctl.ops import envcopy

    opts = options(ctx)
    cfg, kube, _, _ = _source(opts, None)
    removals = planner(kube, envcopy)
    result = envcopy.RemovalResult(dry_run=dry_run, removed=removals)
    if dry_run or not removals:
        report(result, opts.output)
        return
    confirm(f"Delete {', '.join(r.namespace for r in removals)} in {kube.context_name}"
            + ("" if no_safety_backup else " (after a safety backup of each copy's database)") + "?", yes)
    for r in removals:
        envcopy.delete(kube, r, Path(backup_dir or cfg.backup.dir), safety_backup=not no_safety_backup)
    report(result, opts.output)
