"""Pure logic of `up`/`down`: plans (order, remembered counts, idempotence, exclusions), lock
expiry (the retry policy of the writes: tests/unit/test_kube_retry.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tripgenctl.ops import lock, scaling
from tripgenctl.ops import workloads as wl

NOW = datetime(2025, 1, 6, 12, 0, 0, tzinfo=timezone.utc)
DATA = ("postgresql", "redis")


def obj(name, replicas, annotations=None):
    return {
        "metadata": {"name": name, "annotations": annotations or {}, "creationTimestamp": "2025-01-01T00:00:00Z", "resourceVersion": "1"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }


def down_ann(n):
    return {wl.REPLICAS_ANNOTATION: str(n), wl.SCALED_DOWN_ANNOTATION: json.dumps({"by": "u@h", "at": "2025-01-06T11:00:00Z"})}


def status(deps, stss=()):
    return wl.build("ns", list(deps), list(stss), [], DATA, NOW)


def env(apps=(("trip-service", 2, None), ("user-service", 1, None)), pg=1, redis=1, pg_ann=None, redis_ann=None):
    return status([obj(n, r, a) for n, r, a in apps], [obj("postgresql", pg, pg_ann), obj("redis", redis, redis_ann)])


def test_down_remembers_counts_and_leaves_data():
    plan = scaling.plan_down(env(), DATA)
    assert [(s.name, s.current, s.target, s.record) for s in plan.steps] == [("trip-service", 2, 0, 2), ("user-service", 1, 0, 1)]
    assert {s.name for s in plan.skipped} == {"postgresql", "redis"}


def test_down_include_data_orders_apps_redis_postgres():
    plan = scaling.plan_down(env(), DATA, include_data=True)
    assert [s.name for s in plan.steps] == ["trip-service", "user-service", "redis", "postgresql"]
    assert [s.stage for s in plan.steps] == [0, 0, 1, 2]


def test_down_twice_never_records_zero():
    st = env(apps=(("trip-service", 0, down_ann(2)),))
    plan = scaling.plan_down(st, DATA)
    step = plan.steps[0]
    assert step.record is None and not step.change
    # an interrupted down: annotation written, still running -> scale, keep the recorded 2
    st = env(apps=(("trip-service", 2, down_ann(2)),))
    step = scaling.plan_down(st, DATA).steps[0]
    assert step.record is None and step.change and step.target == 0


def test_down_at_zero_without_record_records_nothing():
    step = scaling.plan_down(env(apps=(("a", 0, None),)), DATA).steps[0]
    assert step.record is None and not step.change


def test_exclusions_by_flag_and_annotation():
    st = env(apps=(("a", 1, None), ("b", 1, {wl.EXCLUDE_ANNOTATION: "true"}), ("c", 1, None)))
    plan = scaling.plan_down(st, DATA, exclude=("c",))
    assert [s.name for s in plan.steps] == ["a"]
    assert {s.name: s.note for s in plan.skipped}["b"].startswith("excluded (tripgenctl.io/exclude")
    plan = scaling.plan_up(st, DATA, exclude=("Deployment/a",))
    assert "a" in {s.name for s in plan.skipped}


def test_up_restores_remembered_default_one_and_orders_data_first():
    st = env(apps=(("trip-service", 0, down_ann(2)), ("user-service", 0, None), ("ai-service", 3, None)), pg=0, pg_ann=down_ann(1))
    plan = scaling.plan_up(st, DATA)
    assert [(s.name, s.stage, s.current, s.target, s.change) for s in plan.steps] == [
        ("postgresql", 0, 0, 1, True),
        ("redis", 0, 1, 1, False),
        ("ai-service", 1, 3, 3, False),
        ("trip-service", 1, 0, 2, True),
        ("user-service", 1, 0, 1, True),
    ]


def test_up_with_drift_restores_remembered():
    st = env(apps=(("a", 3, down_ann(2)),))
    step = next(s for s in scaling.plan_up(st, DATA).steps if s.name == "a")
    assert step.target == 2 and "by hand" in step.note


def test_lock_describe_expiry():
    lease = {"spec": {"holderIdentity": "me@h pid 1", "leaseDurationSeconds": 10, "renewTime": "2025-01-06T11:59:55.000000Z"}, "metadata": {}}
    info = lock.describe(lease, NOW)
    assert info is not None and info.holder == "me@h pid 1" and 4 < info.expires_in <= 5
    assert lock.describe(lease, NOW + timedelta(seconds=6)) is None  # expired
    assert lock.describe({"spec": {"leaseDurationSeconds": 10}}, NOW) is None  # released
    assert "locked by me@h pid 1" in lock.locked_message(info)


def test_taken_by_names_the_holder_or_the_last_one():
    assert lock.taken_by({"spec": {"holderIdentity": "b@h pid 2"}}, "a@h pid 1") == "b@h pid 2"
    released = {"spec": {}, "metadata": {"annotations": {lock.LAST_HOLDER_ANNOTATION: "b@h pid 2"}}}
    assert lock.taken_by(released, "a@h pid 1") == "b@h pid 2, who has released it since"
    assert lock.taken_by({"spec": {}}, "a@h pid 1") == "someone else, who has released it since"


def test_health_verdict():
    assert scaling._health_verdict(200, {"status": "UP"}) == "UP"
    assert scaling._health_verdict(503, {"status": "DOWN", "components": {"db": {"status": "DOWN"}, "redis": {"status": "UP"}}}) == "DOWN (db)"
    assert scaling._health_verdict(0, "refused").startswith("unreachable")


def test_line_reporter_text_and_json():
    import io

    from tripgenctl.presentation import reporter as progress

    text = io.StringIO()
    rep = progress.reporter("up", live=False, stream=text)
    rep.phase("starting applications")
    rep.item("trip-service", "ImagePullBackOff", ok=False)
    lines = text.getvalue().splitlines()
    assert lines[0].endswith("== starting applications") and lines[1].endswith("trip-service: ImagePullBackOff")
    js = io.StringIO()
    rep = progress.reporter("down", stream=js, log_format="json")
    rep.item("redis", "stopped", ok=True)
    record = json.loads(js.getvalue())
    assert record["command"] == "down" and record["item"] == "redis" and record["ok"] is True and record["level"] == "info"
