"""exec / attach / port-forward for the sandbox API server, over every wire kubectl and the Python
client speak: WebSocket (v5/v4 channel protocols, portforward.k8s.io, SPDY tunnelled in WebSocket)
and the legacy SPDY/3.1 upgrade. The API server routes the pod subresources here; errors before
the upgrade are ApiErrors (turned into Status bodies), after it they travel on the error stream."""

from tripgen_sandbox.streams.handlers import exec_handler, portforward_handler

__all__ = ["exec_handler", "portforward_handler"]
