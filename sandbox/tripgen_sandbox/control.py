"""Start, stop, inspect and wipe a sandbox from the outside (the CLI's `sandbox` verbs and the
test fixtures). The daemon runs in its own session so it outlives the command that started it;
every process it starts carries TRIPGEN_SANDBOX_ID so `stop` can prove nothing is left."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tripgenctl.errors import ToolError
from tripgen_sandbox import procinfo
from tripgen_sandbox.config import SandboxConfig


@dataclass
class SandboxStatus:
    state_dir: str
    running: bool
    pid: int | None
    server: str | None
    kubeconfig: str | None
    api_ready: bool
    processes: int
    objects: dict[str, int] = field(default_factory=dict)
    azure: str = "not started"  # the Azure fakes: "running (pid N, ARM https://...)" | "not started"
    azure_env: str | None = None  # DIR/azure.env: `source` it to point tripgenctl at the fakes


def _pid(state: Path) -> int | None:
    try:
        pid = int((state / "daemon.pid").read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _token(state: Path) -> str | None:
    p = state / "pki" / "admin.token"
    return p.read_text().strip() if p.exists() else None


def api_request(state: Path, path: str, method: str = "GET", body: dict | None = None, timeout: float = 5.0):
    config = SandboxConfig.load(state)
    ctx = ssl.create_default_context(cafile=str(state / "pki" / "ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"https://{config.api_host}:{config.api_port}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {_token(state)}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
        raw = resp.read()
        return json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()


def _ready(state: Path) -> bool:
    try:
        return api_request(state, "/readyz", timeout=2) == "ok"
    except Exception:  # noqa: BLE001 - not ready is not ready, whatever the reason
        return False


def marked_processes(short_id: str) -> list[int]:
    """PIDs of processes carrying this sandbox's marker in their environment."""
    import psutil

    marker = f"TRIPGEN_SANDBOX_ID={short_id}".encode()
    out = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    out.append(proc.pid)
        except OSError:
            continue
    return out


