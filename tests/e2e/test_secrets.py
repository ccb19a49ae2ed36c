"""Secrets: sources, generation, refusal to invent, no overwrite without --force, and check
output that never carries a value (pure parts first, then against the sandbox)."""

from __future__ import annotations

import base64
import json

import pytest

from tripgenctl.errors import UsageError
from tripgenctl.ops import secrets as s

SB = "Endpoint=sb://sb-tripgen-dev.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2FuZGJveA=="
REQUIRED = {"OPENAI_API_KEY": "sk-test-openai-value-123", "SERVICEBUS_CONNECTION_STRING": SB}


def test_env_file_parsing(tmp_path):
    f = tmp_path / ".env"
    f.write_text('# comment\nexport OPENAI_API_KEY="sk-quoted # not a comment"\nREDIS_PASSWORD=plain-value # trailing\n\nJWT_SECRET=\'single\'\n')
    assert s.parse_env_file(f) == {"OPENAI_API_KEY": "sk-quoted # not a comment", "REDIS_PASSWORD": "plain-value", "JWT_SECRET": "single"}
    f.write_text("GOOD=1\nthis line has the-secret-value\n")
    with pytest.raises(UsageError) as err:
        s.parse_env_file(f)
    assert "line 2" in err.value.message and "the-secret-value" not in err.value.message


def test_environment_wins_over_the_file(tmp_path):
    f = tmp_path / ".env"
    f.write_text("OPENAI_API_KEY=from-file\nREDIS_PASSWORD=file-redis\n")
    values = s.sources(f, environ={"OPENAI_API_KEY": "from-env", "UNRELATED": "x"})
    assert values == {"OPENAI_API_KEY": "from-env", "REDIS_PASSWORD": "file-redis"}


def test_resolve_order_supplied_kept_default_generated():
    spec = next(x for x in s.SPECS if x.name == "postgresql-secret")
    data, origin = s.resolve(spec, {}, None)
    assert data["username"] == "postgres" and data["database"] == "tripgen"
    assert len(data["password"]) >= 32 and origin == {"username": "default", "password": "generated", "database": "default"}
    again, _ = s.resolve(spec, {}, None)
    assert again["password"] != data["password"]  # random, not a fixed default
    kept, origin = s.resolve(spec, {"POSTGRES_DB": "other"}, {"password": "old-pw", "username": "postgres"})
    assert kept == {"username": "postgres", "password": "old-pw", "database": "other"}
    assert origin["password"] == "kept" and origin["database"] == "POSTGRES_DB"
    jwt = next(x for x in s.SPECS if x.name == "jwt-secret")
    assert len(s.resolve(jwt, {}, None)[0]["secret"]) >= 64


def test_malformed_service_bus_string_is_refused_by_name():
    bad = {"SERVICEBUS_CONNECTION_STRING": "Endpoint=https://wrong;SharedAccessKey=abc-secret-part"}
    problems = s.problems(bad)
    assert problems and problems[0].startswith("SERVICEBUS_CONNECTION_STRING ")
    assert "abc-secret-part" not in problems[0]
    assert s.problems(REQUIRED) == []


# ---- against the sandbox -----------------------------------------------------------------------

def secret_data(sandbox, namespace, name):
    obj = json.loads(sandbox.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=True).stdout)
    return {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}


def test_init_creates_refuses_and_keeps(sandbox, namespace):
    kube = sandbox.kube(namespace)
    with pytest.raises(UsageError) as err:
        s.init(kube, namespace, {"OPENAI_API_KEY": "sk-x"})
    assert "SERVICEBUS_CONNECTION_STRING" in err.value.message and "OPENAI_API_KEY" not in err.value.message
    assert sandbox.kubectl("get", "secret", "postgresql-secret", "-n", namespace).returncode != 0  # nothing half-created

    result = s.init(kube, namespace, dict(REQUIRED))
    assert [r.action for r in result.secrets] == ["created"] * 5
    pg = secret_data(sandbox, namespace, "postgresql-secret")
    assert pg["username"] == "postgres" and pg["database"] == "tripgen" and len(pg["password"]) >= 32
    assert secret_data(sandbox, namespace, "openai-api-key") == {"api-key": REQUIRED["OPENAI_API_KEY"]}
    assert set(secret_data(sandbox, namespace, "servicebus-connection")) == {"connection-string"}
    assert "sk-test-openai-value-123" not in repr(result) and pg["password"] not in repr(result)

    again = s.init(kube, namespace, {**REQUIRED, "OPENAI_API_KEY": "sk-new"})
    assert [r.action for r in again.secrets] == ["kept"] * 5
    assert secret_data(sandbox, namespace, "openai-api-key")["api-key"] == REQUIRED["OPENAI_API_KEY"]

    forced = s.init(kube, namespace, {"OPENAI_API_KEY": "sk-new"}, force=True)
    assert [r.action for r in forced.secrets] == ["replaced"] * 5
    assert secret_data(sandbox, namespace, "openai-api-key")["api-key"] == "sk-new"
    assert secret_data(sandbox, namespace, "postgresql-secret")["password"] == pg["password"]  # not supplied: kept

    check = s.check(kube, namespace)
    assert check.ok and len(check.keys) == 7 and all(r.present and r.non_empty for r in check.keys)


def test_check_reports_missing_and_empty(sandbox, namespace):
    kube = sandbox.kube(namespace)
    sandbox.kubectl("create", "secret", "generic", "redis-secret", "-n", namespace, "--from-literal=password=", check=True)
    result = s.check(kube, namespace)
    assert not result.ok
    assert set(result.missing_secrets) == {"postgresql-secret", "jwt-secret", "servicebus-connection", "openai-api-key"}
    redis = [r for r in result.keys if r.secret == "redis-secret"]
    assert [(r.key, r.present, r.non_empty) for r in redis] == [("password", True, False)]


def test_init_creates_the_namespace_when_missing(sandbox):
    import uuid

    ns = f"secrets-new-{uuid.uuid4().hex[:5]}"
    kube = sandbox.kube(ns)
    try:
        result = s.init(kube, ns, dict(REQUIRED))
        assert result.note == f"created namespace {ns}"
        labels = json.loads(sandbox.kubectl("get", "namespace", ns, "-o", "json", check=True).stdout)["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "tripgen"
    finally:
        sandbox.kubectl("delete", "namespace", ns, "--wait=false")
