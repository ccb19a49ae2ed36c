"""Kubernetes resource quantities ("100m", "1.5", "256Mi", "4030180Ki", "1G") as numbers."""

from __future__ import annotations

_BIN = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DEC = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def parse(value: str | int | float | None) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip()
    for suffix, mult in _BIN.items():
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * mult
    if s[-1:].isalpha():
        return float(s[:-1]) * _DEC[s[-1]]
    return float(s)


def cpu_millis(value) -> float:
    return parse(value) * 1000


def fmt_bytes(n: float) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}".replace(".0" + unit, unit)
    return f"{int(n)}B"


def fmt_cpu(millis: float) -> str:
    return f"{millis / 1000:g}" if millis >= 1000 and millis % 1000 == 0 else f"{int(round(millis))}m"


def memory_limit(container: dict) -> int | None:
    """A container's memory limit in bytes, None when it sets none (the OOM killer's line)."""
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return int(parse(value)) if value else None