def start(state_dir: Path, overrides: dict | None = None, timeout: float = 60.0) -> SandboxStatus:
    from tripgen_sandbox.private import private_dir

    state = private_dir(state_dir.resolve())
    config = SandboxConfig.load(state)
    for k, v in (overrides or {}).items():
        if v is not None:
            setattr(config, k, v)
    config.save()
    if _pid(state) and _ready(state):
        return status(state)
    log = open(state / "daemon.log", "ab")
    env = dict(os.environ, TRIPGEN_SANDBOX_ID=config.short_id, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tripgen_sandbox.daemon", "--state-dir", str(state)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env, close_fds=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (state / "daemon.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise ToolError(f"sandbox failed to start: {tail[0] if tail else 'no log'} (see {state / 'daemon.log'})")
        if (state / "kubeconfig").exists() and _pid(state) == proc.pid and _ready(state):
            return status(state)
        time.sleep(0.1)
    raise ToolError(f"sandbox did not answer within {timeout:.0f}s (see {state / 'daemon.log'})")


def stop(state_dir: Path, timeout: float = 30.0) -> SandboxStatus:
    state = state_dir.resolve()
    config = SandboxConfig.load(state)
    pid = _pid(state)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid(state) == pid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
        if _pid(state) == pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    # anything left behind (a crashed daemon's children) goes too
    for _ in range(3):
        left = marked_processes(config.short_id)
        if not left:
            break
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    (state / "daemon.pid").unlink(missing_ok=True)
    return status(state)


def move_address(state_dir: Path) -> str:
    """Give the stopped sandbox's API server a new address for its next start, as AKS may on a
    start: another free port, so the old address stops answering and a kubeconfig that was not
    refreshed fails. The daemon writes the new address into DIR/kubeconfig when it starts."""
    import socket

    state = state_dir.resolve()
    if _pid(state):
        raise ToolError(f"the sandbox in {state} is running; stop it before moving its API server")
    config = SandboxConfig.load(state)
    for _ in range(20):
        with socket.socket() as s:
            s.bind((config.api_host, 0))
            port = s.getsockname()[1]
        if port != config.api_port:
            break
    config.api_port = port
    config.save()
    return f"https://{config.api_host}:{port}"


def status(state_dir: Path) -> SandboxStatus:
    state = state_dir.resolve()
    config = SandboxConfig.load(state)
    pid = _pid(state)
    ready = bool(pid) and _ready(state)
    objects: dict[str, int] = {}
    if ready:
        for key, path in (("nodes", "/api/v1/nodes"), ("namespaces", "/api/v1/namespaces"), ("pods", "/api/v1/pods")):
            try:
                objects[key] = len(api_request(state, path)["items"])
            except Exception:  # noqa: BLE001
                pass
    try:
        nproc = len(marked_processes(config.short_id))
    except Exception:  # noqa: BLE001
        nproc = 0
    fakes = azure_status(state)
    return SandboxStatus(
        state_dir=str(state),
        running=bool(pid),
        pid=pid,
        server=f"https://{config.api_host}:{config.api_port}" if config.api_port else None,
        kubeconfig=str(state / "kubeconfig") if (state / "kubeconfig").exists() else None,
        api_ready=ready,
        processes=nproc,
        objects=objects,
        azure=f"running (pid {fakes.pid}, ARM {fakes.arm_url})" if fakes.running else "not started",
        azure_env=fakes.env_file if fakes.running else None,
    )


def reset(state_dir: Path) -> SandboxStatus:
    state = state_dir.resolve()
    config = SandboxConfig.load(state)
    azure_stop(state)
    stop(state)
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(config.runtime_dir, ignore_errors=True)
    return status(state)


def set_fault(state_dir: Path, name: str, value) -> dict:
    """Fault names: node-notready, disk, metrics-unavailable, exec-cut-after-bytes, api (a list
    of rules, see apiserver/faults.py); a null value clears one."""
    return api_request(state_dir.resolve(), "/sandbox/faults", method="POST", body={"name": name, "value": value})


def api_fault(state_dir: Path, path: str, *, verb: str | None = None, status: int | None = None, hang: bool = False,
              latency: float | None = None, times: int | None = None, regex: bool = False, message: str | None = None) -> list[dict]:
    """Add one API fault rule (exactly one of status / hang / latency); returns the rules in force.
    `times` None: until cleared. See tripgen_sandbox/apiserver/faults.py."""
    rule = {"path": path, "regex": regex, "verb": verb, "status": status, "hang": hang, "latency": latency, "times": times, "message": message}
    return api_request(state_dir.resolve(), "/sandbox/faults/api", method="POST", body=rule)


def clear_api_faults(state_dir: Path, path: str | None = None) -> list[dict]:
    """Remove every API fault rule (or only those for `path`); hung requests then answer."""
    from urllib.parse import quote

    query = f"?path={quote(path, safe='')}" if path is not None else ""
    return api_request(state_dir.resolve(), f"/sandbox/faults/api{query}", method="DELETE")


# -- the Azure fakes ------------------------------------------------------------------------
# A separate process (not part of the daemon): an Azure "cluster stop" stops the daemon through
# the fakes' hook, and the fakes must still answer the "cluster start" that brings it back.
# It never carries TRIPGEN_SANDBOX_ID, so stop()'s sweep of leftover processes spares it.

@dataclass
class AzureFakesStatus:
    running: bool
    pid: int | None
    arm_url: str | None
    env_file: str | None  # DIR/azure.env
    connection_string_file: str | None = None  # where the fakes' Service Bus connection string is (never printed)


def _azure_dir(state: Path) -> Path:
    return state / "azure"


def _azure_info(state: Path) -> dict:
    return procinfo.read_json(_azure_dir(state) / "azurefakes.json")


def _alive_fakes(pid: int | None) -> bool:
    return procinfo.alive(pid, b"tripgen_sandbox.azurefakes")


def azure_status(state_dir: Path) -> AzureFakesStatus:
    state = state_dir.resolve()
    info = _azure_info(state)
    pid = info.get("pid")
    if not _alive_fakes(pid):
        return AzureFakesStatus(False, None, None, None)
    env_file = state / "azure.env"
    return AzureFakesStatus(True, pid, info.get("arm_url"), str(env_file) if env_file.exists() else None,
                            str(_azure_dir(state) / "azurefakes.json"))


def azure_env(state_dir: Path) -> dict[str, str]:
    """The variables a tripgenctl process needs to use the fakes ({} when they do not run)."""
    from tripgen_sandbox import azurite

    state = state_dir.resolve()
    info = _azure_info(state)
    env = dict(info.get("env") or {}) if _alive_fakes(info.get("pid")) else {}
    env.update(azurite.env(_azure_dir(state)))  # the backup store's connection string (Azurite)
    return env


def azure_connection_string(state_dir: Path) -> str | None:
    """The fakes' Service Bus connection string, for a Secret (callers must not print it)."""
    return _azure_info(state_dir.resolve()).get("connection_string")


def _write_env_file(path: Path, env: dict[str, str]) -> None:
    import shlex

    lines = ["# Point tripgenctl at this sandbox's Azure fakes:  source " + str(path)]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # IDENTITY_HEADER is a credential
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def azure_start(state_dir: Path, timeout: float = 30.0, duration: float = 3.0, retry_after: float = 1.0,
                move_address_on_start: bool = False) -> AzureFakesStatus:
    """Start the fakes (ARM + token endpoint + Service Bus) for this sandbox, and Azurite (Blob
    Storage, the backup store) when installed. ARM's stop/start run `python -m
    tripgen_sandbox.control stop|start DIR`: the daemon only, data kept; with
    `move_address_on_start` every start first runs `control move-address DIR` (a new port)."""
    import shlex

    from tripgen_sandbox import azurite
    from tripgen_sandbox.private import private_dir

    state = state_dir.resolve()
    adir = private_dir(_azure_dir(state))
    azurite.start(adir)
    current = azure_status(state)
    if current.running:
        _write_env_file(state / "azure.env", azure_env(state))
        return azure_status(state)
    hook = f"{shlex.quote(sys.executable)} -m tripgen_sandbox.control {{}} {shlex.quote(str(state))}"
    argv = [sys.executable, "-m", "tripgen_sandbox.azurefakes", "--state-dir", str(adir), "--kubeconfig", str(state / "kubeconfig"),
            "--on-stop", hook.format("stop"), "--on-start", hook.format("start"), "--on-move", hook.format("move-address"),
            "--duration", str(duration), "--retry-after", str(retry_after),
            "--power-state", "Running" if _pid(state) else "Stopped"] + (["--move-address-on-start"] if move_address_on_start else [])
    env = {k: v for k, v in os.environ.items() if k != "TRIPGEN_SANDBOX_ID"}
    env["PYTHONUNBUFFERED"] = "1"
    log = open(adir / "azurefakes.log", "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env, close_fds=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (adir / "azurefakes.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise ToolError(f"Azure fakes failed to start: {tail[0] if tail else 'no log'} (see {adir / 'azurefakes.log'})")
        if _azure_info(state).get("pid") == proc.pid:
            _write_env_file(state / "azure.env", azure_env(state))
            return azure_status(state)
        time.sleep(0.1)
    raise ToolError(f"Azure fakes did not start within {timeout:.0f}s (see {adir / 'azurefakes.log'})")


def azure_stop(state_dir: Path, timeout: float = 10.0) -> AzureFakesStatus:
    from tripgen_sandbox import azurite

    state = state_dir.resolve()
    azurite.stop(_azure_dir(state), timeout)
    pid = _azure_info(state).get("pid")
    if _alive_fakes(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive_fakes(pid):
            time.sleep(0.1)
        if _alive_fakes(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    (state / "azure.env").unlink(missing_ok=True)
    return azure_status(state)


def main(argv: list[str] | None = None) -> None:
    """`python -m tripgen_sandbox.control start|stop|move-address DIR`: the daemon only (the
    fakes' hooks)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("start", "stop", "move-address"):
        print("usage: python -m tripgen_sandbox.control start|stop|move-address STATE_DIR", file=sys.stderr)
        raise SystemExit(2)
    try:
        if args[0] == "move-address":
            print(f"API server moves to {move_address(Path(args[1]))} on the next start")
            return
        st = (start if args[0] == "start" else stop)(Path(args[1]))
    except ToolError as exc:
        print(exc.message, file=sys.stderr)
        raise SystemExit(1)
    print(f"daemon {'running' if st.running else 'stopped'}")


if __name__ == "__main__":
    main()
