"""Fake Service Bus management plane (the ATOM/XML API the SDK's ServiceBusAdministrationClient
uses): GET/PUT/DELETE /{queue}, GET /$Resources/queues. Like Azure it answers a GET for a
missing entity with 200 and an empty feed, and rejects a SAS token whose HMAC-SHA256 does not
match the named key with 401 (InvalidSignature)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote_plus

from aiohttp import web

ATOM = "http://www.w3.org/2005/Atom"
SB = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
SB11 = "http://schemas.microsoft.com/netservices/2011/06/servicebus"


@dataclass
class FakeQueue:
    name: str
    max_size_mb: int = 1024
    max_message_size_kb: int | None = None  # Premium reports it; Basic/Standard do not
    ttl: str = "P14D"
    duplicate_detection: bool = False
    active: int = 0
    dead_letter: int = 0
    scheduled: int = 0
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def _tracking() -> str:
    return f"TrackingId:{uuid.uuid4()}_G1, SystemTracker:NoSystemTracker, Timestamp:{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S')}"


def _error(status: int, detail: str) -> web.Response:
    body = f"<Error><Code>{status}</Code><Detail>{_esc(detail)} {_tracking()}</Detail></Error>"
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class FakeServiceBus:
    def __init__(self, namespace: str = "sb-tripgen-dev", keys: dict[str, str] | None = None):
        self.namespace = namespace
        self.keys = dict(keys or {})  # SharedAccessKeyName -> key (base64 text, used as bytes like Azure)
        self.queues: dict[str, FakeQueue] = {}
        self.base_url = ""
        self.auth_failures = 0

    def add_queue(self, queue: FakeQueue) -> FakeQueue:
        self.queues[queue.name.lower()] = queue
        return queue

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/$Resources/queues", self.list_queues),
            web.get("/{entity}", self.get_entity),
            web.put("/{entity}", self.put_entity),
            web.delete("/{entity}", self.delete_entity),
        ]

    # -- SAS ------------------------------------------------------------------------------
    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer SharedAccessSignature "):
            header = header[len("Bearer "):]  # how the SDK's BearerTokenCredentialPolicy sends a SAS from a connection string
        if not header.startswith("SharedAccessSignature "):
            return _error(401, "MissingToken: The authorization header was not found.")
        fields = {k.lower(): v[0] for k, v in parse_qs(header[len("SharedAccessSignature "):], keep_blank_values=True).items()}
        sr, sig, se, skn = fields.get("sr", ""), fields.get("sig", ""), fields.get("se", ""), fields.get("skn", "")
        if not (sr and sig and se and skn):
            return _error(401, "InvalidSignature: The token is malformed.")
        key = self.keys.get(skn)
        if key is None:
            self.auth_failures += 1
            return _error(401, f"InvalidSignature: The token has an invalid signature. The authorization rule '{skn}' was not found.")
        expected = base64.b64encode(hmac.new(key.encode(), f"{quote_plus(sr)}\n{se}".encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, sig):
            self.auth_failures += 1
            return _error(401, "InvalidSignature: The token has an invalid signature.")
        try:
            expired = int(se) < time.time()
        except ValueError:
            expired = True
        if expired:
            return _error(401, "ExpiredToken: The token is expired.")
        if not self.base_url or not sr.rstrip("/").lower().startswith(self.base_url.rstrip("/").lower()):
            return _error(401, "InvalidAudience: The token audience does not match the namespace.")
        return None

    # -- documents -------------------------------------------------------------------------
    def _entry(self, q: FakeQueue, api: str) -> bytes:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        msg_size = f"<MaxMessageSizeInKilobytes>{q.max_message_size_kb}</MaxMessageSizeInKilobytes>" if q.max_message_size_kb else ""
        return (
            f'<entry xmlns="{ATOM}"><id>{self.base_url}/{q.name}?api-version={api}</id>'
            f'<title type="text">{q.name}</title><published>{q.created}</published><updated>{now}</updated>'
            f"<author><name>{self.namespace}</name></author>"
            f'<link rel="self" href="{self.base_url}/{q.name}?api-version={api}"/>'
            f'<content type="application/xml"><QueueDescription xmlns="{SB}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
            "<LockDuration>PT1M</LockDuration>"
            f"<MaxSizeInMegabytes>{q.max_size_mb}</MaxSizeInMegabytes>"
            f"<RequiresDuplicateDetection>{str(q.duplicate_detection).lower()}</RequiresDuplicateDetection>"
            "<RequiresSession>false</RequiresSession>"
            f"<DefaultMessageTimeToLive>{q.ttl}</DefaultMessageTimeToLive>"
            "<DeadLetteringOnMessageExpiration>false</DeadLetteringOnMessageExpiration>"
            "<DuplicateDetectionHistoryTimeWindow>PT10M</DuplicateDetectionHistoryTimeWindow>"
            "<MaxDeliveryCount>10</MaxDeliveryCount><EnableBatchedOperations>true</EnableBatchedOperations>"
            f"<SizeInBytes>{(q.active + q.dead_letter + q.scheduled) * 512}</SizeInBytes>"
            f"<MessageCount>{q.active + q.dead_letter + q.scheduled}</MessageCount>"
            "<IsAnonymousAccessible>false</IsAnonymousAccessible><AuthorizationRules/><Status>Active</Status>"
            f"<CreatedAt>{q.created}</CreatedAt><UpdatedAt>{q.created}</UpdatedAt><AccessedAt>{now}</AccessedAt>"
            "<SupportOrdering>true</SupportOrdering>"
            f'<CountDetails xmlns:d2p1="{SB11}"><d2p1:ActiveMessageCount>{q.active}</d2p1:ActiveMessageCount>'
            f"<d2p1:DeadLetterMessageCount>{q.dead_letter}</d2p1:DeadLetterMessageCount>"
            f"<d2p1:ScheduledMessageCount>{q.scheduled}</d2p1:ScheduledMessageCount>"
            "<d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>"
            "<d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount></CountDetails>"
            "<AutoDeleteOnIdle>P10675199DT2H48M5.4775807S</AutoDeleteOnIdle><EnablePartitioning>false</EnablePartitioning>"
            "<EntityAvailabilityStatus>Available</EntityAvailabilityStatus><EnableExpress>false</EnableExpress>"
            f"{msg_size}</QueueDescription></content></entry>"
        ).encode()

    def _feed(self, entries: list[bytes], title: str = "Queues") -> bytes:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f'<feed xmlns="{ATOM}"><title type="text">{title}</title><id>uuid:{uuid.uuid4()};id=1</id><updated>{now}</updated>'.encode()
                + b"".join(entries) + b"</feed>")

    async def get_entity(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied:
            return denied
        api = request.query.get("api-version", "2021-05")
        q = self.queues.get(request.match_info["entity"].lower())
        if q is None:
            # Azure's answer for an entity that does not exist: 200 and an empty feed
            body = self._feed([], "Publicly Listed Services")
            return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")
        return web.Response(body=self._entry(q, api), content_type="application/atom+xml", charset="utf-8")

    async def list_queues(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied:
            return denied
        api = request.query.get("api-version", "2021-05")
        skip, top = int(request.query.get("$skip", 0)), int(request.query.get("$top", 100))
        entries = [self._entry(q, api) for q in sorted(self.queues.values(), key=lambda q: q.name)][skip: skip + top]
        return web.Response(body=self._feed(entries), content_type="application/atom+xml", charset="utf-8")

    async def put_entity(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied:
            return denied
        name = request.match_info["entity"]
        exists = name.lower() in self.queues
        if exists and request.headers.get("If-Match") is None:
            return _error(409, f"SubCode=40900. Conflict. You're requesting an operation that isn't allowed in the resource's current state. The messaging entity '{self.namespace}:Queue:{name}' already exists.")
        try:
            doc = ET.fromstring(await request.read())
        except ET.ParseError:
            return _error(400, "The request body is not valid XML.")
        desc = doc.find(f".//{{{SB}}}QueueDescription")
        q = self.queues.get(name.lower()) or FakeQueue(name)

        def text(tag: str) -> str | None:
            el = desc.find(f"{{{SB}}}{tag}") if desc is not None else None
            return el.text if el is not None else None

        if text("MaxSizeInMegabytes"):
            q.max_size_mb = int(text("MaxSizeInMegabytes"))
        if text("DefaultMessageTimeToLive"):
            q.ttl = text("DefaultMessageTimeToLive")
        if text("RequiresDuplicateDetection"):
            q.duplicate_detection = text("RequiresDuplicateDetection") == "true"
        if text("MaxMessageSizeInKilobytes"):
            q.max_message_size_kb = int(text("MaxMessageSizeInKilobytes"))
        self.add_queue(q)
        api = request.query.get("api-version", "2021-05")
        return web.Response(status=200 if exists else 201, body=self._entry(q, api), content_type="application/atom+xml", charset="utf-8")

    async def delete_entity(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied:
            return denied
        name = request.match_info["entity"]
        if self.queues.pop(name.lower(), None) is None:
            return _error(404, f"Entity '{self.namespace}:Queue:{name}' was not found.")
        return web.Response(status=200)
