"""Told when ready: after an ordered `up` (or `wake`) the webhook receives exactly one message
"environment ready" -- who woke it, how long it took, what is not ready, until when it stays up
-- and `wake --extend` keeps it up longer."""

from __future__ import annotations

import json

from test_updown import app_yaml, apply, tool

from tests.unit.test_schedule_logic import Hook
from tripgenctl.ops import lock, schedule


def awake(sandbox, namespace: str) -> str | None:
    return schedule.awake_until(sandbox.kube(namespace))


def test_up_and_wake_send_one_ready_message_each_and_extend(sandbox, namespace):
    apply(sandbox, namespace, app_yaml("alpha"))
    hook = Hook()
    try:
        r = tool(sandbox, namespace, "down", "--yes", "--notify", hook.url)
        assert r.returncode == 0, r.stdout + r.stderr
        assert hook.bodies == []  # a successful down tells nobody

        r = tool(sandbox, namespace, "wake", "--for", "2h", "--notify", hook.url)
        assert r.returncode == 0, r.stdout + r.stderr
        assert hook.url not in r.stdout + r.stderr
        assert len(hook.bodies) == 1
        body = hook.bodies[0]
        assert body["event"] == "environment ready" and body["result"] == "ready" and body["not_ready"] == []
        assert body["by"] == lock.user_host() and body["namespace"] == namespace and body["duration"] > 0
        assert body["until"] == awake(sandbox, namespace) and body["until_why"] == "wake"
        assert body["text"].startswith(f"tripgenctl: environment ready in tripgen-sandbox/{namespace}, woken by {lock.user_host()}")

        before = schedule.parse_awake(awake(sandbox, namespace))
        r = tool(sandbox, namespace, "wake", "--extend", "1h")
        assert r.returncode == 0, r.stdout + r.stderr
        assert (schedule.parse_awake(awake(sandbox, namespace)) - before).total_seconds() == 3600
        assert len(hook.bodies) == 1  # extending scales nothing and tells nobody

        # an up where something does not come up: still one message, saying what is not ready
        apply(sandbox, namespace, app_yaml("broken", image="tripgendev.azurecr.io/user-service:no-such-tag"))
        r = tool(sandbox, namespace, "down", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        r = tool(sandbox, namespace, "up", "--yes", "--timeout", "20", "--notify", hook.url)
        assert r.returncode == 1, r.stdout + r.stderr
        assert len(hook.bodies) == 2, hook.bodies
        body = hook.bodies[1]
        assert body["event"] == "environment ready" and body["result"] == "partly ready"
        assert [n.split(" ")[0] for n in body["not_ready"]] == ["Deployment/broken"]
        assert "not ready: Deployment/broken" in body["text"]
    finally:
        hook.close()


def test_bad_extend_is_one_error_line(sandbox, namespace):
    r = tool(sandbox, namespace, "wake", "--extend", "soon")
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and "Traceback" not in r.stderr, r.stderr
    r = tool(sandbox, namespace, "wake", "--extend", "1h", "--for", "2h")
    assert r.returncode == 2 and "--extend takes no" in r.stderr, r.stderr
