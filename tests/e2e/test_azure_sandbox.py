"""Azure commands that meet the sandbox: `bus check` reads the servicebus-connection Secret
through the Kubernetes door; `cluster start` merges the kubeconfig Azure returns and waits for
that API server; the fake ARM's stop/start hooks really stop and start a sandbox."""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e.test_azure import AZURE_VARS
from tripgen_sandbox.azurefakes import FakeAzure, FakeAzureConfig
from tests.helpers import invoke, run_tool


def run(*args: str):
    return invoke(*args)


@pytest.fixture
def fake_for(tmp_path, monkeypatch):
    started = []

    def make(**kwargs) -> FakeAzure:
        fa = FakeAzure(FakeAzureConfig(tmp_path / "az", duration=0.3, retry_after=0.2, **kwargs)).start()
        started.append(fa)
        for var in AZURE_VARS:
            monkeypatch.delenv(var, raising=False)
        for k, v in fa.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("TRIPGENCTL_AZURE_POLL_INTERVAL", "0.2")
        return fa

    yield make
    for fa in started:
        fa.stop()


def _secret(sandbox, namespace: str, value: str) -> None:
    core = sandbox.kube(namespace).core
    body = {"metadata": {"name": "servicebus-connection"}, "data": {"connection-string": base64.b64encode(value.encode()).decode()}}
    try:
        core.delete_namespaced_secret("servicebus-connection", namespace)
    except Exception:  # noqa: BLE001 - not there yet
        pass
    core.create_namespaced_secret(namespace, body)


def test_bus_check_reads_the_secret(sandbox, namespace, fake_for, monkeypatch):
    fa = fake_for()
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig))
    missing = run("bus", "check", "-n", namespace)
    assert missing.exit_code == 1 and "servicebus-connection" in missing.stdout and "not found" in missing.stdout

    _secret(sandbox, namespace, fa.connection_string())
    ok = run("bus", "check", "-n", namespace, "-o", "json")
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["ok"] and [q["state"] for q in data["queues"]] == ["ok", "ok", "ok"]
    assert data["source"] == f"secret/servicebus-connection in {namespace}"

    wrong = "V3JvbmdLZXlWYWx1ZTAxMjM0NTY3ODlBQkNERUY="
    _secret(sandbox, namespace, fa.connection_string(key=wrong))
    bad = run("bus", "check", "-n", namespace)
    assert bad.exit_code == 1
    assert "key in the Secret is rejected" in bad.stdout
    for secret in (wrong, fa.config.key):
        assert secret not in bad.stdout + bad.stderr + ok.stdout + ok.stderr


def test_start_merges_credentials_and_waits_for_the_api_server(sandbox, fake_for, tmp_path):
    fa = fake_for(kubeconfig=lambda: sandbox.kubeconfig.read_bytes())
    fa.cluster.power_state = "Stopped"
    kc = tmp_path / "merged"
    r = run("cluster", "start", "--file", str(kc), "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["outcome"] == "started" and data["power_state"] == "Running"
    assert data["api_version"].startswith("v1.29")
    assert data["kubeconfig"] == str(kc)


def test_arm_stop_and_start_really_stop_and_start_a_sandbox(tmp_path, fake_for):
    """The wiring `tripgenctl sandbox` uses: hooks run control.stop / control.start. A second,
    empty sandbox (the session one is shared with other tests)."""
    from tripgen_sandbox import control

    state = tmp_path / "sb"
    st = control.start(state, timeout=90)
    try:
        kubeconfig = st.kubeconfig
        from tripgenctl.kube.client import connect

        core = connect(kubeconfig=kubeconfig, namespace="default").core
        core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}, "data": {"k": "v"}})
        fa = fake_for(kubeconfig=lambda: open(kubeconfig, "rb").read(),
                      on_stop=lambda: control.stop(state), on_start=lambda: control.start(state, timeout=90))
        kc = tmp_path / "merged"
        stopped = run("cluster", "stop", "--yes", "-o", "json")
        assert stopped.exit_code == 0, stopped.output
        assert not control.status(state).running
        assert json.loads(run("cluster", "status", "-o", "json").stdout)["power_state"] == "Stopped"
        started = run("cluster", "start", "--file", str(kc), "-o", "json")
        assert started.exit_code == 0, started.output
        assert control.status(state).running
        core = connect(kubeconfig=str(kc), namespace="default").core
        assert core.read_namespaced_config_map("kept", "default").data == {"k": "v"}
    finally:
        control.stop(state)


