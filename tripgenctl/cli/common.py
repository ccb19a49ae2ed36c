"""What every command shares: the global options (which kubectl users type after the verb),
confirmation rules, and turning ToolErrors into one line and an exit code."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import typer

from tripgenctl.errors import EXIT_USAGE, ToolError
from tripgenctl.presentation.prompts import confirm  # noqa: F401 - the question lives in presentation/; commands import it here

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


def gate(ctx: typer.Context, *, yes: bool = False, dry_run: bool = False, allow_other_context: bool = False,
         no_safety_backup: bool = False, backup_dir: str | None = None, log_format: str = "text"):
    """The safety contract (ops/safety.py) with a terminal's callbacks: the question, the dry-run
    plan on stdout (in the -o format), progress and warnings on stderr, JSON trail lines."""
    from pathlib import Path

    from tripgenctl.config import load
    from tripgenctl.ops import runlog, safety
    from tripgenctl.presentation.render import render

    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    opts = options(ctx)
    chosen = safety.Options(yes=yes, dry_run=dry_run, allow_other_context=allow_other_context, no_safety_backup=no_safety_backup,
                            backup_dir=Path(backup_dir) if backup_dir else None, log_format=log_format)
    return safety.Gate(chosen, load(), confirm=lambda question: confirm(question, yes),
                       show_plan=lambda plan: render(plan, opts.output),
                       say=lambda text: typer.echo(f"  {text}" if not text.startswith("warning:") else text, err=True),
                       emit=runlog.emit)


ALLOW_OTHER_CONTEXT_HELP = "Act even though the kube context is not one configured for the environment (expected_contexts). --yes does not imply it."
NO_SAFETY_BACKUP_HELP = "Skip the verified backup taken before rows are deleted or overwritten."
LOG_FORMAT_HELP = "text, or json: the run's trail as one JSON line on stderr."


def fail(message: str, code: int = EXIT_USAGE) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def report(result, output: str, ok: bool | None = None) -> None:
    """Render a result, then exit 1 when it says a problem was found (kubectl diff's habit): the
    exit code scripts and cron act on comes from the same object people read."""
    from tripgenctl.presentation.render import render

    render(result, output)
    if not (result.ok if ok is None else ok):
        raise typer.Exit(1)


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


def handle_errors(fn: Callable) -> Callable:
    """Every command body runs inside this: ToolErrors become one line on stderr and their exit
    code; Ctrl-C, SIGTERM and SIGHUP become one line and exit 128 + signal (130, 143, 129);
    anything unexpected is still one line (with --verbose, the traceback), never a bare stack
    trace."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with _Signals():
                return fn(*args, **kwargs)
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

    return wrapper
