"""Kubernetes resource quantities ("50Mi", "500m", "1G") as numbers."""

from __future__ import annotations

_BIN = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DEC = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def parse_quantity(value: str | int | float) -> float:
    s = str(value).strip()
    if not s:
        return 0.0
    for suffix, mult in _BIN.items():
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * mult
    if s[-1] in _DEC:
        return float(s[:-1]) * _DEC[s[-1]]
    return float(s)


def memory_limit(container: dict) -> int | None:
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return int(parse_quantity(value)) if value else None
