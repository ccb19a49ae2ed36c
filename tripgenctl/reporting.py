"""What an operation may tell about its progress, without knowing who listens (leaf, Rich-free).

Ops take a `Reporter` (typed by the Protocol below, `SILENT` when nobody listens) and a confirm
callback; the front end (tripgenctl/presentation/) decides whether that becomes a live display
on a terminal, plain lines on a pipe or one JSON object per line. Keeping the interface here,
apart from the presentation package, is what lets ops stay free of Rich: they import this
module only.

Also here: the one writer of JSON log lines (`json_line`), shared by the JSON reporter and the
run records of unattended runs (ops/runlog.py), so every line a log collector reads has the same
shape (time, level, command, message, ...)."""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import datetime, timezone
from typing import IO, Any, Callable, ContextManager, Iterator, Protocol

Confirm = Callable[[str], None]  # confirm(question): returns when the answer is yes, raises otherwise
ByteProgress = Callable[[int], None]  # bytes done so far, for one transfer


class Reporter(Protocol):
    """Phases, items and byte counts of one long operation."""

    def phase(self, title: str) -> None:
        """A new stage of the operation ("stopping applications", ...)."""

    def item(self, key: str, text: str, ok: bool | None = None, detail: str = "") -> None:
        """The current state of one thing (a workload); ok True/False once it is settled. `detail`
        (elapsed time, ...) is shown with it but is not a change of state by itself."""

    def log(self, message: str, level: str = "info") -> None:
        """A one-off line that stays."""

    def transfer(self, key: str, total: int | None = None) -> ByteProgress:
        """A byte count: returns the callback that takes the bytes done so far."""

    def paused(self) -> ContextManager[None]:
        """The terminal to itself for a moment (a plan, a question): any live display is taken
        down first and comes back afterwards."""

    def close(self) -> None:
        """The end of the display (idempotent; a later update starts a new one)."""


class _Silent:
    """The reporter of nobody listening: library calls, tests, a dry run."""

    def phase(self, title: str) -> None:
        pass

    def item(self, key: str, text: str, ok: bool | None = None, detail: str = "") -> None:
        pass

    def log(self, message: str, level: str = "info") -> None:
        pass

    def transfer(self, key: str, total: int | None = None) -> ByteProgress:
        return lambda done: None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass

    def __enter__(self) -> "_Silent":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


SILENT: Reporter = _Silent()


def stamp() -> str:
    """UTC, to the second: the time every progress and log line carries."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_line(command: str, message: str, level: str = "info", stream: IO[str] | None = None, **fields: Any) -> None:
    """One JSON object on one line (time, level, command, message, then the fields), flushed:
    the one shape of `--log-format json` output, progress and run records alike."""
    out = stream or sys.stderr
    record = {"time": stamp(), "level": level, "command": command, "message": message, **fields}
    out.write(json.dumps(record) + "\n")
    out.flush()