# -- `tripgenctl sandbox start` wiring: the fakes as their own process, `up/down --cluster` ----

def _tool(env: dict, *args: str, timeout: float = 120):
    return run_tool(*args, env=env, timeout=timeout)


def _azure_env(state) -> dict[str, str]:
    """What `source <state>/azure.env` exports (the file the user is told to source)."""
    import shlex

    out = {}
    for line in (state / "azure.env").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            out[key] = shlex.split(value)[0]
    return out


def test_down_cluster_stops_the_sandbox_and_up_cluster_brings_it_back_with_data(tmp_path):
    """The acceptance path on a sandbox of its own (it is stopped): `sandbox start` runs the
    fakes beside the daemon, `down --cluster` scales down then stops the daemon through ARM,
    `up --cluster` starts it through ARM, merges fresh credentials, scales up, and the row
    written to PostgreSQL before the stop is still there. `sandbox stop` ends both processes."""
    import os
    import shutil
    import subprocess

    import yaml

    from tests.e2e.test_updown import DATA, app_yaml
    from tripgenctl.kube.client import connect
    from tripgenctl.ops import postgres
    from tripgen_sandbox import control

    state = tmp_path / "sb"
    base = {k: v for k, v in os.environ.items() if k not in AZURE_VARS and k != "KUBECONFIG"}
    r = _tool(base, "sandbox", "start", "--state-dir", str(state))
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"source {state / 'azure.env'}" in r.stdout
        assert (state / "azure.env").stat().st_mode & 0o077 == 0
        az = _azure_env(state)
        assert set(az) >= {"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "REQUESTS_CA_BUNDLE", "TRIPGENCTL_ARM_ENDPOINT", "AZURE_SUBSCRIPTION_ID"}
        assert az["IDENTITY_HEADER"] not in r.stdout + r.stderr
        st = json.loads(_tool(base, "sandbox", "status", "--state-dir", str(state), "-o", "json").stdout)
        assert st["running"] and st["azure"].startswith("running") and st["azure_env"] == str(state / "azure.env")

        # a kubeconfig with another context: the merge after the start must keep it
        kc = tmp_path / "kubeconfig"
        doc = yaml.safe_load((state / "kubeconfig").read_text())
        other = {"name": "other", "context": {"cluster": doc["contexts"][0]["context"]["cluster"], "user": doc["contexts"][0]["context"]["user"]}}
        doc["contexts"].append(other)
        kc.write_text(yaml.safe_dump(doc))
        env = dict(base, KUBECONFIG=str(kc), TRIPGENCTL_AZURE_POLL_INTERVAL="0.5", **az)

        ns = "azure-updown"
        kube = connect(kubeconfig=str(kc), namespace=ns)
        kube.core.create_namespace({"metadata": {"name": ns}})
        subprocess.run([shutil.which("kubectl"), "--kubeconfig", str(kc), "apply", "-n", ns, "-f", "-"],
                       input=DATA + "---" + app_yaml("web"), text=True, check=True, capture_output=True)
        up = _tool(env, "up", "--yes", "-n", ns, "--timeout", "90")
        assert up.returncode == 0, up.stdout + up.stderr
        postgres.psql(kube, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('written before the stop')", "tripgen")

        down = _tool(env, "down", "--cluster", "--yes", "-n", ns, "-o", "json")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "not recorded" not in down.stderr, down.stderr  # the trail went in before the cluster stopped
        assert not control.status(state).api_ready and control.status(state).processes == 0
        status = _tool(env, "cluster", "status", "-o", "json")
        assert status.returncode == 0 and json.loads(status.stdout)["power_state"] == "Stopped", status.stdout + status.stderr
        refused = _tool(env, "status", "-n", ns)
        assert refused.returncode == 2, refused.stdout + refused.stderr  # the API no longer answers
        again = _tool(env, "down", "--cluster", "--yes", "-n", ns)
        assert again.returncode == 0 and "already stopped" in again.stdout + again.stderr

        up = _tool(env, "up", "--cluster", "--yes", "-n", ns, "-o", "json", "--timeout", "90")
        # everything comes up, then doctor's checks run on the namespace: it holds only `web` and
        # the data services (no app Secrets...), so they find criticals and `up --cluster` exits 1
        # with their summary in the result (issue 20: "exiting 1 on a critical finding")
        assert up.returncode == 1, up.stdout + up.stderr
        summary = json.loads(up.stdout)
        assert f"doctor in tripgen-sandbox/{ns}: " in summary["message"] and " critical" in summary["message"], summary["message"]
        assert not summary["ok"] and all(w["result"] != "failed" for w in summary["workloads"]), summary
        assert control.status(state).api_ready
        assert json.loads(_tool(env, "cluster", "status", "-o", "json").stdout)["power_state"] == "Running"
        merged = yaml.safe_load(kc.read_text())
        assert {c["name"] for c in merged["contexts"]} == {c["name"] for c in doc["contexts"]}  # "other" kept
        assert merged["current-context"] == "tripgen-sandbox"
        kube = connect(kubeconfig=str(kc), namespace=ns)
        assert postgres.psql(kube, "SELECT v FROM kept", "tripgen") == [["written before the stop"]]
        from tripgenctl.ops import safety

        trail = [e for e in safety.events(kube, ns) if e.get("reason") == "Down"]
        assert len(trail) == 1 and "stopping cluster aks-tripgen-dev" in trail[0]["message"], trail
        web = kube.apps.read_namespaced_deployment("web", ns)
        assert web.spec.replicas == 1 and web.status.ready_replicas == 1
        for secret in (az["IDENTITY_HEADER"], "s3cret-pw-not-shown"):
            assert secret not in down.stdout + down.stderr + up.stdout + up.stderr
    finally:
        stopped = _tool(dict(os.environ), "sandbox", "stop", "--state-dir", str(state))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not control.azure_status(state).running and not control.status(state).running
    assert not (state / "azure.env").exists()


def test_doctor_checks_service_bus_against_azure(sandbox, namespace, fake_for, monkeypatch):
    """doctor's servicebus row authenticates for real: the right key passes, a wrong key is the
    SPEC's "bad connection string" row (critical), a deleted queue is named, and a namespace it
    cannot reach is one warning "Service Bus not checked", never a traceback or a critical."""
    fa = fake_for()
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig))

    def doctor() -> tuple[int, list[dict], str]:
        r = run("doctor", "--only", "servicebus", "-n", namespace, "-o", "json")
        return r.exit_code, [f for f in json.loads(r.stdout)["findings"] if f["severity"] != "ok"], r.stdout + r.stderr

    _secret(sandbox, namespace, fa.connection_string())
    code, findings, out = doctor()
    assert code == 0 and findings == [], out

    wrong = "V3JvbmdLZXlWYWx1ZTAxMjM0NTY3ODlBQkNERUY="
    _secret(sandbox, namespace, fa.connection_string(key=wrong))
    code, findings, out2 = doctor()
    assert code == 1, out2
    [f] = findings
    assert f["severity"] == "critical" and f["object"] == "secret/servicebus-connection"
    assert "key in the Secret is rejected" in f["title"] and f["fix"] == "Check and update the Secret's value."

    _secret(sandbox, namespace, fa.connection_string())
    fa.call(lambda: fa.servicebus.queues.pop("notification"))
    code, findings, out3 = doctor()
    assert code == 1 and [f["object"] for f in findings] == ["queue/notification"], out3
    assert "does not exist" in findings[0]["title"]

    _secret(sandbox, namespace, "Endpoint=sb://127.0.0.1:9/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + wrong)
    code, findings, out4 = doctor()
    assert code == 0, out4
    [f] = findings
    assert f["severity"] == "warning" and f["title"].startswith("Service Bus not checked: ")
    for secret in (wrong, fa.config.key):
        assert secret not in out + out2 + out3 + out4
