"""The questions tripgenctl asks a person. A question is written whole to stderr only after
every live display has been taken down (reporter.pause_live), so the progress of what came
before can never draw over it; the display comes back once the answer is in."""

from __future__ import annotations

import sys

from tripgenctl.errors import NotConfirmed
from tripgenctl.presentation.reporter import pause_live
from tripgenctl.presentation.terminal import is_terminal
from tripgenctl.reporting import Confirm


def confirm(question: str, yes: bool) -> None:
    """Ask before destructive work. Never prompts without a terminal: refuses instead, so a
    cron job without --yes fails loudly rather than hanging or acting unasked. The question goes
    to stderr (visible even when stdout is redirected, e.g. `-o json > file`). Ctrl-C at the
    question is an interruption (exit 130); Ctrl-D, end of input, is "not confirmed" (exit 2)."""
    if yes:
        return
    if not is_terminal(sys.stdin):
        statement = question.removesuffix(" Continue?").rstrip("?").rstrip(".")
        raise NotConfirmed(f"{statement}: refusing without a terminal; pass --yes to proceed")
    with pause_live():
        err = sys.stderr  # after the pause: the real stream, not a live display's stand-in
        err.write(f"{question} [y/N]: ")
        err.flush()
        answer = sys.stdin.readline()  # KeyboardInterrupt (Ctrl-C) propagates: handle_errors exits 130
        if answer == "":
            err.write("\n")
            raise NotConfirmed("aborted: no answer (end of input)")
        if answer.strip().lower() not in ("y", "yes"):
            raise NotConfirmed("aborted: not confirmed")  # inside: a "no" ends the run, the display stays down


def asker(yes: bool) -> Confirm:
    """The confirm callback ops take: confirm(question) returns on yes, raises otherwise."""
    return lambda question: confirm(question, yes)
