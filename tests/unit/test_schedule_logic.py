"""The schedule's rules without a cluster: wake times, awake-until parsing, the rendered
CronJobs and RBAC, crontab lines, next runs, and the webhook (a real local HTTP server)."""

from __future__ import annotations

import base64
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from tripgenctl import notify
from tripgenctl.config import ScheduleConfig, ToolConfig
from tripgenctl.errors import UsageError
from tripgenctl.ops import runlog, schedule
from tripgenctl.ops.scaling import RunResult, WorkloadResult


def cfg(**schedule_kw) -> ToolConfig:
    return ToolConfig(schedule=ScheduleConfig(**schedule_kw))


NOW = datetime(2026, 3, 4, 11, 0, tzinfo=timezone.utc)  # Wednesday 20:00 in Seoul


def test_wake_for_and_until():
    c = cfg(timezone="Asia/Seoul")
    assert schedule.wake_until(c, for_="3h", now=NOW) == NOW + timedelta(hours=3)
    assert schedule.wake_until(c, for_="1h30m", now=NOW) == NOW + timedelta(minutes=90)
    # 22:00 Seoul is later today; 08:00 Seoul is already past -> tomorrow
    assert schedule.wake_until(c, until="22:00", now=NOW) == datetime(2026, 3, 4, 13, 0, tzinfo=timezone.utc)
    assert schedule.wake_until(c, until="08:00", now=NOW) == datetime(2026, 3, 4, 23, 0, tzinfo=timezone.utc)
    for bad in ({"for_": "22:00"}, {"until": "3h"}, {"for_": "3h", "until": "22:00"}, {}, {"for_": "soon"}, {"until": "25:00"}, {"for_": "0m"}):
        with pytest.raises(UsageError):
            schedule.wake_until(c, now=NOW, **bad)


def test_parse_awake_is_strict_about_garbage():
    assert schedule.parse_awake("2026-03-04T13:00:00Z") == datetime(2026, 3, 4, 13, 0, tzinfo=timezone.utc)
    assert schedule.parse_awake("2026-03-04T22:00:00+09:00") == datetime(2026, 3, 4, 13, 0, tzinfo=timezone.utc)
    assert schedule.parse_awake("tomorrow") is None and schedule.parse_awake(None) is None


def test_holiday_rule_uses_the_schedule_time_zone():
    # 2026-03-04T20:00Z is already 2026-03-05 in Seoul
    late = datetime(2026, 3, 4, 20, 0, tzinfo=timezone.utc)
    c = cfg(timezone="Asia/Seoul", holidays=["2026-03-05"])
    assert "2026-03-05 is a configured holiday" == schedule.scheduled_up_skip_reason(c, late)
    assert schedule.scheduled_up_skip_reason(cfg(timezone="UTC", holidays=["2026-03-05"]), late) is None


def test_next_runs_in_configured_zone_skip_holidays_for_up():
    c = cfg(timezone="America/New_York", down_time="19:30", up_time="07:15", days="MON-FRI", holidays=["2026-03-05"])
    downs = schedule.next_runs(c, "down", count=3, now=NOW)
    assert [d.strftime("%a %H:%M %Z") for d in downs] == ["Wed 19:30 EST", "Thu 19:30 EST", "Fri 19:30 EST"]
    ups = schedule.next_runs(c, "up", count=3, now=NOW)  # NOW is 06:00 in New York
    assert [u.strftime("%Y-%m-%d %H:%M") for u in ups] == ["2026-03-04 07:15", "2026-03-06 07:15", "2026-03-09 07:15"]  # Thu a holiday, then the weekend


