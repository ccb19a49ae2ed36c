"""Loopback addresses are shared by every sandbox on the machine (other users' sandboxes,
test sessions running side by side), so allocation starts at an offset derived from the
sandbox id and skips addresses whose ports someone else already listens on."""

from __future__ import annotations

import socket


def start_index(short_id: str) -> int:
    """Where this sandbox starts counting in a 127.N.X.Y block (spreads sandboxes apart)."""
    return (int(short_id[:6], 16) % 200) * 256 + 2


def index_to_ip(prefix: str, n: int) -> str:
    return f"{prefix}.{n // 256}.{n % 256}"


def ports_free(ip: str, ports: list[int]) -> bool:
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def allocate(prefix: str, start: int, used: set[str], ports: list[int]) -> tuple[str, int]:
    """First free address from start (wrapping), as (ip, next start)."""
    n = start
    for _ in range(65534):
        if n < 2 or n > 65533:
            n = 2
        ip = index_to_ip(prefix, n)
        n += 1
        if n % 256 in (0, 255) or ip in used:
            continue
        if ports_free(ip, ports):
            return ip, n
    raise RuntimeError(f"no free address left in {prefix}.0.0/16")
