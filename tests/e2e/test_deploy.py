"""deploy / diff / secrets through the real CLI against the sandbox: idempotent apply, drift
named field by field, the production guard, and no secret value in any output."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml

from tests.helpers import OPENAI, SB, cli
from tripgenctl.ops import safety
from tests.helpers import secrets_init as init_secrets


def test_deploy_is_idempotent_and_diff_names_drift(sandbox, namespace):
    init_secrets(sandbox, namespace)
    first = cli(sandbox, "deploy", "-n", namespace, "--no-wait", "-o", "json")
    assert first.returncode == 0, first.stderr
    actions = {o["object"]: o["action"] for o in json.loads(first.stdout)["objects"]}
    assert actions["deployment/user-service"] == "created" and actions["statefulset/postgresql"] == "created"
    assert len(actions) >= 20

    trail = [e for e in safety.events(sandbox.kube(namespace), namespace) if e.get("reason") == "Deploy"]
    assert len(trail) == 1 and trail[0]["type"] == "Normal", trail
    assert trail[0]["metadata"]["annotations"]["tripgenctl.io/result"] == "ok"  # the contract's trail (issue 16)

    second = cli(sandbox, "deploy", "-n", namespace, "--no-wait", "-o", "json")
    assert second.returncode == 0, second.stderr
    assert {o["action"] for o in json.loads(second.stdout)["objects"]} == {"unchanged"}

    clean = cli(sandbox, "diff", "-n", namespace)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no differences" in clean.stdout

    sandbox.kubectl("scale", "deployment/user-service", "--replicas=0", "-n", namespace, check=True)
    sandbox.kubectl("set", "env", "deployment/trip-service", "FOO=bar", "-n", namespace, check=True)
    drift = cli(sandbox, "diff", "-n", namespace, "-o", "json")
    assert drift.returncode == 1, drift.stderr
    fields = {(f["object"], f["field"], f["change"]) for f in json.loads(drift.stdout)["fields"]}
    assert fields == {("deployment/user-service", "spec.replicas", "changed"),
                      ("deployment/trip-service", "spec.template.spec.containers['trip-service'].env['FOO']", "extra")}
    table = cli(sandbox, "diff", "-n", namespace)
    assert table.returncode == 1 and "spec.replicas" in table.stdout and "env['FOO']" in table.stdout

    dry = cli(sandbox, "deploy", "-n", namespace, "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    planned = {o["object"]: o for o in json.loads(dry.stdout)["objects"]}
    assert planned["deployment/user-service"]["action"] == "would change"
    assert planned["deployment/user-service"]["changes"] == ["spec.replicas"]
    assert planned["service/redis"]["action"] == "unchanged"
    assert cli(sandbox, "diff", "-n", namespace).returncode == 1  # the dry run changed nothing

    redeploy = cli(sandbox, "deploy", "-n", namespace, "--no-wait", "-o", "json")
    assert redeploy.returncode == 0, redeploy.stderr
    acted = {o["object"]: o["action"] for o in json.loads(redeploy.stdout)["objects"]}
    assert acted["deployment/user-service"] == "configured" and acted["deployment/trip-service"] == "configured"
    after = cli(sandbox, "diff", "-n", namespace)
    assert after.returncode == 0, after.stdout


def test_deploy_refuses_without_secrets(sandbox, namespace):
    proc = cli(sandbox, "deploy", "-n", namespace)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: Secret(s) missing or incomplete: jwt-secret, openai-api-key, postgresql-secret, redis-secret, servicebus-connection; "
        f"run `tripgenctl secrets init -n {namespace}` first (see `tripgenctl secrets check`)"]
    assert sandbox.kubectl("get", "deployment", "user-service", "-n", namespace).returncode != 0
    assert cli(sandbox, "deploy", "-n", namespace, "--dry-run").returncode == 0  # a dry run only looks


def test_profile_000_deploys_its_differences(sandbox, namespace):
    init_secrets(sandbox, namespace)
    proc = cli(sandbox, "deploy", "-n", namespace, "--profile", "000", "--no-wait", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    objects = {o["object"] for o in json.loads(proc.stdout)["objects"]}
    assert "networkpolicy/dev-basic-policy" in objects and "networkpolicy/allow-apps-to-cache" not in objects
    sts = json.loads(sandbox.kubectl("get", "sts", "postgresql", "-n", namespace, "-o", "json", check=True).stdout)
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "bitnami/postgresql:16"
    assert cli(sandbox, "diff", "-n", namespace, "--profile", "000").returncode == 0
    other = cli(sandbox, "diff", "-n", namespace, "--profile", "001", "-o", "json")
    assert other.returncode == 1 and "statefulset/postgresql" in json.loads(other.stdout)["differing"]
    sandbox.kubectl("delete", "pv", f"{namespace}-postgresql-data", "--wait=false")


def test_guard_refuses_an_unconfigured_context(sandbox, namespace, tmp_path):
    config = yaml.safe_load(Path(sandbox.kubeconfig).read_text())
    ctx = dict(config["contexts"][0])
    ctx["name"] = "aks-tripgen-prod"
    config["contexts"].append(ctx)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    proc = cli(sandbox, "deploy", "-n", namespace, "--context", "aks-tripgen-prod", env={"KUBECONFIG": str(kubeconfig)})
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: deploy refused: context \"aks-tripgen-prod\"") and "--allow-other-context" in lines[0]
    assert sandbox.kubectl("get", "deployment", "user-service", "-n", namespace).returncode != 0  # nothing applied
    # --yes answers the question; it is not the override of the target guard
    yes_only = cli(sandbox, "deploy", "-n", namespace, "--context", "aks-tripgen-prod", "--yes", "--dry-run", env={"KUBECONFIG": str(kubeconfig)})
    assert yes_only.returncode == 2 and "--allow-other-context" in yes_only.stderr, yes_only.stderr
    forced = cli(sandbox, "deploy", "-n", namespace, "--context", "aks-tripgen-prod", "--allow-other-context", "--dry-run", env={"KUBECONFIG": str(kubeconfig)})
    assert forced.returncode == 0, forced.stderr


def test_no_secret_value_in_any_output(sandbox, namespace, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(f'OPENAI_API_KEY="{OPENAI}"\nSERVICEBUS_CONNECTION_STRING={SB}\nREDIS_PASSWORD=redis-supplied-pw-98765\n')
    outputs = []
    for fmt in ("table", "json"):
        for verbose in ([], ["-v"], ["-vv"]):
            base = ["-n", namespace, "-o", fmt, *verbose]
            force = ["--force", "--yes"] if outputs else []
            outputs.append(cli(sandbox, "secrets", "init", *base, "--env-file", str(env_file), *force))
            outputs.append(cli(sandbox, "secrets", "check", *base))
    outputs.append(cli(sandbox, "secrets", "init", "-n", namespace, "--env-file", str(env_file), "--dry-run", "--force"))
    for fmt in ("table", "json"):
        outputs.append(cli(sandbox, "deploy", "-n", namespace, "-o", fmt, "-v", "--no-wait"))
        outputs.append(cli(sandbox, "deploy", "-n", namespace, "-o", fmt, "-v", "--dry-run"))
    # drift that involves secret-looking values must not leak them either
    sandbox.kubectl("set", "env", "deployment/ai-service", "DB_PASSWORD=handset-secret-4242", "-n", namespace, check=True)
    for fmt in ("table", "json"):
        outputs.append(cli(sandbox, "diff", "-n", namespace, "-o", fmt, "-v"))
        outputs.append(cli(sandbox, "deploy", "-n", namespace, "-o", fmt, "-v", "--dry-run"))
    # a refused init names variables, not values
    outputs.append(cli(sandbox, "secrets", "init", "-n", namespace, "--force", env={"OPENAI_API_KEY": "", "SERVICEBUS_CONNECTION_STRING": "Endpoint=bad;SharedAccessKey=leaky-part-777"}))

    values = {OPENAI, SB, "c2FuZGJveC10ZXN0LWtleQ==", "redis-supplied-pw-98765", "handset-secret-4242", "leaky-part-777"}
    for name in ("postgresql-secret", "redis-secret", "jwt-secret", "servicebus-connection", "openai-api-key"):
        data = json.loads(sandbox.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=True).stdout)["data"]
        for key, v in data.items():
            if key in ("username", "database"):
                continue  # "postgres"/"tripgen" are names, not secrets
            values.add(base64.b64decode(v).decode())
            values.add(v)
    assert any("redis-supplied-pw-98765" == base64.b64decode(v).decode() for v in [json.loads(sandbox.kubectl("get", "secret", "redis-secret", "-n", namespace, "-o", "json").stdout)["data"]["password"]])
    assert outputs[-1].returncode == 2 and "SERVICEBUS_CONNECTION_STRING" in outputs[-1].stderr
    for proc in outputs:
        text = proc.stdout + proc.stderr
        assert "Traceback" not in text
        for v in values:
            assert v not in text, f"secret value leaked in output of {proc.args[3:]}"


def test_dry_run_into_a_new_namespace_creates_nothing(sandbox):
    import uuid

    ns = f"dry-{uuid.uuid4().hex[:6]}"
    proc = cli(sandbox, "deploy", "-n", ns, "--dry-run", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert {o["action"] for o in json.loads(proc.stdout)["objects"]} == {"would create"}
    assert sandbox.kubectl("get", "namespace", ns).returncode != 0
