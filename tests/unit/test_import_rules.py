"""docs/ARCHITECTURE.md's import rules, read from the source with `ast` (imports inside functions
count too): the product never imports the sandbox; the sandbox uses only tripgenctl's leaf
modules; only the doors import their SDKs; only the presentation package and cli/ import Rich."""

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


PRESENTATION = "tripgenctl/presentation/"


def _front_end(rel: str) -> bool:
    return rel.startswith((PRESENTATION, "tripgenctl/cli/"))


def test_only_the_presentation_package_and_the_cli_import_rich():
    """ops (and the doors, and the leaf modules) show nothing themselves: they take a
    tripgenctl.reporting.Reporter and a confirm callback. Nor do they import presentation/,
    which would pull Rich in through the back door."""
    front = ("rich", "tripgenctl.presentation")
    assert offenders(PRODUCT, lambda m: not any(_is(m, x) for x in front), exempt=_front_end) == []


def test_one_live_display():
    """Rich's live machinery (Live, Progress, Status) is used in one module: the Reporter, which
    every question can take down first (presentation/prompts.py)."""
    live = ("rich.live", "rich.progress", "rich.status")
    assert offenders(PRODUCT, lambda m: not any(_is(m, x) for x in live), exempt=lambda rel: rel == PRESENTATION + "reporter.py") == []


def test_one_terminal_check():
    """`isatty` is asked in presentation/terminal.py only (closed and replaced streams alike)."""
    found = []
    for path in sorted(PRODUCT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == PRESENTATION + "terminal.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "isatty":
                found.append(f"{rel}:{node.lineno}")
    assert found == []


def test_the_rule_checker_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from tripgen_sandbox import control\n    import kubernetes.client\n")
    assert [m for _, m in imports(sample)] == ["tripgen_sandbox", "tripgen_sandbox.control", "kubernetes.client"]


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(tree: Path) -> dict[str, set[str]]:
    """module -> the modules of the same tree it imports (an import of a package's name that is a
    submodule counts as that submodule; a package's own __init__ is not an edge)."""
    modules = {_module_name(p, tree): p for p in tree.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for _, target in imports(path):
            if target in modules and target != name and not name.startswith(target + ".") and modules[target].name != "__init__.py":
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycles_in_the_product():
    assert cycles(import_graph(PRODUCT)) == []


def test_the_cycle_finder_finds_one(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg import b\n")
    (pkg / "b.py").write_text("from pkg.a import f\n")
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_no_import_cycles_in_the_sandbox_kubelet():
    """core -> pod -> runner, each receiving the node's services (kubelet/node.py, a leaf) instead of
    reaching back up; imports under TYPE_CHECKING count, as a reader follows them too."""
    graph = import_graph(SANDBOX)
    kubelet = {m: {t for t in ts if t.startswith("tripgen_sandbox.kubelet.")} for m, ts in graph.items() if m.startswith("tripgen_sandbox.kubelet.")}
    assert cycles(kubelet) == []
