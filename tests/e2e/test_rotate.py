"""`secrets rotate` against the sandbox: the server and the Secret change together, the apps are
restarted and come back Ready (also after down/up), the old value stops working; a rotation whose
restart fails puts the old value back in both places. `secrets init --force` refuses to change a
password the server uses, and doctor notices a Secret that no longer authenticates.

Logins go through the Service's ClusterIP (the sandbox's service proxy connects from a non-local
address, so PostgreSQL asks for the password there exactly as it does for an app pod)."""

from __future__ import annotations

import base64
import json
import socket

import psycopg
import pytest

from tests.helpers import cli, postgres_only, secrets_init

APPS = ("user-service", "trip-service", "ai-service", "location-service")


def secret_value(sandbox, namespace: str, name: str, key: str = "password") -> str:
    obj = json.loads(sandbox.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=True).stdout)
    return base64.b64decode(obj["data"][key]).decode()


def cluster_ip(sandbox, namespace: str, service: str) -> str:
    return json.loads(sandbox.kubectl("get", "svc", service, "-n", namespace, "-o", "json", check=True).stdout)["spec"]["clusterIP"]


def pg_login(sandbox, namespace: str, password: str) -> bool:
    try:
        with psycopg.connect(host=cluster_ip(sandbox, namespace, "postgresql"), port=5432, user="postgres", password=password,
                             dbname="tripgen", connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError as exc:
        assert "password authentication failed" in str(exc), str(exc)
        return False


def redis_login(sandbox, namespace: str, password: str) -> bool:
    with socket.create_connection((cluster_ip(sandbox, namespace, "redis"), 6379), timeout=5) as s:
        p = password.encode()
        s.sendall(b"*2\r\n$4\r\nAUTH\r\n$" + str(len(p)).encode() + b"\r\n" + p + b"\r\n")
        return s.recv(1024).startswith(b"+OK")


def deploy_all(sandbox, namespace: str) -> None:
    secrets_init(sandbox, namespace)
    proc = cli(sandbox, "deploy", "-n", namespace, "--timeout", "240", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def apps_ready(sandbox, namespace: str) -> dict[str, int]:
    out = {}
    for app in APPS:
        d = json.loads(sandbox.kubectl("get", "deployment", app, "-n", namespace, "-o", "json", check=True).stdout)
        out[app] = int((d.get("status") or {}).get("readyReplicas") or 0)
    return out


def doctor_findings(sandbox, namespace: str, objects: tuple[str, ...] | None = None) -> list[dict]:
    proc = cli(sandbox, "doctor", "-n", namespace, "-o", "json", "--only", "database")
    found = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] != "ok"]
    return [f for f in found if objects is None or f["object"] in objects]


