"""The unattended schedule: the in-cluster CronJobs rendered from config, their next run times,
crontab lines for a machine outside the cluster, and the rules a scheduled run obeys (someone
asked to keep the environment awake; today is a holiday)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from tripgenctl.config import ToolConfig
from tripgenctl.cron import Cron, CronError, from_clock
from tripgenctl.errors import ProblemFound, ToolError, UsageError
from tripgenctl.kube import resources

AWAKE_ANNOTATION = "tripgenctl.io/awake-until"
DOWN_JOB = "tripgen-nightly-down"
UP_JOB = "tripgen-morning-up"
DRILL_JOB = "tripgen-weekly-drill"
CONFIG_MAP = "tripgenctl-config"
NOTIFY_SECRET = "tripgenctl-notify"
KEEP_ON_REMOVE = ("ServiceAccount",)  # shared with the main manifests (01-rbac.yaml)


@dataclass
class ScheduledJob:
    name: str
    action: str
    schedule: str
    time_zone: str
    next_runs: list[str]
    installed: bool | None = None
    suspended: bool | None = None
    last_schedule: str | None = None

    __table__ = ("name", "action", "schedule", "time_zone", "next_runs", "installed", "last_schedule")


@dataclass
class ScheduleView:
    namespace: str
    awake_until: str | None
    holidays: list[str]
    jobs: list[ScheduledJob] = field(default_factory=list)


def cron_for(cfg: ToolConfig, action: str) -> str:
    s = cfg.schedule
    clock = {"down": (s.down_time, s.days), "up": (s.up_time, s.days), "drill": (s.drill_time, s.drill_day)}[action]
    try:
        return from_clock(*clock)
    except CronError as exc:
        raise UsageError(f"config schedule: {exc}") from None


def next_runs(cfg: ToolConfig, action: str, count: int = 3, now: datetime | None = None) -> list[datetime]:
    now = now or datetime.now(timezone.utc)
    cron = Cron.parse(cron_for(cfg, action))
    runs = []
    t = now
    while len(runs) < count:
        t = cron.next_after(t, cfg.schedule.timezone)
        if action == "up" and t.date().isoformat() in cfg.schedule.holidays:
            continue  # the morning job runs but does nothing on a holiday: not a real bring-up
        runs.append(t)
    return runs


def render(cfg: ToolConfig, namespace: str, image: str | None = None, notify_url: str | None = None,
           drill: bool | None = None, store_connection: str | None = None) -> list[dict]:
    """The schedule's objects for `namespace`: RBAC, CronJobs with config times, the config as
    a ConfigMap and the webhook URL (a secret: it carries the webhook's key) as a Secret. With
    the drill (`drill`, default the config's schedule.drill) also the weekly restore drill's
    CronJob, which needs the team store: the cluster has no backup directory of its own.
    `store_connection`: the backup store's connection string from the caller's environment."""
    import base64

    from tripgenctl import manifests
    from tripgenctl.config import dumps

    objs = manifests.render(namespace=namespace, profile=cfg.profile, subdir="schedule", config=cfg)
    for obj in objs:
        if obj["kind"] != "CronJob":
            continue
        action = "down" if obj["metadata"]["name"] == DOWN_JOB else "up"
        obj["spec"]["schedule"] = cron_for(cfg, action)
        obj["spec"]["timeZone"] = cfg.schedule.timezone
        if image:
            for c in obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]:
                c["image"] = image
    shipped = {
        "profile": cfg.profile,
        "namespace": namespace,
        "workloads": {"apps": list(cfg.workloads.apps), "postgres": cfg.workloads.postgres, "redis": cfg.workloads.redis},
        "thresholds": dict(vars(cfg.thresholds)),
        "schedule": {"timezone": cfg.schedule.timezone, "down_time": cfg.schedule.down_time, "up_time": cfg.schedule.up_time,
                     "days": cfg.schedule.days, "holidays": list(cfg.schedule.holidays)},
    }
    labels = {"app.kubernetes.io/part-of": "tripgen", "app.kubernetes.io/managed-by": "tripgenctl"}
    drill = cfg.schedule.drill if drill is None else drill
    objs += _backup_objects(cfg, namespace, objs, shipped, labels, store_connection, drill)
    if drill:
        objs.append(_drill_job(cfg, namespace, objs, shipped))
    objs.append({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": namespace, "labels": dict(labels)},
        "data": {"config.toml": dumps(shipped)},
    })
    url = notify_url if notify_url is not None else cfg.schedule.notify_url
    objs.append({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": NOTIFY_SECRET, "namespace": namespace, "labels": dict(labels)},
        "data": {"url": base64.b64encode((url or "").encode()).decode()},
    })
    return objs


STORE_SECRET = "tripgenctl-backup-store"


def _backup_objects(cfg: ToolConfig, namespace: str, objs: list[dict], shipped: dict, labels: dict, conn: str | None,
                    drill: bool = False) -> list[dict]:
    """With the scheduled backup on (a store set, ops/scheduled_backup.py): the store and the
    backup settings go into the shipped config, the jobs' Role may exec into postgresql-0 (one
    pod, the create verb on pods/exec only: pg_dump runs there) and the store's connection
    string, when this shell has one, becomes the Secret the CronJob reads it from."""
    import base64

    url = cfg.backup.store  # $TRIPGENCTL_BACKUP_STORE already applied (config.apply_environ)
    before_down = cfg.backup.before_scheduled_down if cfg.backup.before_scheduled_down is not None else bool(url)
    if not ((before_down or drill) and url):
        return []
    shipped["backup"] = {"store": url, "before_scheduled_down": bool(before_down), "format": cfg.backup.format, "name_format": cfg.backup.name_format}
    for obj in objs:
        if obj["kind"] == "Role" and obj["metadata"]["name"] == "tripgenctl-schedule":
            obj["rules"].append({"apiGroups": [""], "resources": ["pods/exec"], "resourceNames": [f"{cfg.workloads.postgres}-0"], "verbs": ["create", "get"]})
    if not conn:
        return []
    return [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": STORE_SECRET, "namespace": namespace, "labels": dict(labels)},
             "data": {"connection-string": base64.b64encode(conn.encode()).decode()}}]


def _drill_job(cfg: ToolConfig, namespace: str, objs: list[dict], shipped: dict) -> dict:
    """The weekly `db drill` as a CronJob: the nightly job's pod (same image, ServiceAccount,
    config, secrets) running the drill on the store's newest backup. It reads the store and
    execs pg_restore in postgresql-0 (the Role a store brings allows exactly that), validates
    over the Service as the apps connect (hence the db-client label the NetworkPolicy admits),
    and a failed drill is posted to the webhook like a failed nightly run."""
    import copy

    url = (shipped.get("backup") or {}).get("store")
    if not url:
        raise UsageError("the weekly restore drill runs in the cluster and reads the team backup store: "
                         "set [backup] store (or $TRIPGENCTL_BACKUP_STORE) first")
    down = next(o for o in objs if o["kind"] == "CronJob" and o["metadata"]["name"] == DOWN_JOB)
    job = copy.deepcopy(down)
    job["metadata"]["name"] = DRILL_JOB
    job["metadata"]["labels"]["tripgenctl.io/schedule"] = "drill"
    job["spec"]["schedule"] = cron_for(cfg, "drill")
    job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] = 3600  # twice the recovery target: a slow drill still reports
    template = job["spec"]["jobTemplate"]["spec"]["template"]
    template["metadata"]["labels"].update({"tripgenctl.io/schedule": "drill", "tripgenctl.io/db-client": "true"})
    for c in template["spec"]["containers"]:
        c["command"] = ["tripgenctl", "db", "drill", "--store", url, "--scheduled", "-n", namespace]
        c["resources"] = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
    return job


@dataclass
class RemovedObject:
    ref: str
    result: str  # deleted | not found | kept (shared) | error <status>


def installed_objects(cfg: ToolConfig, namespace: str, store_connection: str | None = None) -> list[dict]:
    """What `install` may have applied, the drill's CronJob included whether it is configured
    now or not (it may have been installed with --drill): what `remove` deletes."""
    objects = render(cfg, namespace, drill=False, store_connection=store_connection)
    down = next(o for o in objects if o["kind"] == "CronJob" and o["metadata"]["name"] == DOWN_JOB)
    return objects + [{**down, "metadata": {**down["metadata"], "name": DRILL_JOB}}]


def remove(kube, cfg: ToolConfig) -> list[RemovedObject]:
    """Delete what `install` applied; the environment itself stays as it is. The ServiceAccount
    is shared with the main manifests and stays."""
    out = []
    for obj in installed_objects(cfg, kube.namespace):
        ref = f"{obj['kind'].lower()}/{obj['metadata']['name']}"
        if obj["kind"] in KEEP_ON_REMOVE:
            out.append(RemovedObject(ref, "kept (shared with the main manifests)"))
            continue
        try:
            gone = resources.delete(kube, obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        except ToolError as exc:
            code = resources.http_status(exc)
            if code is None:
                raise
            out.append(RemovedObject(ref, f"error {code}"))
            continue
        out.append(RemovedObject(ref, "deleted" if gone else "not found"))
    return out


def show(kube, cfg: ToolConfig, now: datetime | None = None) -> ScheduleView:
    installed = {}
    kinds = [("down", DOWN_JOB), ("up", UP_JOB), ("drill", DRILL_JOB)]
    if kube is not None:
        for action, name in kinds:
            installed[action] = resources.get(kube, "batch/v1", "CronJob", name)
    jobs = []
    for action, name in kinds:
        live = installed.get(action)
        if action == "drill" and live is None and not cfg.schedule.drill:
            continue  # the drill is optional: listed when installed or configured
        jobs.append(ScheduledJob(
            name=name, action=action, schedule=(live or {}).get("spec", {}).get("schedule") or cron_for(cfg, action),
            time_zone=(live or {}).get("spec", {}).get("timeZone") or cfg.schedule.timezone,
            next_runs=[t.strftime("%a %Y-%m-%d %H:%M %Z") for t in next_runs(cfg, action, now=now)],
            installed=(live is not None) if kube is not None else None,
            suspended=(live or {}).get("spec", {}).get("suspend") if live else None,
            last_schedule=(live or {}).get("status", {}).get("lastScheduleTime") if live else None,
        ))
    return ScheduleView(namespace=kube.namespace if kube else cfg.namespace, awake_until=awake_until(kube) if kube else None, holidays=list(cfg.schedule.holidays), jobs=jobs)


def crontab_lines(cfg: ToolConfig, namespace: str, log_file: str = "$HOME/.tripgenctl/schedule.log") -> list[str]:
    """For a laptop or VM: whole-cluster stop/start (a stopped cluster cannot run its own CronJob).
    cron runs with a bare PATH from $HOME, so the program and the config get absolute paths."""
    import os
    import shutil

    import sys

    beside = os.path.join(os.path.dirname(sys.executable), "tripgenctl")  # the venv this runs from
    exe = shutil.which("tripgenctl") or (beside if os.path.exists(beside) else "tripgenctl")
    config = f" --config {shlex.quote(os.path.abspath(cfg.source))}" if cfg.source else ""
    log_dir = os.path.dirname(log_file) or "."
    lines = [
        "# tripgenctl: TripGen dev environment schedule (crontab -e, paste below)",
        f"# once: mkdir -p {log_dir}   (Azure credentials: az login, or AZURE_* variables set in this file)",
        f"CRON_TZ={cfg.schedule.timezone}",
        "# without CRON_TZ support (Debian cron) convert the times to the machine's time zone",
    ]
    for action in ("down", "up"):
        cmd = f"{shlex.quote(exe)} {action} --cluster --yes --scheduled --log-format json -n {shlex.quote(namespace)}{config} >> {log_file} 2>&1"
        lines.append(f"{cron_for(cfg, action)}  {cmd}")
    return lines


# ---- the rules of a scheduled run ------------------------------------------------------------
def awake_until(kube) -> str | None:
    ns = resources.get(kube, "v1", "Namespace", kube.namespace)
    if ns is None:
        return None
    return (ns.get("metadata", {}).get("annotations") or {}).get(AWAKE_ANNOTATION)


def parse_awake(value: str | None) -> datetime | None:
    """The annotation's RFC3339 value (None when absent or unreadable: a broken value must not
    keep the environment running forever)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class WakeResult:
    namespace: str
    awake_until: str | None  # RFC3339 UTC, None when cleared
    local_time: str | None  # the same instant in the schedule's time zone
    message: str


