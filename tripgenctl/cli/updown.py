"""`tripgenctl down` and `tripgenctl up`: plan, confirm, lock, act, report. The rules live in
ops/scaling.py; this module only wires options, the question, the lock and the output."""

from __future__ import annotations

import contextlib
import signal
from typing import List, Optional

import typer

from tripgenctl.cli.common import confirm, handle_errors, options

EXCLUDE_HELP = "Leave this workload alone (repeatable). The annotation tripgenctl.io/exclude=true does the same."
CLUSTER_HELP_DOWN = "Then stop the AKS cluster itself (Azure; the config's azure section): the nodes are most of the bill. Only after the namespace went down cleanly."
CLUSTER_HELP_UP = "First start the AKS cluster (Azure; the config's azure section), fetch fresh credentials, wait for the API server."
NOTIFY_HELP = "Webhook (Slack/Teams-compatible) told when the run fails or skips. With --scheduled, $TRIPGENCTL_NOTIFY_URL or config schedule.notify_url are used too."


@contextlib.contextmanager
def _sigterm_as_exit():
    """A cron job killed with SIGTERM still runs the finally blocks (the lock is released)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (CliRunner in a thread): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _data_names() -> tuple[str, str]:
    from tripgenctl.config import load

    w = load().workloads
    return (w.postgres, w.redis)


def _notify_url(explicit: str | None, scheduled: bool) -> str | None:
    """An explicit --notify always counts; $TRIPGENCTL_NOTIFY_URL and the config's
    schedule.notify_url are for unattended (--scheduled) runs, so a person's failed `down` at a
    terminal does not page the team."""
    from tripgenctl import notify
    from tripgenctl.config import load

    if explicit:
        return explicit
    if not scheduled:
        return None
    return notify.resolve_url(None, load().schedule.notify_url)


def _finish(action: str, summary, url: str | None, log_format: str) -> None:
    """Log the run's end for cron, then tell the webhook (failed / skipped only)."""
    from tripgenctl import notify
    from tripgenctl.ops import runlog

    if log_format == "json":
        level = "error" if summary.result == "failed" else "info"
        runlog.emit(action, summary.text(), level=level, action=action, namespace=summary.namespace, result=summary.result,
                    reason=summary.reason, duration=summary.duration, scheduled=summary.scheduled)
    elif summary.result == "skipped":
        typer.echo(f"scheduled {action} skipped: {summary.reason}")
    if url and summary.result in ("failed", "skipped"):
        sent = notify.post(url, summary.payload())
        note = f"webhook notified ({sent.detail})" if sent else f"webhook notification failed: {sent.detail}"
        if log_format == "json":
            runlog.emit(action, note, level="info" if sent else "warning", action=action, notify=sent.detail)
        else:
            typer.echo(note, err=True)


def _run(ctx, action: str, yes: bool, dry_run: bool, exclude: list[str], include_data: bool, wait: bool, timeout: float, wait_lock: bool, scheduled: bool, log_format: str, notify_url: str | None = None, cluster: bool = False) -> None:
    """The whole run; a scheduled run that skips or fails is logged as such (JSON with
    --log-format json) and reported to the webhook before the exit code is decided."""
    import time

    from tripgenctl.errors import ToolError
    from tripgenctl.ops import runlog

    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    if cluster and dry_run:
        raise typer.BadParameter("--dry-run does not combine with --cluster", param_hint="--cluster")
    opts = options(ctx)
    url = _notify_url(notify_url, scheduled)
    started = time.monotonic()
    where = {"namespace": opts.namespace, "context": opts.context or ""}

    def summary(result: str, reason: str | None, workloads: list[dict] | None = None) -> runlog.RunSummary:
        return runlog.RunSummary(action, where["namespace"], where["context"], result, reason, round(time.monotonic() - started, 2), scheduled, workloads=workloads or [])

    try:
        result, cluster_result = _act(opts, action, yes, dry_run, exclude, include_data, wait, timeout, wait_lock, scheduled, log_format, where, cluster)
    except ToolError as exc:
        _finish(action, summary("failed", exc.message), url, log_format)
        if log_format == "json":
            raise typer.Exit(exc.exit_code)  # already logged as one JSON line: no plain `error:` line
        raise
    except KeyboardInterrupt:
        _finish(action, summary("failed", "interrupted (Ctrl-C or SIGTERM)"), url, log_format)
        raise
    if isinstance(result, str):  # skipped, with the reason
        _finish(action, summary("skipped", result), url, log_format)
        return
    if result is None:  # dry run: the plan was shown
        return
    records = runlog.workload_records(action, result)
    if cluster_result is not None:
        records.append(runlog.cluster_record(action, cluster_result))
        result.message = f"{result.message}; {cluster_result.message}" if result.workloads else cluster_result.message
    if log_format == "json":
        for rec in records:
            runlog.emit(action, f"{rec['workload']}: {rec['from']} → {rec['to']} {rec['result']}", level="info" if rec["result"] != "failed" else "error", **rec)
    if log_format != "json" or opts.output == "json":
        from tripgenctl.render import render

        render(result, opts.output)
    _finish(action, summary("ok" if result.ok else "failed", None if result.ok else result.message, records), url, log_format)
    if not result.ok:
        raise typer.Exit(1)


