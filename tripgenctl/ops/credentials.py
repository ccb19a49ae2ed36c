"""The credentials the running servers hold, read and changed where they live: PostgreSQL's role
password (pg_authid, through psql in postgresql-0 over its trusted local socket, SQL on stdin)
and Redis's requirepass / ACL users (RESP over a port-forward to redis-0). `secrets rotate`
changes them, `secrets init --force` asks whether a Secret still matches them, doctor checks
that the Secret's password authenticates.

Why PostgreSQL is checked against the stored SCRAM verifier rather than by a login: the only
connections the tool can open reach the server from its own localhost (exec, port-forward),
which the postgres image trusts without a password. Checking the password against the verifier
is exactly what the server does for a scram-sha-256 login from an app pod. A new password is
sent as a verifier computed here, so the plain text never reaches the server's statement log.
Nothing here returns or prints a password or a verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import stringprep
import unicodedata
from dataclasses import dataclass, field

from tripgenctl.errors import ToolError
from tripgenctl.kube import execstream
from tripgenctl.ops import postgres

SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations


# ---- SCRAM-SHA-256 (RFC 5802 / 7677, as PostgreSQL stores it) ----------------------------------

def _saslprep(password: str) -> bytes:
    """PostgreSQL's pg_saslprep: SASLprep when the password is a valid stringprep string, else
    the raw bytes (the server does the same, so both sides agree)."""
    raw = password.encode()
    if password.isascii():
        return raw
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    norm = unicodedata.normalize("NFKC", mapped)
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3, stringprep.in_table_c4,
                  stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
                  stringprep.in_table_c9, stringprep.in_table_a1)
    if not norm or any(test(c) for c in norm for test in prohibited):
        return raw
    if any(stringprep.in_table_d1(c) for c in norm):
        if any(stringprep.in_table_d2(c) for c in norm) or not (stringprep.in_table_d1(norm[0]) and stringprep.in_table_d1(norm[-1])):
            return raw
    return norm.encode()


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, what ALTER ROLE stores."""
    salt = salt if salt is not None else os.urandom(16)
    stored, server = _keys(password, salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


def password_matches(password: str, verifier: str | None, username: str) -> bool:
    """Would `password` log in as `username` against this stored verifier (SCRAM or md5)?"""
    if not verifier:
        return False
    if verifier.startswith("SCRAM-SHA-256$"):
        try:
            head, keys = verifier[len("SCRAM-SHA-256$"):].split("$", 1)
            iterations, salt = head.split(":", 1)
            stored, server = keys.split(":", 1)
            want_stored, want_server = _keys(password, base64.b64decode(salt), int(iterations))
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(want_stored, base64.b64decode(stored)) and hmac.compare_digest(want_server, base64.b64decode(server))
    if verifier.startswith("md5") and len(verifier) == 35:
        return hmac.compare_digest("md5" + hashlib.md5((password + username).encode()).hexdigest(), verifier)
    return False  # a plain-text or unknown format: PostgreSQL >= 10 does not store those


# ---- PostgreSQL ---------------------------------------------------------------------------------

def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def psql_stdin(kube, sql: str, pod: str | None = None) -> list[list[str]]:
    """Rows of SQL sent on psql's stdin inside the pod (never on a command line: `ps` in the
    container would show it), as the image's superuser over the local socket."""
    pod = pod or postgres.pod_name(kube)
    script = postgres.ENV_PRELUDE + 'exec psql -X -q -A -t -F "$(printf "\\t")" -v ON_ERROR_STOP=1 -U "$U" -d postgres'
    # stdin ends with the v5 protocol's close (as db restore's does); no \q: psql leaving before
    # that close arrives would cut the stream and lose the exit status
    res = execstream.run(kube, pod, ["sh", "-c", script], stdin=sql.encode())
    if res.exit_code is None:  # the stream dropped before the exit status: every statement here is idempotent
        res = execstream.run(kube, pod, ["sh", "-c", script], stdin=sql.encode())
    if not res.ok:
        raise ToolError(f"psql in {pod} failed: {postgres.last_line(res.stderr_text()) or res.failure_message or 'no exit status'}")
    return [line.split("\t") for line in res.stdout.decode("utf-8", errors="replace").splitlines() if line]


@dataclass
class RoleState:
    """A role's stored verifier (kept in memory to put it back; repr hides it)."""

    username: str
    exists: bool
    can_login: bool
    verifier: str = field(default="", repr=False)


def read_role(kube, username: str, pod: str | None = None) -> RoleState:
    rows = psql_stdin(kube, f"SELECT coalesce(rolpassword, ''), rolcanlogin FROM pg_authid WHERE rolname = {_literal(username)};", pod)
    if not rows:
        return RoleState(username, False, False)
    verifier, login = rows[0][0], rows[0][1] if len(rows[0]) > 1 else "f"
    return RoleState(username, True, login == "t", verifier)


def set_role_verifier(kube, username: str, verifier: str, pod: str | None = None) -> None:
    """ALTER ROLE with a verifier (stored as given); statement logging off for this session."""
    psql_stdin(kube, f"SET log_statement = 'none'; ALTER ROLE {_ident(username)} PASSWORD {_literal(verifier)};", pod)


def postgres_accepts(kube, username: str, password: str, pod: str | None = None) -> tuple[bool | None, str]:
    """(does `password` authenticate as `username`, why not); None when it could not be checked
    (no exec, pod gone). No secret in the reason."""
    try:
        role = read_role(kube, username, pod)
    except ToolError as exc:
        return None, exc.message
    if not role.exists:
        return False, f"role {username!r} does not exist in PostgreSQL"
    if not role.can_login:
        return False, f"role {username!r} may not log in (NOLOGIN)"
    if not role.verifier:
        return False, f"role {username!r} has no password in PostgreSQL"
    if not password_matches(password, role.verifier, username):
        return False, f"the password does not match role {username!r}'s password in PostgreSQL"
    return True, "password matches the role's stored verifier"


# ---- Redis (RESP2 over a port-forward) -----------------------------------------------------------

class RedisError(Exception):
    """An error reply (-ERR, -WRONGPASS, ...): its first word and text, never the command."""


class Redis:
    """A minimal RESP2 client: enough for AUTH, CONFIG and ACL."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ToolError("Redis closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buffer) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ToolError("Redis closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ToolError(f"unexpected reply from Redis ({kind!r})")

    def call(self, *args: str):
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a.encode()
            parts.append(b"$" + str(len(b)).encode() + b"\r\n" + b + b"\r\n")
        self.sock.sendall(b"".join(parts))
        reply = self._reply()
        if isinstance(reply, RedisError):
            raise reply
        return reply


class redis_session:
    """`with redis_session(kube) as r:` a RESP connection to redis-0:6379 through a port-forward."""

    def __init__(self, kube, pod: str | None = None, timeout: float = 10.0):
        from tripgenctl.ops import cache

        self.kube, self.pod, self.timeout = kube, pod or cache.pod_name(kube), timeout

    def __enter__(self) -> Redis:
        self._forward = self.kube.port_forward(self.pod, 6379)
        host, port = self._forward.__enter__()
        try:
            self._sock = socket.create_connection((host, port), timeout=self.timeout)
        except OSError as exc:
            self._forward.__exit__(None, None, None)
            raise ToolError(f"cannot reach Redis in {self.pod}: {exc}") from None
        return Redis(self._sock)

    def __exit__(self, *exc) -> None:
        try:
            self._sock.close()
        finally:
            self._forward.__exit__(*exc)


def redis_accepts(kube, password: str, pod: str | None = None) -> tuple[bool | None, str]:
    """(does AUTH with `password` succeed on the running server, why not); None when Redis could
    not be reached to ask."""
    try:
        with redis_session(kube, pod) as r:
            try:
                r.call("AUTH", password)
            except RedisError as exc:
                return False, f"Redis refused the password ({str(exc).split()[0]})"
            return r.call("PING") == "PONG", "AUTH and PING answered"
    except (ToolError, OSError) as exc:
        return None, getattr(exc, "message", None) or f"cannot reach Redis: {exc}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class RedisChange:
    """What a requirepass change touched, to undo it: ACL users (other than `default`) that had
    the old password, and whether an ACL file was saved."""

    acl_users: list[str] = field(default_factory=list)
    acl_saved: bool = False


def redis_change_password(kube, old: str, new: str, pod: str | None = None) -> RedisChange:
    """AUTH with the old password, CONFIG SET requirepass (the `default` user), and every ACL user
    that had the old password gets the new one instead (ACL SAVE when an aclfile is in use)."""
    change = RedisChange()
    with redis_session(kube, pod) as r:
        try:
            r.call("AUTH", old)
        except RedisError as exc:
            raise ToolError(f"Redis refused the current password from the Secret ({str(exc).split()[0]})") from None
        try:
            r.call("CONFIG", "SET", "requirepass", new)
        except RedisError as exc:
            raise ToolError(f"Redis refused CONFIG SET requirepass ({exc})") from None
        try:
            users = r.call("ACL", "USERS") or []
        except RedisError:
            users = []  # ACL disabled or renamed: requirepass was all there is
        old_hash = _sha256(old)
        for user in users:
            if user == "default":
                continue
            info = r.call("ACL", "GETUSER", user) or []
            fields = dict(zip(info[::2], info[1::2])) if isinstance(info, list) else {}
            if old_hash in (fields.get("passwords") or []):
                r.call("ACL", "SETUSER", user, f"!{old_hash}", f">{new}")
                change.acl_users.append(user)
        try:
            aclfile = r.call("CONFIG", "GET", "aclfile") or []
        except RedisError:
            aclfile = []
        if len(aclfile) > 1 and aclfile[1]:
            r.call("ACL", "SAVE")
            change.acl_saved = True
    return change


def redis_verify(kube, accepted: str, refused: str, pod: str | None = None) -> str:
    """'' when a fresh connection accepts `accepted` and refuses `refused`; else what is wrong."""
    ok, detail = redis_accepts(kube, accepted, pod)
    if not ok:
        return f"the new password does not authenticate: {detail}"
    still, detail = redis_accepts(kube, refused, pod)
    if still is None:
        return f"could not check that the old password is refused: {detail}"
    return "the old password still authenticates" if still else ""
