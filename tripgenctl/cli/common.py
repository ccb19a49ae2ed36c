"""What every command shares: the global options (which kubectl users type after the verb),
confirmation rules, and turning ToolErrors into one line and an exit code."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import typer

from tripgenctl.cli.options import ALLOW_OTHER_CONTEXT_HELP, DEFAULT_NAMESPACE, LOG_FORMAT_HELP, NO_SAFETY_BACKUP_HELP  # noqa: F401 - declared there, once
from tripgenctl.errors import EXIT_USAGE, ToolError

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

        return connect(kubeconfig=self.kubeconfig, context=self.context, namespace=self.namespace, config=self.config)


def options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    if not isinstance(root.obj, GlobalOptions):
        root.obj = GlobalOptions()
    return root.obj


def confirm(question: str, yes: bool) -> None:
    """The question of presentation/prompts.py, imported when a command asks (not for --help)."""
    from tripgenctl.presentation.prompts import confirm as ask

    ask(question, yes)


def config_of(ctx: typer.Context):
    """The run's ToolConfig, loaded and checked once by the root callback (the defaults when a
    command runs without it, e.g. under --help). Commands hand it to ops; nobody loads again."""
    from tripgenctl.config import ToolConfig

    cfg = options(ctx).config
    return cfg if cfg is not None else ToolConfig()


def gate(ctx: typer.Context, *, yes: bool = False, dry_run: bool = False, allow_other_context: bool = False,
         no_safety_backup: bool = False, backup_dir: str | None = None, log_format: str = "text"):
    """The safety contract (ops/safety.py) with a terminal's callbacks: the question, the dry-run
    plan on stdout (in the -o format), progress and warnings on stderr, JSON trail lines."""
    from pathlib import Path

    from tripgenctl.ops import runlog, safety
    from tripgenctl.presentation.render import render

    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    opts = options(ctx)
    chosen = safety.Options(yes=yes, dry_run=dry_run, allow_other_context=allow_other_context, no_safety_backup=no_safety_backup,
                            backup_dir=Path(backup_dir) if backup_dir else None, log_format=log_format)
    return safety.Gate(chosen, config_of(ctx), confirm=lambda question: confirm(question, yes),
                       show_plan=lambda plan: render(plan, opts.output),
                       say=lambda text: typer.echo(f"  {text}" if not text.startswith("warning:") else text, err=True),
                       emit=runlog.emit)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def report(result, output: str, ok: bool | None = None) -> None:
    """Render a result, then exit with the code it carries (exit_for): the exit code scripts and
    cron act on comes from the same object people read. `ok` (plugins) overrides the result's."""
    from tripgenctl.presentation.render import render

    render(result, output)
    exit_for(result if ok is None else _Verdict(ok))


class _Verdict:
    """A plugin's own ok/not-ok for a result that has no say of its own (report(..., ok=))."""

    def __init__(self, ok: bool):
        self.ok = ok


def exit_for(result) -> None:
    """End the command with the exit code the result carries (errors.exit_code_of: its
    exit_code, else ok -> 0 / 1); return when that is 0."""
    from tripgenctl.errors import exit_code_of

    code = exit_code_of(result)
    if code:
        raise typer.Exit(code)


def _signal_names(signum: int) -> str:
    import signal

    return {signal.SIGTERM: "terminated (SIGTERM)", signal.SIGHUP: "hung up (SIGHUP)"}.get(signum, "interrupted")


class _Signals:
    """SIGTERM (a CronJob deadline, `kill`) and SIGHUP (a closed terminal) raise like Ctrl-C does,
    so every finally block runs (locks released, partial files removed) and the exit code is
    128 + the signal. Installed only in the main thread (a test runner's thread cannot)."""

    received: int | None = None  # the signal that ended this run, if one did

    def __enter__(self):
        import signal

        from tripgenctl.ops.safety import Interrupted

        def handler(signum, frame):
            for sig in (signal.SIGTERM, signal.SIGHUP):  # a second signal must not cut the cleanup short
                try:
                    signal.signal(sig, signal.SIG_IGN)
                except (ValueError, OSError):
                    pass
            _Signals.received = signum
            raise Interrupted(signum)

        _Signals.received = None
        self.previous = {}
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self.previous[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        import signal

        for sig, prev in self.previous.items():
            try:
                signal.signal(sig, prev)
            except (ValueError, OSError):
                pass
        return False


def run_guarded(body: Callable[[], Any]) -> Any:
    """Run `body` the way every command runs (installed once, by the root group's invoke):
    ToolErrors become one line on stderr and their exit code; Ctrl-C, SIGTERM and SIGHUP become
    one line and exit 128 + signal (130, 143, 129); anything unexpected is still one line (with
    TRIPGENCTL_DEBUG set, the traceback), never a bare stack trace."""
    try:
        with _Signals():
            return body()
    except (typer.Exit, typer.TyperException):
        raise  # usage errors (BadParameter raised in a body): Typer prints them, exit 2
    except ToolError as exc:
        fail(exc.message, exc.exit_code)
    except KeyboardInterrupt as exc:
        from tripgenctl.ops.safety import signum_of

        signum = signum_of(exc)
        typer.echo(_signal_names(signum), err=True)
        raise typer.Exit(128 + signum)
    except typer.Abort:  # a Typer prompt met Ctrl-C or Ctrl-D, or a SIGTERM/SIGHUP at the question
        signum = _Signals.received or 2
        typer.echo(_signal_names(signum), err=True)
        raise typer.Exit(128 + signum)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("TRIPGENCTL_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc}", 1)


def handle_errors(fn: Callable) -> Callable:
    """run_guarded() as a decorator. The product's commands do not need it (the root group
    installs it once); it stays for plugins (the host offers it) and for a command run outside
    the root group. Nested inside the root's, it changes nothing."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return run_guarded(lambda: fn(*args, **kwargs))

    return wrapper
