"""API faults: make chosen requests slow, hang, or fail with a status code, so tests can show
what tripgenctl does when the API server misbehaves without a home-made proxy.

A rule lives in cluster.faults["api"] (a list, first match wins):

    {"path": "/api/v1/namespaces/dev",   # prefix of the request path (no query string) ...
     "regex": false,                     # ... or, when true, a regular expression (re.search)
     "verb": "GET",                      # HTTP method; null matches any
     "status": 503, "message": "...",    # answer with this code and a Status body, or
     "hang": true,                       # never answer (until the rule is cleared), or
     "latency": 2.5,                     # answer normally after this many seconds
     "times": 3}                         # how many requests it affects; null: until cleared

`tripgenctl sandbox fault api ...` (sandbox/tripgen_sandbox/cli.py) and control.api_fault() add
rules; `--clear` / control.clear_api_faults() remove them. /sandbox/* paths never match, so a
fault can always be cleared. A matched request still counts in /sandbox/requests."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from tripgen_sandbox.apierrors import ApiError

HANG_CAP_SECONDS = 3600.0  # a hung request is released at the latest after this long
_clears = [0]  # bumped whenever the api rules are cleared: hung requests then go on normally


def validate_rule(rule: Any) -> dict:
    """The rule as stored, or an ApiError 400 naming what is wrong."""
    if not isinstance(rule, dict) or not isinstance(rule.get("path"), str) or not rule["path"]:
        raise ApiError(400, "api fault: a non-empty string 'path' is required")
    effects = [k for k in ("status", "hang", "latency") if rule.get(k) is not None and rule.get(k) is not False]
    if len(effects) != 1:
        raise ApiError(400, "api fault: give exactly one of 'status', 'hang', 'latency'")
    status = rule.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
        raise ApiError(400, f"api fault: status must be an HTTP code 100-599, got {status!r}")
    latency = rule.get("latency")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float)) or not latency > 0):
        raise ApiError(400, f"api fault: latency must be a number of seconds > 0, got {latency!r}")
    times = rule.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ApiError(400, f"api fault: times must be a positive integer or null, got {times!r}")
    if rule.get("regex"):
        try:
            re.compile(rule["path"])
        except re.error as exc:
            raise ApiError(400, f"api fault: bad regular expression {rule['path']!r}: {exc}") from None
    verb = rule.get("verb")
    out = {"path": rule["path"], "regex": bool(rule.get("regex")), "verb": verb.upper() if isinstance(verb, str) and verb else None,
           "status": status, "message": rule.get("message"), "hang": bool(rule.get("hang")), "latency": latency, "times": times}
    return out


def _matches(rule: dict, method: str, path: str) -> bool:
    if rule.get("verb") and rule["verb"] != method:
        return False
    if rule.get("regex"):
        return re.search(rule["path"], path) is not None
    return path.startswith(rule["path"])


def take(cluster, method: str, path: str) -> dict | None:
    """The first rule matching this request, with one use counted off (a used-up rule goes)."""
    rules = cluster.faults.get("api")
    if not rules or path.startswith("/sandbox/"):
        return None
    for rule in list(rules):
        if isinstance(rule, dict) and _matches(rule, method, path):
            times = rule.get("times")
            if times is not None:
                rule["times"] = times - 1
                if rule["times"] <= 0:
                    rules.remove(rule)
                    if not rules:
                        cluster.faults.pop("api", None)
            return rule
    return None


def _reason(code: int) -> str:
    # kube-apiserver's metav1.StatusReason for the codes a fault is likely to use
    return {429: "TooManyRequests", 500: "InternalError", 502: "InternalError", 503: "ServiceUnavailable",
            504: "Timeout", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 410: "Expired"}.get(code, "Unknown")


def _default_message(code: int, method: str, path: str) -> str:
    if code == 503:
        return "the server is currently unable to handle the request"
    if code == 429:
        return "the server has received too many requests and has asked us to try again later"
    if code == 504:
        return "the server was unable to return a response in the time allotted, but may still be processing the request"
    if code == 403:
        return f'forbidden: User cannot {method.lower()} path "{path}" (sandbox api fault)'
    return f"sandbox api fault: {code} on {method} {path}"


def cleared() -> None:
    """The api rules were cleared (app.py's /sandbox/faults calls this): release hung requests."""
    _clears[0] += 1


def middleware(cluster):
    """aiohttp middleware applying cluster.faults["api"]; install it inside the one that turns
    ApiError into a Status response."""

    @web.middleware
    async def apply_faults(request: web.Request, handler):
        rule = take(cluster, request.method, request.path)
        if rule is None:
            return await handler(request)
        if rule.get("hang"):
            # hang until the api faults are cleared (then answer normally) or the cap passes
            loop = asyncio.get_running_loop()
            end, seen = loop.time() + HANG_CAP_SECONDS, _clears[0]
            while loop.time() < end and _clears[0] == seen:
                await asyncio.sleep(0.1)
            return await handler(request)
        if rule.get("latency"):
            await asyncio.sleep(float(rule["latency"]))
            return await handler(request)
        code = int(rule["status"])
        message = rule.get("message") or _default_message(code, request.method, request.path)
        # 429 carries Retry-After as the API's flow control does (urllib3 retries a 503 that
        # carries one, which would eat the fault's count unseen)
        details = {"retryAfterSeconds": 1} if code == 429 else None
        raise ApiError(code, message, _reason(code), details)

    return apply_faults
