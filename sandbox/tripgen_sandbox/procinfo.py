"""What the sandbox's background processes leave behind: a small JSON file of where they listen,
and a pid to check. A pid is trusted only while /proc says it is still that program (pids are
reused after a reboot)."""

from __future__ import annotations

import json
from pathlib import Path


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def alive(pid: int | None, marker: bytes) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return marker in fh.read()
    except OSError:
        return False
