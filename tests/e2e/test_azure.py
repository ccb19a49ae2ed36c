"""Azure commands against the local fakes, through the production path: DefaultAzureCredential
(managed-identity endpoint) -> azure SDK clients -> HTTPS (trusted via REQUESTS_CA_BUNDLE) ->
fake ARM / Service Bus. Nothing in the SDKs is patched."""

from __future__ import annotations

import json
import os
import threading

import pytest
import yaml

from tripgen_sandbox.azurefakes import FakeAzure, FakeAzureConfig
from tripgen_sandbox.azurefakes.servicebus import FakeQueue
from tests.helpers import invoke

AZURE_VARS = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME",
              "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
              "AZURE_SUBSCRIPTION_ID", "TRIPGENCTL_ARM_ENDPOINT", "REQUESTS_CA_BUNDLE")

KUBECONFIG_FROM_AZURE = {
    "apiVersion": "v1", "kind": "Config", "current-context": "aks-tripgen-dev",
    "clusters": [{"name": "aks-tripgen-dev", "cluster": {"server": "https://aks-tripgen-dev-dns.hcp.koreacentral.azmk8s.io:443",
                                                          "certificate-authority-data": "Y2E="}}],
    "users": [{"name": "clusterUser_rg-tripgen-dev_aks-tripgen-dev", "user": {"token": "user-token-s3cr3t-0123456789"}}],
    "contexts": [{"name": "aks-tripgen-dev", "context": {"cluster": "aks-tripgen-dev", "user": "clusterUser_rg-tripgen-dev_aks-tripgen-dev"}}],
}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    hooks: list[str] = []
    gate = threading.Event()
    gate.set()

    def on_stop():
        hooks.append("stop")
        gate.wait(30)

    fa = FakeAzure(FakeAzureConfig(tmp_path / "az", duration=0.6, retry_after=0.2, on_stop=on_stop,
                                   on_start=lambda: hooks.append("start"),
                                   kubeconfig=yaml.safe_dump(KUBECONFIG_FROM_AZURE).encode())).start()
    fa.hooks, fa.gate = hooks, gate
    for var in AZURE_VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in fa.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("TRIPGENCTL_AZURE_POLL_INTERVAL", "0.2")
    monkeypatch.setenv("TRIPGENCTL_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    yield fa
    fa.gate.set()
    fa.stop()


def run(*args: str, input: str | None = None):
    return invoke(*args, input=input)


def secrets_of(fa: FakeAzure) -> list[str]:
    return [fa.config.key, fa.identity_header, "user-token-s3cr3t-0123456789"]


def test_status_shows_power_and_node_pools(fake):
    r = run("cluster", "status", "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["power_state"] == "Running" and data["provisioning_state"] == "Succeeded"
    assert data["kubernetes_version"] == "1.29.9"
    assert data["api_server"].endswith(".azmk8s.io")
    assert data["node_pools"][0] == {"name": "nodepool1", "count": 2, "vm_size": "Standard_B2s", "spot": True, "mode": "System", "power_state": "Running"}
    table = run("cluster", "status")
    assert "Standard_B2s" in table.stdout and "Running" in table.stdout


def test_stop_then_status_stopped_and_again_is_a_no_op(fake):
    r = run("cluster", "stop", "--yes", "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["outcome"] == "stopped" and data["power_state"] == "Stopped"
    assert fake.hooks == ["stop"]
    # ARM-style polling happened: the async-operation URL was polled until it succeeded
    assert any("/operations/" in path for _, path in fake.arm.requests)
    status = json.loads(run("cluster", "status", "-o", "json").stdout)
    assert status["power_state"] == "Stopped" and status["node_pools"][0]["power_state"] == "Stopped"
    again = run("cluster", "stop", "--yes")
    assert again.exit_code == 0 and "already stopped" in again.stdout
    assert fake.hooks == ["stop"]


def test_stop_without_terminal_or_yes_is_refused_before_any_change(fake):
    r = run("cluster", "stop")
    assert r.exit_code == 2
    assert "--yes" in r.stderr
    assert fake.cluster.power_state == "Running" and not fake.hooks


def test_stop_dry_run_shows_the_plan_and_changes_nothing(fake):
    r = run("cluster", "stop", "--dry-run", "-o", "json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["action"] == "cluster stop" and plan["dry_run"] and plan["destructive"]
    assert plan["changes"][0]["change"].startswith("Running -> Stopped")
    assert {"object": "node pool nodepool1", "change": "2 x Standard_B2s Running -> Stopped"} in plan["changes"]
    assert fake.cluster.power_state == "Running" and not fake.hooks


def test_stop_refused_while_an_operation_is_in_progress(fake):
    fake.gate.clear()  # the stop hook blocks: the operation stays in progress
    accepted = run("cluster", "stop", "--yes", "--no-wait", "-o", "json")
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["outcome"] == "accepted"
    refused = run("cluster", "stop", "--yes")
    assert refused.exit_code == 1
    assert "operation is in progress" in refused.stderr and "Stopping" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    start = run("cluster", "start")
    assert start.exit_code == 1 and "Stopping" in start.stderr


def test_arm_409_when_the_precheck_races(fake):
    """Two clients see Running and both POST stop: the second gets ARM's 409, reported as one line."""
    from tripgenctl.azure.aks import Aks, AksTarget
    from tripgenctl.azure.errors import OperationInProgress

    fake.gate.clear()
    aks = Aks(AksTarget(fake.config.subscription, "rg-tripgen-dev", "aks-tripgen-dev"), poll_interval=0.2)
    aks.begin("stop")
    with pytest.raises(OperationInProgress) as err:
        aks.begin("stop")
    assert "OperationNotAllowed" in err.value.message and "in progress" in err.value.message
    aks.close()


def test_start_waits_for_the_operation_and_refreshes_credentials(fake, tmp_path):
    fake.cluster.power_state = "Stopped"
    kc = tmp_path / "kubeconfig"
    r = run("cluster", "start", "--file", str(kc), "--api-timeout", "1", "-o", "json")
    # the API check fails (the returned server does not exist): exit 2, one line, after the start
    assert fake.hooks == ["start"] and fake.cluster.power_state == "Running"
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.exit_code == 2 and len(errors) == 1 and "did not answer within 1 s" in errors[0]
    assert "start aks-tripgen-dev: Succeeded" in r.stderr  # progress lines (no terminal: plain lines)
    merged = yaml.safe_load(kc.read_text())
    assert merged["current-context"] == "aks-tripgen-dev"
    assert oct(kc.stat().st_mode & 0o777) == "0o600"


def test_missing_credential_is_one_line_naming_az_login(fake, monkeypatch):
    monkeypatch.delenv("IDENTITY_ENDPOINT")
    monkeypatch.delenv("IDENTITY_HEADER")
    for cmd in (["cluster", "status"], ["cluster", "stop", "--yes"], ["cluster", "credentials", "--file", "/tmp/azt/x"]):
        r = run(*cmd)
        assert r.exit_code == 2, (cmd, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "az login" in lines[0], lines
        assert "Traceback" not in r.output
    assert fake.cluster.power_state == "Running"


def test_expired_credential_is_one_line_naming_az_login(fake):
    fake.issuer.expire_all = True
    r = run("cluster", "status")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "expired" in lines[0] and "az login" in lines[0]


def test_token_endpoint_refusal_is_a_login_error(fake):
    fake.arm.token_error = "AADSTS700082: The refresh token has expired due to inactivity."
    r = run("cluster", "status")
    assert r.exit_code == 2 and "az login" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_missing_subscription_and_unknown_cluster(fake, monkeypatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    r = run("cluster", "status")
    assert r.exit_code == 2 and "--subscription" in r.stderr
    r = run("cluster", "status", "--subscription", fake.config.subscription, "--cluster-name", "aks-other")
    assert r.exit_code == 2 and "cluster aks-other (resource group rg-tripgen-dev) not found" in r.stderr


def test_credentials_merge_keeps_two_other_contexts(fake, tmp_path):
    kc = tmp_path / "config"
    existing = {
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod:443"}}, {"name": "minikube", "cluster": {"server": "https://192.168.49.2:8443"}},
                     {"name": "aks-tripgen-dev", "cluster": {"server": "https://old-address:443"}}],
        "users": [{"name": "prod-user", "user": {"token": "p"}}, {"name": "minikube", "user": {"token": "m"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-user"}},
                     {"name": "minikube", "context": {"cluster": "minikube", "user": "minikube"}}],
    }
    kc.write_text(yaml.safe_dump(existing))
    for _ in range(2):  # running it twice changes nothing more
        r = run("cluster", "credentials", "--file", str(kc), "-o", "json")
        assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert sorted(data["kept_contexts"]) == ["minikube", "prod"]
    merged = yaml.safe_load(kc.read_text())
    assert sorted(c["name"] for c in merged["contexts"]) == ["aks-tripgen-dev", "minikube", "prod"]
    assert sorted(c["name"] for c in merged["clusters"]) == ["aks-tripgen-dev", "minikube", "prod"]
    assert sorted(u["name"] for u in merged["users"]) == ["clusterUser_rg-tripgen-dev_aks-tripgen-dev", "minikube", "prod-user"]
    new_cluster = next(c for c in merged["clusters"] if c["name"] == "aks-tripgen-dev")
    assert new_cluster["cluster"]["server"].endswith("azmk8s.io:443")  # the stale address was replaced
    assert merged["current-context"] == "aks-tripgen-dev"


def test_credentials_default_file_follows_kubeconfig(fake, tmp_path, monkeypatch):
    target = tmp_path / "kube" / "cfg"
    monkeypatch.setenv("KUBECONFIG", f"{target}{os.pathsep}{tmp_path / 'other'}")
    r = run("cluster", "credentials")
    assert r.exit_code == 0, r.output
    assert target.exists() and not (tmp_path / "other").exists()


# -- Service Bus -----------------------------------------------------------------------------

def check(conn: str):
    from tripgenctl.ops.bus import QUEUES, check_connection_string

    return check_connection_string(conn, QUEUES["001"])


def test_bus_check_passes_with_the_right_key(fake):
    fake.servicebus.queues["notification"].active = 3
    fake.servicebus.queues["notification"].dead_letter = 1
    fake.servicebus.queues["ai-schedule-generation"].scheduled = 2
    result = check(fake.connection_string())
    assert result.ok, result.problems
    assert [q.queue for q in result.queues] == ["ai-schedule-generation", "location-search", "notification"]
    n = next(q for q in result.queues if q.queue == "notification")
    assert (n.active, n.dead_letter, n.scheduled, n.max_size_mb, n.ttl, n.duplicate_detection) == (3, 1, 0, 128, "14d", False)
    assert n.max_message_kb == "not reported"  # Basic tier


def test_bus_check_key_rejected(fake):
    result = check(fake.connection_string(key="d3Jvbmcta2V5LXZhbHVlLTAxMjM0NTY3ODk="))
    assert not result.ok
    assert any("key in the Secret is rejected" in f for f in result.problems)
    assert "Secret" in result.fix
    assert fake.servicebus.auth_failures >= 1  # the fake really checked the HMAC


def test_bus_check_names_a_missing_queue_and_wrong_settings(fake):
    del fake.servicebus.queues["location-search"]
    fake.servicebus.queues["notification"].duplicate_detection = True
    fake.servicebus.queues["notification"].max_message_size_kb = 256  # a tier that reports it
    result = check(fake.connection_string())
    assert not result.ok
    assert any("location-search does not exist" in f for f in result.problems)
    note = next(f for f in result.problems if "notification" in f)
    assert "duplicate detection is on" in note and "max message size 256 KB, expected 16 KB" in note


def test_bus_check_with_a_shared_access_signature(fake):
    import base64
    import hashlib
    import hmac
    import time
    from urllib.parse import quote_plus, urlencode

    uri, expiry = f"https://{fake.servicebus_host}", int(time.time()) + 600
    sig = base64.b64encode(hmac.new(fake.config.key.encode(), f"{quote_plus(uri)}\n{expiry}".encode(), hashlib.sha256).digest())
    sas = "SharedAccessSignature " + urlencode({"sr": uri, "sig": sig, "se": str(expiry), "skn": fake.config.key_name})
    conn = f"Endpoint=sb://{fake.servicebus_host}/;SharedAccessSignature={sas}"
    assert check(conn).ok


@pytest.mark.parametrize("conn, missing", [
    ("SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc=", "missing Endpoint"),
    ("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey=abc=", "missing SharedAccessKeyName"),
    ("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=Root", "missing SharedAccessKey"),
    ("", "missing Endpoint, SharedAccessKeyName, SharedAccessKey"),
    ("Endpoint=x.servicebus.windows.net;SharedAccessKeyName=Root;SharedAccessKey=k", "Endpoint is not a URL"),
])
def test_bus_check_names_the_missing_part(conn, missing):
    result = check(conn)
    assert not result.ok
    assert missing in result.problems[0]
    assert "abc=" not in result.problems[0] and "=k" not in result.problems[0]


def test_no_secret_key_or_token_in_any_output(fake, tmp_path):
    issued: list[str] = []
    original = fake.issuer.issue

    def recording(resource):
        token, exp = original(resource)
        issued.append(token)
        return token, exp

    fake.issuer.issue = recording
    outputs = []
    for args in (["cluster", "status"], ["cluster", "status", "-o", "json"], ["cluster", "credentials", "--file", str(tmp_path / "k")],
                 ["cluster", "credentials", "--file", str(tmp_path / "k"), "-o", "json"], ["-v", "cluster", "stop", "--yes"],
                 ["cluster", "start", "--no-wait", "-o", "json"]):
        r = run(*args)
        outputs.append(r.stdout + r.stderr)
    from tripgenctl.presentation.render import to_data

    for conn in (fake.connection_string(), fake.connection_string(key="V3JvbmdLZXlWYWx1ZTAxMjM0NTY3ODlBQkNERUY=")):
        outputs.append(json.dumps(to_data(check(conn))))
    assert issued, "the fake token endpoint was used"
    text = "\n".join(outputs)
    for secret in secrets_of(fake) + issued + ["V3JvbmdLZXlWYWx1ZTAxMjM0NTY3ODlBQkNERUY="]:
        assert secret not in text
    assert "SharedAccessSignature" not in text and "sig=" not in text


def test_failed_start_is_reported_and_can_be_retried(fake, tmp_path):
    attempts = []

    def flaky_start():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("node pool nodepool1 failed to start: VMExtensionProvisioningError")

    fake.cluster.on_start = flaky_start
    fake.cluster.power_state = "Stopped"
    first = run("cluster", "start", "--file", str(tmp_path / "k"), "--api-timeout", "1")
    assert first.exit_code == 1
    error = [line for line in first.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "operation failed in Azure" in error[0] and "VMExtensionProvisioningError" in error[0]
    assert json.loads(run("cluster", "status", "-o", "json").stdout)["provisioning_state"] == "Failed"
    second = run("cluster", "start", "--file", str(tmp_path / "k"), "--api-timeout", "1")
    assert len(attempts) == 2 and fake.cluster.power_state == "Running"
    assert "did not answer" in second.stderr  # it got as far as the API check


# -- kubeconfig written back with its YAML meaning intact; credential failures in one line --------

AZURE_KUBECONFIG_TEXT = """apiVersion: v1
kind: Config
current-context: aks-tripgen-dev
clusters:
- name: aks-tripgen-dev
  cluster:
    server: https://aks-tripgen-dev-dns.hcp.koreacentral.azmk8s.io:443
    certificate-authority-data: Y2E=
users:
- name: "y"
  user:
    token: "0777"
contexts:
- name: aks-tripgen-dev
  context:
    cluster: aks-tripgen-dev
    user: "y"
    namespace: "on"
"""


def test_credentials_keep_strings_that_yaml_would_read_as_booleans_quoted(fake, tmp_path):
    """`user: "y"` written back as `user: y` is a boolean to kubectl (YAML 1.1), which then refuses
    the whole file; the same for strings that look like numbers, in Azure's entries and in the
    entries already in the file."""
    import subprocess

    from conftest import kubectl_binary

    fake.cluster.kubeconfig = AZURE_KUBECONFIG_TEXT.encode()
    kc = tmp_path / "config"
    kc.write_text('apiVersion: v1\nkind: Config\ncurrent-context: old\nclusters:\n- name: "no"\n  cluster: {server: "https://10.0.0.1:443"}\n'
                  'users:\n- name: "n"\n  user: {token: "1e3"}\ncontexts:\n- name: old\n  context: {cluster: "no", user: "n", namespace: "off"}\n')
    r = run("cluster", "credentials", "--file", str(kc), "-o", "json")
    assert r.exit_code == 0, r.output
    text = kc.read_text()
    view = subprocess.run([kubectl_binary("1.29"), "config", "view", "--raw", "-o", "json", "--kubeconfig", str(kc)],
                          capture_output=True, text=True, timeout=60)
    assert view.returncode == 0, (view.stderr, text)  # kubectl reads every value as the string it was
    data = json.loads(view.stdout)
    contexts = {c["name"]: c["context"] for c in data["contexts"]}
    assert contexts["aks-tripgen-dev"] == {"cluster": "aks-tripgen-dev", "user": "y", "namespace": "on"}
    assert contexts["old"] == {"cluster": "no", "user": "n", "namespace": "off"}
    users = {u["name"]: u["user"] for u in data["users"]}
    assert users == {"y": {"token": "0777"}, "n": {"token": "1e3"}}
    assert sorted(c["name"] for c in data["clusters"]) == ["aks-tripgen-dev", "no"]
    for line in ("user: 'y'", "namespace: 'on'", "token: '0777'", "cluster: 'no'", "token: '1e3'"):
        assert line in [x.strip() for x in text.splitlines()], text


def _cli(*args: str, env: dict):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "tripgenctl", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)


def test_cluster_status_without_credentials_prints_at_most_two_lines(fake, tmp_path):
    """The SDK's own credential-chain dump stays off the terminal (a real process: logging's
    last-resort handler writes to the real stderr); the one line says how to log in. -v lets the
    SDK's explanation through for whoever needs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET")}
    env["HOME"] = str(tmp_path)  # no cached login of this machine's user
    r = _cli("cluster", "status", env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert len(lines) <= 2, lines
    error = [line for line in lines if line.startswith("error:")]
    assert len(error) == 1, lines
    for fix in ("az login", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "workload identity"):
        assert fix in error[0], (fix, error[0])
    assert "EnvironmentCredential" not in r.stderr and "Attempted credentials" not in r.stderr
    verbose = _cli("-v", "cluster", "status", env=env)
    assert verbose.returncode == 2 and "EnvironmentCredential" in verbose.stderr, verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == error[0]
