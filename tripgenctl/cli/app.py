"""The root command. Global options may stand anywhere on the line, as with kubectl
(`tripgenctl status -o json`): GlobalFirstGroup moves them in front of the verb before Click
parses, so each verb does not have to redeclare them."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Optional

import typer
from typer.core import TyperGroup

from tripgenctl import __version__
from tripgenctl.cli import options as option
from tripgenctl.cli.common import GlobalOptions, fail

# option -> takes a value
GLOBAL_OPTIONS = {
    "--config": True,
    "--env": True,
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
                 "doctor", "cluster", "bus", "schedule", "cost", "env"]


HELP_REQUESTED = "tripgenctl.help_requested"


class GlobalFirstGroup(TyperGroup):
    def parse_args(self, ctx, args: list[str]) -> list[str]:
        words = list(args)
        before_dashes = words[: words.index("--")] if "--" in words else words
        ctx.meta[HELP_REQUESTED] = "--help" in before_dashes or "-h" in before_dashes
        if ctx.meta[HELP_REQUESTED] and not ctx.resilient_parsing:
            self._subcommand_help(ctx, before_dashes)
        return super().parse_args(ctx, hoist_global_options(words))

    def _subcommand_help(self, ctx, words: list[str]) -> None:
        """`tripgenctl db --help` straight from the sub-command, as fast as a bare app's --help:
        the root's own options (which help does not need) are not processed. Only when the line
        is just command names and --help; anything else takes the ordinary path."""
        names = []
        for word in words:
            if word in ("--help", "-h"):
                break
            if word.startswith("-"):
                return
            names.append(word)
        command, parent = self, ctx
        for i, name in enumerate(names):
            sub = command.get_command(parent, name) if hasattr(command, "get_command") else None
            if sub is None:
                return
            if i == len(names) - 1:
                sub.make_context(name, ["--help"], parent=parent)  # prints the help, raises Exit
            parent = sub.make_context(name, [], parent=parent, resilient_parsing=True)
            command = sub

    def resolve_command(self, ctx, args: list[str]):
        """Also note the full command path ("db backup") for the root callback, which checks
        -o against what that command can write before anything runs."""
        name, cmd, rest = super().resolve_command(ctx, args)
        ctx.meta["tripgenctl.command"] = " ".join([name or "", *_subcommand_path(cmd, rest)]).strip()
        return name, cmd, rest

    def invoke(self, ctx):
        """Error handling, installed once for every command below the root (common.run_guarded):
        one line and the error's exit code, 130/143/129 for SIGINT/SIGTERM/SIGHUP."""
        from tripgenctl.cli.common import run_guarded

        return run_guarded(lambda: super(GlobalFirstGroup, self).invoke(ctx))

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
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _load_config(ctx: typer.Context, path: str | None, env: str | None, kubeconfig: str | None, context: str | None):
    """(configuration, namespace of a developer's copy or None), read and type-checked once per
    run and handed to every command through ctx.obj (GlobalOptions.config): nothing else loads
    it, and --config / --env reach nobody through os.environ. A bad value is one line naming
    the file, section and key (exit 2) before any command starts. `--env NAME` that the config
    does not hold may name a copy (`env create`): it is looked up in the default environment's
    cluster. Skipped for `--help` and shell completion, which must work whatever the file says."""
    from tripgenctl.cli.validate import dns_label
    from tripgenctl.config import ENV_VAR, ToolConfig, UnknownEnvironment, load
    from tripgenctl.errors import ToolError

    if ctx.resilient_parsing or ctx.meta.get(HELP_REQUESTED):
        return ToolConfig(), None
    try:
        try:
            cfg, found = load(path, env), None
        except UnknownEnvironment as unknown:
            cfg = load(path, None, {k: v for k, v in os.environ.items() if k != ENV_VAR})  # the default environment
            from tripgenctl.ops.envcopy import find_copy

            found = find_copy(cfg, unknown.name, kubeconfig, context)
            if found is None:
                raise unknown from None
        dns_label(cfg.namespace, "namespace (config)")
        return cfg, found
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
    kubeconfig: Optional[str] = option.kubeconfig(),
    context: Optional[str] = option.context(),
    namespace: Optional[str] = option.namespace(),
    config: Optional[str] = option.config(),
    env: Optional[str] = option.env(),
    output: str = option.output(),
    verbose: int = option.verbose(),
    version: bool = option.version(_version),
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
    # No os.environ hand-off of --config / --env: the config is built here, once, and passed
    # on (no child process of ours reads it; the schedule's jobs get theirs as a ConfigMap).
    cfg, copy_namespace = _load_config(ctx, config, env, kubeconfig, context)
    if namespace is None:
        namespace = copy_namespace or cfg.namespace
    if context is None and cfg.environment:
        context = cfg.environments[cfg.environment].context
    ctx.obj = GlobalOptions(kubeconfig=kubeconfig, context=context, namespace=namespace, output=output, verbose=verbose,
                            config=cfg)


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
    "cost",
    "env",
]


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tripgenctl.cli.{name}")
        module.register(app)
    from tripgenctl.cli.plugins import register_plugins

    register_plugins(app)


_register()


def main() -> None:
    """Build the command tree once, give its parameters their shell completers, run it."""
    import typer.main

    from tripgenctl.cli.completion import attach

    command = typer.main.get_command(app)
    if any(key.endswith("_COMPLETE") for key in os.environ):  # only a shell's Tab needs the completers
        attach(command)
    try:
        command(prog_name="tripgenctl", args=optional_values(sys.argv[1:]))
    except SystemExit as done:
        finish(done.code)
    finish(0)


def finish(code) -> None:
    """Exit as the interpreter would, minus its teardown of every module (about 50 ms after a
    command that loaded the SDKs, a tenth of a small `db backup`): threads that are not daemons
    are waited for (thread pools told to stop first, as at a normal exit), then the atexit
    handlers run (the SDK's removal of its temporary
    certificate files, logging's flush), then stdout and stderr are flushed. Every file a
    command writes is closed (and a backup fsync'ed) before its function returns."""
    import atexit
    import threading

    if isinstance(code, str):  # SystemExit("message"): printed, exit 1, as Python does
        print(code, file=sys.stderr)
        code = 1
    status = 0 if code is None else int(code)
    getattr(threading, "_shutdown", lambda: None)()  # what the interpreter's exit does first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`): the command's own status
            pass
    os._exit(status)


# Options whose value may be left out (the parser has no such notion): `db list --store` means
# the configured store, `db list --store azure://...` that one.
OPTIONAL_VALUE = {"--store": "(configured)"}


def optional_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--":
            return out + argv[i + 1:]
        if arg in OPTIONAL_VALUE and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUE[arg])
    return out
