"""Every command's --help answers, from the sub-command itself (the fast path skips the root's
options), with the full command path in its usage line, global options anywhere on the line."""

from __future__ import annotations

import typer.main

from tests.helpers import invoke
from tripgenctl.cli.app import app


def command_paths(group=None, prefix=()):
    group = group or typer.main.get_command(app)
    for name, sub in getattr(group, "commands", {}).items():
        yield (*prefix, name)
        yield from command_paths(sub, (*prefix, name))


def test_every_command_has_help():
    paths = list(command_paths())
    assert ("db", "backup") in paths and ("sandbox", "start") in paths
    for path in paths:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert f"Usage: tripgenctl {' '.join(path)}" in " ".join(result.output.split()), (path, result.output)


def test_help_with_global_options_and_unknown_commands():
    assert invoke("-n", "x", "db", "--help").exit_code == 0
    assert invoke("db", "-o", "json", "--help").exit_code == 0
    unknown = invoke("db", "nothere", "--help")
    assert unknown.exit_code == 2 and "No such command" in unknown.output
