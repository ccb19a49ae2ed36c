"""The cost model over a history with known time stamps, checked against figures worked out by
hand (shown in the comments), and the schedule's down-hours."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tripgenctl.config import CostConfig, ScheduleConfig
from tripgenctl.errors import UsageError
from tripgenctl.ops import cost, history


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


HISTORY = [
    history.Entry(at("2026-09-20T23:00:00Z"), "up", "alice@laptop", "ok"),
    history.Entry(at("2026-10-05T11:00:00Z"), "down", "cron", "ok"),           # 20:00 KST
    history.Entry(at("2026-10-06T23:00:00Z"), "up", "cron", "ok"),             # 36 h namespace down
    history.Entry(at("2026-10-10T11:00:00Z"), "down", "cron", "ok"),           # 5 min down, then ...
    history.Entry(at("2026-10-10T11:05:00Z"), "cluster-stop", "cron", "ok"),   # ... stopped 58 h 55 min
    history.Entry(at("2026-10-12T22:00:00Z"), "cluster-start", "cron", "ok"),  # 10 min down again
    history.Entry(at("2026-10-12T22:10:00Z"), "up", "cron", "ok"),
    history.Entry(at("2026-10-20T03:00:00Z"), "down", "bob@laptop", "failed"),  # changes nothing
]


def test_a_past_month_to_the_cent():
    # October 2026 in Asia/Seoul: 744 h. Nodes $120/730 h while the cluster runs, the rest
    # ($5 + $20 + $10 + $15 = $50)/730 h always. Stopped 58 h 55 min:
    #   (744 - 58.9167) x 120/730 + 744 x 50/730 = 112.6164 + 50.9589 = 163.58
    #   node cost saved by the stop: 58.9167 x 120/730 = 9.68; by the namespace downs: 0
    r = cost.month_cost(HISTORY, CostConfig(), ScheduleConfig(), "tripgen-dev", "2026-10", at("2026-11-15T00:00:00Z"))
    assert r.complete and r.cost_so_far == 163.58 and r.projected == 163.58
    assert r.node_cost_saved_by_cluster_stop == 9.68 and r.node_cost_saved_by_namespace_down == 0.0
    assert r.hours_cluster_stopped == 58.92 and r.hours_namespace_down == 36.25 and r.hours_up == 648.83
    assert r.within_target and len(r.days) == 31
    assert round(sum(d.cost for d in r.days), 1) == 163.6
    oct11 = next(d for d in r.days if d.day == "2026-10-11")
    assert oct11.stopped_hours == 24.0 and oct11.cost == round(24 * 50 / 730, 2)
    assert any("saved $0 of node cost" in n for n in r.notes)


def test_month_so_far_is_projected():
    # 10 days of October always up: 240 h x 170/730 = 55.89, projected x 744/240
    r = cost.month_cost([HISTORY[0]], CostConfig(), ScheduleConfig(), "ns", None, at("2026-10-10T15:00:00Z"))
    assert r.month == "2026-10" and not r.complete
    assert r.cost_so_far == 55.89 and r.projected == round(240 * 170 / 730 * 744 / 240, 2)


def test_no_history_is_said_not_hidden():
    r = cost.month_cost([], CostConfig(), ScheduleConfig(), "ns", "2026-10", at("2026-11-02T00:00:00Z"))
    assert r.cost_so_far == round(744 * 170 / 730, 2) and r.within_target
    assert any("no history" in n for n in r.notes)


def test_schedule_down_hours_of_one_week():
    # Mon 00:00 -> next Mon 00:00 KST, weekdays 20:00 down / 08:00 up:
    # Mon 00-08 (Friday's down) 8 h + Mon..Thu nights 4 x 12 h + Fri 20:00 -> Mon 00:00 52 h = 108 h
    from zoneinfo import ZoneInfo

    kst = ZoneInfo("Asia/Seoul")
    start, end = datetime(2026, 10, 5, tzinfo=kst), datetime(2026, 10, 12, tzinfo=kst)
    assert cost.schedule_down_hours(ScheduleConfig(), start, end) == 108.0
    holiday = ScheduleConfig(holidays=["2026-10-09"])  # Friday's morning up does nothing: Thu 20:00 -> Mon 08:00
    assert cost.schedule_down_hours(holiday, start, end) == 8 + 3 * 12 + 76


def test_bad_month_is_a_usage_error():
    for bad in ("2026-13", "october", "2027-01"):
        with pytest.raises(UsageError):
            cost.month_cost([], CostConfig(), ScheduleConfig(), "ns", bad, at("2026-11-02T00:00:00Z"))


def test_history_lines_round_trip_and_are_trimmed():
    text = "".join(e.line() + "\n" for e in HISTORY) + "not json\n"
    assert history.parse(text) == HISTORY
    kept = history.trimmed(HISTORY, at("2027-10-30T00:00:00Z"), keep_months=13)
    assert kept == HISTORY[1:]  # the September 2026 entry is older than 13 x 31 days
