"""What an unattended `up` / `down` leaves behind: one JSON object per line for log collectors
and cron mail (action, workload, from, to, result, duration), and the summary a webhook gets
when a scheduled run fails or skips. Kept apart from the progress reporter so the records have
a fixed shape whatever the terminal does."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from tripgenctl.reporting import json_line


@dataclass
class RunSummary:
    action: str  # up | down
    namespace: str
    context: str
    result: str  # ok | failed | skipped
    reason: str | None
    duration: float
    scheduled: bool
    host: str = field(default_factory=socket.gethostname)
    workloads: list[dict] = field(default_factory=list)

    def text(self) -> str:
        """The one line a person reads in Slack / Teams."""
        where = f"{self.context}/{self.namespace}" if self.context else self.namespace
        what = "scheduled " if self.scheduled else ""
        verdict = {"failed": "FAILED", "skipped": "skipped", "ok": "ok"}.get(self.result, self.result)
        return f"tripgenctl {what}{self.action} in {where} {verdict}" + (f": {self.reason}" if self.reason else "") + f" (host {self.host})"

    def payload(self) -> dict[str, Any]:
        """Webhook body: Slack and Teams incoming webhooks show `text`; the rest is for bots."""
        return {"text": self.text(), "action": self.action, "namespace": self.namespace, "context": self.context,
                "result": self.result, "reason": self.reason, "duration": self.duration, "scheduled": self.scheduled,
                "host": self.host, "workloads": self.workloads}


def workload_records(action: str, result) -> list[dict]:
    """One record per workload of a scaling.RunResult (changed and left alone)."""
    out = []
    for w in list(result.workloads) + list(result.skipped):
        out.append({"action": action, "workload": f"{w.kind}/{w.name}", "from": w.from_replicas, "to": w.to_replicas,
                    "result": w.result, "duration": w.seconds, **({"reason": w.reason} if w.reason else {})})
    return out


emit = json_line  # one JSON line in the progress reporter's shape (time, level, command, message, ...)


def cluster_record(action: str, cluster_result) -> dict:
    """The AKS cluster's own line (down/up --cluster) in the same shape as a workload's."""
    before, after = ("Running", "Stopped") if cluster_result.action == "stop" else ("Stopped", "Running")
    return {"action": action, "workload": f"cluster/{cluster_result.cluster}", "from": before, "to": after,
            "result": cluster_result.outcome, "duration": cluster_result.elapsed_seconds}
