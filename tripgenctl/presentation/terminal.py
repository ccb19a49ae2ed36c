"""The one answer to "is a person watching this stream?". Everything that behaves differently on
a terminal (questions, live displays, table width) asks here, so a closed, replaced or
file-backed stream means the same thing everywhere: not a terminal."""

from __future__ import annotations

from typing import IO


def is_terminal(stream: IO | None) -> bool:
    """True when `stream` is an open terminal (stdin, stdout, stderr or any file object)."""
    if stream is None:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False
