"""Progress of long operations: a live table on a terminal, plain timestamped lines otherwise
(cron mail and CI logs stay readable), or JSON lines for log collectors. Progress goes to stderr
so a command's result on stdout (-o json) stays machine-readable. Operations receive a
Reporter and never care which one."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone
from typing import IO


class Reporter:
    """The interface (and the silent implementation, for library use and tests)."""

    def phase(self, title: str) -> None:
        """A new stage of the operation ("data services", "applications", ...)."""

    def item(self, key: str, text: str, ok: bool | None = None) -> None:
        """The current state of one thing (a workload); ok True/False when it is settled."""

    def log(self, message: str, level: str = "info") -> None:
        """A one-off line."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class LineReporter(Reporter):
    """One line per change: `2025-01-01T20:00:00Z postgresql: 1/1 Ready`."""

    def __init__(self, stream: IO[str] | None = None, json_lines: bool = False, command: str = ""):
        self.stream = stream or sys.stderr
        self.json_lines = json_lines
        self.command = command
        self._lock = threading.Lock()

    def _emit(self, level: str, message: str, **extra) -> None:
        if self.json_lines:
            record = {"time": _stamp(), "level": level, "command": self.command, "message": message, **extra}
            line = json.dumps(record, sort_keys=False)
        else:
            line = f"{_stamp()} {message}"
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def phase(self, title: str) -> None:
        self._emit("info", f"== {title}", phase=title)

    def item(self, key: str, text: str, ok: bool | None = None) -> None:
        level = "error" if ok is False else "info"
        self._emit(level, f"{key}: {text}", item=key, state=text, **({} if ok is None else {"ok": ok}))

    def log(self, message: str, level: str = "info") -> None:
        self._emit(level, message)


class LiveReporter(Reporter):
    """A Rich live table (stage, then one row per item) redrawn in place on a terminal."""

    def __init__(self, stream: IO[str] | None = None, title: str = ""):
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream or sys.stderr, highlight=False)
        self.title = title
        self.stage = ""
        self.rows: dict[str, tuple[str, bool | None]] = {}
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)
        self.live.start()

    def _render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"{self.title} {self.stage}".strip(), title_justify="left", header_style="bold", expand=False)
        table.add_column("WORKLOAD")
        table.add_column("STATE")
        for key, (text, ok) in self.rows.items():
            mark = "[green]✔[/green] " if ok else "[red]✘[/red] " if ok is False else "[yellow]…[/yellow] "
            table.add_row(key, mark + text.replace("[", "\\["))
        return Group(*(Text(line) for line in self.lines[-5:]), table)

    def _refresh(self) -> None:
        self.live.update(self._render())

    def phase(self, title: str) -> None:
        with self._lock:
            self.stage = f"— {title}"
            self._refresh()

    def item(self, key: str, text: str, ok: bool | None = None) -> None:
        with self._lock:
            self.rows[key] = (text, ok)
            self._refresh()

    def log(self, message: str, level: str = "info") -> None:
        with self._lock:
            self.lines.append(message)
            self._refresh()

    def close(self) -> None:
        with self._lock:
            self._refresh()
            self.live.stop()


def reporter(command: str, live: bool | None = None, log_format: str = "text", stream: IO[str] | None = None) -> Reporter:
    """The right reporter: live when on a terminal (and text format), else lines."""
    out = stream or sys.stderr
    if live is None:
        try:
            live = out.isatty()
        except (AttributeError, ValueError):
            live = False
    if log_format == "json":
        return LineReporter(out, json_lines=True, command=command)
    if live:
        return LiveReporter(out, title=f"tripgenctl {command}")
    return LineReporter(out, command=command)
