"""`tripgenctl wake --for 3h | --until 22:00 | --cancel`: someone works late. The environment
comes up now and the nightly scheduled `down` leaves it alone until then -- the downscaler that
does not fight the colleague still at work."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import options, config_of


def register(app: typer.Typer) -> None:
    @app.command("wake")
    def wake(
        ctx: typer.Context,
        for_: Optional[str] = typer.Option(None, "--for", metavar="DURATION", help="Keep it awake this long from now: 3h, 90m, 1h30m."),
        until: Optional[str] = typer.Option(None, "--until", metavar="HH:MM", help="Keep it awake until this time of day (schedule time zone; tomorrow if already past)."),
        cancel: bool = typer.Option(False, "--cancel", help="Forget a previous wake: the nightly down runs as scheduled (nothing is scaled now)."),
        extend: Optional[str] = typer.Option(None, "--extend", metavar="DURATION", help="Keep it awake this much longer than the current wake (from now if none): 1h, 30m. Nothing is scaled."),
        notify: Optional[str] = option.notify("Webhook told once the environment is ready (who woke it, how long it took, until when it stays up)."),
        no_wait: bool = option.no_wait("Scale and return without waiting for readiness."),
        timeout: float = option.timeout(300, "Seconds to wait for everything to become Ready."),
        log_format: str = option.log_format("Progress lines: text or json."),
        allow_other_context: bool = option.allow_other_context(),
    ) -> None:
        """Bring the environment up now and record "awake until" on the namespace: the scheduled
        `down` skips (and logs why) until then (at most 30 days ahead). `tripgenctl status` shows it."""
        from datetime import datetime, timezone

        from tripgenctl.cli import validate
        from tripgenctl.cli.updown import execute
        from tripgenctl.errors import UsageError
        from tripgenctl.ops import guard, schedule

        # checked before any call: a bad duration must not half-run (record nothing, scale nothing)
        span = validate.duration(for_, "--for", validate.MAX_WAKE) if for_ and not until and not cancel and ":" not in for_ else None
        more = validate.duration(extend, "--extend", validate.MAX_WAKE) if extend else None
        if more is not None and (for_ or until or cancel):
            raise UsageError("--extend takes no --for / --until / --cancel")
        validate.seconds(timeout, "--timeout")
        cfg = config_of(ctx)
        opts = options(ctx)
        # the target guard before anything is written (the up below checks again)
        guard.require_expected(opts.kube(), cfg, "wake", allow_other_context=allow_other_context)
        if more is not None:
            now = datetime.now(timezone.utc)
            current = schedule.parse_awake(schedule.awake_until(opts.kube()))
            base = current if current is not None and current > now else now
            if base + more - now > validate.MAX_WAKE:
                raise UsageError(f"--extend {extend}: the wake would end more than {validate.MAX_WAKE.days} days from now")
            result = schedule.record_wake(opts.kube(), cfg, base + more)
            typer.echo(f"{result.namespace}: {result.message} ({result.awake_until})")
            return
        if cancel:
            if for_ or until:
                raise UsageError("--cancel takes no --for / --until")
            typer.echo(schedule.record_wake(opts.kube(), cfg, None).message)
            return
        when = datetime.now(timezone.utc) + span if span is not None else schedule.wake_until(cfg, for_, until)
        # recorded BEFORE the bring-up: a nightly job starting meanwhile already sees it
        from tripgenctl.ops.lock import user_host

        result = schedule.record_wake(opts.kube(), cfg, when, who=user_host())
        typer.echo(f"{result.namespace}: {result.message} ({result.awake_until})", err=True)
        execute(ctx, "up", yes=True, wait=not no_wait, timeout=timeout, log_format=log_format, allow_other_context=allow_other_context,
                notify_url=notify)
