"""The Kubernetes door's errors, made in one place: every HTTP status and every transport
failure of an API request becomes one of these ToolErrors, so callers match a type instead of
a status code or a "404" inside a message, and users read one line.

- NotFound (404), Conflict (409), Forbidden (403): a problem found, exit 1.
- Unavailable (429, 5xx, or the server cannot be reached): exit 2, like any "cannot reach the
  cluster". It is a ConnectionFailed, so loops that retry an unreachable server retry it.
- Timeout (no answer within the request deadline): exit 2, and deliberately NOT a
  ConnectionFailed: the deadline is the whole budget of a request, and a retry loop that
  retried it would multiply the time a command hangs against a server that never answers.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from tripgenctl.errors import EXIT_USAGE, ConnectionFailed, ProblemFound, ToolError

UNAUTHORIZED = "unauthorized (401): the credentials in the kubeconfig were rejected"


class KubeError(ToolError):
    """An answer of the API server that is an error; `status` is its HTTP status (0: none)."""

    status = 0

    def __init__(self, message: str, status: int | None = None, exit_code: int | None = None):
        super().__init__(message, exit_code)
        if status is not None:
            self.status = status


class NotFound(KubeError):
    status = 404


class Conflict(KubeError):
    status = 409


class Forbidden(KubeError):
    status = 403


class Unavailable(ConnectionFailed):
    """The API server cannot serve the request now (429/5xx) or cannot be reached at all."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class Timeout(ToolError):
    """The API server accepted the connection (or not even that) but gave no answer within the
    request deadline."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, server: str = "", seconds: float | None = None):
        super().__init__(message)
        self.server = server
        self.seconds = seconds


def body_message(body: Any) -> str:
    """The `message` of a Status body, else the first 300 characters of whatever came back."""
    if isinstance(body, dict):
        return str(body.get("message") or body.get("reason") or "")
    if isinstance(body, (bytes, bytearray)):
        body = body.decode(errors="replace")
    return short(body or "")


def for_status(status: int, body: Any, what: str) -> ToolError | None:
    """The error an HTTP status means (None for 2xx). `what` says what was asked, e.g.
    "get deployment/web"; the API's own message follows it."""
    if 200 <= status < 300:
        return None
    message = body_message(body)
    if status == 401:
        return ConnectionFailed(f"{what}: {UNAUTHORIZED}")
    if status == 403:
        return Forbidden(f"{what}: forbidden (403): {message}")
    plain = f"{what}: {status} {message}".rstrip()  # the wording kubectl users know: status, then the API's message
    if status == 404:
        return NotFound(plain)
    if status == 409:
        return Conflict(plain)
    if status == 429 or status >= 500:
        return Unavailable(plain, status)
    return KubeError(plain, status)


def raise_for_status(status: int, body: Any, what: str) -> None:
    error = for_status(status, body, what)
    if error is not None:
        raise error


def is_timeout(exc: BaseException) -> bool:
    """A connect or read timeout, however urllib3 or the socket layer wrapped it (a TLS handshake
    that never completes is a read timeout inside a MaxRetryError)."""
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError, TimeoutError as Urllib3Timeout

    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, NewConnectionError):  # a subclass of ConnectTimeoutError for old callers' sake: refused, unresolvable...
            return False
        if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, Urllib3Timeout, socket.timeout)):
            return True
        exc = exc.reason if isinstance(exc, MaxRetryError) else exc.__cause__  # explicit causes only: a timeout handled earlier is not this one
        seen += 1
    return False


def timeout_error(server: str, what: str, seconds: float | None) -> Timeout:
    within = f" within {seconds:g} s" if seconds else ""
    asked = "" if server in what else f" {what}"
    return Timeout(f"the API server {server} did not answer{asked}{within} (request_timeout in the config)", server, seconds)


def classify(exc: BaseException, what: str, server: str = "", seconds: float | None = None) -> ToolError:
    """Any exception of the SDK or the transport as the one-line ToolError it means."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, ApiException):
        if not exc.status:
            return Unavailable(f"cannot reach {what}: {exc.reason}")
        return for_status(exc.status, _api_body(exc), what) or KubeError(f"{what}: {exc.status} {exc.reason}", exc.status)
    if is_timeout(exc):
        return timeout_error(server or _server_of(exc), what, seconds)
    if isinstance(exc, (Urllib3Error, OSError, ConnectionError)):
        reason = getattr(exc, "reason", None) or exc
        where = f"the API server {server} ({what})" if server and server not in what else what
        return Unavailable(f"cannot reach {where}: {short(reason)}")
    return ProblemFound(f"{what}: {type(exc).__name__}: {short(exc)}")


def _api_body(exc) -> Any:
    try:
        return json.loads(exc.body)
    except Exception:  # noqa: BLE001 - not JSON: the reason phrase is all there is
        return {"message": f"{exc.status} {exc.reason}"}


def _server_of(exc) -> str:
    pool = getattr(exc, "pool", None)
    if pool is not None and getattr(pool, "host", None):
        return f"{pool.scheme}://{pool.host}:{pool.port}"
    return "the API server"


def short(value: Any) -> str:
    text = str(value).splitlines()[0] if str(value) else repr(value)
    return text[:300]
