"""A durable record of what was done to an environment (up, down, wake, cluster start and stop):
who, what, when and the result, kept in the cluster itself (a ConfigMap in the environment's
namespace) so the figures `cost` computes survive laptops and Events' one-hour lifetime.
Bounded: entries older than the configured span are dropped on every write, and so are the
oldest ones when the ConfigMap would outgrow a safe share of the API server's 1 MiB limit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tripgenctl.errors import ProblemFound, ToolError
from tripgenctl.kube import resources
from tripgenctl.kube.errors import Conflict
from tripgenctl.timestamps import parse_time

CONFIGMAP = "tripgenctl-history"
KEY = "history.jsonl"
MAX_BYTES = 512 * 1024
ACTIONS = ("up", "down", "wake", "cluster-start", "cluster-stop")
WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class Entry:
    at: datetime
    action: str
    who: str
    result: str  # ok | failed | skipped
    detail: str = ""

    def line(self) -> str:
        return json.dumps({"at": self.at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "action": self.action,
                           "who": self.who, "result": self.result, "detail": self.detail}, separators=(",", ":"))


def parse(text: str) -> list[Entry]:
    """Entries of the ConfigMap's text, oldest first; a line that does not parse is skipped
    (a hand edit must not make the whole history unreadable)."""
    out: list[Entry] = []
    for raw in (text or "").splitlines():
        try:
            d = json.loads(raw)
            at = parse_time(d["at"])
        except (ValueError, KeyError, TypeError):
            continue
        if at is None or d.get("action") not in ACTIONS:
            continue
        out.append(Entry(at, d["action"], str(d.get("who") or "unknown"), str(d.get("result") or "ok"), str(d.get("detail") or "")))
    return sorted(out, key=lambda e: e.at)


def trimmed(entries: list[Entry], now: datetime, keep_months: int) -> list[Entry]:
    cutoff = now - timedelta(days=31 * keep_months)
    kept = [e for e in entries if e.at >= cutoff]
    while kept and sum(len(e.line()) + 1 for e in kept) > MAX_BYTES:
        kept.pop(0)
    return kept


def read(kube, namespace: str) -> list[Entry]:
    data = resources.config_map_data(kube, CONFIGMAP, namespace)
    return parse((data or {}).get(KEY, ""))


def append(kube, namespace: str, entry: Entry, keep_months: int = 13, now: datetime | None = None) -> None:
    """Add one entry (read-modify-write with the object's resourceVersion, retried on a
    concurrent writer's 409)."""
    now = now or datetime.now(timezone.utc)
    for _ in range(WRITE_ATTEMPTS):
        cm = resources.get(kube, "v1", "ConfigMap", CONFIGMAP, namespace)
        entries = trimmed(parse(((cm or {}).get("data") or {}).get(KEY, "")) + [entry], now, keep_months)
        text = "".join(e.line() + "\n" for e in sorted(entries, key=lambda e: e.at))
        if cm is None:
            try:
                resources.create(kube, {"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": CONFIGMAP, "namespace": namespace,
                                                     "labels": {"app.kubernetes.io/managed-by": "tripgenctl"}},
                                        "data": {KEY: text}})
                return
            except resources.AlreadyExists:
                continue  # a concurrent writer created it: read again
            except ToolError as exc:
                code = resources.http_status(exc)
                if code is None:
                    raise
                raise ProblemFound(f"could not create configmap/{CONFIGMAP} for the history ({code})") from None
        cm.setdefault("data", {})[KEY] = text
        try:
            resources.replace(kube, cm)
            return
        except Conflict:
            continue  # a concurrent writer: read again
    raise ProblemFound(f"configmap/{CONFIGMAP}: gave up after {WRITE_ATTEMPTS} concurrent updates")


def record(kube, namespace: str, action: str, result: str, who: str, detail: str = "", keep_months: int = 13) -> str | None:
    """append() for the commands that act: the history is a record, not the action, so a
    failure to write it is returned as a warning for the result, never raised."""
    try:
        append(kube, namespace, Entry(datetime.now(timezone.utc), action, who, result, detail), keep_months)
        return None
    except ToolError as exc:
        return f"history not recorded: {exc.message}"
