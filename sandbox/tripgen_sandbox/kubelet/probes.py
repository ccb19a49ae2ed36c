"""httpGet / tcpSocket / exec probes, with the result and message a kubelet would report
("Readiness probe failed: HTTP probe failed with statuscode: 503")."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass


@dataclass
class ProbeResult:
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class ProbeTiming:
    initial_delay: float
    period: float
    failure_threshold: int


def timing(kind: str, spec: dict, period_cap: float = 0.0, succeeded: bool = False) -> ProbeTiming:
    """The probe's schedule: its own initialDelaySeconds / periodSeconds / failureThreshold, or,
    with a `period_cap` (the sandbox's `probe_period_cap`, for test runs), for a readiness or
    startup probe that has not succeeded yet: a try at least every `period_cap` seconds from that
    delay on (capped too), failing after as many seconds as its own schedule allows (more, shorter
    tries). A new pod is then Ready within a second of answering instead of a manifest's 10-30 s
    period later, and nothing fails sooner. Once it has succeeded a probe is back on its own
    schedule (a Ready pod costs no more probes than before, and turns unready as late as before).
    Liveness keeps its own schedule: it restarts containers, and its delay is a container's
    allowance to start."""
    initial = float(spec.get("initialDelaySeconds", 0))
    period = float(spec.get("periodSeconds", 10))
    threshold = int(spec.get("failureThreshold", 3))
    if period_cap > 0 and kind in ("readiness", "startup") and not succeeded and period > period_cap:
        threshold = max(threshold, math.ceil(threshold * period / period_cap))
        return ProbeTiming(min(initial, period_cap), period_cap, threshold)
    return ProbeTiming(initial, period, threshold)


def resolve_port(port, container: dict) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"unknown port {port!r}")


async def http_get(host: str, port: int, path: str, headers: list[dict], timeout: float) -> ProbeResult:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return ProbeResult(False, f'Get "http://{host}:{port}{path}": dial tcp {host}:{port}: connect: connection refused' if isinstance(exc, ConnectionRefusedError) else f'Get "http://{host}:{port}{path}": context deadline exceeded')
    try:
        extra = "".join(f"{h.get('name')}: {h.get('value')}\r\n" for h in headers or [])
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.29\r\nAccept: */*\r\nConnection: close\r\n{extra}\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        parts = line.decode("latin-1").split()
        code = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        if 200 <= code < 400:
            return ProbeResult(True)
        return ProbeResult(False, f"HTTP probe failed with statuscode: {code}")
    except (OSError, asyncio.TimeoutError):
        return ProbeResult(False, f'Get "http://{host}:{port}{path}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)')
    finally:
        writer.close()


async def tcp_socket(host: str, port: int, timeout: float) -> ProbeResult:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.close()
        return ProbeResult(True)
    except (OSError, asyncio.TimeoutError):
        return ProbeResult(False, f"dial tcp {host}:{port}: connect: connection refused")


async def exec_probe(proc_factory, timeout: float) -> ProbeResult:
    """proc_factory() -> an asyncio Process started in the container's context."""
    try:
        proc = await proc_factory()
    except Exception as exc:  # noqa: BLE001 - a probe that cannot start is a failed probe
        return ProbeResult(False, str(exc))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        from tripgen_sandbox.kubelet.process import kill_tree  # noqa: PLC0415

        kill_tree(proc.pid)
        await proc.wait()
        return ProbeResult(False, f"command timed out after {timeout:g}s")
    if proc.returncode == 0:
        return ProbeResult(True)
    text = (out + err).decode("utf-8", "replace").strip()
    return ProbeResult(False, text or f"command failed with exit code {proc.returncode}")
