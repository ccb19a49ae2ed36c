"""What an environment cost in a month and what its shutdowns really saved, from the history
(ops/history.py) and the SPEC's cost model kept as configuration ([cost]).

The model, stated plainly because the seeds' prose skips it: the node pool is two fixed
Standard_B2s nodes with no autoscaler, so scaling the namespace down frees capacity but not
money; nodes are billed while the cluster runs. Only a stopped cluster (nodes deallocated)
saves the node cost. Disk, load balancer, Service Bus and monitoring are billed either way.
Azure prices per hour at monthly/730, so a 31-day month costs 744/730 of the monthly figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tripgenctl.cron import Cron, CronError
from tripgenctl.errors import ToolError, UsageError

UP, DOWN, STOPPED = "up", "down", "stopped"


@dataclass
class DayCost:
    __table__ = ("day", "up_hours", "down_hours", "stopped_hours", "cost")
    __bar__ = "cost"
    day: str
    up_hours: float
    down_hours: float  # namespace scaled down, cluster running: nodes still billed
    stopped_hours: float  # cluster stopped: node cost saved
    cost: float


@dataclass
class CostReport:
    __sections__ = ("days",)
    namespace: str
    month: str
    currency: str
    complete: bool  # the month is over (else: so far, and projected)
    cost_so_far: float
    projected: float
    target: float
    within_target: bool
    node_cost_saved_by_cluster_stop: float
    node_cost_saved_by_namespace_down: float  # always 0: nodes are billed while the cluster runs
    hours_up: float
    hours_namespace_down: float
    hours_cluster_stopped: float
    schedule_would_save_if_cluster_stopped: float
    notes: list[str] = field(default_factory=list)
    days: list[DayCost] = field(default_factory=list)


@dataclass(frozen=True)
class Rates:
    """Per hour, from the monthly figures."""

    nodes: float
    fixed: float  # disk + load balancer + Service Bus + monitoring

    @classmethod
    def of(cls, model) -> "Rates":
        h = model.hours_per_month
        return cls(model.nodes / h, (model.disk + model.load_balancer + model.servicebus + model.monitoring) / h)


def parse_month(value: str | None, now: datetime, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of the month in the schedule's time zone; `value` is YYYY-MM."""
    zone = ZoneInfo(tz)
    if value:
        try:
            year, month = (int(x) for x in value.split("-"))
            start = datetime(year, month, 1, tzinfo=zone)
        except ValueError:
            raise UsageError(f"--month must be YYYY-MM, not {value!r}") from None
    else:
        local = now.astimezone(zone)
        start = datetime(local.year, local.month, 1, tzinfo=zone)
    end = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=zone)
    return start, end


def state_changes(entries) -> list[tuple[datetime, str]]:
    """(time, new state) from the history's successful actions. A cluster stop overrides the
    namespace's own state until the cluster starts again (then the namespace is as it was)."""
    out, cluster_running, namespace_up = [], True, True
    for e in entries:
        if e.result != "ok":
            continue
        if e.action == "cluster-stop":
            cluster_running = False
        elif e.action == "cluster-start":
            cluster_running = True
        elif e.action == "down":
            namespace_up = False
        elif e.action in ("up", "wake"):
            namespace_up = True
            cluster_running = True  # `up --cluster` / a wake cannot leave it stopped
        out.append((e.at, (UP if namespace_up else DOWN) if cluster_running else STOPPED))
    return out


def _state_at(changes, t: datetime) -> str | None:
    state = None
    for at, s in changes:
        if at > t:
            break
        state = s
    return state


def _segments(changes, start: datetime, end: datetime, initial: str):
    """(from, to, state) covering [start, end)."""
    t, state = start, _state_at(changes, start) or initial
    for at, s in changes:
        if start < at < end:
            yield t, at, state
            t, state = at, s
    yield t, end, state


def _days(start: datetime, end: datetime):
    """Local calendar days: [midnight, next midnight) in the schedule's zone, clipped to end."""
    d = start
    while d < end:
        nxt = datetime(d.year, d.month, d.day, tzinfo=start.tzinfo) + timedelta(days=1)  # wall-clock midnight
        yield d, min(nxt, end, key=lambda t: t.astimezone(timezone.utc))
        d = nxt