def _act(opts, action: str, yes: bool, dry_run: bool, exclude: list[str], include_data: bool, wait: bool, timeout: float, wait_lock: bool, scheduled: bool, log_format: str, where: dict, cluster: bool = False):
    """-> (scaling.RunResult | skip reason (str) | None for a dry run, cluster result or None).
    With --cluster: `up` starts the AKS cluster (fresh credentials) before the namespace comes
    up; `down` stops it after the namespace went down cleanly (the counts are remembered first,
    so the morning restores them)."""
    from tripgenctl.config import load
    from tripgenctl.ops import lock, progress, scaling, schedule, workloads
    from tripgenctl.render import render

    if scheduled and action == "up":  # a holiday needs no cluster: decide before starting one
        reason = schedule.scheduled_up_skip_reason(load())
        if reason:
            return reason, None
    cluster_result = None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_sigterm_as_exit())
        reporters: list = []

        def reporter():
            """Created when there is progress to show (not before the question is asked)."""
            if not reporters:
                reporters.append(stack.enter_context(progress.reporter(action, log_format=log_format)))
            return reporters[-1]

        if cluster:
            from tripgenctl.cli.cluster import _first_kubeconfig
            from tripgenctl.ops import cluster as aks

            target = aks.resolve_target()
            progress_item = lambda p: reporter().item(target.cluster_name, f"{p.status} ({p.elapsed:.0f} s)")  # noqa: E731
            if action == "up":
                rep = reporter()
                rep.phase(f"starting cluster {target.cluster_name}")
                cluster_result = aks.cluster_start(target, wait=True, on_progress=progress_item, timeout=max(timeout, 1800),
                                                   kubeconfig_file=_first_kubeconfig(opts.kubeconfig))
                rep.item(target.cluster_name, cluster_result.message, True)
                opts.context = opts.context or cluster_result.context
            else:
                state = aks.cluster_status(target)
                if state.power_state == "Stopped":
                    reporter().item(target.cluster_name, "already stopped", True)
                    done = aks.ClusterActionResult("stop", state.cluster, "already stopped", state.power_state, state.provisioning_state, 0.0,
                                                   f"{state.cluster} is already stopped; nothing to do")
                    return scaling.RunResult("down", where["namespace"], False, True, done.message, 0.0), done

        kube = opts.kube()
        where.update(namespace=kube.namespace, context=kube.context_name)
        data_names = _data_names()
        excl = tuple(exclude or ())
        if scheduled and action == "down":
            reason = schedule.scheduled_down_skip_reason(kube)
            if reason:
                return reason, None

        def make_plan():
            status = workloads.read(kube, data_names)
            if action == "down":
                return scaling.plan_down(status, data_names, include_data=include_data, exclude=excl)
            return scaling.plan_up(status, data_names, exclude=excl)

        plan = make_plan()
        if dry_run:
            render(plan.view(), opts.output)
            return None, None
        if not yes:
            if reporters:  # the question needs the terminal to itself
                reporters.pop().close()
            render(plan.view(), opts.output)
            n = len(plan.changes)
            confirm(f"{action} {n} workload(s) in {kube.context_name}/{kube.namespace}" + (" and then stop the cluster?" if cluster and action == "down" else "?"), yes)
        rep = reporter()

        on_wait = lambda info: rep.log(f"waiting for the lock: {lock.locked_message(info)}")  # noqa: E731
        with lock.held(kube, action, wait=wait_lock, timeout=timeout if wait_lock else None, on_wait=on_wait):
            plan = make_plan()  # the state may have changed while we asked or waited
            who = lock.user_host() + (" (scheduled)" if scheduled else "")
            if action == "down":
                result = scaling.run_down(kube, plan, who, wait=wait, timeout=timeout, reporter=rep)
            else:
                result = scaling.run_up(kube, plan, data_names, wait=wait, timeout=timeout, reporter=rep)
        if cluster and action == "down" and result.ok:
            rep.phase(f"stopping cluster {target.cluster_name}")
            cluster_result = aks.cluster_stop(target, confirm=None, wait=wait, on_progress=progress_item, timeout=max(timeout, 1800))
            rep.item(target.cluster_name, cluster_result.message, True)
        elif cluster and action == "down":
            rep.log(f"cluster {target.cluster_name} left running: the namespace did not go down cleanly", "error")
    return result, cluster_result


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
    ) -> None:
        """Scale the applications to 0, remembering each one's replica count (databases stay up).
        Exit codes: 0 done (or a scheduled run skipped), 1 a workload did not stop or the cluster
        refused (forbidden, lock held), 2 usage error or the cluster cannot be reached."""
        _run(ctx, "down", yes, dry_run, exclude or [], include_data, not no_wait, timeout, wait_lock, scheduled, log_format, notify, cluster)

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
    ) -> None:
        """Restore every workload's remembered count: PostgreSQL and Redis first (Ready, and
        PostgreSQL answers SELECT 1), then the applications, then a health smoke test.
        Exit codes: 0 done (or a scheduled run skipped), 1 something did not come up or the
        cluster refused, 2 usage error or the cluster cannot be reached."""
        _run(ctx, "up", yes, dry_run, exclude or [], False, not no_wait, timeout, wait_lock, scheduled, log_format, notify, cluster)
