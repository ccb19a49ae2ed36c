"""Commands that other distributions add to tripgenctl (the sandbox is one). The product never
imports them: it finds them through the `tripgenctl.commands` entry-point group and hands each
one a `PluginHost`, the few CLI services a command needs (error handling, options, rendering,
confirmation), so a plugin depends on this one interface and not on tripgenctl's internals."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

import typer

ENTRY_POINT_GROUP = "tripgenctl.commands"

# Commands the README promises, with the line that tells a user how to get them.
KNOWN_PLUGINS = {
    "sandbox": "the sandbox is not installed: pip install ./sandbox (from a tripgenctl checkout), or run make demo",
}


@dataclass(frozen=True)
class PluginHost:
    handle_errors: Callable
    options: Callable
    report: Callable
    render: Callable
    confirm: Callable


def _host() -> PluginHost:
    from tripgenctl.cli.common import confirm, handle_errors, options, report
    from tripgenctl.render import render

    return PluginHost(handle_errors=handle_errors, options=options, report=report, render=render, confirm=confirm)


def _missing(name: str, hint: str) -> Callable[..., Any]:
    def command() -> None:
        typer.echo(f"error: {hint}", err=True)
        raise typer.Exit(2)

    command.__doc__ = f"(not installed) {hint}"
    return command


def register_plugins(app: typer.Typer) -> list[str]:
    """Add every installed plugin's commands; for a known plugin that is absent, a command that
    says in one line how to install it (exit 2). Returns the names registered."""
    host = _host()
    found: list[str] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()(app, host)
        found.append(ep.name)
    for name, hint in KNOWN_PLUGINS.items():
        if name not in found:
            app.command(name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                        add_help_option=False)(_missing(name, hint))
    return found
