"""The Kubernetes door's one retry policy (tripgenctl/kube/retry.py), pure: which failures are
sent again (Unavailable always, Conflict only where the caller says it is safe, Timeout never),
the back-off, Retry-After honoured, and the guard before every attempt. The tests of the
former ops/scaling.with_retry live on here, on the typed errors that replaced the statuses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from tripgenctl.errors import ConnectionFailed, ToolError
from tripgenctl.kube import retry
from tripgenctl.kube.errors import Conflict, Forbidden, KubeError, NotFound, Timeout, Unavailable, for_status
from tripgenctl.ops import lock


def answers(*items):
    """fn() giving each item in turn: an exception is raised, anything else returned."""
    queue = list(items)
    calls = []

    def fn():
        calls.append(1)
        item = queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    return fn, calls


def unavailable(status=503, after=None):
    error = for_status(status, {"message": "busy"}, "PATCH x")
    error.retry_after = after
    return error


def test_conflicts_retried_only_where_safe_and_unavailable_always():
    sleeps = []
    fn, calls = answers(Conflict("x: 409"), unavailable(503), unavailable(429), {"ok": 1})
    assert retry.run(fn, retry.IDEMPOTENT, sleep=sleeps.append) == {"ok": 1} and len(calls) == 4
    assert sleeps == [0.2, 0.4, 0.8]  # exponential back-off
    # a guarded write gets its 409 back at once: re-reading is the caller's business
    fn, calls = answers(Conflict("x: 409"), {"ok": 1})
    with pytest.raises(Conflict):
        retry.run(fn, retry.WRITE, sleep=lambda s: None)
    assert len(calls) == 1


def test_a_timeout_is_never_retried():
    fn, calls = answers(Timeout("the API server https://x did not answer within 5 s"), {"ok": 1})
    with pytest.raises(Timeout):
        retry.run(fn, retry.IDEMPOTENT, sleep=lambda s: None)
    assert len(calls) == 1
    assert not retry.IDEMPOTENT.retries(Timeout("t"))


@pytest.mark.parametrize("error", [NotFound("x: 404"), Forbidden("x: forbidden (403)"), KubeError("x: 422 invalid", 422),
                                   ConnectionFailed("unauthorized (401)"), ToolError("x")])
def test_answers_are_not_retried(error):
    """A permanent error is the answer at once (401: the credentials will not improve)."""
    fn, calls = answers(error, {"ok": 1})
    with pytest.raises(type(error)):
        retry.run(fn, retry.IDEMPOTENT, sleep=lambda s: None)
    assert len(calls) == 1


def test_an_unavailable_server_that_never_recovers_surfaces_the_last_error():
    fn, calls = answers(*[Unavailable(f"cannot reach the API server ({i})") for i in range(3)])
    with pytest.raises(Unavailable, match=r"\(2\)"):
        retry.run(fn, retry.Policy(attempts=3), sleep=lambda s: None)
    assert len(calls) == 3
    assert isinstance(Unavailable("u"), ConnectionFailed)  # exit 2, like any unreachable cluster


def test_backoff_is_capped_and_retry_after_is_honoured_within_max_wait():
    p = retry.Policy(attempts=10, base=0.2, cap=3.0, max_wait=30.0)
    assert [p.delay(i, unavailable()) for i in range(6)] == [0.2, 0.4, 0.8, 1.6, 3.0, 3.0]
    assert p.delay(0, unavailable(429, after=2.0)) == 2.0  # the server's wait, not 0.2
    assert p.delay(5, unavailable(429, after=1.0)) == 3.0  # never shorter than the back-off
    assert p.delay(0, unavailable(503, after=600)) == 30.0  # a long Retry-After is capped
    assert p.delay(9, unavailable()) is None  # the last attempt failed: give up


def test_retry_after_is_waited_before_the_next_attempt():
    sleeps = []
    fn, _ = answers(unavailable(429, after=1.5), {"ok": 1})
    assert retry.run(fn, retry.WRITE, sleep=sleeps.append) == {"ok": 1}
    assert sleeps == [1.5]


def test_the_guard_runs_before_every_attempt_and_a_refusing_guard_stops_the_write():
    events = []
    queue = [unavailable(503), {}]

    def write():
        events.append("write")
        item = queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    assert retry.run(write, retry.WRITE, guard=lambda: events.append("guard"), sleep=lambda s: None) == {}
    assert events == ["guard", "write", "guard", "write"]

    def refuse():
        raise lock.LostLock("lost the lock to someone")

    writes = []
    with pytest.raises(lock.LostLock):
        retry.run(lambda: writes.append(1) or {}, retry.WRITE, guard=refuse)
    assert writes == []


def test_parse_retry_after():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry.parse_retry_after("2", now) == 2.0
    assert retry.parse_retry_after(1, now) == 1.0
    assert retry.parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert retry.parse_retry_after(format_datetime(now - timedelta(seconds=7), usegmt=True), now) == 0.0  # in the past: now
    assert retry.parse_retry_after("-3", now) == 0.0
    for bad in (None, "", "soon", True):
        assert retry.parse_retry_after(bad, now) is None


def test_the_door_reads_retry_after_from_the_header_else_the_status_details():
    from tripgenctl.kube.client import retry_after_seconds

    assert retry_after_seconds("3", {"details": {"retryAfterSeconds": 1}}) == 3.0
    assert retry_after_seconds(None, {"details": {"retryAfterSeconds": 1}}) == 1.0
    assert retry_after_seconds(None, "not json") is None
