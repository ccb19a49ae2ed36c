"""`cluster stop` right after `cluster start` is refused within the cool-down AKS asks for between
power operations, with the time it becomes allowed: the fake ARM reports the last power
operation the way ARM does (systemData.lastModifiedAt on the managed cluster)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tests.e2e.test_azure_sandbox import fake_for, run  # noqa: F401 - fake_for is a fixture


def test_stop_right_after_start_is_refused_with_the_time_it_becomes_allowed(sandbox, fake_for, tmp_path):
    fa = fake_for(kubeconfig=lambda: sandbox.kubeconfig.read_bytes())
    fa.cluster.power_state = "Stopped"
    status = json.loads(run("cluster", "status", "-o", "json").stdout)
    before = datetime.strptime(status["last_power_change"], "%Y-%m-%dT%H:%M:%SZ")
    assert before < datetime.utcnow() - timedelta(days=1)  # created long ago: no cool-down

    r = run("cluster", "start", "--file", str(tmp_path / "kc"), "-o", "json")
    assert r.exit_code == 0, r.output
    last = json.loads(run("cluster", "status", "-o", "json").stdout)["last_power_change"]
    assert last == fa.cluster.last_modified_at[:19] + "Z"
    allowed = (datetime.strptime(last, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")

    refused = run("cluster", "stop", "--yes")
    assert refused.exit_code == 1, refused.output
    lines = [l for l in refused.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "cool-down" in lines[0] and f"allowed from {allowed}" in lines[0], refused.stderr
    assert fa.cluster.power_state == "Running"  # nothing was sent to ARM

    config = tmp_path / "c.toml"
    config.write_text("[azure]\npower_cooldown_minutes = 0\n")
    ok = run("--config", str(config), "cluster", "stop", "--yes", "-o", "json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["outcome"] == "stopped" and fa.cluster.power_state == "Stopped"
