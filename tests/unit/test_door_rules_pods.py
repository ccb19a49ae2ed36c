"""The Kubernetes door holds for the ops that talk to pods, Secrets, Leases and Jobs: read from the
source with `ast`, none of them touches an SDK API object or model (kube.core, V1Pod, ...), spells
a REST path ("/api/v1/..."), or decides by an HTTP status (`== 404`, `"404" in message`); the
typed objects of kube/ do that. And a Secret never shows a value: not in repr(), str(), an
f-string, a dataclass holding it, or a pickle."""

from __future__ import annotations

import ast
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest

from tripgenctl.kube.secrets import Secret

ROOT = Path(__file__).resolve().parents[2]
OPS = ["postgres", "cache", "bus", "jobs", "lock", "secrets", "rotate", "data", "drill", "validation"]
FILES = [ROOT / "tripgenctl" / "ops" / f"{name}.py" for name in OPS] + [ROOT / "tripgenctl" / "pg.py"]
SDK_APIS = {"core", "apps", "batch", "coordination", "networking", "rbac", "custom", "version", "dynamic", "api_client"}


def _strings(node: ast.AST) -> list[str]:
    """The literal text of a string constant or of an f-string's literal parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def _is_status_code(node: ast.AST) -> bool:
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 100 <= value <= 599
    return isinstance(value, str) and value.isdigit() and len(value) == 3 and value[0] in "12345"


def leaks(source: str, name: str = "<source>") -> list[str]:
    """Every place the door leaks: (line, what)."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "kube" and node.attr in SDK_APIS:
            found.append(f"{line}: kube.{node.attr} (an SDK API object)")
        elif isinstance(node, ast.Attribute) and (node.attr.startswith(("read_namespaced_", "list_namespaced_", "connect_get_", "create_namespaced_"))):
            found.append(f"{line}: .{node.attr} (an SDK call)")
        elif isinstance(node, ast.Name) and node.id.startswith("V1") and node.id[2:3].isupper():
            found.append(f"{line}: {node.id} (an SDK model)")
        elif isinstance(node, ast.Compare):
            for part in [node.left, *node.comparators]:
                if _is_status_code(part) or (isinstance(part, (ast.Tuple, ast.List, ast.Set)) and any(_is_status_code(e) for e in part.elts)):
                    found.append(f"{line}: a comparison with an HTTP status")
                    break
        else:
            for text in _strings(node):
                if text.startswith(("/api/", "/apis/")) or text in ("/api", "/apis"):
                    found.append(f"{line}: the REST path {text!r}")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_ops_of_pods_secrets_leases_and_jobs_stay_behind_the_door(path):
    assert leaks(path.read_text(), str(path)) == []


@pytest.mark.parametrize("snippet", [
    "p = kube.core.read_namespaced_pod(pod, ns)",
    "x = V1Pod()",
    'path = f"/apis/batch/v1/namespaces/{ns}/jobs"',
    'path = "/api/v1/namespaces"',
    "if status == 404:\n    pass",
    "if s in (200, 201):\n    pass",
    'if "404" in exc.message:\n    pass',
])
def test_the_checker_sees_each_kind_of_leak(snippet):
    assert leaks(snippet) != []


def test_the_checker_leaves_plain_code_alone():
    assert leaks('if count == 3 or name == "postgres":\n    x = Pod.get(kube, name)\nmsg = f"pod {name} in /tmp/x"') == []


# ---- Secret never shows a value ---------------------------------------------------------------

VALUE = "s3cr3t-Pa55word"


def secret() -> Secret:
    body = Secret.manifest("postgresql-secret", "tripgen-dev", {"username": "postgres", "password": VALUE}, labels={"a": "b"})
    body["metadata"]["resourceVersion"] = "7"
    return Secret(body)


def test_a_secret_shows_its_name_and_keys_and_never_a_value():
    s = secret()
    import base64

    encoded = base64.b64encode(VALUE.encode()).decode()
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % s, repr([s]), repr({"s": s})):
        assert VALUE not in shown and encoded not in shown, shown
        assert "postgresql-secret" in shown and "password" in shown
    assert repr(s) == "Secret(name='postgresql-secret', namespace='tripgen-dev', keys=['password', 'username'])"


def test_a_dataclass_holding_a_secret_shows_no_value():
    @dataclass
    class Plan:
        secret: Secret

    assert VALUE not in repr(Plan(secret()))


def test_a_secret_cannot_be_pickled_or_dumped_as_attributes():
    s = secret()
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        vars(s)


def test_a_secret_gives_its_values_only_when_asked_by_name():
    s = secret()
    assert s.values() == {"username": "postgres", "password": VALUE}
    assert s.value("password") == VALUE and s.value("database", "tripgen") == "tripgen"
    assert s.present("password") and not s.present("database") and s.non_empty("username")
    assert s.resource_version == "7" and s.labels == {"a": "b"}


def test_an_undecodable_value_reads_as_empty():
    s = Secret({"metadata": {"name": "x", "namespace": "n"}, "data": {"k": "%%%not-base64", "e": ""}})
    assert s.value("k", "fallback") == "" and s.value("e", "fallback") == "fallback"
