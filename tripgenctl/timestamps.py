"""Kubernetes time stamps (RFC 3339, MicroTime with up to nine fraction digits), parsed one way
everywhere: the tool's checks and the sandbox's controllers must agree on what "5 minutes ago"
means, or a test of the NotReady threshold tests two clocks."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_time(value: str | None) -> datetime | None:
    """Aware UTC datetime, or None for a missing or malformed stamp."""
    if not value:
        return None
    try:
        v = value.replace("Z", "+00:00")
        if "." in v:  # MicroTime / RFC3339Nano: Python takes six fraction digits at most
            head, rest = v.split(".", 1)
            frac = "".join(ch for ch in rest if ch.isdigit())
            tz = rest[len(frac):]
            v = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
        dt = datetime.fromisoformat(v)
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def minutes_since(value: str | None, now: datetime, missing: float = float("inf")) -> float:
    """`missing` for a stamp that cannot be read: callers choose whether unknown means old or new."""
    then = parse_time(value)
    return missing if then is None else (now - then).total_seconds() / 60


def format_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
