"""Five-field cron schedules (the CronJob dialect: ranges, lists, steps, month and day names,
@daily-style macros) and their next run times in a time zone. Shared by `schedule show` and the
sandbox's CronJob controller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
NAMES = {
    "dow": {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])},
    "month": {n: i + 1 for i, n in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])},
}
RANGES = {"minute": (0, 59), "hour": (0, 23), "dom": (1, 31), "month": (1, 12), "dow": (0, 7)}


class CronError(ValueError):
    pass


def _value(token: str, field: str) -> int:
    names = NAMES.get(field, {})
    if token.upper() in names:
        return names[token.upper()]
    try:
        return int(token)
    except ValueError:
        raise CronError(f"invalid {field} value {token!r}") from None


def _field(spec: str, field: str) -> set[int]:
    lo, hi = RANGES[field]
    out: set[int] = set()
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, step_s = part.split("/", 1)
            step = int(step_s)
            if step <= 0:
                raise CronError(f"invalid step in {spec!r}")
        if part in ("*", "?"):
            a, b = lo, hi
        elif "-" in part:
            a_s, b_s = part.split("-", 1)
            a, b = _value(a_s, field), _value(b_s, field)
        else:
            a = _value(part, field)
            b = hi if step > 1 else a
        if a < lo or b > hi or a > b:
            raise CronError(f"{field} {part!r} out of range {lo}-{hi}")
        out.update(range(a, b + 1, step))
    if field == "dow" and 7 in out:
        out.discard(7)
        out.add(0)
    return out


@dataclass(frozen=True)
class Cron:
    expr: str
    minutes: frozenset
    hours: frozenset
    doms: frozenset
    months: frozenset
    dows: frozenset
    dom_any: bool
    dow_any: bool

    @classmethod
    def parse(cls, expr: str) -> "Cron":
        text = MACROS.get(expr.strip(), expr.strip())
        parts = text.split()
        if len(parts) != 5:
            raise CronError(f"cron schedule {expr!r} needs 5 fields")
        m, h, dom, mon, dow = parts
        return cls(expr, frozenset(_field(m, "minute")), frozenset(_field(h, "hour")), frozenset(_field(dom, "dom")),
                   frozenset(_field(mon, "month")), frozenset(_field(dow, "dow")), dom in ("*", "?"), dow in ("*", "?"))

    def matches(self, t: datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        dow = (t.weekday() + 1) % 7
        dom_ok, dow_ok = t.day in self.doms, dow in self.dows
        if self.dom_any or self.dow_any:
            return dom_ok and dow_ok
        return dom_ok or dow_ok  # cron's rule: either day field may match when both are restricted

    def next_after(self, after: datetime, tz: str | None = None) -> datetime:
        """The first matching minute strictly after `after`, evaluated in `tz` (wall clock)."""
        zone = ZoneInfo(tz) if tz else after.tzinfo
        t = after.astimezone(zone) if zone else after
        t = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(60 * 24 * 366 * 2):
            if self.matches(t):
                return t
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            t += timedelta(minutes=1)
        raise CronError(f"cron schedule {self.expr!r} never fires")

    def next_runs(self, after: datetime, count: int, tz: str | None = None) -> list[datetime]:
        out, t = [], after
        for _ in range(count):
            t = self.next_after(t, tz)
            out.append(t)
        return out

    def scheduled_between(self, start: datetime, end: datetime, tz: str | None = None) -> datetime | None:
        """The latest scheduled time in (start, end], or None: what a CronJob controller missed."""
        last, t = None, start
        while True:
            t = self.next_after(t, tz)
            if t > end:
                return last
            last = t


def from_clock(time_hhmm: str, days: str) -> str:
    """'20:00', 'MON-FRI' -> '0 20 * * MON-FRI' (config to cron)."""
    try:
        hh, mm = (int(x) for x in time_hhmm.split(":"))
    except ValueError:
        raise CronError(f"time must be HH:MM, not {time_hhmm!r}") from None
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise CronError(f"time {time_hhmm!r} out of range")
    expr = f"{mm} {hh} * * {days}"
    Cron.parse(expr)
    return expr