def test_render_objects_rbac_and_secret_url():
    c = cfg(timezone="Europe/Berlin", down_time="19:00", up_time="07:30", days="MON-THU")
    objs = schedule.render(c, "team-ns", image="registry.example/tripgenctl:9", notify_url="https://hooks.example/T/secret-key")
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert ("Role", "tripgenctl-schedule") in kinds and ("ServiceAccount", "tripgenctl") in kinds
    assert ("ClusterRole", "tripgenctl-namespace-team-ns") in kinds
    jobs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "CronJob"}
    down = jobs["tripgen-nightly-down"]["spec"]
    assert down["schedule"] == "0 19 * * MON-THU" and down["timeZone"] == "Europe/Berlin" and down["concurrencyPolicy"] == "Forbid"
    assert jobs["tripgen-morning-up"]["spec"]["schedule"] == "30 7 * * MON-THU"
    pod = down["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tripgenctl" and pod["securityContext"]["runAsNonRoot"] is True
    c0 = pod["containers"][0]
    assert c0["image"] == "registry.example/tripgenctl:9"
    assert c0["command"] == ["tripgenctl", "down", "--yes", "--scheduled", "--log-format", "json", "-n", "team-ns"]
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    assert "secret-key" not in cm["data"]["config.toml"] and 'timezone = "Europe/Berlin"' in cm["data"]["config.toml"]
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["url"]).decode() == "https://hooks.example/T/secret-key"
    # the Role: scale through the subresource only; the namespace read is limited to its name
    role = next(o for o in objs if o["kind"] == "Role")
    scale_rule = next(r for r in role["rules"] if "deployments/scale" in r["resources"])
    assert scale_rule["verbs"] == ["patch"]
    assert not any("delete" in r["verbs"] or r["resources"] == ["secrets"] and "resourceNames" not in r for r in role["rules"])
    cr = next(o for o in objs if o["kind"] == "ClusterRole")
    assert cr["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["team-ns"], "verbs": ["get"]}]


def test_crontab_lines():
    c = cfg(timezone="Asia/Seoul")
    c.source = "conf/tripgenctl.toml"
    lines = schedule.crontab_lines(c, "tripgen-dev")
    assert "CRON_TZ=Asia/Seoul" in lines
    jobs = [line for line in lines if not line.startswith(("#", "CRON_TZ"))]
    assert [j.split("  ", 1)[0] for j in jobs] == ["0 20 * * MON-FRI", "0 8 * * MON-FRI"]
    down, up = (j.split("  ", 1)[1].split() for j in jobs)
    assert down[0].endswith("tripgenctl") and down[1:6] == ["down", "--cluster", "--yes", "--scheduled", "--log-format"]
    assert up[1:5] == ["up", "--cluster", "--yes", "--scheduled"]
    config = down[down.index("--config") + 1]
    assert config.startswith("/") and config.endswith("conf/tripgenctl.toml")  # cron starts in $HOME


class Hook:
    """A webhook receiver on 127.0.0.1 (what Slack/Teams would be)."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.bodies: list[dict] = []
        self.arrived = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if delay:
                    threading.Event().wait(delay)
                hook.bodies.append(json.loads(data))
                hook.arrived.set()
                self.send_response(status)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_notify_posts_text_and_never_raises():
    hook = Hook()
    try:
        summary = runlog.RunSummary("down", "tripgen-dev", "aks", "failed", "scale deployment/a to 0: forbidden (403): no", 1.5, True, host="vm1")
        res = notify.post(hook.url, summary.payload())
        assert res.sent and res.detail == "HTTP 200"
        body = hook.bodies[0]
        assert body["text"] == "tripgenctl scheduled down in aks/tripgen-dev FAILED: scale deployment/a to 0: forbidden (403): no (host vm1)"
        assert body["result"] == "failed" and body["action"] == "down"
    finally:
        hook.close()
    bad = Hook(status=500)
    try:
        assert notify.post(bad.url, {"text": "x"}).detail == "HTTP 500"
    finally:
        bad.close()
    slow = Hook(delay=2.0)
    try:
        t0 = datetime.now()
        res = notify.post(slow.url, {"text": "x"}, timeout=0.3)
        assert not res.sent and "timed out" in res.detail
        assert (datetime.now() - t0).total_seconds() < 1.5
        assert "127.0.0.1" not in res.detail  # the URL (a secret) is never in the message
    finally:
        slow.close()
    assert notify.post("http://127.0.0.1:1/x", {"text": "x"}).detail.startswith("unreachable")
    assert not notify.post(None, {})


def test_resolve_url_order(monkeypatch):
    monkeypatch.delenv(notify.ENV, raising=False)
    assert notify.resolve_url(None, "https://cfg") == "https://cfg"
    monkeypatch.setenv(notify.ENV, "https://env")
    assert notify.resolve_url(None, "https://cfg") == "https://env"
    assert notify.resolve_url("https://flag", "https://cfg") == "https://flag"


def test_workload_records_have_the_cron_fields():
    result = RunResult("down", "ns", False, True, "1 down", 2.0,
                       [WorkloadResult("Deployment", "a", "2 → 0", "down", None, None, 2, 0, 1.25)],
                       [WorkloadResult("StatefulSet", "postgresql", "1 (unchanged)", "left alone", "data stays up", None, 1, 1, None)])
    recs = runlog.workload_records("down", result)
    assert recs[0] == {"action": "down", "workload": "Deployment/a", "from": 2, "to": 0, "result": "down", "duration": 1.25}
    assert recs[1]["result"] == "left alone" and recs[1]["reason"] == "data stays up"


def test_show_offline_strings_are_in_the_zone():
    view = schedule.show(None, cfg(timezone="Asia/Seoul"), now=NOW)
    down = next(j for j in view.jobs if j.action == "down")
    assert down.next_runs[0] == "Thu 2026-03-05 20:00 KST"  # Wednesday's 20:00 is now, not after now
    assert datetime(2026, 3, 5, 20, 0, tzinfo=ZoneInfo("Asia/Seoul")).strftime("%a %Y-%m-%d %H:%M %Z") == down.next_runs[0]


def test_the_drill_cronjob_is_rendered_from_the_config_and_needs_a_store():
    from tripgenctl.config import BackupConfig

    cfg = ToolConfig(schedule=ScheduleConfig(drill=True, drill_day="SUN", drill_time="03:15"),
                     backup=BackupConfig(store="azure://acct/backups"))
    objs = schedule.render(cfg, "tripgen-dev")
    job = next(o for o in objs if o["kind"] == "CronJob" and o["metadata"]["name"] == schedule.DRILL_JOB)
    assert job["spec"]["schedule"] == "15 3 * * SUN" and job["spec"]["timeZone"] == "Asia/Seoul"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"]["tripgenctl.io/db-client"] == "true"
    assert pod["spec"]["containers"][0]["command"] == ["tripgenctl", "db", "drill", "--store", "azure://acct/backups", "--scheduled", "-n", "tripgen-dev"]
    assert schedule.DRILL_JOB not in [o["metadata"]["name"] for o in schedule.render(cfg, "tripgen-dev", drill=False)]
    with pytest.raises(UsageError, match="backup store"):
        schedule.render(ToolConfig(schedule=ScheduleConfig(drill=True)), "tripgen-dev")
    # `remove` clears the drill whether or not it is configured now
    assert schedule.DRILL_JOB in [o["metadata"]["name"] for o in schedule.installed_objects(ToolConfig(), "tripgen-dev")]
    assert [j.action for j in schedule.show(None, cfg).jobs] == ["down", "up", "drill"]
    assert [j.action for j in schedule.show(None, ToolConfig()).jobs] == ["down", "up"]
