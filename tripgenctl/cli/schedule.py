"""`tripgenctl schedule install|show|remove|crontab`."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import gate, options, config_of


def _store_connection() -> str | None:
    """The backup store's connection string from this shell's environment (becomes the Secret
    the scheduled jobs read it from): read here, in the CLI, never inside ops."""
    import os

    from tripgenctl.azure.blobstore import CONNECTION_VARS

    return next((os.environ[v] for v in CONNECTION_VARS if os.environ.get(v)), None)


def register(app: typer.Typer) -> None:
    schedule = typer.Typer(help="The nightly shutdown and morning bring-up, in the cluster (CronJobs) or from outside (crontab).", no_args_is_help=True)
    app.add_typer(schedule, name="schedule")

    @schedule.command("install")
    def install(
        ctx: typer.Context,
        image: Optional[str] = typer.Option(None, "--image", help="tripgenctl image for the jobs (default from manifests/schedule)."),
        dry_run: bool = option.dry_run("Server dry run: show what would change."),
        notify: Optional[str] = option.notify("Webhook for failed or skipped runs (default $TRIPGENCTL_NOTIFY_URL, then config schedule.notify_url); stored as the Secret tripgenctl-notify."),
        drill: Optional[bool] = typer.Option(None, "--drill/--no-drill", help="Also install the weekly restore drill (`db drill` on the team store's newest backup; config schedule.drill, drill_day, drill_time). Needs [backup] store."),
    ) -> None:
        """Render the CronJobs (with their ServiceAccount, Role and config) and apply them (server-side apply)."""
        from tripgenctl import notify as notifier
        from tripgenctl.ops import schedule as ops
        from tripgenctl.ops.deploy import apply_all
        from tripgenctl.presentation.render import render

        cfg = config_of(ctx)
        opts = options(ctx)
        kube = opts.kube()
        ops.validate_holidays(cfg.schedule.holidays)
        url = notifier.resolve_url(notify, cfg.schedule.notify_url)
        results = apply_all(kube, ops.render(cfg, kube.namespace, image, notify_url=url or "", drill=drill, store_connection=_store_connection()), dry_run=dry_run)
        render(results, opts.output, title="Schedule objects")
        if opts.output == "table":
            render(ops.show(kube, cfg).jobs, "table", title="Next runs")

    @schedule.command("show")
    def show(ctx: typer.Context, offline: bool = typer.Option(False, "--offline", help="From config only; do not ask the cluster.")) -> None:
        """Installed CronJobs, their next run times in the configured time zone, and who keeps the environment awake."""
        from tripgenctl.ops import schedule as ops
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        render(ops.show(None if offline else opts.kube(), config_of(ctx)), opts.output)

    @schedule.command("remove")
    def remove(
        ctx: typer.Context,
        yes: bool = option.yes(),
        dry_run: bool = option.dry_run("Show the objects that would be deleted and change nothing."),
        allow_other_context: bool = option.allow_other_context(),
    ) -> None:
        """Delete the schedule's CronJobs, Role and config (the environment stays as it is)."""
        from tripgenctl.ops import schedule as ops
        from tripgenctl.ops.safety import Change, Plan
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        kube = opts.kube()
        safety = gate(ctx, yes=yes, dry_run=dry_run, allow_other_context=allow_other_context)
        safety.guard(kube, "schedule remove")
        objects = [o for o in ops.installed_objects(safety.config, kube.namespace, _store_connection()) if o["kind"] not in ops.KEEP_ON_REMOVE]
        plan = Plan("schedule remove", kube.context_name, kube.namespace,
                    [Change(f"{o['kind']}/{o['metadata']['name']}", "deleted") for o in objects],
                    note="the nightly down and the morning up stop happening")
        removed = safety.perform(kube, plan, lambda _backup: ops.remove(kube, safety.config),
                                 outcome=lambda rows: (all(not r.result.startswith("error") for r in rows),
                                                       ", ".join(f"{r.ref} {r.result}" for r in rows)))
        if removed is not None:
            render(removed, opts.output, title="Schedule objects")

    @schedule.command("crontab")
    def crontab(ctx: typer.Context) -> None:
        """Crontab lines for a laptop or VM: stop and start the whole cluster (up/down --cluster)."""
        from tripgenctl.ops import schedule as ops

        for line in ops.crontab_lines(config_of(ctx), options(ctx).namespace):
            typer.echo(line)
