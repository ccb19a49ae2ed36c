"""Exec in a pod over the WebSocket channel protocol with bounded memory. The SDK's WSClient keeps
every byte it receives (and concatenates buffers), so a 500 MB pg_dump would sit in memory; this
reads frame by frame and hands each chunk to the caller. Part of the Kubernetes door.

Every wait has a deadline: connecting (`CONNECT_TIMEOUT`), each read (`idle`: no frame for that
long means the pod stopped answering) and, for small commands, the whole run (`deadline`). A
deadline that passes raises `ExecTimeout` naming what was waited for, never the websocket
library's exception; the connection is dropped so the server ends the remote command."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import urlencode

from tripgenctl.errors import ConnectionFailed, ProblemFound, ToolError

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
STDERR_KEEP = 256 * 1024  # stderr kept for messages; the rest is dropped, not buffered
CONNECT_TIMEOUT = 30.0  # seconds for the TCP/TLS connect and the upgrade answer


class ExecTimeout(ToolError):
    """An exec did not answer in time. `what` says what was waited for (for the caller's own,
    better message); the default message is already one clear line."""

    def __init__(self, what: str, seconds: float, phase: str = "answer"):
        self.what, self.seconds, self.phase = what, seconds, phase
        super().__init__(f"{what}: no {phase} within {seconds:g}s (the pod may be frozen or overloaded)")


@dataclass
class ExecResult:
    exit_code: int | None  # None: the stream ended without an exit status (dropped)
    stderr: bytes
    status: dict | None
    stdout_bytes: int = 0
    stdout: bytes = b""  # only when collected (small outputs)
    failure_message: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


@dataclass
class ExecSession:
    """One exec connection. Use `pump()` for the common cases."""

    ws: object
    subprotocol: str
    what: str = "exec"  # for messages: "exec `redis-cli DBSIZE` in pod redis-0"
    idle: float | None = None  # longest silence (seconds) before the pod counts as not answering
    _total: float = 0.0  # the whole-run deadline shown in messages
    _send_lock: threading.Lock = field(default_factory=threading.Lock)

    def send_stdin(self, data: bytes) -> None:
        from websocket import ABNF

        with self._send_lock:
            self.ws.send(bytes([STDIN]) + data, opcode=ABNF.OPCODE_BINARY)

    def close_stdin(self) -> bool:
        """Signal EOF on stdin (v5 protocol). False when the server only speaks v4, where the only
        way to end stdin is to close the connection."""
        from websocket import ABNF

        if self.subprotocol != "v5.channel.k8s.io":
            return False
        with self._send_lock:
            self.ws.send(bytes([CLOSE, STDIN]), opcode=ABNF.OPCODE_BINARY)
        return True

    def frames(self, deadline_at: float | None = None) -> Iterable[tuple[int, bytes]]:
        """Frames until the stream ends. Raises ExecTimeout after `idle` seconds without a
        frame, or when the monotonic `deadline_at` passes."""
        from websocket import ABNF, WebSocketConnectionClosedException, WebSocketTimeoutException

        while True:
            wait = self.idle
            if deadline_at is not None:
                left = deadline_at - time.monotonic()
                if left <= 0:
                    raise ExecTimeout(self.what, self._total, "result")
                wait = left if wait is None else min(wait, left)
            try:
                self.ws.settimeout(wait)
                opcode, frame = self.ws.recv_data_frame(True)
            except WebSocketTimeoutException:
                if deadline_at is not None and time.monotonic() >= deadline_at - 0.01:
                    raise ExecTimeout(self.what, self._total, "result") from None
                raise ExecTimeout(self.what, self.idle or 0, "output") from None
            except WebSocketConnectionClosedException:
                return
            except OSError as exc:
                if isinstance(exc, TimeoutError) or "timed out" in str(exc):  # ssl raises a bare "timed out"
                    if deadline_at is not None and time.monotonic() >= deadline_at - 0.01:
                        raise ExecTimeout(self.what, self._total, "result") from None
                    raise ExecTimeout(self.what, self.idle or 0, "output") from None
                return
            if opcode == ABNF.OPCODE_CLOSE:
                return
            if opcode not in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT):
                continue
            data = frame.data
            if not data:
                continue
            yield data[0], data[1:]

    def abort(self) -> None:
        """Drop the connection without a close handshake (the server sees it gone at once)."""
        try:
            self.ws.shutdown()
        except Exception:  # noqa: BLE001 - already broken
            pass

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a broken socket is not an error worth reporting
            pass

    def pump(
        self,
        on_stdout: Callable[[bytes], None] | None = None,
        stdin: Iterable[bytes] | None = None,
        collect_stdout: bool = False,
        deadline: float | None = None,
        shown_deadline: float | None = None,
    ) -> ExecResult:
        """Run to completion: feed stdin (from a thread) while reading stdout/stderr/error.
        `deadline`: seconds for the whole run (ExecTimeout after it; the connection is dropped)."""
        self._total = shown_deadline or deadline or 0
        deadline_at = time.monotonic() + deadline if deadline else None
        feeder = None
        feed_error: list[BaseException] = []
        if stdin is not None:

            def feed():
                try:
                    for chunk in stdin:
                        if chunk:
                            self.send_stdin(chunk)
                    self.close_stdin()
                except BaseException as exc:  # noqa: BLE001 - reported by the reader
                    feed_error.append(exc)
                    # The remote side would wait for more stdin forever: drop the connection so
                    # the reader ends and the command sees its input cut short, never an EOF.
                    self.abort()

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
        stderr = bytearray()
        out = bytearray()
        status = None
        nbytes = 0
        try:
            for channel, data in self.frames(deadline_at):
                if channel == STDOUT:
                    nbytes += len(data)
                    if on_stdout:
                        on_stdout(data)
                    if collect_stdout:
                        out += data
                elif channel == STDERR:
                    room = STDERR_KEEP - len(stderr)
                    if room > 0:
                        stderr += data[:room]
                elif channel == ERROR:
                    try:
                        status = json.loads(data or b"{}")
                    except ValueError:
                        status = {"status": "Failure", "message": data.decode(errors="replace")}
        except BaseException:
            self.abort()  # a timeout or Ctrl-C: the server sees the client gone and ends the command
            raise
        finally:
            self.close()
        if feeder is not None:
            feeder.join(timeout=5)
        if feed_error and not isinstance(feed_error[0], OSError):
            raise feed_error[0]
        return ExecResult(exit_code=exit_code(status), stderr=bytes(stderr), status=status, stdout_bytes=nbytes, stdout=bytes(out), failure_message=(status or {}).get("message", ""))


def exit_code(status: dict | None) -> int | None:
    """Exit code from the error channel's Status, as the kubelet reports it."""
    if not status:
        return None
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message"))
            except (TypeError, ValueError):
                return None
    return -1


