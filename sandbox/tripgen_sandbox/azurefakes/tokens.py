"""Access tokens for the fake ARM: the managed-identity endpoint issues HS256-signed JWTs and the
fake ARM checks signature, audience and expiry, answering like ARM does when they fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TokenVerdict:
    ok: bool
    code: str = ""  # ARM error code when not ok
    message: str = ""


class TokenIssuer:
    def __init__(self, lifetime: float = 3600.0):
        self._key = secrets.token_bytes(32)
        self.lifetime = lifetime
        self.expire_all = False  # simulate every presented token having expired (e.g. a stale login)

    def issue(self, resource: str) -> tuple[str, int]:
        now = int(time.time())
        exp = int(now + self.lifetime)
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        aud = resource[: -len("/.default")] if resource.endswith("/.default") else resource
        payload = _b64(json.dumps({"aud": aud.rstrip("/"), "iss": "https://sts.fake.local/", "iat": now, "nbf": now, "exp": exp, "oid": "fake-managed-identity"}).encode())
        sig = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{sig}", exp

    def verify(self, authorization: str | None, audience: str) -> TokenVerdict:
        if not authorization:
            return TokenVerdict(False, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token.count(".") != 2:
            return TokenVerdict(False, "InvalidAuthenticationToken", "The access token is invalid.")
        header, payload, sig = token.split(".")
        expected = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(sig, expected):
            return TokenVerdict(False, "InvalidAuthenticationToken", "The access token has an invalid signature.")
        try:
            claims = json.loads(_unb64(payload))
        except ValueError:
            return TokenVerdict(False, "InvalidAuthenticationToken", "The access token is invalid.")
        if claims.get("aud", "").rstrip("/") != audience.rstrip("/"):
            return TokenVerdict(False, "InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience or resource.")
        if self.expire_all or claims.get("exp", 0) <= time.time():
            when = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(claims.get("exp", 0)))
            return TokenVerdict(False, "ExpiredAuthenticationToken", f"The access token expiry UTC time '{when}' is earlier than current UTC time.")
        return TokenVerdict(True)