def wake_until(cfg: ToolConfig, for_: str | None = None, until: str | None = None, now: datetime | None = None) -> datetime:
    """`--for 3h` (a duration) or `--until 22:00` (the next such wall-clock time in the schedule's
    time zone) -> the instant, UTC."""
    now = now or datetime.now(timezone.utc)
    if bool(for_) == bool(until):
        raise UsageError("give exactly one of --for DURATION (e.g. 3h) or --until HH:MM")
    if for_:
        if ":" in for_:
            raise UsageError(f"--for takes a duration (3h, 90m, 1h30m), not {for_!r}; for a time of day use --until")
        return parse_until(for_, now, cfg.schedule.timezone)
    assert until is not None
    if ":" not in until:
        raise UsageError(f"--until takes a time of day HH:MM (in {cfg.schedule.timezone}), not {until!r}")
    return parse_until(until, now, cfg.schedule.timezone)


def record_wake(kube, cfg: ToolConfig, until: datetime | None, who: str = "unknown") -> WakeResult:
    """Write (or with None, clear) awake-until on the namespace."""
    from zoneinfo import ZoneInfo

    set_awake_until(kube, until)
    if until is None:
        return WakeResult(kube.namespace, None, None, "awake-until cleared: the nightly down runs as scheduled")
    local = until.astimezone(ZoneInfo(cfg.schedule.timezone)).strftime("%a %Y-%m-%d %H:%M %Z")
    stamp = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    message = f"kept awake until {local}: the scheduled down skips until then"
    from tripgenctl.ops import history

    warning = history.record(kube, kube.namespace, "wake", "ok", who, f"until {stamp}", keep_months=cfg.cost.history_months)
    return WakeResult(kube.namespace, stamp, local, message + (f" ({warning})" if warning else ""))


