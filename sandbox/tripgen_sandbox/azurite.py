"""Azurite, Microsoft's storage emulator, as the sandbox's Blob Storage: the team backup store's
real server in tests and the demo (no mock of the SDK). It runs beside the other Azure fakes, on
loopback, with its data under <state>/azure/azurite, started with --skipApiVersionCheck because
3.35.0 (the last release for Node.js 20) does not know the current SDK's service version.

`make venv` installs it from the npm registry into .venv/azurite; TRIPGEN_AZURITE may name
another `azurite-blob`. Without it the sandbox runs as before, just without a blob store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tripgen_sandbox import procinfo
from tripgenctl.errors import ToolError

ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key (the same in every installation): not a secret.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONNECTION_VAR = "TRIPGENCTL_BACKUP_STORE_CONNECTION_STRING"
STORE_VAR = "TRIPGENCTL_BACKUP_STORE"  # the store URL a test or the demo uses: azure://devstoreaccount1/backups


def binary() -> Path | None:
    explicit = os.environ.get("TRIPGEN_AZURITE")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(Path(sys.prefix) / "azurite" / "node_modules" / ".bin" / "azurite-blob")
    return next((p for p in candidates if p.exists()), None)


def _dir(azure_dir: Path) -> Path:
    return azure_dir / "azurite"


def _info(azure_dir: Path) -> dict:
    return procinfo.read_json(azure_dir / "azurite.json")


def _alive(pid: int | None) -> bool:
    return procinfo.alive(pid, b"azurite")


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


def env(azure_dir: Path) -> dict[str, str]:
    info = _info(azure_dir)
    if not _alive(info.get("pid")):
        return {}
    return {CONNECTION_VAR: connection_string(info["port"]), STORE_VAR: f"azure://{ACCOUNT}/backups"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start(azure_dir: Path, timeout: float = 30.0) -> dict | None:
    """Start it (or keep the running one); None when it is not installed."""
    info = _info(azure_dir)
    if _alive(info.get("pid")):
        return info
    exe = binary()
    if exe is None:
        return None
    data = _dir(azure_dir)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    port = info.get("port") or _free_port()  # the same port after a restart: connection strings stay valid
    argv = [str(exe), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data),
            "--skipApiVersionCheck", "--loose", "--silent"]
    log = open(azure_dir / "azurite.log", "ab")
    environ = {k: v for k, v in os.environ.items() if k != "TRIPGEN_SANDBOX_ID"}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=environ, close_fds=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (azure_dir / "azurite.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise ToolError(f"Azurite failed to start: {tail[0] if tail else 'no log'} (see {azure_dir / 'azurite.log'})")
        if _answers(port):
            info = {"pid": proc.pid, "port": port}
            (azure_dir / "azurite.json").write_text(json.dumps(info))
            return info
        time.sleep(0.1)
    proc.kill()
    raise ToolError(f"Azurite did not answer on 127.0.0.1:{port} within {timeout:.0f}s (see {azure_dir / 'azurite.log'})")


def stop(azure_dir: Path, timeout: float = 10.0) -> None:
    pid = _info(azure_dir).get("pid")
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
