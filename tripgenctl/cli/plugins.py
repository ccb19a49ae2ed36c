"""Commands that other distributions add to tripgenctl (the sandbox is one). The product never
imports them: it finds them through the `tripgenctl.commands` entry-point group and hands each
one a `PluginHost`, the few CLI services a command needs (error handling, options, rendering,
confirmation), so a plugin depends on this one interface and not on tripgenctl's internals."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator

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
    from tripgenctl.presentation.render import render

    return PluginHost(handle_errors=handle_errors, options=options, report=report, render=render, confirm=confirm)


def _missing(name: str, hint: str) -> Callable[..., Any]:
    def command() -> None:
        typer.echo(f"error: {hint}", err=True)
        raise typer.Exit(2)

    command.__doc__ = f"(not installed) {hint}"
    return command


def _entry_points(group: str) -> Iterator[tuple[str, str]]:
    """(name, "module:attr") of every installed distribution's entry points in `group`, first on
    sys.path wins, as importlib.metadata would answer. Read straight from the dist-info files:
    importlib.metadata costs more than the rest of a `--help` (it imports the email package)."""
    seen: set[str] = set()
    header = f"[{group}]"
    for base in sys.path:
        try:
            names = os.listdir(base or ".")
        except OSError:
            continue
        for dist in names:
            if not dist.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(base or ".", dist, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if header in text:
                yield from _section(text, header, seen)


def _section(text: str, header: str, seen: set[str]) -> Iterator[tuple[str, str]]:
    inside = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            inside = line == header
        elif inside and "=" in line and not line.startswith(("#", ";")):
            name, target = (part.strip() for part in line.split("=", 1))
            if name not in seen:
                seen.add(name)
                yield name, target


def _load(target: str) -> Callable:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module.strip())
    for part in attr.strip().split(".") if attr.strip() else []:
        obj = getattr(obj, part)
    return obj


def register_plugins(app: typer.Typer) -> list[str]:
    """Add every installed plugin's commands; for a known plugin that is absent, a command that
    says in one line how to install it (exit 2). Returns the names registered."""
    host = _host()
    found: list[str] = []
    for name, target in _entry_points(ENTRY_POINT_GROUP):
        _load(target)(app, host)
        found.append(name)
    for name, hint in KNOWN_PLUGINS.items():
        if name not in found:
            app.command(name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                        add_help_option=False)(_missing(name, hint))
    return found
