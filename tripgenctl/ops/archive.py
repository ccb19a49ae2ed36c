"""Local checks of a backup file: its sha256, and whether the archive is complete (custom format:
the whole archive reads back with pg_restore; plain: pg_dump's closing trailer). Needs a
PostgreSQL 16 pg_restore: the one from the `pgserver` wheel, else the first on PATH that can read
the archive's version."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

PLAIN_TRAILER = b"-- PostgreSQL database dump complete"
CUSTOM_MAGIC = b"PGDMP"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk)
            if not data:
                break
            h.update(data)
    return h.hexdigest()


def detect_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(5)
    return "custom" if head == CUSTOM_MAGIC else "plain"


def pg_restore_candidates() -> list[str]:
    out = []
    # Located, not imported: importing pgserver creates its runtime dir at once and warns on
    # stderr when XDG_RUNTIME_DIR is unset, which would break our one-line error output.
    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "pginstall" / "bin" / "pg_restore"
        if binary.exists():
            out.append(str(binary))
            break
    found = shutil.which("pg_restore")
    if found:
        out.append(found)
    return out


# The custom archive's header (pg_backup_archiver.c WriteHead): "PGDMP", version major, minor,
# revision, int size, offset size, format; from version 1.15 (PostgreSQL 16) one byte naming the
# compression algorithm, before that an int holding the zlib level (0: none).
_ALGORITHMS = {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}


def header_compression(head: bytes) -> str | None:
    """The compression a custom archive's first bytes declare ("none", "gzip", "lz4", "zstd"),
    None when they are not a custom archive's header. Read from the stream as it arrives, so
    the metadata records the method without another pass over the file."""
    if len(head) < 12 or not head.startswith(CUSTOM_MAGIC):
        return None
    vmaj, vmin, int_size = head[5], head[6], head[8]
    if (vmaj, vmin) >= (1, 15):
        return _ALGORITHMS.get(head[11])
    if len(head) < 12 + int_size:
        return None
    sign, level = head[11], int.from_bytes(head[12:12 + int_size], "little")
    return "none" if level == 0 or sign else "gzip"


class ReadBack:
    """pg_restore reading a custom archive while it is being written: the same full read-back
    as `check_complete` (every block, every compressed block's checksum), fed from the stream
    instead of re-reading the file afterwards. `finish()` says (complete?, reason); when the
    first pg_restore cannot read the archive's version, the caller falls back to the file."""

    def __init__(self) -> None:
        candidates = pg_restore_candidates()
        self.proc = None
        self.broken = False
        self._err = tempfile.TemporaryFile()  # a file, not a pipe: pg_restore never blocks on its own messages
        if candidates:
            self.proc = subprocess.Popen([candidates[0], "-f", os.devnull], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._err)
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.proc.stdin.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ: fewer wake-ups

    def feed(self, chunk: bytes) -> None:
        if self.proc is None or self.broken:
            return
        try:
            self.proc.stdin.write(chunk)
        except (BrokenPipeError, OSError):
            self.broken = True  # pg_restore stopped early: its stderr says why

    def finish(self) -> tuple[bool, str] | None:
        """(complete?, reason), or None when no pg_restore here could judge it."""
        if self.proc is None:
            return None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        rc = self.proc.wait()
        self._err.seek(0)
        err = self._err.read(64 << 10).decode(errors="replace")
        self._err.close()
        if rc == 0 and not self.broken:
            return True, "custom archive reads back completely with pg_restore"
        last = (err.strip().splitlines() or ["pg_restore failed"])[-1]
        if "unsupported version" in last or "not built with" in last or "not supported" in last:
            return None
        return False, f"archive does not read back: {last}"

    def abort(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def check_complete(path: Path, fmt: str | None = None) -> tuple[bool, str]:
    """(complete?, reason). Reads the whole archive; memory stays bounded."""
    fmt = fmt or detect_format(path)
    size = path.stat().st_size
    if size == 0:
        return False, "file is empty"
    if fmt == "plain":
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 4096))
            tail = fh.read()
        if PLAIN_TRAILER in tail:
            return True, "plain dump ends with pg_dump's completion trailer"
        return False, "plain dump lacks the '-- PostgreSQL database dump complete' trailer (truncated?)"
    candidates = pg_restore_candidates()
    if not candidates:
        return False, "no pg_restore found to read the archive (install the PostgreSQL 16 client)"
    last_error = ""
    for binary in candidates:
        proc = subprocess.run([binary, "-f", os.devnull, str(path)], capture_output=True, text=True)
        if proc.returncode == 0:
            return True, "custom archive reads back completely with pg_restore"
        last_error = (proc.stderr.strip().splitlines() or ["pg_restore failed"])[-1]
        if "unsupported version" not in last_error:
            break
    return False, f"archive does not read back: {last_error}"


def _toc(path: Path) -> str | None:
    """`pg_restore -l`: the archive's header and table of contents (None if unreadable)."""
    for binary in pg_restore_candidates():
        proc = subprocess.run([binary, "-l", str(path)], capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout
        if "unsupported version" not in proc.stderr:
            return None
    return None


def compression(path: Path) -> str | None:
    """A custom archive's compression as pg_restore names it ("none", "gzip", "lz4", "zstd";
    PostgreSQL 15 and older print a level, "0" being none). Compressed data blocks carry their
    own checksum, which a full read-back checks; uncompressed ones carry none."""
    toc = _toc(path)
    if toc is None:
        return None
    m = re.search(r"^;\s+Compression:\s*(\S+)", toc, re.M)
    return m.group(1).lower() if m else None


# Relations a backup holds, by the archive's TOC (custom) or its CREATE statements (plain).
_TOC_ENTRY = re.compile(r"^\d+; \d+ \d+ (TABLE(?! DATA)|VIEW|MATERIALIZED VIEW(?! DATA)|SEQUENCE(?! SET| OWNED BY)|FOREIGN TABLE) (\S+) (\S+)(?: \S*)?$")
_IDENT = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_PLAIN_CREATE = re.compile(rf"^CREATE (?:UNLOGGED )?(TABLE|VIEW|MATERIALIZED VIEW|SEQUENCE|FOREIGN TABLE) (?:IF NOT EXISTS )?({_IDENT}\.{_IDENT})")
_PLAIN_IDENTITY = re.compile(rf"SEQUENCE NAME ({_IDENT}\.{_IDENT})")


def _unquote(qualified: str) -> str:
    parts = re.findall(r'"((?:[^"]|"")+)"|([^."]+)', qualified)
    return ".".join(a.replace('""', '"') if a else b for a, b in parts)


def relations(path: Path, fmt: str | None = None) -> set[tuple[str, str]] | None:
    """{(kind, "schema.name")} of the tables, views, materialized views and sequences the
    backup creates, kind in lower case ("table", "view", ...). None when it cannot be read."""
    fmt = fmt or detect_format(path)
    out: set[tuple[str, str]] = set()
    if fmt == "custom":
        toc = _toc(path)
        if toc is None:
            return None
        for line in toc.splitlines():
            m = _TOC_ENTRY.match(line)
            if m:
                out.add((m.group(1).lower(), f"{m.group(2)}.{m.group(3)}"))
        return out
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.startswith(b"CREATE "):
                m = _PLAIN_CREATE.match(raw.decode("utf-8", errors="replace"))
                if m:
                    out.add((m.group(1).lower(), _unquote(m.group(2))))
            elif b"SEQUENCE NAME" in raw:
                m = _PLAIN_IDENTITY.search(raw.decode("utf-8", errors="replace"))
                if m:
                    out.add(("sequence", _unquote(m.group(1))))
    return out
