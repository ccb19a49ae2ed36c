"""`tripgenctl env list`: the config's named environments, each read from its own cluster."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import gate, options, report, config_of


# What `env delete` and `env gc` both take, declared once (their --dry-run and --backup-dir say
# what each one shows or writes).
REMOVE_OPTIONS = dict(
    yes=(bool, option.yes),
    no_safety_backup=(bool, option.no_safety_backup),
    allow_other_context=(bool, option.allow_other_context),
)


def register(app: typer.Typer) -> None:
    env = typer.Typer(help="Named environments (the config's environments tables) and their state.", no_args_is_help=True)
    app.add_typer(env, name="env")

    @env.command("list")
    def list_cmd(ctx: typer.Context) -> None:
        """Each environment: state (UP / DOWN / ... or unknown with the reason), namespace,
        context, newest backup, owner, expiry. Exit 1 when one could not be read."""
        from tripgenctl.kube.client import connect
        from tripgenctl.ops import environments

        opts = options(ctx)
        result = environments.list_environments(
            config_of(ctx), lambda context, namespace: connect(kubeconfig=opts.kubeconfig, context=context, namespace=namespace, config=config_of(ctx)))
        report(result, opts.output)

    @env.command("create")
    def create_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The copy's name: its namespace is <source namespace>-<name>."),
        source: Optional[str] = typer.Option(None, "--from", help="The environment to copy (default: the default one)."),
        data: str = typer.Option("latest", "--data", help="latest (the source's newest verified backup), sample, none, or a backup file."),
        ttl: Optional[str] = typer.Option(None, "--ttl", help="Expire after this long (3d, 12h; at most 30 days): env gc removes it then."),
        apps_only: bool = typer.Option(False, "--apps-only", help="Share the source's PostgreSQL and Redis (a database and a Redis DB of its own)."),
        dry_run: bool = option.dry_run("Show the plan (objects, capacity, data) and change nothing."),
        yes: bool = option.yes(),
        backup_dir: Optional[str] = option.backup_dir("Where the source's backups are (default from config)."),
        timeout: float = option.timeout(600, "Seconds to wait for the copy to become Ready."),
        allow_other_context: bool = option.allow_other_context(),
    ) -> None:
        """A copy of an environment for one developer: the manifests in its own namespace,
        the source's Secrets, data from the newest verified backup. Capacity is checked first."""
        from pathlib import Path

        from tripgenctl.errors import ProblemFound
        from tripgenctl.ops import envcopy
        from tripgenctl.ops.lock import user_host
        from tripgenctl.ops.safety import Change, Plan
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        cfg, kube, source_name, source_ns = _source(opts, source)
        safety = gate(ctx, yes=yes, dry_run=dry_run, allow_other_context=allow_other_context, backup_dir=backup_dir)
        safety.guard(kube, "env create")
        plan = envcopy.plan(kube, cfg, name, source_name, source_ns, data, ttl, apps_only)
        if dry_run or not plan.capacity.fits:
            render(plan, opts.output)
            if not plan.capacity.fits:
                raise ProblemFound(envcopy.capacity_refusal(plan))
            return
        contract = Plan(f"env create {name}", kube.context_name, source_ns, [
            Change(f"namespace {plan.namespace}", f"created ({len(plan.objects)} objects, {plan.capacity.requested_cpu} CPU, "
                                                  f"{plan.capacity.requested_memory} requested), expires {plan.expires or 'never'}"),
            Change("data", plan.data + (f" into database {plan.database} of {source_ns}" if plan.apps_only else ""))])
        result = safety.perform(kube, contract, lambda _backup: envcopy.create(
            kube, cfg, plan, user_host(), Path(backup_dir or cfg.backup.dir), timeout=timeout, say=lambda line: typer.echo(line, err=True)),
            outcome=lambda r: (r.ready, r.message))
        report(result, opts.output)

    @env.command("delete")
    @option.shared(**REMOVE_OPTIONS)
    def delete_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The copy to remove."),
        dry_run: bool = option.dry_run("Show what would go and change nothing."),
        backup_dir: Optional[str] = option.backup_dir("Where the safety backup goes (default from config)."),
        **shared,
    ) -> None:
        """Remove a developer's copy: a safety backup of its database first, then its namespace."""
        _remove(ctx, lambda kube, envcopy: [envcopy.plan_delete(kube, name)], dry_run=dry_run, backup_dir=backup_dir, **shared)

    @env.command("gc")
    @option.shared(**REMOVE_OPTIONS)
    def gc_cmd(
        ctx: typer.Context,
        dry_run: bool = option.dry_run("List the expired copies and change nothing."),
        backup_dir: Optional[str] = option.backup_dir("Where the safety backups go (default from config)."),
        **shared,
    ) -> None:
        """Remove every copy whose expiry has passed."""
        _remove(ctx, lambda kube, envcopy: envcopy.plan_gc(kube), dry_run=dry_run, backup_dir=backup_dir, **shared)


def _source(opts, source: Optional[str]):
    """(config, kube of the source's context, source name, source namespace)."""
    from tripgenctl.config import ToolConfig, select_environment
    from tripgenctl.kube.client import connect

    cfg = opts.config if opts.config is not None else ToolConfig()
    if source:
        cfg = select_environment(cfg, source)
    name = cfg.environment or "default"
    context = opts.context if not source else (cfg.environments[source].context or opts.context)
    kube = connect(kubeconfig=opts.kubeconfig, context=context, namespace=cfg.namespace)
    return cfg, kube, name, cfg.namespace


def _remove(ctx, planner, *, yes: bool, dry_run: bool, no_safety_backup: bool, backup_dir: Optional[str],
            allow_other_context: bool) -> None:
    """env delete / env gc through the safety contract: guard, a plan per copy (its namespace,
    apps-only: its database in the source), the question, a verified backup of the copy's own
    database, the deletion, an Event on the source namespace."""
    import dataclasses

    from tripgenctl.ops import envcopy
    from tripgenctl.ops.safety import Change, Plan

    opts = options(ctx)
    cfg, kube, _, source_ns = _source(opts, None)
    safety = gate(ctx, yes=yes, dry_run=dry_run, allow_other_context=allow_other_context, no_safety_backup=no_safety_backup,
                  backup_dir=backup_dir)
    safety.guard(kube, "env delete")
    result = envcopy.RemovalResult(dry_run=dry_run, removed=planner(kube, envcopy))
    if dry_run:  # the plan: which copies would go (one document, also for -o json)
        report(result, opts.output)
        return
    for r in result.removed:
        changes = [Change(f"namespace {r.namespace}", "deleted with everything in it")]
        if r.shared:
            changes.append(Change(f"database {r.shared}", "dropped"))
        plan = Plan(f"env delete {r.name}", kube.context_name, source_ns, changes, database=None if r.shared else "the copy's own",
                    overwrites_rows=r.shared is None)
        plan._backup_prefix = f"pre-delete-{r.namespace}"
        copy = dataclasses.replace(kube, namespace=r.namespace, calls=[])
        safety.perform(copy, plan, lambda backup_file, r=r: envcopy.delete(kube, r, backup_file),
                       outcome=lambda done: (done.result == "deleted", f"{done.namespace}: {done.result}"))
    report(result, opts.output)
