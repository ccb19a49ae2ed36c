"""The CLI's shared plumbing, read from the source with `ast` and checked through the real
command tree: options that several commands take are declared once (tripgenctl/cli/options.py),
error handling is installed once (the root group), a problem found is a named error
(errors.ProblemFound) rather than a `ToolError(msg, 1)` literal, and one function maps a result
to its exit code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tripgenctl" / "cli"
PRODUCT = ROOT / "tripgenctl"
SHARED_FLAGS = {"--yes", "--dry-run", "--allow-other-context", "--timeout", "--no-wait", "--exclude", "--log-format",
                "--backup-dir", "--no-safety-backup", "--notify", "--wait-lock", "--scheduled", "--profile", "--store",
                "--subscription", "--resource-group", "--cluster-name", "-o", "--output", "-n", "--namespace", "--config",
                "--env", "--kubeconfig", "--context"}


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield node


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else ""


def test_shared_options_are_declared_only_in_options_py():
    found = []
    for path in sorted(CLI.glob("*.py")):
        if path.name == "options.py":
            continue
        for call in _calls(path):
            if _name(call.func) in ("typer.Option", "Option"):
                flags = {a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
                if flags & SHARED_FLAGS:
                    found.append(f"{path.name}:{call.lineno} declares {', '.join(sorted(flags & SHARED_FLAGS))}")
    assert found == []


def test_no_command_carries_its_own_error_handler():
    """The root group installs it once (common.run_guarded); the plugin host still offers it."""
    found = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef):
                found += [f"{path.name}:{node.lineno} {node.name}" for d in node.decorator_list if _name(d).endswith("handle_errors")]
    assert found == []
    from tripgenctl.cli.plugins import _host

    assert callable(_host().handle_errors)


def test_a_problem_found_is_a_named_error_not_a_literal_code():
    found = []
    for path in sorted(PRODUCT.rglob("*.py")):
        for call in _calls(path):
            if _name(call.func).endswith("ToolError"):
                code = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "exit_code"), None)
                if isinstance(code, ast.Constant) and code.value == 1:
                    found.append(f"{path.relative_to(ROOT).as_posix()}:{call.lineno}")
    assert found == []
    from tripgenctl.errors import ProblemFound, ToolError

    assert issubclass(ProblemFound, ToolError) and ProblemFound("x").exit_code == 1


def test_one_function_maps_a_result_to_its_exit_code():
    from dataclasses import dataclass

    from tripgenctl.errors import ProblemFound, UsageError, exit_code_of
    from tripgenctl.ops.diff import DiffResult
    from tripgenctl.ops.updown import Outcome

    @dataclass
    class Checked:
        ok: bool

    assert [exit_code_of(None), exit_code_of(Checked(True)), exit_code_of(Checked(False))] == [0, 0, 1]
    assert exit_code_of(Outcome()) == 0 and exit_code_of(Outcome(error=UsageError("no"))) == 2
    assert exit_code_of(Outcome(error=ProblemFound("lock held"))) == 1
    assert exit_code_of(DiffResult("ns", "001", 1, [], [])) == 0 and exit_code_of(DiffResult("ns", "001", 1, ["deployment/x"], [])) == 1


def test_up_and_down_take_one_shared_set_of_options():
    """Declared once (updown.RUN_OPTIONS through option.shared), offered by both commands."""
    import typer.main

    from tripgenctl.cli import updown
    from tripgenctl.cli.app import app

    command = typer.main.get_command(app)
    flags = {name: {o for p in command.commands[name].params for o in p.opts} for name in ("up", "down")}
    shared = {"--yes", "--exclude", "--dry-run", "--wait-lock", "--log-format", "--notify", "--allow-other-context"}
    assert shared <= flags["up"] and shared <= flags["down"]
    assert {f"--{n.replace('_', '-')}" for n in updown.RUN_OPTIONS} == shared
    assert "--include-data" in flags["down"] and "--include-data" not in flags["up"]


def test_an_error_in_any_command_is_one_line_without_a_decorator(tmp_path):
    """Through the real entry point: a ToolError raised deep in a command body (here: a
    kubeconfig that does not exist) is one `error:` line and its exit code."""
    proc = subprocess.run([sys.executable, "-m", "tripgenctl", "--kubeconfig", str(tmp_path / "none"), "env", "gc", "--yes"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: no kubeconfig found at {tmp_path / 'none'} (set --kubeconfig or KUBECONFIG)"]


@pytest.mark.parametrize("name,flag", [("yes", "--yes"), ("dry_run", "--dry-run"), ("timeout", "--timeout")])
def test_the_factories_declare_the_flags_they_name(name, flag):
    from tripgenctl.cli import options

    info = getattr(options, name)(*((300, "h") if name == "timeout" else ("h",) if name == "dry_run" else ()))
    assert flag in info.param_decls


@pytest.mark.parametrize("signame,code,line", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated (SIGTERM)"),
                                               ("SIGHUP", 129, "hung up (SIGHUP)")])
def test_a_signal_during_any_command_is_one_line_and_128_plus_the_signal(tmp_path, signame, code, line):
    """The root group's handler (no decorator on the command): `status` waiting on a server that
    never answers, signalled once the request is out."""
    import os
    import signal
    import time

    sys.path.insert(0, str(Path(__file__).parent))
    from silent_server import SilentServer

    config = tmp_path / "c.toml"
    config.write_text("request_timeout = 60\n")
    with SilentServer(tmp_path) as server:
        env = dict(os.environ, KUBECONFIG=str(server.kubeconfig), TRIPGENCTL_CONFIG=str(config))
        proc = subprocess.Popen([sys.executable, "-m", "tripgenctl", "status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while server.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.accepted, "status never reached the server"
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [line] and out == ""
