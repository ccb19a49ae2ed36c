"""`bus check`: the Service Bus row of the SPEC's troubleshooting table ("Service Bus connection
error -> bad connection string -> check / update the Secret value"), done by the tool. The
parsing and the Azure part take a connection string (testable without Kubernetes); reading
the Secret is a thin layer on top. No result field or message ever holds the key or the SAS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from tripgenctl.errors import ToolError

SECRET = "servicebus-connection"
SECRET_KEY = "connection-string"
FIX = ("check / update the Secret value: kubectl -n <namespace> create secret generic servicebus-connection "
       "--from-literal=connection-string='<Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...>' "
       "--dry-run=client -o yaml | kubectl apply -f -  (or: tripgenctl secrets init --force with SERVICEBUS_CONNECTION_STRING)")
TTL_SECONDS = 14 * 24 * 3600

# SPEC: queue -> (max size MB, max message KB) per design revision; TTL 14 days, duplicate detection off
QUEUES = {
    "001": {"ai-schedule-generation": (256, 64), "location-search": (128, 32), "notification": (128, 16)},
    "000": {"ai-schedule-generation": (256, 64), "location-search": (256, 32), "notification": (256, 16)},
}


@dataclass(frozen=True)
class ConnectionParts:
    """What a connection string names (no key material)."""

    endpoint: str
    host: str
    key_name: Optional[str]
    uses_key: bool
    uses_sas: bool
    entity_path: Optional[str]


class MalformedConnectionString(ToolError):
    def __init__(self, missing: list[str], detail: str = ""):
        self.missing = missing
        what = f"missing {', '.join(missing)}" if missing else detail
        super().__init__(f"the Service Bus connection string is malformed: {what}")


def parse_connection_string(text: str) -> ConnectionParts:
    """Parse `Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...`
    (or `...;SharedAccessSignature=SharedAccessSignature sr=...`), naming what is missing."""
    text = (text or "").strip()
    if not text:
        raise MalformedConnectionString(["Endpoint", "SharedAccessKeyName", "SharedAccessKey"])
    values: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise MalformedConnectionString([], f"a part without '=' (expected Key=Value;...), part {len(values) + 1}")
        values[key.strip().lower()] = value.strip()
    endpoint = values.get("endpoint", "")
    sas = values.get("sharedaccesssignature", "")
    missing: list[str] = []
    if not endpoint:
        missing.append("Endpoint")
    if not sas:
        if not values.get("sharedaccesskeyname"):
            missing.append("SharedAccessKeyName")
        if not values.get("sharedaccesskey"):
            missing.append("SharedAccessKey")
    if missing:
        raise MalformedConnectionString(missing)
    if "://" not in endpoint or not endpoint.split("://", 1)[1].strip("/"):
        raise MalformedConnectionString([], "Endpoint is not a URL like sb://<namespace>.servicebus.windows.net/")
    key = values.get("sharedaccesskey")
    host = endpoint.split("://", 1)[1].strip("/").split("/", 1)[0]
    return ConnectionParts(endpoint=endpoint, host=host, key_name=values.get("sharedaccesskeyname") or None,
                           uses_key=bool(key) and not sas, uses_sas=bool(sas), entity_path=values.get("entitypath") or None)


@dataclass
class QueueCheck:
    queue: str
    state: str  # ok | problem | missing
    max_size_mb: Optional[int] = None
    max_message_kb: Optional[str] = None  # "64" or "not reported" (Basic/Standard tiers)
    ttl: Optional[str] = None
    duplicate_detection: Optional[bool] = None
    active: Optional[int] = None
    dead_letter: Optional[int] = None
    scheduled: Optional[int] = None
    problems: str = ""


@dataclass
class BusFinding:
    problem: str


@dataclass
class BusCheckResult:
    __sections__ = ("findings", "queues")
    ok: bool
    namespace: Optional[str]  # the host of the Endpoint
    key_name: Optional[str]
    source: str  # where the connection string came from (e.g. secret/servicebus-connection)
    findings: list[BusFinding] = field(default_factory=list)
    fix: Optional[str] = None
    queues: list[QueueCheck] = field(default_factory=list)
    reached: bool = True  # False: the namespace could not be reached, nothing about the key or queues is known

    def add(self, problem: str) -> None:
        self.ok = False
        self.findings.append(BusFinding(problem))

    @property
    def problems(self) -> list[str]:
        return [f.problem for f in self.findings]


def _ttl_text(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d" if not rest else f"{days}d{rest // 3600}h{(rest % 3600) // 60}m"


def _judge(facts, expected: tuple[int, int]) -> QueueCheck:
    size_mb, msg_kb = expected
    if not facts.exists:
        return QueueCheck(queue=facts.name, state="missing", problems=f"queue {facts.name} does not exist in the namespace")
    problems = []
    if facts.max_size_mb != size_mb:
        problems.append(f"max size {facts.max_size_mb} MB, expected {size_mb} MB")
    if facts.max_message_size_kb is not None and facts.max_message_size_kb != msg_kb:
        problems.append(f"max message size {facts.max_message_size_kb} KB, expected {msg_kb} KB")
    if facts.ttl_seconds is not None and int(facts.ttl_seconds) != TTL_SECONDS:
        problems.append(f"message TTL {_ttl_text(facts.ttl_seconds)}, expected 14d")
    if facts.duplicate_detection:
        problems.append("duplicate detection is on, expected off")
    return QueueCheck(
        queue=facts.name, state="problem" if problems else "ok", max_size_mb=facts.max_size_mb,
        max_message_kb=str(facts.max_message_size_kb) if facts.max_message_size_kb is not None else "not reported",
        ttl=_ttl_text(facts.ttl_seconds), duplicate_detection=facts.duplicate_detection,
        active=facts.active, dead_letter=facts.dead_letter, scheduled=facts.scheduled, problems="; ".join(problems),
    )


def expected_queues(profile: str | None) -> dict[str, tuple[int, int]]:
    """The SPEC's queues for the configured profile (the caller's config; 001's when unknown)."""
    return QUEUES.get(profile or "001", QUEUES["001"])


