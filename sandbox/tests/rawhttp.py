"""Raw HTTP to the sandbox's API server with the kubeconfig's credentials, for tests that check
the wire itself (headers, exact bodies) rather than what a client library makes of it."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def raw(sandbox, method: str, path: str, body=None, headers: dict | None = None) -> Answer:
    ac = sandbox.kube().api_client
    cfg = ac.configuration
    h = {"Accept": "application/json"}
    auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    if auth:
        prefix = (cfg.api_key_prefix or {}).get("authorization")
        h["Authorization"] = f"{prefix} {auth}" if prefix else auth
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    r = ac.rest_client.pool_manager.request(method, cfg.host + path, body=body, headers=h, preload_content=True, timeout=30)
    headers = {k.lower(): ", ".join(r.headers.getlist(k)) for k in r.headers}  # repeated headers joined, as HTTP allows
    return Answer(r.status, headers, r.data)