def test_rotate_postgres_then_down_up_apps_ready_and_old_password_refused(sandbox, namespace):
    deploy_all(sandbox, namespace)
    old = secret_value(sandbox, namespace, "postgresql-secret")
    assert pg_login(sandbox, namespace, old)

    refused = cli(sandbox, "secrets", "rotate", "postgres", "-n", namespace)  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr, refused.stderr
    plan = cli(sandbox, "secrets", "rotate", "postgres", "-n", namespace, "--dry-run", "-o", "json")
    assert plan.returncode == 0, plan.stderr
    steps = json.loads(plan.stdout)["steps"]
    assert [s["step"] for s in steps if s["result"] == "planned"][2:] == [f"restart deployment/{a}" for a in APPS]
    assert any(s["step"] == "statefulset/postgresql" and s["result"] == "skipped" for s in steps)
    assert secret_value(sandbox, namespace, "postgresql-secret") == old and pg_login(sandbox, namespace, old)  # nothing changed

    proc = cli(sandbox, "secrets", "rotate", "postgres", "-n", namespace, "--yes", "-o", "json", "--timeout", "120")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {s["result"] for s in json.loads(proc.stdout)["steps"]} <= {"done", "skipped"}
    new = secret_value(sandbox, namespace, "postgresql-secret")
    assert new != old and len(new) >= 32
    assert old not in proc.stdout + proc.stderr and new not in proc.stdout + proc.stderr
    assert pg_login(sandbox, namespace, new) and not pg_login(sandbox, namespace, old)
    assert all(n == 1 for n in apps_ready(sandbox, namespace).values())

    for verb in ("down", "up"):
        run = cli(sandbox, verb, "-n", namespace, "--yes", "--timeout", "180", timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
    assert apps_ready(sandbox, namespace) == {a: 1 for a in APPS}
    assert not pg_login(sandbox, namespace, old) and pg_login(sandbox, namespace, new)
    assert doctor_findings(sandbox, namespace) == []


def test_rotation_whose_restart_fails_leaves_the_old_password_in_both_places(sandbox, namespace):
    deploy_all(sandbox, namespace)
    old = secret_value(sandbox, namespace, "postgresql-secret")
    # ai-service (third in order) cannot start a new pod: the Secret it also reads is gone; its
    # running pod is unaffected, so the rotation's pre-flight sees everything Ready
    sandbox.kubectl("delete", "secret", "openai-api-key", "-n", namespace, check=True)

    proc = cli(sandbox, "secrets", "rotate", "postgres", "-n", namespace, "--yes", "-o", "json", "--timeout", "180", timeout=900)
    assert proc.returncode == 1 and proc.stdout, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert "rotation failed at restart deployment/ai-service" in result["message"] and "rolled back" in result["message"] + json.dumps([s for s in result["steps"] if s["result"] == "undo failed"])
    assert "CreateContainerConfigError" in result["message"]
    results = {s["step"]: s["result"] for s in result["steps"]}
    assert results["restart deployment/user-service"] == "done" and results["restart deployment/location-service"] == "not run"
    assert "undo failed" not in results.values()

    assert secret_value(sandbox, namespace, "postgresql-secret") == old
    assert pg_login(sandbox, namespace, old)
    assert apps_ready(sandbox, namespace) == {a: 1 for a in APPS}
    assert doctor_findings(sandbox, namespace) == []


def test_rotate_redis_changes_server_and_secret(sandbox, namespace):
    deploy_all(sandbox, namespace)
    old = secret_value(sandbox, namespace, "redis-secret")
    proc = cli(sandbox, "secrets", "rotate", "redis", "-n", namespace, "--yes", "-o", "json", "--timeout", "120")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    restarted = [s["step"] for s in json.loads(proc.stdout)["steps"] if s["step"].startswith("restart ")]
    assert restarted[0] == "restart statefulset/redis" and len(restarted) == 5
    new = secret_value(sandbox, namespace, "redis-secret")
    assert new != old and redis_login(sandbox, namespace, new) and not redis_login(sandbox, namespace, old)
    assert apps_ready(sandbox, namespace) == {a: 1 for a in APPS}
    assert cli(sandbox, "cache", "flush", "-n", namespace, "--yes").returncode == 0  # redis-cli in the pod has the new one too


def test_init_force_refuses_a_password_the_server_uses_and_doctor_flags_a_mismatch(sandbox, namespace):
    postgres_only(sandbox, namespace)
    old = secret_value(sandbox, namespace, "postgresql-secret")
    proc = cli(sandbox, "secrets", "init", "--force", "-n", namespace, env={"POSTGRES_PASSWORD": "a-new-password-123456"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "secrets rotate postgres" in lines[0] and "a-new-password-123456" not in lines[0], lines
    assert secret_value(sandbox, namespace, "postgresql-secret") == old

    # what the old `init --force` did: the Secret changes, the server does not
    body = json.loads(sandbox.kubectl("get", "secret", "postgresql-secret", "-n", namespace, "-o", "json", check=True).stdout)
    body["data"]["password"] = base64.b64encode(b"drifted-password-98765").decode()
    sandbox.kubectl("replace", "-f", "-", input=json.dumps(body), check=True)
    findings = doctor_findings(sandbox, namespace, ("secret/postgresql-secret", "pod/postgresql-0"))
    assert [(f["object"], f["severity"]) for f in findings] == [("secret/postgresql-secret", "critical")], findings
    assert "does not authenticate to PostgreSQL" in findings[0]["title"]
    assert "drifted-password-98765" not in json.dumps(findings) and old not in json.dumps(findings)

    # the repair: the server's own password back into the Secret is allowed (the server accepts it)
    repair = cli(sandbox, "secrets", "init", "--force", "--yes", "-n", namespace, env={"POSTGRES_PASSWORD": old})
    assert repair.returncode == 0, repair.stderr
    assert doctor_findings(sandbox, namespace, ("secret/postgresql-secret", "pod/postgresql-0")) == []


def test_scram_verifier_matches_what_postgresql_computes(sandbox, namespace):
    from tests.helpers import psql
    from tripgenctl.ops import credentials

    postgres_only(sandbox, namespace)
    psql(sandbox, namespace, "CREATE ROLE probe LOGIN PASSWORD 'pässwörd-ﬁ-1'")
    stored = psql(sandbox, namespace, "SELECT rolpassword FROM pg_authid WHERE rolname = 'probe'")
    assert credentials.password_matches("pässwörd-ﬁ-1", stored, "probe")
    assert not credentials.password_matches("pässwörd-fi-2", stored, "probe")
    mine = credentials.scram_verifier("s3cret")
    psql(sandbox, namespace, f"ALTER ROLE probe PASSWORD '{mine}'")
    assert psql(sandbox, namespace, "SELECT rolpassword FROM pg_authid WHERE rolname = 'probe'") == mine
    with psycopg.connect(host=cluster_ip(sandbox, namespace, "postgresql"), port=5432, user="probe", password="s3cret", dbname="tripgen", connect_timeout=5):
        pass
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=cluster_ip(sandbox, namespace, "postgresql"), port=5432, user="probe", password="wrong", dbname="tripgen", connect_timeout=5)


def test_ctrl_c_during_the_restarts_puts_the_old_password_back(sandbox, namespace):
    import signal
    import subprocess
    import sys
    import time

    deploy_all(sandbox, namespace)
    old = secret_value(sandbox, namespace, "postgresql-secret")
    proc = subprocess.Popen([sys.executable, "-m", "tripgenctl", "secrets", "rotate", "postgres", "-n", namespace, "--yes", "--timeout", "120"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sandbox.env())
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if "restart deployment/trip-service: waiting" in line or not line:
            break
    assert any("restart deployment/trip-service: waiting" in s for s in seen), seen
    assert secret_value(sandbox, namespace, "postgresql-secret") != old  # mid-rotation: the new value is out
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, "".join(seen) + err
    assert "Traceback" not in err
    assert secret_value(sandbox, namespace, "postgresql-secret") == old
    assert pg_login(sandbox, namespace, old)
    assert apps_ready(sandbox, namespace) == {a: 1 for a in APPS}
