"""A whole `down` / `up` run: scheduled-skip decisions, the optional AKS start/stop around the
namespace, plan → confirm → lock → scaling.run_down/run_up, the run-log lines and the webhook.
The scaling rules themselves live in ops/scaling.py; this module only decides the order, so
that the commands (down, up, wake) and any later caller share one sequence.

The caller supplies what only a front end can do (connect with its options, ask a person, draw
the plan and the result on stdout) as callbacks: the order of what a person sees — the plan,
then the question, then the progress display, then the result, then the webhook note — is part
of the behaviour, and it lives here."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from tripgenctl import notify
from tripgenctl.config import ToolConfig
from tripgenctl.errors import ProblemFound, ToolError
from tripgenctl.ops import cluster as aks
from tripgenctl.ops import history
from tripgenctl.ops import lock, runlog, scaling, schedule, workloads
from tripgenctl.reporting import SILENT, Reporter

if TYPE_CHECKING:
    from tripgenctl.kube.client import Kube


@dataclass
class Request:
    action: str  # down | up
    namespace: str
    context: str | None = None  # None: the kubeconfig's current context
    kubeconfig: str | None = None  # as given (may list several files); `up --cluster` merges credentials into the first
    yes: bool = False
    dry_run: bool = False
    exclude: tuple[str, ...] = ()
    include_data: bool = False  # down only
    wait: bool = True
    timeout: float = 300
    wait_lock: bool = False
    scheduled: bool = False
    log_format: str = "text"  # text | json
    notify_url: str | None = None  # an explicit --notify
    cluster: bool = False
    allow_other_context: bool = False  # the target guard (ops/guard.py): --yes does not imply it
    ignore_gitops: bool = False  # down: scale even where an Argo CD / Flux object cannot be paused
    config: ToolConfig = field(kw_only=True)  # the run's configuration (the CLI loaded it once)


@dataclass
class Outcome:
    result: scaling.RunResult | None = None  # None: a dry run, or a scheduled run that skipped
    cluster_result: aks.ClusterActionResult | None = None
    skipped: str | None = None  # why a scheduled run did nothing
    summary: runlog.RunSummary | None = None  # what was logged and notified; None for a dry run
    error: ToolError | None = None  # the run failed with it, and it is already logged and notified

    @property
    def ok(self) -> bool:
        return self.error is None and (self.result is None or self.result.ok)

    @property
    def exit_code(self) -> int:
        """0 done (or skipped, or a dry run), the error's own code, else 1: something did not
        stop or come up (errors.exit_code_of reads this)."""
        if self.error is not None:
            return self.error.exit_code
        return 0 if self.ok else 1


def notify_url(explicit: str | None, scheduled: bool, cfg: ToolConfig) -> str | None:
    """An explicit --notify always counts; $TRIPGENCTL_NOTIFY_URL and the config's
    schedule.notify_url are for unattended (--scheduled) runs, so a person's failed `down` at a
    terminal does not page the team."""
    if explicit:
        return explicit
    if not scheduled:
        return None
    return notify.resolve_url(None, cfg.schedule.notify_url)


def _data_names(cfg: ToolConfig) -> tuple[str, str]:
    w = cfg.workloads
    return (w.postgres, w.redis)


def run(
    req: Request,
    *,
    connect: Callable[[str | None], "Kube"],
    confirm: Callable[[str], None],
    show_plan: Callable[[scaling.PlanView], None],
    show_result: Callable[[scaling.RunResult], None],
    say: Callable[[str, bool], None],
    reporter: Reporter = SILENT,
) -> Outcome:
    """connect(context) opens the namespace (the context may be a fresh one from `up --cluster`);
    confirm(question) raises when the answer is no; say(text, err) prints a text-mode line;
    reporter shows the run's progress (taken down for the plan and the question, closed before
    the result is shown).

    A run that skips or fails is logged as such (JSON with log_format json) and reported to the
    webhook before this returns, so the caller only maps the outcome to an exit code. A
    ToolError of the run comes back as Outcome.error rather than raised: the caller must be able
    to tell it from one raised before the run began (the configuration, say), which nobody has
    logged yet. An interruption (Ctrl-C, SIGTERM) is logged and re-raised."""
    url = notify_url(req.notify_url, req.scheduled, req.config)
    started = time.monotonic()
    where = {"namespace": req.namespace, "context": req.context or ""}

    def summary(result: str, reason: str | None, records: list[dict] | None = None) -> runlog.RunSummary:
        return runlog.RunSummary(req.action, where["namespace"], where["context"], result, reason, round(time.monotonic() - started, 2),
                                 req.scheduled, workloads=records or [])

    try:
        result, cluster_result = _act(req, where, connect, confirm, show_plan, reporter)
    except ToolError as exc:
        done = summary("failed", exc.message)
        _trail(req, where, "failed", exc.message, say)
        _finish(req, done, url, say)
        return Outcome(summary=done, error=exc)
    except KeyboardInterrupt as exc:
        from tripgenctl.ops.safety import Interrupted, signum_of

        name = Interrupted(signum_of(exc)).name
        where["trailed"] = False  # an interruption is recorded whatever was written before it
        _trail(req, where, "interrupted", f"interrupted ({name})", say)
        _finish(req, summary("failed", f"interrupted ({name})"), url, say)
        raise
    if isinstance(result, str):  # skipped, with the reason
        done = summary("skipped", result)
        _finish(req, done, url, say)
        return Outcome(skipped=result, summary=done)
    if result is None:  # dry run: the plan was shown
        return Outcome()
    records = runlog.workload_records(req.action, result)
    if cluster_result is not None:
        records.append(runlog.cluster_record(req.action, cluster_result))
        result.message = f"{result.message}; {cluster_result.message}" if result.workloads else cluster_result.message
    if req.log_format == "json":
        for rec in records:
            runlog.emit(req.action, f"{rec['workload']}: {rec['from']} → {rec['to']} {rec['result']}",
                        level="info" if rec["result"] != "failed" else "error", **rec)
    show_result(result)
    _trail(req, where, "ok" if result.ok else "failed", result.message, say)
    done = summary("ok" if result.ok else "failed", None if result.ok else result.message, records)
    if req.action == "up" and url:  # the one message of an up that ran: ready, or what is not
        _finish(req, done, None, say)
        _tell_ready(req, where, result, url, time.monotonic() - started, say)
    else:
        _finish(req, done, url, say)
    return Outcome(result, cluster_result, None, done)


def _until(kube) -> tuple[str | None, str]:
    """Until when the environment stays up: a `wake --for/--until` on the namespace, else the
    next scheduled down (if a schedule is installed in the namespace)."""
    from datetime import datetime, timezone

    try:
        awake = schedule.parse_awake(schedule.awake_until(kube))
    except ToolError:
        awake = None
    if awake is not None and awake > datetime.now(timezone.utc):
        return awake.strftime("%Y-%m-%dT%H:%M:%SZ"), "wake"
    try:
        installed = kube.get_object("batch/v1", "CronJob", schedule.DOWN_JOB, kube.namespace)
    except ToolError:
        installed = None
    if installed and not (installed.get("spec") or {}).get("suspend"):
        runs = schedule.next_runs(kube.config, "down", count=1)
        if runs:
            return runs[0].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "the nightly down"
    return None, ""


def _tell_ready(req: Request, where: dict, result: scaling.RunResult, url: str, seconds: float, say: Callable[[str, bool], None]) -> None:
    from tripgenctl.ops.safety import who

    kube = where.get("kube")
    until, why = _until(kube) if kube is not None else (None, "")
    not_ready = [f"{w.kind}/{w.name} ({w.reason or w.result})" for w in result.workloads if w.result not in ("ready", "down", "left at 0", "unchanged")]
    by = who() + (" (scheduled)" if req.scheduled else "")
    sent = notify.post(url, notify.ready_message(where["namespace"], where["context"], by, seconds, not_ready, until, why, len(result.workloads)))
    note = f"webhook told: environment {'ready' if not not_ready else 'partly ready'} ({sent.detail})" if sent else f"webhook notification failed: {sent.detail}"
    if req.log_format == "json":
        runlog.emit(req.action, note, level="info" if sent else "warning", action=req.action, notify=sent.detail)
    else:
        say(note, True)


def _trail(req: Request, where: dict, result: str, message: str, say: Callable[[str, bool], None]) -> None:
    """The safety contract's trail (ops/safety.py): an Event on the namespace, for runs that got
    past the question only (where["kube"] is set then); a refusal changed nothing. A `down
    --cluster` wrote its Event before the stop (where["trailed"]): only its failure is said here."""
    failed = where.pop("trail_failed", None) if where.get("trailed") else _record(req, where, result, message)
    if failed:
        if req.log_format == "json":
            runlog.emit(req.action, f"the run was not recorded as an Event: {failed}", level="warning", action=req.action)
        else:
            say(f"warning: the run was not recorded as an Event in namespace {where['kube'].namespace}: {failed}", True)


def _record(req: Request, where: dict, result: str, message: str) -> str | None:
    """The Event itself: None when written (or nothing to write), else why not."""
    from tripgenctl.ops import safety

    kube = where.get("kube") if where.get("approved") else None
    if kube is None:
        return None
    action = req.action + (" --include-data" if req.include_data else "") + (" --scheduled" if req.scheduled else "")
    return safety.record_event(kube, kube.namespace, action, result, message, details={"context": kube.context_name})


def _finish(req: Request, summary: runlog.RunSummary, url: str | None, say: Callable[[str, bool], None]) -> None:
    """Log the run's end for cron, then tell the webhook (failed / skipped only): a successful
    run at 7:00 every morning is noise in a team channel."""
    action = req.action
    if req.log_format == "json":
        level = "error" if summary.result == "failed" else "info"
        from tripgenctl.ops.safety import who

        runlog.emit(action, summary.text(), level=level, action=action, namespace=summary.namespace, result=summary.result,
                    reason=summary.reason, duration=summary.duration, scheduled=summary.scheduled, by=who(), context=summary.context)
    elif summary.result == "skipped":
        say(f"scheduled {action} skipped: {summary.reason}", False)
    if url and summary.result in ("failed", "skipped"):
        sent = notify.post(url, summary.payload())
        note = f"webhook notified ({sent.detail})" if sent else f"webhook notification failed: {sent.detail}"
        if req.log_format == "json":
            runlog.emit(action, note, level="info" if sent else "warning", action=action, notify=sent.detail)
        else:
            say(note, True)


def _history(kube, rep: Reporter, action: str, result: str, who: str, detail: str) -> None:
    """One line of the environment's durable history (ops/history.py); a failure to write it
    is a warning, never the run's failure."""
    warning = history.record(kube, kube.namespace, action, result, who, detail[:200], keep_months=kube.config.cost.history_months)
    if warning:
        rep.log(warning, "warning")


