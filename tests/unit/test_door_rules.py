"""No Kubernetes below the door (issue 15, item 1): an ops module spells no REST path, compares
no HTTP status code and touches no SDK object. It asks tripgenctl/kube/ (typed objects, paths,
the retry policy) and catches the door's typed errors (NotFound, Conflict, Forbidden,
Unavailable) instead. Read from the source with `ast`, so a comment or a docstring does not
count. The integrator extends FILES to every ops module as each is migrated."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    "tripgenctl/ops/scaling.py",
    "tripgenctl/ops/workloads.py",
    "tripgenctl/ops/controls.py",
    "tripgenctl/ops/waiting.py",
    "tripgenctl/ops/restart.py",
    "tripgenctl/ops/autoscalers.py",
    "tripgenctl/ops/gitops.py",
    "tripgenctl/ops/updown.py",
    "tripgenctl/ops/drift.py",
]
SDK_ATTRIBUTES = {"core", "apps", "batch", "coordination", "networking", "rbac", "custom", "version", "dynamic", "api_client"}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


# the codes an API answer is judged by (a bare 100..599 would catch `seconds < 120`)
HTTP_CODES = {200, 201, 202, 204, 300, 400, 401, 403, 404, 405, 409, 410, 412, 415, 422, 429, 500, 501, 502, 503, 504}


def _is_status(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value in HTTP_CODES


def violations(source: str, name: str = "<source>") -> list[str]:
    tree = ast.parse(source, name)
    skip = _docstrings(tree) | {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}  # f-strings: seen whole
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value in ("/api", "/apis") or node.value.startswith(("/api/", "/apis/")):
                found.append(f"{name}:{node.lineno} REST path {node.value!r}")
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str) and head.value.startswith(("/api/", "/apis/")):
                found.append(f"{name}:{node.lineno} REST path f{head.value!r}...")
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op in operands:
                if _is_status(op) or (isinstance(op, (ast.Tuple, ast.List, ast.Set)) and any(_is_status(e) for e in op.elts)):
                    found.append(f"{name}:{node.lineno} compares an HTTP status")
                    break
            else:
                for op in operands:
                    if isinstance(op, ast.Call) and isinstance(op.func, ast.Name) and op.func.id == "range" and any(_is_status(a) for a in op.args):
                        found.append(f"{name}:{node.lineno} compares an HTTP status range")
                        break
        elif isinstance(node, ast.Attribute) and node.attr in SDK_ATTRIBUTES and isinstance(node.value, ast.Name) and node.value.id == "kube":
            found.append(f"{name}:{node.lineno} SDK object kube.{node.attr}")
        elif isinstance(node, ast.Name) and node.id.startswith("V1") and node.id[2:3].isupper():
            found.append(f"{name}:{node.lineno} SDK model {node.id}")
    return found


@pytest.mark.parametrize("rel", FILES)
def test_no_rest_path_status_comparison_or_sdk_object_in_ops(rel):
    path = ROOT / rel
    assert violations(path.read_text(), rel) == []


def test_the_rule_sees_what_it_forbids():
    """The checker itself: each forbidden form is found, the allowed ones are not."""
    bad = '''
def f(kube, status, ns):
    a = kube.request_json("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")
    b = kube.list_json("/api/v1/nodes")
    if status == 404: pass
    if status in (409, 429): pass
    if 200 <= status < 300: pass
    c = kube.core.list_namespaced_pod(ns)
    d = V1Pod()
'''
    found = violations(bad)
    assert len(found) == 7, found
    good = '''
"""A docstring may say /api/v1/pods and == 404."""
def f(kube, n):
    """Here too: /apis/apps/v1."""
    p = kube.api_path("v1", "pods")
    if n == 0 or len(p) > 3 or n in (1, 2) or n < 120: pass
    return f"{p}/proxy"
'''
    assert violations(good) == []
