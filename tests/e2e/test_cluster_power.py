"""AKS power with its checks, against the ARM fake and a sandbox of its own (stopped and started
through ARM's hooks, so the session sandbox is left alone):

- a start that moves the API server (the fake: a new port, the old one stops answering) leaves
  a working kubeconfig context: `tripgenctl status` and a stock kubectl work with the refreshed
  file, and fail with a copy taken before; a renamed context that pointed at the old address is
  refreshed too, other contexts are kept;
- the start waits for Ready nodes (its deadline names the node it waited for), runs doctor's
  checks in the namespace and exits 1 on a critical finding;
- `cluster stop` is refused while a start is in progress and on node auto-provisioning, saying
  when it will be allowed, the fake answering as ARM does; its plan prices the stop."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from tests.e2e.test_azure_sandbox import fake_for, run  # noqa: F401 - fake_for is a fixture
from tests.helpers import run_tool, wait_node_ready


def _tool(kubeconfig, *args: str):
    import os

    return run_tool(*args, env=dict(os.environ, KUBECONFIG=str(kubeconfig)), timeout=120)


def _server(doc: dict, cluster: str) -> str:
    return next(c["cluster"]["server"] for c in doc["clusters"] if c["name"] == cluster)


@pytest.fixture
def own_sandbox(tmp_path):
    from tripgen_sandbox import control

    state = tmp_path / "sb"
    st = control.start(state, timeout=90)
    yield state, st
    control.stop(state)


def test_start_after_the_api_server_moved_leaves_a_working_context(own_sandbox, fake_for, tmp_path, monkeypatch):
    from tripgen_sandbox import control

    state, st = own_sandbox
    # the user's kubeconfig: the sandbox's contexts, the same cluster under a renamed context and
    # entry ("mine" -> "my-alias", as after `kubectl config rename-context`), and another cluster
    doc = yaml.safe_load(open(st.kubeconfig).read())
    old_server = _server(doc, "tripgen-sandbox")
    alias = dict(doc["clusters"][0], name="my-alias")
    doc["clusters"] += [alias, {"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}]
    doc["contexts"] += [{"name": "mine", "context": {"cluster": "my-alias", "user": "tripgen-sandbox-admin", "namespace": "power"}},
                        {"name": "other", "context": {"cluster": "elsewhere", "user": "tripgen-sandbox-admin"}}]
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump(doc))
    old_copy = tmp_path / "kubeconfig.before"
    shutil.copy(kc, old_copy)
    monkeypatch.setenv("KUBECONFIG", str(kc))

    from tripgenctl.kube.client import connect

    connect(kubeconfig=str(kc), namespace="power").core.create_namespace({"metadata": {"name": "power"}})
    before = _tool(kc, "status", "-n", "power")

    fa = fake_for(kubeconfig=lambda: (state / "kubeconfig").read_bytes(), on_stop=lambda: control.stop(state),
                  on_start=lambda: control.start(state, timeout=90), on_move=lambda: control.move_address(state))
    fa.cluster.move_address_on_start = True
    fqdn_before = json.loads(run("cluster", "status", "-o", "json").stdout)["api_server"]
    stopped = run("cluster", "stop", "--yes", "-o", "json")
    assert stopped.exit_code == 0, stopped.output
    assert not control.status(state).running

    config = tmp_path / "c.toml"
    config.write_text("[azure]\npower_cooldown_minutes = 0\n")
    started = run("--config", str(config), "--context", "mine", "-n", "power", "cluster", "start", "-o", "json")
    # the empty namespace has no PostgreSQL, no Secrets: doctor's criticals make it exit 1
    assert started.exit_code == 1, started.output
    data = json.loads(started.stdout)
    assert data["outcome"] == "started" and data["power_state"] == "Running"
    assert data["api_server"] != old_server and data["api_server"] == control.status(state).server
    assert data["context"] == "mine" and data["refreshed"] == ["cluster/my-alias"]
    assert data["nodes_ready"] == "2/2"
    assert data["critical"] >= 1 and data["checks"].startswith("doctor in mine/power: ")
    assert any(f["check"] == "database" and f["severity"] == "critical" for f in data["findings"]), data["findings"]
    assert json.loads(run("cluster", "status", "-o", "json").stdout)["api_server"] != fqdn_before

    new_port = int(data["api_server"].rsplit(":", 1)[1])
    kubernetes = connect(kubeconfig=str(kc), namespace="default").core.read_namespaced_service("kubernetes", "default")
    assert kubernetes.spec.ports[0].target_port == new_port  # in-cluster clients follow the move too

    merged = yaml.safe_load(kc.read_text())
    assert {c["name"] for c in merged["contexts"]} == {c["name"] for c in doc["contexts"]}  # every context kept
    assert _server(merged, "tripgen-sandbox") == _server(merged, "my-alias") == data["api_server"]
    assert _server(merged, "elsewhere") == "https://127.0.0.1:9"  # another cluster: untouched

    # the refreshed file works for tripgenctl and a stock kubectl, through either context
    after = _tool(kc, "status", "-n", "power")
    assert after.returncode == before.returncode, after.stdout + after.stderr
    for context in ("tripgen-sandbox", "mine"):
        nodes = _tool(kc, "--context", context, "status", "-n", "power")
        assert nodes.returncode == before.returncode, nodes.stdout + nodes.stderr
    import subprocess

    from conftest import kubectl_binary

    kubectl = kubectl_binary("1.29")

    ok = subprocess.run([kubectl, "--kubeconfig", str(kc), "--context", "mine", "get", "nodes", "--request-timeout", "10s"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.count(" Ready ") == 2, ok.stdout + ok.stderr
    # the copy taken before the start still has the old address: nothing answers there now
    stale = _tool(old_copy, "status", "-n", "power")
    assert stale.returncode == 2 and stale.stderr.startswith("error:"), stale.stdout + stale.stderr
    failed = subprocess.run([kubectl, "--kubeconfig", str(old_copy), "get", "nodes", "--request-timeout", "5s"],
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "refused" in failed.stderr, failed.stdout + failed.stderr

    # a namespace that does not exist: nothing to check, said so, exit 0
    again = run("--config", str(config), "-n", "no-such-namespace", "cluster", "start", "-o", "json")
    assert again.exit_code == 0, again.output
    quiet = json.loads(again.stdout)
    assert quiet["outcome"] == "already started" and quiet["critical"] is None
    assert quiet["checks"].startswith("not run: namespace no-such-namespace does not exist")

    # a node that stays NotReady: the start's deadline names it, exit 1 (one error line)
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    control.set_fault(state, "node-notready", {"sandbox-node-2": since})
    try:
        wait_node_ready(connect(kubeconfig=str(kc), namespace="power"), "sandbox-node-2", since)
        late = run("--config", str(config), "cluster", "start", "--nodes-timeout", "3", "--no-checks")
    finally:
        control.set_fault(state, "node-notready", None)
    errors = [line for line in late.stderr.splitlines() if line.startswith("error:")]
    assert late.exit_code == 1 and len(errors) == 1, late.output
    assert "within 3 s" in errors[0] and "sandbox-node-2" in errors[0] and "1 of 2 nodes Ready" in errors[0], errors


def test_stop_refused_while_a_start_is_in_progress_says_when(fake_for, tmp_path):
    fa = fake_for()
    fa.cluster.power_state = "Stopped"
    fa.cluster.duration = 60.0  # the start stays in progress for the test's length
    accepted = run("cluster", "start", "--no-wait", "-o", "json")
    assert accepted.exit_code == 0 and json.loads(accepted.stdout)["outcome"] == "accepted", accepted.output
    status = json.loads(run("cluster", "status", "-o", "json").stdout)
    assert status["provisioning_state"] == "Starting"
    since = datetime.strptime(status["last_power_change"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    allowed = (since + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")

    refused = run("cluster", "stop", "--yes")
    lines = [l for l in refused.stderr.splitlines() if l.strip()]
    assert refused.exit_code == 1 and len(lines) == 1, refused.output
    assert "a start: provisioning state Starting" in lines[0] and f"not before {allowed}" in lines[0], lines
    assert not [p for m, p in fa.arm.requests if m == "POST" and p.endswith("/stop")]  # nothing was sent to ARM

    plan = run("cluster", "stop", "--dry-run", "-o", "json")
    assert plan.exit_code == 0, plan.output
    assert f"not before {allowed}" in json.loads(plan.stdout)["refused"]


def test_stop_refused_on_node_auto_provisioning_as_arm_does(fake_for):
    from tripgenctl.azure.aks import Aks, AksTarget
    from tripgenctl.errors import ToolError

    fa = fake_for()
    fa.cluster.node_provisioning_mode = "Auto"
    status = json.loads(run("cluster", "status", "-o", "json").stdout)
    assert status["node_provisioning_mode"] == "Auto"
    refused = run("cluster", "stop", "--yes")
    lines = [l for l in refused.stderr.splitlines() if l.strip()]
    assert refused.exit_code == 1 and len(lines) == 1, refused.output
    assert "node auto-provisioning" in lines[0] and "allowed once node auto-provisioning is off" in lines[0], lines
    assert not [p for m, p in fa.arm.requests if m == "POST" and p.endswith("/stop")]
    # the fake itself refuses such a stop the way ARM does (a client without the pre-check)
    aks = Aks(AksTarget(fa.config.subscription, "rg-tripgen-dev", "aks-tripgen-dev"), poll_interval=0.2)
    try:
        with pytest.raises(ToolError) as err:
            aks.begin("stop")
    finally:
        aks.close()
    assert "nodeProvisioningProfile.mode 'Auto'" in err.value.message
    assert fa.cluster.power_state == "Running"
    fa.cluster.node_provisioning_mode = "Manual"  # turned off: nothing stands in the way
    assert json.loads(run("cluster", "stop", "--dry-run", "-o", "json").stdout)["refused"] is None


def test_stop_plan_prices_the_stop_from_the_cost_model(fake_for, tmp_path):
    fa = fake_for()
    config = tmp_path / "c.toml"
    config.write_text("[cost]\nnodes = 146.0\n")  # 146 / 730 h = 0.20 per hour
    plan = run("--config", str(config), "cluster", "stop", "--dry-run", "-o", "json")
    assert plan.exit_code == 0, plan.output
    data = json.loads(plan.stdout)
    assert data["saves_per_hour"] == 0.2 and data["currency"] == "USD" and data["refused"] is None
    assert data["still_billed_per_hour"] == round(50 / 730, 4)  # disk, load balancer, Service Bus, monitoring
    assert data["savings"][0] == {"item": "node pool nodepool1", "per_hour": 0.2, "basis": "2 of 2 node(s) of the cost model's nodes 146 USD/month / 730 h"}
    table = run("--config", str(config), "cluster", "stop", "--dry-run")
    assert "Saves per hour: 0.20" in table.stdout and "still billed" in table.stdout, table.stdout
    assert "the cost model's nodes 146 USD/month" in table.stdout, table.stdout
    assert fa.cluster.power_state == "Running"

    stopped = run("--config", str(config), "cluster", "stop", "--yes", "-o", "json")
    assert stopped.exit_code == 0, stopped.output
    result = json.loads(stopped.stdout)
    assert result["saves_per_hour"] == 0.2 and "saves 0.20 USD/hour" in result["message"]
    # already stopped: the plan says nothing goes down and nothing is saved
    idle = json.loads(run("cluster", "stop", "--dry-run", "-o", "json").stdout)
    assert idle["saves_per_hour"] == 0 and not idle["destructive"]


def test_fakes_process_moves_the_address_and_reports_node_auto_provisioning(tmp_path, monkeypatch):
    """The fakes as `tripgenctl sandbox start` runs them (their own process, shell-command hooks):
    --move-address-on-start runs --on-move before --on-start on every start and changes the
    fqdn; --node-provisioning-mode Auto is reported and refuses the stop."""
    import subprocess
    import sys
    import time

    from tests.e2e.test_azure import AZURE_VARS

    state, log = tmp_path / "az", tmp_path / "hooks.log"
    proc = subprocess.Popen([sys.executable, "-m", "tripgen_sandbox.azurefakes", "--state-dir", str(state), "--power-state", "Stopped",
                             "--duration", "0.3", "--retry-after", "0.2", "--move-address-on-start", "--node-provisioning-mode", "Auto",
                             "--on-move", f"echo move >> {log}", "--on-start", f"echo start >> {log}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (state / "azurefakes.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the fakes did not start"
            time.sleep(0.1)
        info = json.loads((state / "azurefakes.json").read_text())
        for var in AZURE_VARS:
            monkeypatch.delenv(var, raising=False)
        for k, v in info["env"].items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("TRIPGENCTL_AZURE_POLL_INTERVAL", "0.2")
        before = json.loads(run("cluster", "status", "-o", "json").stdout)
        assert before["node_provisioning_mode"] == "Auto" and before["power_state"] == "Stopped"
        assert run("cluster", "start", "--no-wait").exit_code == 0
        while True:
            now = json.loads(run("cluster", "status", "-o", "json").stdout)
            if now["power_state"] == "Running" and now["provisioning_state"] == "Succeeded":
                break
            assert time.monotonic() < deadline + 30, now
            time.sleep(0.2)
        assert log.read_text().split() == ["move", "start"]
        assert now["api_server"] != before["api_server"]
        refused = run("cluster", "stop", "--yes")
        assert refused.exit_code == 1 and "node auto-provisioning" in refused.stderr, refused.output
    finally:
        proc.terminate()
        proc.wait(10)
