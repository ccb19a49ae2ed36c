"""The root command. Global options may stand anywhere on the line, as with kubectl
(`tripgenctl status -o json`): GlobalFirstGroup moves them in front of the verb before Click
parses, so each verb does not have to redeclare them."""

from __future__ import annotations

import importlib
from typing import Optional

import typer
from typer.core import TyperGroup

from tripgenctl import __version__
from tripgenctl.cli.common import DEFAULT_NAMESPACE, GlobalOptions, fail

# option -> takes a value
GLOBAL_OPTIONS = {
    "--config": True,
    "--kubeconfig": True,
    "--context": True,
    "-n": True,
    "--namespace": True,
    "-o": True,
    "--output": True,
    "-v": False,
    "--verbose": False,
}


def hoist_global_options(args: list[str]) -> list[str]:
    """Return args with the global options moved to the front, values kept with them.
    Everything after a bare `--` is left alone."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name]
            if takes_value and "=" not in arg and i + 1 < len(args):
                front.extend(args[i : i + 2])
                i += 2
                continue
            front.append(arg)
        elif len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and arg[:2] in ("-n", "-o"):
            front.append(arg)  # -ojson / -nfoo
        else:
            rest.append(arg)
        i += 1
    return front + rest


RUNBOOK_ORDER = ["sandbox", "secrets", "deploy", "diff", "status", "down", "up", "wake", "data", "db", "cache",
                 "doctor", "cluster", "bus", "schedule"]


class GlobalFirstGroup(TyperGroup):
    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(list(args)))

    def resolve_command(self, ctx, args: list[str]):
        """Also note the full command path ("db backup") for the root callback, which checks
        -o against what that command can write before anything runs."""
        name, cmd, rest = super().resolve_command(ctx, args)
        ctx.meta["tripgenctl.command"] = " ".join([name or "", *_subcommand_path(cmd, rest)]).strip()
        return name, cmd, rest

    def list_commands(self, ctx) -> list[str]:
        """The runbook's order, not alphabetical."""
        known = [c for c in RUNBOOK_ORDER if c in self.commands]
        return known + [c for c in self.commands if c not in known]


def _subcommand_path(cmd, args: list[str]) -> list[str]:
    """The sub-command names under a group that `args` select (options before them skipped)."""
    path: list[str] = []
    while isinstance(getattr(cmd, "commands", None), dict):
        nxt = next((a for a in args if not a.startswith("-")), None)
        if nxt is None or nxt not in cmd.commands:
            break
        path.append(nxt)
        cmd, args = cmd.commands[nxt], args[args.index(nxt) + 1:]
    return path


app = typer.Typer(
    cls=GlobalFirstGroup,
    help="Operate the TripGen development environment (AKS): up/down, deploy, data, backups, doctor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _configured_namespace() -> str:
    from tripgenctl.cli.validate import dns_label
    from tripgenctl.config import load
    from tripgenctl.errors import ToolError

    try:
        return dns_label(load().namespace, "namespace (config)")
    except ToolError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(exc.exit_code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tripgenctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    kubeconfig: Optional[str] = typer.Option(None, "--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file."),
    context: Optional[str] = typer.Option(None, "--context", help="Kubeconfig context to use."),
    namespace: Optional[str] = typer.Option(None, "-n", "--namespace", help=f"Namespace of the environment (default from config: {DEFAULT_NAMESPACE})."),
    config: Optional[str] = typer.Option(None, "--config", help="Config file (TOML; default ./tripgenctl.toml, then ~/.config/tripgenctl/config.toml)."),
    output: str = typer.Option("table", "-o", "--output", help="Output format: table, json or yaml (doctor also: junit)."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More detail (never secret values)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    from tripgenctl.cli import validate
    from tripgenctl.errors import ToolError

    try:  # input checked before any call: one line, exit 2
        validate.output(output, ctx.meta.get("tripgenctl.command"))
        if config:
            validate.file_path(config, "--config")
        if namespace is not None:
            validate.dns_label(namespace, "namespace")
    except ToolError as exc:
        fail(exc.message, exc.exit_code)
    import tripgenctl.azure  # the package only (no SDK): how much of the SDKs' logging -v lets through

    tripgenctl.azure.set_verbosity(verbose)
    if config:
        import os

        os.environ["TRIPGENCTL_CONFIG"] = config  # every load() in this process (and its children) reads it
    if namespace is None:
        namespace = _configured_namespace()
    ctx.obj = GlobalOptions(kubeconfig=kubeconfig, context=context, namespace=namespace, output=output, verbose=verbose)


# Sub-command modules register themselves on import. Each entry: module path (relative to
# tripgenctl.cli). A module missing its optional dependencies must still import: they import
# heavy things inside command bodies only.
COMMAND_MODULES = [
    "secrets",
    "deploy",
    "status",
    "updown",
    "db",
    "cache",
    "doctor",
    "schedule",
    "wake",
    "data",
    "cluster",
    "bus",
]


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tripgenctl.cli.{name}")
        module.register(app)
    from tripgenctl.cli.plugins import register_plugins

    register_plugins(app)


_register()


def main() -> None:
    app()
