"""The scheduled runs' rules against the sandbox, through the CLI as cron runs it: `wake` keeps
the nightly `down` away (and it says why), a past awake-until does not, a configured holiday
makes the morning `up` do nothing and tells the webhook, `schedule show` speaks the configured
time zone."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.unit.test_schedule_logic import Hook

from tripgenctl.ops import schedule
from tests.helpers import run_tool

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, tier: application}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {{name: main, image: busybox, command: [sh, -c, "sleep 3600"]}}
"""


def apps(*specs: tuple[str, int]) -> str:
    return "---\n".join(APP.format(name=n, replicas=r) for n, r in specs)


def write_config(tmp_path, **schedule_kw) -> str:
    lines = ["[schedule]"]
    for k, v in schedule_kw.items():
        lines.append(f"{k} = {json.dumps(v)}")
    path = tmp_path / "tripgenctl.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def tool(sandbox, namespace: str, *args: str, config: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {"TRIPGENCTL_CONFIG": config} if config else {}
    return run_tool(*args, namespace=namespace, env=sandbox.env(**env), timeout=timeout)


def replicas(sandbox, namespace: str) -> dict[str, int]:
    kube = sandbox.kube(namespace)
    return {d["metadata"]["name"]: d["spec"]["replicas"] for d in kube.list_json(f"/apis/apps/v1/namespaces/{namespace}/deployments")}


