"""No Kubernetes below the door (issue 15, item 1): no module outside tripgenctl/kube/ that talks to
the cluster (every ops module, the PostgreSQL door, the manifests) spells a REST path, decides by
an HTTP status code, or touches an SDK object or one of the Kube's raw-path methods. They ask the
door's typed objects (kube/workloads.py, pods.py, secrets.py, leases.py, jobs.py, namespaces.py,
resources.py) and catch its typed errors (NotFound, Conflict, Forbidden, Unavailable). Read from
the source with `ast`: a docstring saying "/api/v1" does not count, a path in an f-string or a
status in a tuple does. One checker for the whole tree, so a new ops module is covered the day it
is written."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "tripgenctl"
FILES = sorted(p.relative_to(ROOT).as_posix() for p in (PRODUCT / "ops").rglob("*.py")) + ["tripgenctl/pg.py", "tripgenctl/manifests.py"]
SDK_ATTRIBUTES = {"core", "apps", "batch", "coordination", "networking", "rbac", "custom", "version", "dynamic", "api_client"}
UNAMBIGUOUS = {"core", "coordination", "rbac", "dynamic", "api_client"}  # never anything else: flagged on any object
# the Kube's methods that take a REST path or answer with a status code: the door's own business.
# Flagged on any object but a module imported from outside the door (ops/store.py's fetch is
# the backup store's download, and a module is never a Kube).
RAW_METHODS = {"get_json", "list_json", "request_json", "create_object", "resource_path", "watch_json", "fetch", "api_path"}
SDK_CALL_PREFIXES = ("read_namespaced_", "list_namespaced_", "connect_get_", "create_namespaced_", "patch_namespaced_", "delete_namespaced_")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def _is_status(node: ast.AST) -> bool:
    """An HTTP status as a literal: 200..599 as an int (`n < 120` or `0 < pct <= 100` is not one),
    or "404"-like text (`"404" in exc.message`); a tuple/list/set holding one."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_status(e) for e in node.elts)
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return False
    if isinstance(node.value, int):
        return 200 <= node.value <= 599
    return isinstance(node.value, str) and len(node.value) == 3 and node.value.isdigit() and node.value[0] in "2345"


def _kube(node: ast.AST) -> bool:
    """A Kube by its name: kube, self.kube, source_kube... (cfg.workloads.apps is not one)."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name.lower().endswith("kube")


def _is_path(text: str) -> bool:
    return text in ("/api", "/apis") or text.startswith(("/api/", "/apis/"))


def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):  # a name inside a module (a class, a function), not a module
        return False


def _modules(tree: ast.AST) -> set[str]:
    """The names the source binds to a module imported from outside the door (kube/) and
    nothing else (a name also assigned or taken as a parameter may hold a Kube)."""
    found, rebound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            pairs = [(a.name, a.asname or a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            pairs = [(f"{node.module}.{a.name}", a.asname or a.name) for a in node.names]
        else:
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) or isinstance(node, ast.arg):
                rebound.add(node.id if isinstance(node, ast.Name) else node.arg)
            continue
        found |= {bound for dotted, bound in pairs if not dotted.startswith("tripgenctl.kube") and _is_module(dotted)}
    return found - rebound


def _raw_call(node: ast.Attribute, modules: set[str]) -> bool:
    """kube.fetch(...), Kube.fetch(kube, ...), self.kube.api_path(...): anything but store.fetch."""
    return node.attr in RAW_METHODS and not (isinstance(node.value, ast.Name) and node.value.id in modules)


def violations(source: str, name: str = "<source>") -> list[str]:
    tree = ast.parse(source, name)
    modules = _modules(tree)
    skip = _docstrings(tree) | {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}  # f-strings: judged whole
    found = []
    for node in ast.walk(tree):
        line = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip and _is_path(node.value):
            found.append(f"{line} REST path {node.value!r}")
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) and _is_path(str(node.values[0].value)):
            found.append(f"{line} REST path f{node.values[0].value!r}...")
        elif isinstance(node, ast.Compare) and any(_is_status(x) for x in [node.left, *node.comparators]):
            found.append(f"{line} compares an HTTP status")
        elif isinstance(node, ast.Compare) and any(isinstance(x, ast.Call) and isinstance(x.func, ast.Name) and x.func.id == "range"
                                                   and any(_is_status(a) for a in x.args) for x in node.comparators):
            found.append(f"{line} compares an HTTP status range")
        elif isinstance(node, ast.Attribute) and (_raw_call(node, modules) or node.attr in UNAMBIGUOUS or node.attr in SDK_ATTRIBUTES and _kube(node.value)):
            found.append(f"{line} .{node.attr} (the door's raw access)")
        elif isinstance(node, ast.Attribute) and node.attr.startswith(SDK_CALL_PREFIXES):
            found.append(f"{line} .{node.attr} (an SDK call)")
        elif isinstance(node, ast.Name) and node.id.startswith("V1") and node.id[2:3].isupper():
            found.append(f"{line} SDK model {node.id}")
    return found


@pytest.mark.parametrize("rel", FILES)
def test_no_rest_path_status_comparison_or_sdk_object_outside_the_door(rel):
    assert violations((ROOT / rel).read_text(), rel) == []


@pytest.mark.parametrize("snippet", [
    'a = kube.request_json("GET", "x")',
    'b = kube.list_json(p)',
    'p = kube.resource_path("v1", "Pod")',
    'p = self.kube.api_path("v1", "pods")',
    'b = kube.fetch("GET", p, missing_ok=True)',
    'b = source.fetch("GET", p)',
    'from tripgenctl.kube.client import Kube\nb = Kube.fetch(kube, "GET", p)',
    'from tripgenctl.kube import client\nb = client.fetch("GET", p)',
    'from tripgenctl.ops import store\nstore = kube\nb = store.fetch("GET", p)',
    'e = kube.watch_json(p, selector="app=web")',
    'path = f"/apis/batch/v1/namespaces/{ns}/jobs"',
    'path = "/api/v1/namespaces"',
    "if status == 404:\n    pass",
    "if s in (200, 201):\n    pass",
    "if 200 <= status < 300:\n    pass",
    "if status in range(500, 600):\n    pass",
    'if "404" in exc.message:\n    pass',
    "c = kube.core.list_namespaced_pod(ns)",
    "y = api.read_namespaced_deployment('web', ns)",
    "d = V1Pod()",
])
def test_the_checker_sees_each_kind_of_leak(snippet):
    assert violations(snippet) != []


def test_the_checker_leaves_the_backup_store_alone():
    """drill.py downloads a backup with ops/store.py's fetch: a module's function, not the Kube's."""
    assert violations("from tripgenctl.ops import store\nwith store.fetch(where, entry.file) as p:\n    pass") == []
    assert violations("import tripgenctl.ops.store as s\nwith s.fetch(where, f) as p:\n    pass") == []


def test_the_checker_leaves_plain_code_alone():
    good = '''
"""A docstring may say /api/v1/pods and == 404."""
def f(kube, n, pct, cfg, name):
    """Here too: /apis/apps/v1."""
    p = Pod.get(kube, name)
    apps = cfg.workloads.apps
    x = {"code": 200}
    if n == 0 or n in (1, 2) or n < 120 or 0 < pct <= 100 or n > 3600 or name == "postgres": pass
    return f"pod {name} in /tmp/x"
'''
    assert violations(good) == []
