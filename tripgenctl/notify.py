"""Tell someone when an unattended run fails or skips: a JSON summary POSTed to a webhook
(Slack and Teams incoming webhooks read the `text` field). A short timeout, and never an
exception: a notification problem must not change what the run did or its exit code. The URL
itself is a secret (it carries the webhook's key), so it never appears in a message."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

ENV = "TRIPGENCTL_NOTIFY_URL"
TIMEOUT = 3.0


@dataclass
class NotifyResult:
    sent: bool
    detail: str  # "HTTP 200", "no webhook configured", "timed out", ... (never the URL)

    def __bool__(self) -> bool:
        return self.sent


def resolve_url(explicit: str | None, configured: str | None) -> str | None:
    """--notify, else $TRIPGENCTL_NOTIFY_URL, else the config's schedule.notify_url."""
    for value in (explicit, os.environ.get(ENV), configured):
        if value and value.strip():
            return value.strip()
    return None


def post(url: str | None, summary: dict[str, Any], timeout: float = TIMEOUT) -> NotifyResult:
    if not url:
        return NotifyResult(False, "no webhook configured")
    if not url.startswith(("http://", "https://")):
        return NotifyResult(False, "the webhook URL must start with http:// or https://")
    text = summary.get("text") or f"tripgenctl {summary.get('action', '')}: {summary.get('result', '')} {summary.get('reason', '')}".strip()
    body = json.dumps({**summary, "text": text}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "tripgenctl"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return NotifyResult(200 <= resp.status < 300, f"HTTP {resp.status}")
    except urllib.error.HTTPError as exc:
        return NotifyResult(False, f"HTTP {exc.code}")
    except (socket.timeout, TimeoutError):
        return NotifyResult(False, f"timed out after {timeout:g}s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        return NotifyResult(False, "timed out" if isinstance(reason, (socket.timeout, TimeoutError)) else f"unreachable ({type(reason).__name__ if not isinstance(reason, str) else reason})")
    except (OSError, ValueError) as exc:
        return NotifyResult(False, f"failed ({type(exc).__name__})")


def ready_message(namespace: str, context: str, who: str, seconds: float, not_ready: list[str], until: str | None,
                  until_why: str, workloads: int) -> dict[str, Any]:
    """The one message an ordered `up` sends when it is done: the environment is ready (or what
    is not), who woke it, how long it took and until when it stays up."""
    head = "environment ready" if not not_ready else "environment up, not ready: " + ", ".join(not_ready)
    stays = f"stays up until {until} ({until_why})" if until else "stays up until someone runs down"
    text = f"tripgenctl: {head} in {context}/{namespace}, woken by {who} in {seconds:.0f}s; {stays}"
    return {"text": text, "event": "environment ready", "action": "up", "namespace": namespace, "context": context,
            "result": "ready" if not not_ready else "partly ready", "by": who, "duration": round(seconds, 2),
            "not_ready": not_ready, "until": until, "until_why": until_why, "workloads": workloads}
