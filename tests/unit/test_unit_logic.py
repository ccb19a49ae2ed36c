"""Pure logic that needs no cluster: argument hoisting, quantities, selectors, patches, field
ownership, backup pruning, connection strings, JUnit output."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest

from tripgenctl import quantity
from tripgenctl.cli.app import hoist_global_options


def test_global_options_move_in_front_of_the_verb():
    assert hoist_global_options(["status", "-o", "json", "-n", "x"]) == ["-o", "json", "-n", "x", "status"]
    assert hoist_global_options(["db", "backup", "--context=a", "--name", "n"]) == ["--context=a", "db", "backup", "--name", "n"]
    assert hoist_global_options(["doctor", "-ojson"]) == ["-ojson", "doctor"]
    assert hoist_global_options(["sandbox", "fault", "set", "x", "--", "-n"]) == ["sandbox", "fault", "set", "x", "--", "-n"]


def test_quantities():
    assert quantity.cpu_millis("100m") == pytest.approx(100)
    assert quantity.cpu_millis("1.5") == pytest.approx(1500)
    assert quantity.parse("256Mi") == 256 * 2**20
    assert quantity.parse("1G") == 1e9
    assert quantity.parse("4030180Ki") == 4030180 * 1024
    assert quantity.fmt_bytes(2**30) == "1Gi"
    assert quantity.fmt_cpu(1500) == "1500m" and quantity.fmt_cpu(2000) == "2"


def test_prune_keeps_newest_verified(tmp_path):
    import json

    from tripgenctl.ops import backup

    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    for days, verified in ((20, True), (10, True), (9, False)):
        t = now - timedelta(days=days)
        name = f"b{days}.dump"
        (tmp_path / name).write_bytes(b"PGDMPxxxx")
        meta = {"file": name, "format": "custom", "size": 9, "sha256": "0", "context": "c", "namespace": "n", "server": "s",
                "database": "tripgen", "server_version": "16", "pg_dump_version": "16", "table_counts": {},
                "started_at": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "finished_at": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "verified": verified}
        (tmp_path / (name + ".json")).write_text(json.dumps(meta))
    plan = backup.prune(tmp_path, keep_days=7, dry_run=True, now=now)
    assert plan.deleted == ["b20.dump", "b9.dump"] and plan.kept == ["b10.dump"]  # b10 is the newest verified
    assert (tmp_path / "b20.dump").exists()
    backup.prune(tmp_path, keep_days=7, now=now)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b10.dump", "b10.dump.json"]


def test_servicebus_connection_string_parts():
    from tripgenctl.ops.bus import MalformedConnectionString, parse_connection_string

    ok = "Endpoint=sb://sb-tripgen-dev.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc="
    parse_connection_string(ok)
    for text, missing in (("Endpoint=sb://x/;SharedAccessKeyName=k", ["SharedAccessKey"]), ("SharedAccessSignature=SharedAccessSignature sr=x", ["Endpoint"])):
        with pytest.raises(MalformedConnectionString) as exc:
            parse_connection_string(text)
        assert exc.value.missing == missing


def test_junit_is_valid_xml():
    from tripgenctl.ops.doctor.junit import to_junit
    from tripgenctl.ops.doctor.model import DoctorReport, Finding

    report = DoctorReport("ctx", "ns", False, 1, 1, ["pending", "node"], [
        Finding("pending", "critical", "pod/a", "Pending <x>", evidence="0/2 nodes & more"),
        Finding("node", "warning", "node/n", "NotReady 1 min"),
    ])
    root = ET.fromstring(to_junit(report))
    assert root.tag == "testsuite" and root.get("tests") == "2" and root.get("failures") == "1"
    assert [c.get("name") for c in root.findall("testcase")] == ["pending", "node"]
    assert root.find("testcase[@name='pending']/failure") is not None
    assert root.find("testcase[@name='node']/failure") is None
    assert ET.fromstring(to_junit(report, "warning")).get("failures") == "2"


def test_cron_next_runs_in_time_zone():
    from tripgenctl.cron import Cron, CronError, from_clock

    friday_night_utc = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)  # 21:00 in Seoul, a Friday
    runs = Cron.parse(from_clock("20:00", "MON-FRI")).next_runs(friday_night_utc, 2, "Asia/Seoul")
    assert [r.isoformat() for r in runs] == ["2026-11-30T20:00:00+09:00", "2026-12-01T20:00:00+09:00"]
    assert Cron.parse("*/15 * * * *").next_after(datetime(2026, 1, 1, 0, 7, tzinfo=timezone.utc)).minute == 15
    missed = Cron.parse("@hourly").scheduled_between(datetime(2026, 1, 1, 0, 7, tzinfo=timezone.utc), datetime(2026, 1, 1, 3, 7, tzinfo=timezone.utc))
    assert missed.hour == 3
    for bad in ("* * *", "61 * * * *", "0 25 * * *"):
        with pytest.raises(CronError):
            Cron.parse(bad)


def test_config_toml_overrides_manifests(tmp_path, monkeypatch):
    from tripgenctl import manifests
    from tripgenctl.config import dumps, load

    cfg = tmp_path / "tripgenctl.toml"
    cfg.write_text(dumps({"namespace": "qa", "images": {"user-service": "tripgendev.azurecr.io/user-service:dev"},
                          "resources": {"user-service": {"limits": {"memory": "768Mi"}}}, "thresholds": {"restarts": 3}}))
    monkeypatch.setenv("TRIPGENCTL_CONFIG", str(cfg))
    loaded = load()
    assert loaded.namespace == "qa" and loaded.thresholds.restarts == 3 and loaded.thresholds.disk_percent == 85.0
    objs = manifests.render(namespace="qa", config=loaded)  # the run's config, passed in (the CLI loads it once)
    dep = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "user-service")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "tripgendev.azurecr.io/user-service:dev"
    assert c["resources"]["limits"]["memory"] == "768Mi" and c["resources"]["requests"]["cpu"] == "100m"


def test_doctor_events_ignore_history_of_gone_pods_and_pods_ready_since():
    """Startup-probe failures of a pod that became Ready later, and events of a pod an old
    ReplicaSet deleted, are history: only a warning after the last Ready transition remains."""
    from datetime import datetime, timezone

    from tripgenctl.ops.doctor.runner import Context
    from tripgenctl.ops.doctor.service_checks import check_events
    from tripgenctl.ops.doctor.snapshot import Snapshot

    now = datetime(2026, 1, 5, 12, 0, 0, tzinfo=timezone.utc)
    pod = {"metadata": {"name": "web-1", "uid": "u1"},
           "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-05T11:55:00Z"}]}}

    def event(name: str, at: str, reason: str, uid: str = "u1") -> dict:
        return {"type": "Warning", "reason": reason, "lastTimestamp": at, "message": f"{reason} at {at}",
                "involvedObject": {"kind": "Pod", "name": name, "uid": uid}}

    events = [event("web-1", "2026-01-05T11:54:00Z", "Unhealthy"), event("gone-0", "2026-01-05T11:58:00Z", "Failed"),
              event("web-1", "2026-01-05T11:57:00Z", "BackOff"), event("web-1", "2026-01-05T11:58:00Z", "Failed", uid="old")]
    snap = Snapshot("ns", [pod], events, [], [], [], [], [], [], [], None, None)
    found = check_events(snap, None, Context(kube=None, now=now), set())
    assert [(f.title, f.object) for f in found] == [("1 Warning event(s) BackOff", "pod/web-1")]


def test_bad_option_value_raised_in_a_command_body_is_a_usage_error_exit_2():
    """BadParameter raised after parsing (cross-option checks) must stay a usage error, not
    become handle_errors' 'unexpected …' exit 1."""
    from tests.helpers import invoke

    for args, option in ((["down", "--log-format", "xml"], "--log-format"), (["up", "--cluster", "--dry-run"], "--cluster")):
        result = invoke(*args)
        assert result.exit_code == 2 and option in result.output, (args, result.output)
        assert "unexpected" not in result.output and "Traceback" not in result.output
