"""State files the sandbox keeps on a shared machine -- the object store (every Secret), the
kubeconfig, tokens, PKI keys -- are the keys to the cluster: written 0600 (from the moment they
exist, not chmod-ed afterwards) in 0700 directories."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """mkdir -p, then 0700 (also for a directory that already existed with a wider mode)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: str | bytes) -> None:
    """Atomically replace `path` with `data`, mode 0600 throughout."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an older .tmp may exist with another mode
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(raw)
    finally:
        if fd != -1:
            os.close(fd)
    os.replace(tmp, path)