def _controls(kube, plan: scaling.Plan, req: Request) -> None:
    """The GitOps objects, autoscalers and CronJobs the run must hold (down) or restore (up),
    with the permission to patch each asked first at down (ops/gitops.py, ops/autoscalers.py)."""
    from tripgenctl.ops import autoscalers, controls, gitops

    cfg = req.config.gitops
    found = gitops.find(kube, kube.namespace, list(cfg.argocd_namespaces), list(cfg.flux_namespaces))
    targets = {s.ref for s in plan.steps}
    inside, problems, bounds = autoscalers.find(kube, kube.namespace, targets)
    plan.ignore_gitops = req.ignore_gitops
    if plan.action == "down":
        plan.refusals = gitops.check_permissions(kube, found)
        cache: dict = {}
        for c in inside:
            if c.needs_pause:
                c.allowed, _ = controls.may_patch(kube, c.namespace, c.group, c.plural, cache)
    plan.warnings = list(problems)
    scaling.attach_controls(plan, found.controls + inside, bounds)


def _refuse_unpaused_gitops(plan: scaling.Plan, kube) -> None:
    """Scaling under an Argo CD / Flux object that stays automated saves nothing (it puts the
    replicas back within minutes): refuse, and say why, unless --ignore-gitops."""
    if plan.action != "down" or not plan.refusals or plan.ignore_gitops:
        return
    raise ProblemFound(f"down refused in {kube.context_name}/{kube.namespace}: " + "; ".join(plan.refusals)
                       + " -- grant that permission, or pass --ignore-gitops to scale anyway (the controller will likely put the replicas back)")


