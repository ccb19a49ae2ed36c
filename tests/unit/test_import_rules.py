"""docs/ARCHITECTURE.md's import rules, read from the source with `ast` (imports inside functions
count too): the product never imports the sandbox; the sandbox uses only tripgenctl's leaf
modules; only the doors import their SDKs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "tripgenctl"
SANDBOX = ROOT / "sandbox" / "tripgen_sandbox"
LEAF_MODULES = {"tripgenctl.timestamps", "tripgenctl.labels", "tripgenctl.quantity", "tripgenctl.errors", "tripgenctl.cron"}


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement names, absolute (`from tripgenctl import quantity` gives
    tripgenctl.quantity)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def offenders(tree: Path, allowed, exempt=lambda rel: False) -> list[str]:
    bad = []
    for path in sorted(tree.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if exempt(rel):
            continue
        for line, module in imports(path):
            if not allowed(module):
                bad.append(f"{rel}:{line} imports {module}")
    return bad


def _is(module: str, top: str) -> bool:
    return module == top or module.startswith(top + ".")


def test_the_product_never_imports_the_sandbox():
    assert offenders(PRODUCT, lambda m: not _is(m, "tripgen_sandbox")) == []


def test_the_sandbox_imports_only_leaf_modules_of_the_product():
    def allowed(module: str) -> bool:
        # `from tripgenctl import quantity` yields "tripgenctl" and "tripgenctl.quantity": the second decides
        return not _is(module, "tripgenctl") or module == "tripgenctl" or any(_is(module, leaf) for leaf in LEAF_MODULES)

    assert offenders(SANDBOX, allowed) == []


@pytest.mark.parametrize("sdk,door", [("kubernetes", "tripgenctl/kube/"), ("azure", "tripgenctl/azure/"), ("psycopg", "tripgenctl/pg.py")])
def test_only_the_door_imports_its_sdk(sdk, door):
    assert offenders(PRODUCT, lambda m: not _is(m, sdk), exempt=lambda rel: rel.startswith(door)) == []


def test_the_rule_checker_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from tripgen_sandbox import control\n    import kubernetes.client\n")
    assert [m for _, m in imports(sample)] == ["tripgen_sandbox", "tripgen_sandbox.control", "kubernetes.client"]