def parse_until(value: str, now: datetime, tz: str) -> datetime:
    """'3h', '90m', '1h30m' (a duration) or '22:00' (today in tz, tomorrow if already past)."""
    from zoneinfo import ZoneInfo

    text = value.strip().lower()
    if ":" in text:
        try:
            hh, mm = (int(x) for x in text.split(":"))
            if not (0 <= hh < 24 and 0 <= mm < 60):
                raise ValueError
        except ValueError:
            raise UsageError(f"cannot read time of day {value!r} (HH:MM, e.g. 22:00)") from None
        local = now.astimezone(ZoneInfo(tz))
        target = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if target <= local:
            target += timedelta(days=1)
        return target.astimezone(timezone.utc)
    total = 0
    num = ""
    for ch in text:
        if ch.isdigit():
            num += ch
        elif ch in "hms" and num:
            total += int(num) * {"h": 3600, "m": 60, "s": 1}[ch]
            num = ""
        else:
            raise UsageError(f"cannot read duration {value!r} (examples: 3h, 90m, 1h30m, or --until 22:00)")
    if num or total <= 0:
        raise UsageError(f"cannot read duration {value!r} (examples: 3h, 90m, 1h30m, or --until 22:00)")
    return now + timedelta(seconds=total)


def set_awake_until(kube, until: datetime | None) -> None:
    value = until.strftime("%Y-%m-%dT%H:%M:%SZ") if until else None
    try:
        resources.patch(kube, "v1", "Namespace", kube.namespace, {"metadata": {"annotations": {AWAKE_ANNOTATION: value}}})
    except ToolError as exc:
        if resources.http_status(exc) is None:
            raise
        raise ProblemFound(f"cannot record awake-until on namespace {kube.namespace}: {resources.api_message(exc)}") from None


def scheduled_down_skip_reason(kube, now: datetime | None = None) -> str | None:
    """Why the scheduled `down` must not run now (None: go ahead)."""
    now = now or datetime.now(timezone.utc)
    value = awake_until(kube)
    until = parse_awake(value)
    if until is None:
        return None
    if until > now:
        return f"kept awake until {value} (tripgenctl wake)"
    return None


def scheduled_up_skip_reason(cfg: ToolConfig, now: datetime | None = None) -> str | None:
    from zoneinfo import ZoneInfo

    now = now or datetime.now(timezone.utc)
    today = now.astimezone(ZoneInfo(cfg.schedule.timezone)).date().isoformat()
    if today in cfg.schedule.holidays:
        return f"{today} is a configured holiday"
    return None


def validate_holidays(values: list[str]) -> None:
    for v in values:
        try:
            date.fromisoformat(v)
        except ValueError:
            raise UsageError(f"holiday {v!r} is not an ISO date (YYYY-MM-DD)") from None
