"""Pure logic that needs no cluster: argument hoisting, quantities, selectors, patches, field
ownership, backup pruning, connection strings, JUnit output."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import pytest

from tripgenctl import quantity
from tripgenctl.cli.app import hoist_global_options
from tripgenctl.sandbox.apierrors import ApiError
from tripgenctl.sandbox.apiserver import apply as ssa
from tripgenctl.sandbox.apiserver.patch import json_merge_patch, json_patch, strategic_merge_patch
from tripgenctl.sandbox.selectors import match_label_selector_obj, parse_field_selector, parse_label_selector


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


def test_label_selectors():
    sel = parse_label_selector("tier=application,env!=prod,team in (a,b),!legacy")
    assert sel({"tier": "application", "env": "dev", "team": "a"})
    assert not sel({"tier": "application", "env": "prod", "team": "a"})
    assert not sel({"tier": "application", "team": "c"})
    assert not sel({"tier": "application", "team": "a", "legacy": "1"})
    assert match_label_selector_obj({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}, {"a": "1", "b": ""})
    assert not match_label_selector_obj({"matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["x"]}]}, {"b": "x"})
    fsel = parse_field_selector("metadata.name=p,status.phase!=Running")
    assert fsel({"metadata": {"name": "p"}, "status": {"phase": "Pending"}})
    assert not fsel({"metadata": {"name": "p"}, "status": {"phase": "Running"}})
    with pytest.raises(ApiError):
        parse_label_selector("a in (")({})


def test_patches():
    assert json_merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}) == {"a": 1, "b": {"d": 3}}
    assert json_patch({"a": [1, 2]}, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/a/0", "value": 0}]) == {"a": [0, 2, 3]}
    with pytest.raises(ApiError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    cur = {"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}, {"name": "b", "image": "y"}]}}
    out = strategic_merge_patch(cur, {"spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "b"]
    assert out["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    out = strategic_merge_patch(cur, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a"]


def test_server_side_apply_ownership():
    first = ssa.apply(None, {"metadata": {"name": "x"}, "data": {"a": "1", "b": "2"}}, "m1", False, "v1")
    assert ssa.managers(first)[("m1", "Apply")] == {(("f", "metadata"), ("f", "name")), (("f", "data"), ("f", "a")), (("f", "data"), ("f", "b"))}
    second = ssa.apply(first, {"metadata": {"name": "x"}, "data": {"a": "1"}}, "m1", False, "v1")
    assert second["data"] == {"a": "1"}
    edited = dict(second, data={"a": "9"})
    ssa.record_update(second, edited, "human", "v1")
    with pytest.raises(ApiError) as exc:
        ssa.apply(edited, {"metadata": {"name": "x"}, "data": {"a": "1"}}, "m1", False, "v1")
    assert exc.value.code == 409 and "human" in exc.value.message
    forced = ssa.apply(edited, {"metadata": {"name": "x"}, "data": {"a": "1"}}, "m1", True, "v1")
    assert forced["data"] == {"a": "1"}
    tree = ssa.to_fields_v1({(("f", "spec"), ("f", "containers"), ("k", '{"name":"a"}'), (".", ""))})
    assert tree == {"f:spec": {"f:containers": {'k:{"name":"a"}': {".": {}}}}}
    assert ssa.from_fields_v1(tree) == {(("f", "spec"), ("f", "containers"), ("k", '{"name":"a"}'), (".", ""))}


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


def test_protobuf_delete_options_and_configmap():
    import base64

    from tripgenctl.sandbox.apiserver import protobuf

    def field(num, wt, payload):
        key = bytes([(num << 3) | wt])
        if wt == 2:
            return key + bytes([len(payload)]) + payload
        return key + bytes([payload])

    meta = field(1, 2, b"cm1") + field(11, 2, field(1, 2, b"app") + field(2, 2, b"x"))
    cm = field(1, 2, meta) + field(2, 2, field(1, 2, b"k") + field(2, 2, b"v"))
    envelope = protobuf.MAGIC + field(1, 2, field(1, 2, b"v1") + field(2, 2, b"ConfigMap")) + field(2, 2, cm)
    obj = protobuf.decode_body(envelope)
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1", "labels": {"app": "x"}}, "data": {"k": "v"}}
    opts = field(4, 2, b"Orphan") + field(1, 0, 0)
    env2 = protobuf.MAGIC + field(1, 2, field(1, 2, b"v1") + field(2, 2, b"DeleteOptions")) + field(2, 2, opts)
    assert protobuf.decode_body(env2)["propagationPolicy"] == "Orphan"
    with pytest.raises(ApiError) as exc:
        protobuf.decode_body(protobuf.MAGIC + field(1, 2, field(2, 2, b"Deployment")))
    assert exc.value.code == 415
    assert base64  # noqa: B018


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
    objs = manifests.render(namespace="qa")
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
    from typer.testing import CliRunner

    from tripgenctl.cli.app import app

    for args, option in ((["down", "--log-format", "xml"], "--log-format"), (["up", "--cluster", "--dry-run"], "--cluster")):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and option in result.output, (args, result.output)
        assert "unexpected" not in result.output and "Traceback" not in result.output
