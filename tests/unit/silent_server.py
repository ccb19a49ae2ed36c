"""A local "API server" that accepts TCP connections and never answers (not even the TLS
handshake), with a kubeconfig pointing at it: what a hung control plane looks like to a client.
It also counts connections, so a test can prove a command made no call at all."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import yaml


class SilentServer:
    def __init__(self, directory: Path, namespace: str = "tripgen-dev"):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self.kubeconfig = Path(directory) / "silent-kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig_for(self.url, "tripgen-sandbox", namespace)))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)  # kept open, never read from or written to

    @property
    def accepted(self) -> int:
        return len(self.connections)

    def __enter__(self) -> "SilentServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.listener.close()
        for conn in self.connections:
            conn.close()


def kubeconfig_for(server: str, name: str, namespace: str | None = None, token: str = "t0ken") -> dict:
    context = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": context}],
    }