def _hours(a: datetime, b: datetime) -> float:
    """Elapsed hours (through UTC: same-zone subtraction in Python ignores DST changes)."""
    return max(0.0, (b.astimezone(timezone.utc) - a.astimezone(timezone.utc)).total_seconds() / 3600)


def schedule_down_hours(schedule, start: datetime, end: datetime) -> float:
    """Hours in [start, end) that the configured schedule keeps the environment down (from a
    down run to the next up run that is not a holiday)."""
    try:
        down = Cron.parse(_clock(schedule.down_time, schedule.days))
        up = Cron.parse(_clock(schedule.up_time, schedule.days))
    except CronError as exc:
        raise UsageError(f"config schedule: {exc}") from None
    total, t = 0.0, start - timedelta(days=7)
    while t < end:
        d = down.next_after(t, schedule.timezone)
        if d >= end:
            break
        u = up.next_after(d, schedule.timezone)
        while u.date().isoformat() in schedule.holidays and u < end + timedelta(days=7):
            u = up.next_after(u, schedule.timezone)
        total += _hours(max(d, start), min(u, end))
        t = u
    return total


def _clock(hhmm: str, days: str) -> str:
    from tripgenctl.cron import from_clock

    return from_clock(hhmm, days)


def month_cost(entries, model, schedule, namespace: str, month: str | None, now: datetime) -> CostReport:
    start, end = parse_month(month, now, schedule.timezone)
    if start > now:
        raise UsageError(f"--month {start:%Y-%m} has not started yet")
    until = min(end, now)
    rates = Rates.of(model)
    changes = state_changes(entries)
    notes = []
    initial = UP
    if _state_at(changes, start) is None:
        notes.append("no history before this month: taken as up (cluster running, namespace up) until the first entry")
    hours = {UP: 0.0, DOWN: 0.0, STOPPED: 0.0}
    days: list[DayCost] = []
    for day_start, day_end in _days(start, until):
        h = {UP: 0.0, DOWN: 0.0, STOPPED: 0.0}
        for a, b, state in _segments(changes, day_start, day_end, initial):
            h[state] += _hours(a, b)
        running = h[UP] + h[DOWN]
        cost = running * rates.nodes + (running + h[STOPPED]) * rates.fixed
        days.append(DayCost(day_start.date().isoformat(), round(h[UP], 2), round(h[DOWN], 2), round(h[STOPPED], 2), round(cost, 2)))
        for k in h:
            hours[k] += h[k]
    so_far = (hours[UP] + hours[DOWN]) * rates.nodes + sum(hours.values()) * rates.fixed
    elapsed = sum(hours.values())
    total_hours = _hours(start, end)
    projected = so_far if until >= end or elapsed == 0 else so_far / elapsed * total_hours
    notes.append("namespace-only downtime saved $0 of node cost: the two nodes are billed while the cluster runs; "
                 "only a stopped cluster saves it")
    would_save = schedule_down_hours(schedule, start, end) * rates.nodes
    return CostReport(
        namespace=namespace, month=f"{start:%Y-%m}", currency=model.currency, complete=until >= end,
        cost_so_far=round(so_far, 2), projected=round(projected, 2), target=model.target,
        within_target=round(projected, 2) <= model.target,
        node_cost_saved_by_cluster_stop=round(hours[STOPPED] * rates.nodes, 2), node_cost_saved_by_namespace_down=0.0,
        hours_up=round(hours[UP], 2), hours_namespace_down=round(hours[DOWN], 2), hours_cluster_stopped=round(hours[STOPPED], 2),
        schedule_would_save_if_cluster_stopped=round(would_save, 2), notes=notes, days=days)


def report(kube, cfg, namespace: str, month: str | None = None, now: datetime | None = None) -> CostReport:
    from tripgenctl.ops import history

    return month_cost(history.read(kube, namespace), cfg.cost, cfg.schedule, namespace, month,
                      now or datetime.now(timezone.utc))


def summary_line(kube, cfg, now: datetime | None = None) -> str:
    """This month in one line for `status`: so far, projected, the target."""
    try:
        r = report(kube, cfg, kube.namespace, None, now)
    except ToolError as exc:
        return f"unknown ({exc.message})"
    sign = "within" if r.within_target else "over"
    return f"${r.cost_so_far:.2f} so far, ${r.projected:.2f} projected ({sign} the ${r.target:.0f} target)"
