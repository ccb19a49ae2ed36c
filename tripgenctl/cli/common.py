"""What every command shares: the global options (which kubectl users type after the verb),
confirmation rules, and turning ToolErrors into one line and an exit code."""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import typer

from tripgenctl.errors import EXIT_USAGE, NotConfirmed, ToolError

DEFAULT_NAMESPACE = "tripgen-dev"
OUTPUT_FORMATS = ("table", "json")


@dataclass
class GlobalOptions:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    output: str = "table"
    verbose: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    config: Any = None  # the ToolConfig the root callback loaded and checked (None outside the CLI)

    def kube(self):
        """The Kubernetes door for these options (imported lazily: --help stays instant)."""
        from tripgenctl.kube.client import connect

        return connect(kubeconfig=self.kubeconfig, context=self.context, namespace=self.namespace)


def options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    if not isinstance(root.obj, GlobalOptions):
        root.obj = GlobalOptions()
    return root.obj


def stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, AttributeError):
        return False


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (ValueError, AttributeError):
        return False


def confirm(question: str, yes: bool) -> None:
    """Ask before destructive work. Never prompts without a terminal: refuses instead, so a
    cron job without --yes fails loudly rather than hanging or acting unasked."""
    if yes:
        return
    if not stdin_is_tty():
        raise NotConfirmed(f"{question.rstrip('?')}: refusing without a terminal; pass --yes to proceed")
    if not typer.confirm(question, default=False):
        raise NotConfirmed("aborted: not confirmed")


def fail(message: str, code: int = EXIT_USAGE) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def report(result, output: str, ok: bool | None = None) -> None:
    """Render a result, then exit 1 when it says a problem was found (kubectl diff's habit): the
    exit code scripts and cron act on comes from the same object people read."""
    from tripgenctl.render import render

    render(result, output)
    if not (result.ok if ok is None else ok):
        raise typer.Exit(1)


def handle_errors(fn: Callable) -> Callable:
    """Every command body runs inside this: ToolErrors become one line on stderr and their exit
    code; Ctrl-C becomes exit 130; anything unexpected is still one line (with --verbose, the
    traceback), never a bare stack trace."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.TyperException):
            raise  # usage errors (BadParameter raised in a body): Typer prints them, exit 2
        except ToolError as exc:
            fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("TRIPGENCTL_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc}", 1)

    return wrapper
