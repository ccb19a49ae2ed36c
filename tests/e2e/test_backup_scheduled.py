"""The nightly `down --scheduled` backs up to the team store (Azurite) before it scales: a
verified blob is there and the apps are at 0; with the store unreachable the run fails, nothing
is scaled, and the webhook test server hears about it like any failed run."""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.e2e.test_backup_store import CONN, azurite, container, new_store  # noqa: F401 - azurite is a fixture
from tests.e2e.test_schedule import apps, json_lines, replicas
from tests.helpers import deploy_stateful, psql, run_tool, secrets_init
from tests.unit.test_schedule_logic import Hook

SMALL = "CREATE TABLE trips (id int PRIMARY KEY, name text); INSERT INTO trips SELECT g, 'trip ' || g FROM generate_series(1, 500) g;"


@pytest.fixture
def environment(sandbox, namespace):
    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "postgresql")
    psql(sandbox, namespace, SMALL)
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=apps(("alpha", 2), ("beta", 1)), check=True)
    return namespace


def config(tmp_path, url: str, hook: str) -> str:
    path = tmp_path / "tripgenctl.toml"
    path.write_text(f'[backup]\nstore = "{url}"\n\n[schedule]\nnotify_url = "{hook}"\n')
    return str(path)


def down(sandbox, namespace: str, cfg: str, conn: str):
    return run_tool("down", "--yes", "--scheduled", "--log-format", "json", namespace=namespace,
                    env=sandbox.env(TRIPGENCTL_CONFIG=cfg, **{CONN: conn}), timeout=240)


def test_scheduled_down_leaves_a_verified_backup_in_the_store_before_scaling(sandbox, azurite, environment, tmp_path):
    name, url = new_store()
    hook = Hook()
    try:
        r = down(sandbox, environment, config(tmp_path, url, hook.url), azurite)
    finally:
        hook.close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert {k: v for k, v in replicas(sandbox, environment).items() if k in ("alpha", "beta")} == {"alpha": 0, "beta": 0}
    blobs = {b.name: b for b in container(azurite, name).list_blobs(include=["metadata"])}
    dumps = [n for n in blobs if n.endswith(".dump")]
    assert sorted(blobs) == sorted(dumps[0] + s for s in ("", ".json", ".globals"))
    assert blobs[dumps[0]].metadata["verified"] == "true" and blobs[dumps[0]].metadata["namespace"] == environment
    lines = [json.dumps(x) for x in json_lines(r.stdout + r.stderr)]
    first_backup = next(i for i, l in enumerate(lines) if "verified in azure://" in l)
    first_scale = next(i for i, l in enumerate(lines) if '"alpha' in l or "alpha:" in l or "deployment/alpha" in l)
    assert first_backup < first_scale, lines
    assert not hook.bodies  # a successful run is not announced


def test_scheduled_down_with_the_store_unreachable_fails_and_notifies(sandbox, azurite, environment, tmp_path):
    _, url = new_store()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", azurite)
    hook = Hook()
    try:
        r = down(sandbox, environment, config(tmp_path, url, hook.url), dead)
        assert r.returncode == 1, r.stdout + r.stderr
        assert hook.arrived.wait(10)
    finally:
        hook.close()
    assert {k: v for k, v in replicas(sandbox, environment).items() if k in ("alpha", "beta")} == {"alpha": 2, "beta": 1}
    body = hook.bodies[0]
    assert body["result"] == "failed" and body["action"] == "down"
    assert "scheduled backup" in body["text"] and "nothing was scaled" in body["text"] and "cannot reach the backup store" in body["text"]
    assert "AccountKey" not in r.stdout + r.stderr + json.dumps(hook.bodies)


def test_the_nightly_cronjob_in_a_pod_backs_up_to_the_store_then_scales(sandbox, azurite, environment, tmp_path, monkeypatch):
    """`schedule install` with a store ships the store, its connection string as a Secret and
    exec on postgresql-0 only; the Job made from the CronJob backs up, then scales."""
    from tests.e2e.test_schedule_incluster import exit_code, run_job

    name, url = new_store()
    hook = Hook()
    try:
        cfg = config(tmp_path, url, hook.url)
        r = run_tool("schedule", "install", namespace=environment, env=sandbox.env(TRIPGENCTL_CONFIG=cfg, **{CONN: azurite}))
        assert r.returncode == 0, r.stdout + r.stderr
        assert azurite not in r.stdout + r.stderr
        kube = sandbox.kube(environment)
        role = kube.get_object("rbac.authorization.k8s.io/v1", "Role", "tripgenctl-schedule")
        assert {"apiGroups": [""], "resources": ["pods/exec"], "resourceNames": ["postgresql-0"], "verbs": ["create", "get"]} in role["rules"]
        condition, log, pod = run_job(sandbox, environment, "nightly-backup", timeout=240)
        assert condition == "Complete", log
        assert exit_code(pod) == 0
    finally:
        hook.close()
    blobs = {b.name: b for b in container(azurite, name).list_blobs(include=["metadata"])}
    dumps = [n for n in blobs if n.endswith(".dump")]
    assert len(dumps) == 1 and blobs[dumps[0]].metadata["verified"] == "true", blobs
    assert {k: v for k, v in replicas(sandbox, environment).items() if k in ("alpha", "beta")} == {"alpha": 0, "beta": 0}
    assert "AccountKey" not in log and not hook.bodies