def json_lines(text: str) -> list[dict]:
    """Every non-empty line must be a JSON object (that is the contract of --log-format json)."""
    out = []
    for line in text.splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def test_wake_keeps_the_nightly_down_away_until_it_is_past(sandbox, namespace, tmp_path):
    config = write_config(tmp_path, timezone="Asia/Seoul")
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=apps(("alpha", 2), ("beta", 1)), check=True)
    r = tool(sandbox, namespace, "down", "--yes", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert replicas(sandbox, namespace) == {"alpha": 0, "beta": 0}

    before = datetime.now(timezone.utc)
    r = tool(sandbox, namespace, "wake", "--for", "2h", "--timeout", "90", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "kept awake until" in r.stderr and "KST" in r.stderr
    assert replicas(sandbox, namespace) == {"alpha": 2, "beta": 1}  # up now, remembered counts
    st = json.loads(tool(sandbox, namespace, "status", "-o", "json", config=config).stdout)
    until = schedule.parse_awake(st["awake_until"])
    assert until is not None and timedelta(hours=2) - timedelta(seconds=5) <= until - before <= timedelta(hours=2, seconds=60)
    table = tool(sandbox, namespace, "status", config=config).stdout
    assert f"Awake until: {st['awake_until']}" in table

    # the nightly job: skips, says why (JSON lines), changes nothing
    r = tool(sandbox, namespace, "down", "--yes", "--scheduled", "--log-format", "json", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    records = json_lines(r.stderr)
    skip = [x for x in records if x.get("result") == "skipped"]
    assert len(skip) == 1 and skip[0]["reason"].startswith(f"kept awake until {st['awake_until']}"), records
    assert r.stdout == ""
    assert replicas(sandbox, namespace) == {"alpha": 2, "beta": 1}

    # text format says it too (cron mail)
    r = tool(sandbox, namespace, "down", "--yes", "--scheduled", config=config)
    assert r.returncode == 0 and "scheduled down skipped: kept awake until" in r.stdout, r.stdout + r.stderr

    # awake-until in the past: the nightly job scales down, one JSON record per workload
    sandbox.kubectl("annotate", "--overwrite", "namespace", namespace, f"{schedule.AWAKE_ANNOTATION}=2020-01-01T00:00:00Z", check=True)
    r = tool(sandbox, namespace, "down", "--yes", "--scheduled", "--log-format", "json", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""
    records = json_lines(r.stderr)
    per_workload = {x["workload"]: x for x in records if "workload" in x}
    assert {k: (v["action"], v["from"], v["to"], v["result"]) for k, v in per_workload.items()} == {
        "Deployment/alpha": ("down", 2, 0, "down"), "Deployment/beta": ("down", 1, 0, "down")}
    assert all(isinstance(v["duration"], (int, float)) and v["duration"] >= 0 for v in per_workload.values())
    assert records[-1]["result"] == "ok" and records[-1]["action"] == "down"
    assert replicas(sandbox, namespace) == {"alpha": 0, "beta": 0}
    assert json.loads(tool(sandbox, namespace, "status", "-o", "json", config=config).stdout)["awake_until"] is None

    r = tool(sandbox, namespace, "wake", "--cancel", config=config)
    assert r.returncode == 0, r.stderr
    ns = sandbox.kube(namespace).get_object("v1", "Namespace", namespace)
    assert schedule.AWAKE_ANNOTATION not in (ns["metadata"].get("annotations") or {})

    r = tool(sandbox, namespace, "wake", "--for", "22:00", config=config)
    assert r.returncode == 2 and "--until" in r.stderr and "Traceback" not in r.stderr


def test_holiday_morning_up_does_nothing_and_tells_the_webhook(sandbox, namespace, tmp_path):
    today = datetime.now(ZoneInfo("Asia/Seoul")).date().isoformat()
    hook = Hook()
    try:
        config = write_config(tmp_path, timezone="Asia/Seoul", holidays=[today], notify_url=hook.url)
        sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=apps(("alpha", 1)), check=True)
        r = tool(sandbox, namespace, "down", "--yes", config=config)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not hook.arrived.is_set()  # a successful run tells nobody

        r = tool(sandbox, namespace, "up", "--yes", "--scheduled", "--log-format", "json", config=config)
        assert r.returncode == 0, r.stdout + r.stderr
        records = json_lines(r.stderr)
        assert any(x.get("result") == "skipped" and x["reason"] == f"{today} is a configured holiday" for x in records), records
        assert any(x.get("notify") == "HTTP 200" for x in records), records
        assert hook.url not in r.stderr  # the webhook URL carries its key: never logged
        assert replicas(sandbox, namespace) == {"alpha": 0}
        assert hook.arrived.wait(5)
        body = hook.bodies[0]
        assert body["result"] == "skipped" and body["action"] == "up" and body["namespace"] == namespace
        assert body["text"].startswith(f"tripgenctl scheduled up in ") and "configured holiday" in body["text"]

        # not scheduled (a person at a terminal): holidays do not apply, the webhook stays quiet
        r = tool(sandbox, namespace, "up", "--yes", "--timeout", "60", config=config)
        assert r.returncode == 0, r.stdout + r.stderr
        assert replicas(sandbox, namespace) == {"alpha": 1}
        assert len(hook.bodies) == 1
    finally:
        hook.close()


def test_schedule_show_lists_next_runs_in_the_configured_zone(sandbox, namespace, tmp_path):
    config = write_config(tmp_path, timezone="America/New_York", down_time="19:30", up_time="07:15", days="MON-FRI")
    r = tool(sandbox, namespace, "schedule", "show", "--offline", "-o", "json", config=config)
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    jobs = {j["action"]: j for j in view["jobs"]}
    assert jobs["down"]["schedule"] == "30 19 * * MON-FRI" and jobs["down"]["time_zone"] == "America/New_York"
    zone = ZoneInfo("America/New_York")
    now = datetime.now(zone)
    for action, hhmm in (("down", (19, 30)), ("up", (7, 15))):
        runs = jobs[action]["next_runs"]
        assert len(runs) == 3
        parsed = []
        for text in runs:
            day, stamp, abbrev = text.split(" ", 1)[0], text.split(" ", 1)[1].rsplit(" ", 1)[0], text.rsplit(" ", 1)[1]
            t = datetime.strptime(stamp, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
            assert abbrev == t.strftime("%Z") and abbrev in ("EST", "EDT")
            assert (t.hour, t.minute) == hhmm and t.weekday() < 5 and day == t.strftime("%a")
            parsed.append(t)
        assert parsed == sorted(parsed) and parsed[0] > now
        # the first run is the first weekday hh:mm after now, found independently
        expect = now.replace(hour=hhmm[0], minute=hhmm[1], second=0, microsecond=0)
        while expect <= now or expect.weekday() >= 5:
            expect = (expect + timedelta(days=1)).replace(hour=hhmm[0], minute=hhmm[1])
        assert parsed[0] == expect

    # installed: the cluster's CronJobs are what show reports
    r = tool(sandbox, namespace, "schedule", "install", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    cj = sandbox.kube(namespace).get_object("batch/v1", "CronJob", schedule.DOWN_JOB)
    assert cj["spec"]["schedule"] == "30 19 * * MON-FRI" and cj["spec"]["timeZone"] == "America/New_York"
    r = tool(sandbox, namespace, "schedule", "show", "-o", "json", config=config)
    assert r.returncode == 0, r.stderr
    assert all(j["installed"] for j in json.loads(r.stdout)["jobs"])
    r = tool(sandbox, namespace, "schedule", "remove", "--yes", config=config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sandbox.kube(namespace).get_object("batch/v1", "CronJob", schedule.DOWN_JOB) is None
    assert sandbox.kube(namespace).get_object("v1", "ServiceAccount", "tripgenctl") is not None  # shared: kept


def test_cluster_down_stops_aks_after_the_namespace_and_up_starts_it_first(sandbox, namespace, tmp_path):
    """The outside schedule (crontab, GitHub Actions): `down --cluster` / `up --cluster` against
    the fake Azure Resource Manager, whose cluster hands back the sandbox's kubeconfig."""
    import os
    import shutil

    from tripgen_sandbox.azurefakes import FakeAzure, FakeAzureConfig

    fa = FakeAzure(FakeAzureConfig(tmp_path / "az", duration=0.3, retry_after=0.2, kubeconfig=lambda: sandbox.kubeconfig.read_bytes())).start()
    try:
        kc = tmp_path / "kubeconfig"
        shutil.copy(sandbox.kubeconfig, kc)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_")) and k not in ("REQUESTS_CA_BUNDLE", "TRIPGENCTL_ARM_ENDPOINT")}
        env = dict(clean, **fa.env(), KUBECONFIG=str(kc), TRIPGENCTL_AZURE_POLL_INTERVAL="0.2")

        def run(*args: str, config: str) -> subprocess.CompletedProcess:
            return run_tool(*args, namespace=namespace, env=dict(env, TRIPGENCTL_CONFIG=config), timeout=180)

        plain = write_config(tmp_path, timezone="Asia/Seoul")
        sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=apps(("alpha", 1)), check=True)
        assert fa.cluster.power_state == "Running"
        r = run("down", "--cluster", "--yes", "--scheduled", "--log-format", "json", config=plain)
        assert r.returncode == 0, r.stdout + r.stderr
        records = json_lines(r.stderr)
        per = {x["workload"]: (x["from"], x["to"], x["result"]) for x in records if "workload" in x}
        assert per == {"Deployment/alpha": (1, 0, "down"), "cluster/aks-tripgen-dev": ("Running", "Stopped", "stopped")}, records
        phases = [x["phase"] for x in records if "phase" in x]
        assert phases.index("stopping applications") < phases.index("stopping cluster aks-tripgen-dev")
        assert fa.cluster.power_state == "Stopped"
        assert replicas(sandbox, namespace) == {"alpha": 0}

        r = run("down", "--cluster", "--yes", config=plain)
        assert r.returncode == 0 and "already stopped" in r.stdout, r.stdout + r.stderr

        holiday_dir = tmp_path / "holiday"
        holiday_dir.mkdir()
        today = datetime.now(ZoneInfo("Asia/Seoul")).date().isoformat()
        holiday = write_config(holiday_dir, timezone="Asia/Seoul", holidays=[today])
        r = run("up", "--cluster", "--yes", "--scheduled", config=holiday)
        assert r.returncode == 0 and "configured holiday" in r.stdout, r.stdout + r.stderr
        assert fa.cluster.power_state == "Stopped"  # a holiday does not even start the cluster

        r = run("up", "--cluster", "--yes", "--timeout", "90", "-o", "json", config=plain)
        # the cluster starts, alpha comes up, then doctor's checks run on the namespace: it holds
        # only `alpha` (no Secrets, no data services), so they find criticals and `up --cluster`
        # exits 1 with their summary (issue 20: "exiting 1 on a critical finding")
        assert r.returncode == 1, r.stdout + r.stderr
        message = json.loads(r.stdout)["message"]
        assert f"doctor in tripgen-sandbox/{namespace}: " in message and " critical" in message, r.stdout + r.stderr
        assert fa.cluster.power_state == "Running"
        assert replicas(sandbox, namespace) == {"alpha": 1}
    finally:
        fa.stop()
