"""`tripgenctl schedule install|show|remove|crontab`."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli.common import ALLOW_OTHER_CONTEXT_HELP, gate, handle_errors, options


def register(app: typer.Typer) -> None:
    schedule = typer.Typer(help="The nightly shutdown and morning bring-up, in the cluster (CronJobs) or from outside (crontab).", no_args_is_help=True)
    app.add_typer(schedule, name="schedule")

    @schedule.command("install")
    @handle_errors
    def install(
        ctx: typer.Context,
        image: Optional[str] = typer.Option(None, "--image", help="tripgenctl image for the jobs (default from manifests/schedule)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Server dry run: show what would change."),
        notify: Optional[str] = typer.Option(None, "--notify", metavar="URL", help="Webhook for failed or skipped runs (default $TRIPGENCTL_NOTIFY_URL, then config schedule.notify_url); stored as the Secret tripgenctl-notify."),
    ) -> None:
        """Render the CronJobs (with their ServiceAccount, Role and config) and apply them (server-side apply)."""
        from tripgenctl import notify as notifier
        from tripgenctl.config import load
        from tripgenctl.ops import schedule as ops
        from tripgenctl.ops.deploy import apply_all
        from tripgenctl.presentation.render import render

        cfg = load()
        opts = options(ctx)
        kube = opts.kube()
        ops.validate_holidays(cfg.schedule.holidays)
        url = notifier.resolve_url(notify, cfg.schedule.notify_url)
        results = apply_all(kube, ops.render(cfg, kube.namespace, image, notify_url=url or ""), dry_run=dry_run)
        render(results, opts.output, title="Schedule objects")
        if opts.output == "table":
            render(ops.show(kube, cfg).jobs, "table", title="Next runs")

    @schedule.command("show")
    @handle_errors
    def show(ctx: typer.Context, offline: bool = typer.Option(False, "--offline", help="From config only; do not ask the cluster.")) -> None:
        """Installed CronJobs, their next run times in the configured time zone, and who keeps the environment awake."""
        from tripgenctl.config import load
        from tripgenctl.ops import schedule as ops
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        render(ops.show(None if offline else opts.kube(), load()), opts.output)

    @schedule.command("remove")
    @handle_errors
    def remove(
        ctx: typer.Context,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show the objects that would be deleted and change nothing."),
        allow_other_context: bool = typer.Option(False, "--allow-other-context", help=ALLOW_OTHER_CONTEXT_HELP),
    ) -> None:
        """Delete the schedule's CronJobs, Role and config (the environment stays as it is)."""
        from tripgenctl.ops import schedule as ops
        from tripgenctl.ops.safety import Change, Plan
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        kube = opts.kube()
        safety = gate(ctx, yes=yes, dry_run=dry_run, allow_other_context=allow_other_context)
        safety.guard(kube, "schedule remove")
        objects = [o for o in ops.render(safety.config, kube.namespace) if o["kind"] not in ops.KEEP_ON_REMOVE]
        plan = Plan("schedule remove", kube.context_name, kube.namespace,
                    [Change(f"{o['kind']}/{o['metadata']['name']}", "deleted") for o in objects],
                    note="the nightly down and the morning up stop happening")
        removed = safety.perform(kube, plan, lambda _backup: ops.remove(kube, safety.config),
                                 outcome=lambda rows: (all(not r.result.startswith("error") for r in rows),
                                                       ", ".join(f"{r.ref} {r.result}" for r in rows)))
        if removed is not None:
            render(removed, opts.output, title="Schedule objects")

    @schedule.command("crontab")
    @handle_errors
    def crontab(ctx: typer.Context) -> None:
        """Crontab lines for a laptop or VM: stop and start the whole cluster (up/down --cluster)."""
        from tripgenctl.config import load
        from tripgenctl.ops import schedule as ops

        for line in ops.crontab_lines(load(), options(ctx).namespace):
            typer.echo(line)