def _act(req: Request, where: dict, connect: Callable[[str | None], "Kube"], confirm: Callable[[str], None],
         show_plan: Callable[[scaling.PlanView], None], rep: Reporter) -> tuple[scaling.RunResult | str | None, aks.ClusterActionResult | None]:
    """-> (scaling.RunResult | skip reason (str) | None for a dry run, cluster result or None).
    With cluster: `up` starts the AKS cluster (fresh credentials) before the namespace comes
    up; `down` stops it after the namespace went down cleanly (the counts are remembered first,
    so the morning restores them)."""
    action = req.action
    if req.scheduled and action == "up":  # a holiday needs no cluster: decide before starting one
        reason = schedule.scheduled_up_skip_reason(req.config)
        if reason:
            return reason, None
    cluster_result = None
    context = req.context
    with contextlib.closing(rep):  # the display ends with the run, before its result is shown
        if req.cluster:
            target = aks.resolve_target(config=req.config)
            progress_item = lambda p: rep.item(target.cluster_name, f"{p.status} ({p.elapsed:.0f} s)")  # noqa: E731
            if action == "up":
                rep.phase(f"starting cluster {target.cluster_name}")
                # doctor's checks run once the namespace is up (below), not on a namespace still scaled down
                cluster_result = aks.cluster_start(target, wait=True, on_progress=progress_item, timeout=max(req.timeout, 1800),
                                                   kubeconfig_file=aks.first_kubeconfig(req.kubeconfig), context=req.context,
                                                   namespace=req.namespace, checks=False, poll_interval=req.config.azure.poll_interval)
                rep.item(target.cluster_name, cluster_result.message, True)
                context = context or cluster_result.context
            else:
                state = aks.cluster_status(target)
                if state.power_state == "Stopped":
                    rep.item(target.cluster_name, "already stopped", True)
                    done = aks.ClusterActionResult("stop", state.cluster, "already stopped", state.power_state, state.provisioning_state, 0.0,
                                                   f"{state.cluster} is already stopped; nothing to do")
                    return scaling.RunResult("down", where["namespace"], False, True, done.message, 0.0), done

        kube = connect(context)
        where.update(namespace=kube.namespace, context=kube.context_name)
        from tripgenctl.ops import guard

        guard.require_expected(kube, req.config, action, allow_other_context=req.allow_other_context)
        who = lock.user_host() + (" (scheduled)" if req.scheduled else "")
        if cluster_result is not None and action == "up":
            _history(kube, rep, "cluster-start", "ok", who, cluster_result.message)
        data_names = _data_names(req.config)
        excl = tuple(req.exclude or ())
        if req.scheduled and action == "down":
            reason = schedule.scheduled_down_skip_reason(kube)
            if reason:
                return reason, None

        def make_plan():
            status = workloads.read(kube, data_names)
            if action == "down":
                plan = scaling.plan_down(status, data_names, include_data=req.include_data, exclude=excl)
            else:
                plan = scaling.plan_up(status, data_names, exclude=excl)
            _controls(kube, plan, req)
            return plan

        plan = make_plan()
        if req.dry_run:
            show_plan(plan.view())
            return None, None
        _refuse_unpaused_gitops(plan, kube)
        if not req.yes:
            with rep.paused():  # the plan and the question need the terminal to themselves
                show_plan(plan.view())
                n = len(plan.changes)
                held = [c for c in plan.controls if c.allowed is not False]
                also = f" ({'pausing' if action == 'down' else 'restoring'} {len(held)} GitOps/autoscaler/CronJob object(s))" if held else ""
                confirm(f"{action} {n} workload(s){also} in {kube.context_name}/{kube.namespace}"
                        + (" and then stop the cluster?" if req.cluster and action == "down" else "?"))
        where.update(kube=kube, approved=True)
        if req.scheduled and action == "down":
            from tripgenctl.ops import scheduled_backup

            backup_to = scheduled_backup.target(req.config)
            if backup_to is not None:  # first a verified backup in the team store, or no down at all
                rep.phase(f"backup to {backup_to}")
                stored = scheduled_backup.take(kube, req.config, backup_to)
                rep.item("backup", f"{stored.file} verified in {backup_to}", True)

        on_wait = lambda info: rep.log(f"waiting for the lock: {lock.locked_message(info)}")  # noqa: E731
        with lock.held(kube, action, wait=req.wait_lock, timeout=req.timeout if req.wait_lock else None, on_wait=on_wait) as held:
            plan = make_plan()  # the state may have changed while we asked or waited
            _refuse_unpaused_gitops(plan, kube)
            # every write is checked against the Lease first: a run that lost the lock (frozen
            # past its lease while another run took it) stops with LostLock, exit 1
            if action == "down":
                result = scaling.run_down(kube, plan, who, wait=req.wait, timeout=req.timeout, reporter=rep, guard=held.confirm)
            else:
                result = scaling.run_up(kube, plan, data_names, wait=req.wait, timeout=req.timeout, reporter=rep, guard=held.confirm)
        _history(kube, rep, action, "ok" if result.ok else "failed", who, result.message)
        if cluster_result is not None and action == "up":  # `up --cluster`: the start's checks, on the namespace now up
            from tripgenctl.ops import cluster_checks

            rep.phase("doctor's checks")
            found = cluster_checks.run_checks(kube, req.config)
            cluster_checks.attach(cluster_result, found)
            rep.item("doctor", found.summary, not found.critical)
            if found.critical:
                result.ok = False
        if req.cluster and action == "down" and result.ok:
            rep.phase(f"stopping cluster {target.cluster_name}")
            # written while the cluster can still take it; corrected below if the stop fails
            _history(kube, rep, "cluster-stop", "ok", who, f"stopping {target.cluster_name}")
            where.update(trailed=True, trail_failed=_record(req, where, "ok", f"{result.message}; stopping cluster {target.cluster_name}"))
            try:
                cfg = req.config
                cluster_result = aks.cluster_stop(target, confirm=None, wait=req.wait, on_progress=progress_item, timeout=max(req.timeout, 1800),
                                                  poll_interval=cfg.azure.poll_interval, cooldown=cfg.azure.power_cooldown_minutes, cost=cfg.cost)
            except ToolError as exc:
                _history(kube, rep, "cluster-start", "ok", who, f"stop failed, the cluster kept running: {exc.message}")
                where["trailed"] = False  # the failure gets its own Event: the cluster still runs
                raise
            rep.item(target.cluster_name, cluster_result.message, True)
        elif req.cluster and action == "down":
            rep.log(f"cluster {target.cluster_name} left running: the namespace did not go down cleanly", "error")
    return result, cluster_result
