"""Errors a user can cause or meet. The CLI prints their message on one line and exits with
their code, so nothing here may carry a secret value in its message."""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class ToolError(Exception):
    """An expected failure with a one-line explanation for the user."""

    exit_code = EXIT_PROBLEM

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(ToolError):
    exit_code = EXIT_USAGE


class ConnectionFailed(ToolError):
    """The cluster (or Azure) could not be reached or refused our credentials."""

    exit_code = EXIT_USAGE


class NotConfirmed(ToolError):
    """A destructive action was not confirmed (no TTY and no --yes, or the user said no)."""

    exit_code = EXIT_USAGE


class ProblemFound(ToolError):
    exit_code = EXIT_PROBLEM


def exit_code_of(result) -> int:
    """The one mapping from a command's result to its exit code. A result carries its code: an
    `exit_code` (an int, or a property computing one) wins; else `ok` gives 0 or 1 (a problem
    found, as kubectl diff); a ToolError gives its own; nothing to report (None) is 0."""
    if result is None:
        return EXIT_OK
    code = getattr(result, "exit_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    ok = getattr(result, "ok", None)
    if ok is None:
        return EXIT_OK
    return EXIT_OK if ok else EXIT_PROBLEM
