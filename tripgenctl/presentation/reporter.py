"""The one progress display (the `tripgenctl.reporting.Reporter` ops talk to), in three forms:

- on a terminal, a Rich live display on stderr: the stage, one row per item, a bar per byte
  transfer; one-off lines print above it and stay;
- without one, plain lines on stderr, one per change of state (cron mail and CI logs stay
  short), an item's detail (elapsed time) or a transfer's byte count at most every
  `heartbeat` seconds;
- with `--log-format json`, the same lines as one JSON object each (reporting.json_line).

Progress goes to stderr so a command's result on stdout (-o json) stays machine-readable. The
live display starts on the first update, not when the reporter is made, so nothing is drawn
before an operation has something to show; and every question (presentation/prompts.py) takes
all live displays down first (`pause_live`), so a question is never drawn over."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import IO, Iterator

from tripgenctl.presentation.terminal import is_terminal
from tripgenctl.reporting import ByteProgress, json_line, stamp

HEARTBEAT = 30.0  # seconds between lines that only say "still going" (elapsed time, bytes)

_ACTIVE: list["LiveReporter"] = []  # the live displays drawn now, for pause_live()
_ACTIVE_LOCK = threading.RLock()


@contextlib.contextmanager
def pause_live() -> Iterator[None]:
    """Every live display taken down for the block (a question, a plan on stdout), then back."""
    with _ACTIVE_LOCK:
        held = list(_ACTIVE)
    with contextlib.ExitStack() as stack:
        for rep in held:
            stack.enter_context(rep.paused())
        yield


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class LineReporter:
    """One line per change: `2025-01-01T20:00:00Z postgresql: 1/1 Ready` (stamp), or the same
    without the time (`indent` in front instead), or a JSON object (json_lines)."""

    def __init__(self, command: str = "", stream: IO[str] | None = None, json_lines: bool = False, stamp: bool = True,
                 indent: str = "", heartbeat: float = HEARTBEAT):
        self.command = command
        self.stream = stream or sys.stderr
        self.json_lines = json_lines
        self.stamp = stamp
        self.indent = indent
        self.heartbeat = heartbeat
        self._last: dict[str, tuple[tuple, float]] = {}
        self._lock = threading.Lock()

    def _emit(self, level: str, message: str, **extra) -> None:
        with self._lock:
            if self.json_lines:
                json_line(self.command, message, level, self.stream, **extra)
                return
            self.stream.write((f"{stamp()} " if self.stamp else self.indent) + message + "\n")
            self.stream.flush()

    def _due(self, key: str, state: tuple, beat: bool) -> bool:
        """A line for a new state; for the same state only a heartbeat, when one is due."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and last[0] == state and not (beat and now - last[1] >= self.heartbeat):
                return False
            self._last[key] = (state, now)
            return True

    def phase(self, title: str) -> None:
        self._emit("info", f"== {title}", phase=title)

    def item(self, key: str, text: str, ok: bool | None = None, detail: str = "") -> None:
        if not self._due(f"item:{key}", (text, ok), bool(detail)):
            return
        extra = {"item": key, "state": text, **({} if ok is None else {"ok": ok}), **({"detail": detail} if detail else {})}
        self._emit("error" if ok is False else "info", f"{key}: {text}" + (f", {detail}" if detail else ""), **extra)

    def log(self, message: str, level: str = "info") -> None:
        self._emit(level, message)

    def transfer(self, key: str, total: int | None = None) -> ByteProgress:
        started = time.monotonic()
        self._due(f"bytes:{key}", (), False)  # the clock starts now: the first line is a heartbeat away

        def progress(done: int) -> None:
            if time.monotonic() - started >= self.heartbeat and self._due(f"bytes:{key}", (), True):
                self._emit("info", f"{key}: {_size(done)}" + (f" of {_size(total)}" if total else ""), item=key, bytes=done,
                           **({"total": total} if total else {}))

        return progress

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        yield  # lines never draw over anything

    def close(self) -> None:
        pass

    def __enter__(self) -> "LineReporter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LiveReporter:
    """A Rich live display on a terminal: title and stage, a row per item with its mark, a bar
    per transfer (bytes, rate, elapsed). Drawn from the first update until close()."""

    def __init__(self, command: str = "", stream: IO[str] | None = None):
        from rich.console import Console

        self.console = Console(file=stream or sys.stderr, highlight=False)
        self.title = f"tripgenctl {command}".strip()
        self.stage = ""
        self.rows: dict[str, tuple[str, bool | None, str]] = {}
        self.bars = None  # a rich.progress.Progress, made with the first transfer
        self.live = None
        self._pause = 0
        self._lock = threading.RLock()

    # -- drawing ---------------------------------------------------------------------------
    def _render(self):
        """Called by Rich's refresh thread too: reads, never takes the lock (stop() waits for
        that thread while holding it)."""
        from rich.console import Group
        from rich.markup import escape
        from rich.table import Table

        parts = []
        rows = list(self.rows.items())
        if rows or self.stage:
            table = Table(title=f"{self.title} {self.stage}".strip(), title_justify="left", header_style="bold", expand=False)
            table.add_column("WORKLOAD")
            table.add_column("STATE")
            for key, (text, ok, detail) in rows:
                mark = "[green]✔[/green] " if ok else "[red]✘[/red] " if ok is False else "[yellow]…[/yellow] "
                table.add_row(escape(key), mark + escape(text + (f", {detail}" if detail else "")))
            parts.append(table)
        if self.bars is not None and self.bars.tasks:
            parts.append(self.bars.get_renderable())
        return Group(*parts)

    def _show(self) -> None:
        """Start drawing (first update, or after a pause); nothing while paused."""
        if self.live is not None or self._pause:
            return
        from rich.live import Live

        self.live = Live(console=self.console, get_renderable=self._render, refresh_per_second=8, transient=False)
        self.live.start()
        with _ACTIVE_LOCK:
            _ACTIVE.append(self)

    def _hide(self) -> None:
        if self.live is None:
            return
        live, self.live = self.live, None
        live.stop()  # draws the last state once more and gives the terminal back
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)

    # -- the Reporter ----------------------------------------------------------------------
    def phase(self, title: str) -> None:
        with self._lock:
            self.stage = f"— {title}"
            self._show()

    def item(self, key: str, text: str, ok: bool | None = None, detail: str = "") -> None:
        with self._lock:
            self.rows[key] = (text, ok, detail)
            self._show()

    def log(self, message: str, level: str = "info") -> None:
        from rich.text import Text

        with self._lock:
            style = {"error": "red", "warning": "yellow"}.get(level, "")
            (self.live.console if self.live is not None else self.console).print(Text(message, style=style))

    def transfer(self, key: str, total: int | None = None) -> ByteProgress:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn, TransferSpeedColumn

        with self._lock:
            if self.bars is None:
                self.bars = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                     TimeElapsedColumn(), console=self.console, auto_refresh=False)
            bars = self.bars
            task = bars.add_task(key, total=total, start=False, visible=False)

        def progress(done: int) -> None:
            with self._lock:
                if not bars.tasks[task].started:
                    bars.start_task(task)
                bars.update(task, completed=done, visible=True)
                self._show()

        return progress

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            self._pause += 1
            self._hide()
        try:
            yield
        except BaseException:  # the run ends here (no, Ctrl-C): the display stays down
            with self._lock:
                self._pause -= 1
            raise
        with self._lock:
            self._pause -= 1
            if not self._pause and (self.rows or self.stage or (self.bars is not None and any(t.visible for t in self.bars.tasks))):
                self._show()

    def close(self) -> None:
        with self._lock:
            self._hide()
            self.rows, self.stage = {}, ""
            if self.bars is not None:
                for t in list(self.bars.tasks):
                    self.bars.remove_task(t.id)

    def __enter__(self) -> "LiveReporter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def reporter(command: str, live: bool | None = None, log_format: str = "text", stream: IO[str] | None = None, *,
             stamp: bool = True, indent: str = ""):
    """The right reporter for where stderr goes: JSON lines with log_format json, else a live
    display on a terminal, else plain lines (with a time stamp, or `indent` in front)."""
    out = stream or sys.stderr
    if log_format == "json":
        return LineReporter(command, out, json_lines=True)
    if live is None:
        live = is_terminal(out)
    if live:
        return LiveReporter(command, out)
    return LineReporter(command, out, stamp=stamp, indent=indent)
