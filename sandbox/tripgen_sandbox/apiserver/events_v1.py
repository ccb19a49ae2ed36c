"""events.k8s.io/v1 Events as a view of core/v1 Events (the API server stores one kind)."""

from __future__ import annotations


def _micro(ts: str | None) -> str | None:
    if not ts:
        return None
    return ts[:-1] + ".000000Z" if ts.endswith("Z") and "." not in ts else ts


def to_v1(e: dict) -> dict:
    io = e.get("involvedObject", {})
    return {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": e["metadata"],
        # required in events.k8s.io/v1 (clients reject null): fall back like the conversion does
        "eventTime": e.get("eventTime") or _micro(e.get("firstTimestamp") or e.get("lastTimestamp") or e["metadata"].get("creationTimestamp")),
        "reportingController": e.get("reportingComponent") or e.get("source", {}).get("component", ""),
        "reportingInstance": e.get("reportingInstance") or e.get("source", {}).get("host", ""),
        "action": e.get("action") or e.get("reason", ""),
        "reason": e.get("reason", ""),
        "regarding": io,
        "note": e.get("message", ""),
        "type": e.get("type", "Normal"),
        "deprecatedSource": e.get("source", {}),
        "deprecatedFirstTimestamp": e.get("firstTimestamp"),
        "deprecatedLastTimestamp": e.get("lastTimestamp"),
        "deprecatedCount": e.get("count", 1),
    }
