"""Byte progress for long transfers: a Rich bar with bytes and rate on a terminal, nothing on a
pipe (cron output stays clean; the command's result line says what happened)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from tripgenctl.cli.common import stdout_is_tty


@contextlib.contextmanager
def byte_progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None] | None]:
    if not stdout_is_tty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn, TransferSpeedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)