def check_connection_string(connection_string: str, expected: dict[str, tuple[int, int]],
                            source: str = "connection string") -> BusCheckResult:
    """Parse, authenticate, and compare the SPEC's queues. Problems are findings (ok=False),
    not exceptions, so doctor can include them."""
    from tripgenctl.azure.servicebus import BusUnreachable, KeyRejected, read_queues

    try:
        parts = parse_connection_string(connection_string)
    except MalformedConnectionString as exc:
        return BusCheckResult(False, None, None, source, [BusFinding(exc.message)], FIX)
    result = BusCheckResult(True, parts.host, parts.key_name, source)
    try:
        facts = read_queues(connection_string, list(expected))
    except KeyRejected as exc:
        result.add(f"the key in the Secret is rejected: {exc.message}")
        result.fix = FIX
        return result
    except BusUnreachable as exc:
        result.add(f"{exc.message} (is the Endpoint {parts.endpoint} right?)")
        result.fix = FIX
        result.reached = False
        return result
    except ToolError as exc:
        result.add(exc.message)
        return result
    for f in facts:
        check = _judge(f, expected[f.name])
        result.queues.append(check)
        if check.state != "ok":
            result.add(check.problems if check.state == "missing" else f"queue {check.queue}: {check.problems}")
    if any(q.state == "missing" for q in result.queues):
        result.fix = "create the missing queue (Azure portal or `az servicebus queue create`) with the SPEC's settings"
    return result


def read_connection_string(kube, namespace: str | None = None) -> str | None:
    """The Secret's value, or None when the Secret or its key is missing."""
    from tripgenctl.kube.secrets import Secret

    secret = Secret.get(kube, SECRET, namespace or kube.namespace, missing_ok=True)
    if secret is None or not secret.present(SECRET_KEY):
        return None
    return secret.value(SECRET_KEY, "")


def check_from_secret(kube, namespace: str | None = None, expected: dict[str, tuple[int, int]] | None = None) -> BusCheckResult:
    ns = namespace or kube.namespace
    source = f"secret/{SECRET} in {ns}"
    value = read_connection_string(kube, ns)
    if value is None:
        return BusCheckResult(False, None, None, source, [BusFinding(f"Secret {SECRET} (key {SECRET_KEY}) not found in namespace {ns}")],
                              "create it: tripgenctl secrets init with SERVICEBUS_CONNECTION_STRING set")
    return check_connection_string(value, expected if expected is not None else expected_queues(kube.config.profile), source)
