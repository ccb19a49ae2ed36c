"""The Kubernetes door's one retry policy: which failed API requests are worth sending again,
and how long to wait first. Pure (the clock and the sleep are parameters), so it is unit-tested
without a server; callers wrap one request in `run(...)`.

- Unavailable (429, 5xx, or the server could not be reached): sent again with exponential
  back-off; a Retry-After the server named is honoured (waited at least that long, capped).
- Conflict (409): sent again only where the caller says that is safe (`conflicts=True`): a write
  that carries no resourceVersion and sets the same values again, such as a scale. A write
  guarded by a resourceVersion gets its Conflict back at once: re-reading and deciding again is
  the caller's business (re-sending the same stale version could only conflict again).
- Timeout: never (kube/errors.py): the request deadline is the whole budget of a request, and
  a retry would multiply the time a command hangs against a server that does not answer.
- Anything else (NotFound, Forbidden, 401, another 4xx): never; it is an answer.

A guard (the lock's confirm) runs before every attempt, so a run that lost its lock makes no
further write, not even a retried one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Optional, TypeVar

from tripgenctl.errors import ToolError
from tripgenctl.kube.errors import Conflict, Timeout, Unavailable

T = TypeVar("T")
Guard = Optional[Callable[[], None]]


@dataclass(frozen=True)
class Policy:
    attempts: int = 6  # in all, the first included
    base: float = 0.2  # first back-off (seconds), doubled each time ...
    cap: float = 3.0  # ... up to this
    conflicts: bool = False  # 409 is safe to send again (no resourceVersion guard)
    max_wait: float = 30.0  # a longer Retry-After is cut to this

    def retries(self, error: BaseException) -> bool:
        """Is this failure worth another attempt at all?"""
        if isinstance(error, Timeout):
            return False
        if isinstance(error, Conflict):
            return self.conflicts
        return isinstance(error, Unavailable)

    def delay(self, attempt: int, error: BaseException) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (0: the first) before the next;
        None: no further attempt, the error is the answer."""
        if attempt >= self.attempts - 1 or not self.retries(error):
            return None
        backoff = min(self.base * 2**attempt, self.cap)
        after = getattr(error, "retry_after", None)
        if after is None:
            return backoff
        return min(max(backoff, float(after)), self.max_wait)


WRITE = Policy()  # a guarded write: its 409 is the caller's
IDEMPOTENT = Policy(conflicts=True)  # the same values again (scale, an annotation without resourceVersion)
READ = Policy()  # a re-read between attempts of a write (nothing to conflict with)


def run(fn: Callable[[], T], policy: Policy = WRITE, guard: Guard = None, sleep: Callable[[float], Any] = time.sleep) -> T:
    """fn() under the policy: its result, or the last error once the policy gives up."""
    attempt = 0
    while True:
        if guard is not None:
            guard()
        try:
            return fn()
        except ToolError as exc:
            wait = policy.delay(attempt, exc)
            if wait is None:
                raise
        sleep(wait)
        attempt += 1


def parse_retry_after(value: Any, now: datetime | None = None) -> float | None:
    """A Retry-After value as seconds from now: delta-seconds ("2", also an int) or an HTTP date
    (RFC 9110); None when absent or unreadable. Never negative."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return max(0.0, float(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