def describe(pod: str, command: list[str]) -> str:
    """`exec "pg_dump --version" in pod postgresql-0`: shell wrappers (`sh -c SCRIPT sh ARGS`)
    are shown by their arguments, never the script."""
    shown = command
    if len(command) >= 3 and command[0] == "sh" and command[1] == "-c":
        shown = command[4:] if len(command) > 3 else ["sh -c ..."]
    text = " ".join(shown)
    return f'exec "{text[:80]}" in pod {pod}'


def open_exec(kube, pod: str, command: list[str], container: str | None = None, namespace: str | None = None, stdin: bool = False,
              timeout: float | None = None, what: str | None = None) -> ExecSession:
    """Connect an exec stream (no TTY) to a pod. `timeout`: the longest silence on the stream
    (seconds) before ExecTimeout; None waits as long as the stream stays open."""
    import websocket
    from kubernetes.stream.ws_client import create_websocket, get_websocket_url

    cfg = kube.api_client.configuration
    params: list[tuple[str, str]] = [("command", c) for c in command]
    params += [("stdout", "true"), ("stderr", "true"), ("stdin", "true" if stdin else "false"), ("tty", "false")]
    if container:
        params.append(("container", container))
    ns = namespace or kube.namespace
    url = get_websocket_url(f"{cfg.host}/api/v1/namespaces/{ns}/pods/{pod}/exec?{urlencode(params)}")
    headers = {}
    auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    if auth:
        prefix = (cfg.api_key_prefix or {}).get("authorization")
        headers["authorization"] = f"{prefix} {auth}" if prefix and not auth.startswith(prefix) else auth
    what = what or describe(pod, command)
    previous = websocket.getdefaulttimeout()
    websocket.setdefaulttimeout(CONNECT_TIMEOUT if timeout is None else min(CONNECT_TIMEOUT, max(timeout, 1.0)))
    try:
        ws = create_websocket(cfg, url, headers)
    except websocket.WebSocketTimeoutException:
        raise ExecTimeout(what, websocket.getdefaulttimeout(), "connection") from None
    except Exception as exc:  # noqa: BLE001 - classified into one line
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "resp_body", None) or b""
        message = str(exc)
        try:
            message = json.loads(body).get("message", message)
        except Exception:  # noqa: BLE001
            pass
        if status in (401,):
            raise ConnectionFailed(f"exec in pod {pod}: unauthorized") from None
        if status:
            raise ProblemFound(f"exec in pod {pod}: {message}") from None
        if isinstance(exc, TimeoutError) or "timed out" in message:
            raise ExecTimeout(what, websocket.getdefaulttimeout(), "connection") from None
        raise ConnectionFailed(f"cannot reach the API server for exec in pod {pod}: {message}") from None
    finally:
        websocket.setdefaulttimeout(previous)
    proto = getattr(ws, "subprotocol", None) or ""
    if not proto:  # the protocol was offered as a raw header, so read the server's answer
        for k, v in (ws.getheaders() or {}).items():
            if k.lower() == "sec-websocket-protocol":
                proto = v.strip()
    return ExecSession(ws=ws, subprotocol=proto, what=what, idle=timeout)


def run(kube, pod: str, command: list[str], container: str | None = None, namespace: str | None = None, stdin: bytes | None = None,
        timeout: float | None = 120, what: str | None = None) -> ExecResult:
    """Small commands: collect stdout in memory. `timeout` bounds the whole run (connect
    included); ExecTimeout when it passes."""
    started = time.monotonic()
    session = open_exec(kube, pod, command, container, namespace, stdin=stdin is not None, timeout=timeout, what=what)
    left = None if timeout is None else max(0.5, timeout - (time.monotonic() - started))
    return session.pump(stdin=[stdin] if stdin is not None else None, collect_stdout=True, deadline=left, shown_deadline=timeout)
