"""doctor's `servicebus` row: the Secret and the connection string's shape as the cluster shows
them, then Azure Service Bus itself through ops/bus.py. Lives with the other checks so that the
dependency runs one way (doctor -> bus), never back."""

from __future__ import annotations

from tripgenctl.errors import ToolError
from tripgenctl.ops import bus
from tripgenctl.ops.doctor.knowledge import texts
from tripgenctl.ops.doctor.model import Finding
from tripgenctl.ops.doctor.service_checks import EXPECTED_SECRETS, SERVICEBUS_SECRET, _secret_presence, _secret_value
from tripgenctl.ops.doctor.snapshot import Snapshot

def check_servicebus(snap: Snapshot, cfg, ctx) -> list[Finding]:
    """The table's "Service Bus connection error" row, as far as the cluster shows it: the Secret,
    its key and the connection string's shape (authenticating against Azure is `tripgenctl bus check`)."""
    secret = next((s for s in snap.secrets if s["metadata"]["name"] == SERVICEBUS_SECRET), None)
    keys = EXPECTED_SECRETS[SERVICEBUS_SECRET]
    found = _secret_presence(secret, SERVICEBUS_SECRET, keys, "servicebus", snap.namespace)
    if found:
        return found
    try:
        bus.parse_connection_string((_secret_value(secret, keys[0]) or b"").decode(errors="replace"))
    except bus.MalformedConnectionString as exc:
        return [Finding("servicebus", "critical", f"secret/{SERVICEBUS_SECRET}", exc.message,
                        evidence="expected Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=<name>;SharedAccessKey=<key>",
                        command=f"tripgenctl secrets init --force -n {snap.namespace}   # with SERVICEBUS_CONNECTION_STRING set; then tripgenctl bus check",
                        **texts("servicebus"))]
    return []


def check(snap, cfg, ctx) -> list[Finding]:
    """doctor's `servicebus` row: first what the cluster shows (Secret, key, string shape; no
    Azure call), then the real thing through check_from_secret. A namespace that cannot be
    reached (no network to Azure, a placeholder endpoint) is one warning, not a critical: doctor
    cannot tell a wrong string from a laptop without a route to Azure."""
    shape = check_servicebus(snap, cfg, ctx)
    if shape:
        return shape
    obj = f"secret/{bus.SECRET}"
    try:
        result = bus.check_from_secret(ctx.kube, snap.namespace, bus.expected_queues(getattr(cfg, "profile", None)))
    except ToolError as exc:
        return [Finding("servicebus", "warning", obj, f"Service Bus not checked: {exc.message}", command="tripgenctl bus check")]
    if result.ok:
        return []
    if not result.reached:
        return [Finding("servicebus", "warning", obj, f"Service Bus not checked: {result.problems[0]}",
                        command=f"tripgenctl bus check -n {snap.namespace}   # from a machine that reaches Azure")]
    out = []
    for problem in result.problems:
        queue = problem.startswith("queue ")
        out.append(Finding("servicebus", "warning" if queue and "does not exist" not in problem else "critical",
                           f"queue/{problem.split()[1].rstrip(':')}" if queue else obj, problem,
                           evidence=f"namespace {result.namespace}, key name {result.key_name}",
                           command=(result.fix or f"tripgenctl bus check -n {snap.namespace}"), **texts("servicebus")))
    return out
