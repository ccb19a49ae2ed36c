"""Service Bus through azure-servicebus's administration client (the management ATOM API):
queue settings and runtime counts. The connection string is handed to the SDK and never kept
in a result or a message."""

from __future__ import annotations

from dataclasses import dataclass

from tripgenctl.errors import ConnectionFailed, ToolError


class KeyRejected(ToolError):
    """Service Bus answered 401: the SharedAccessKey (or SAS) does not match the namespace."""


class BusUnreachable(ConnectionFailed):
    pass


@dataclass
class QueueFacts:
    name: str
    exists: bool
    max_size_mb: int | None = None
    max_message_size_kb: int | None = None  # None when the tier does not report it (Basic/Standard)
    ttl_seconds: float | None = None
    duplicate_detection: bool | None = None
    active: int | None = None
    dead_letter: int | None = None
    scheduled: int | None = None


def read_queues(connection_string: str, names: list[str], timeout: float = 30.0) -> list[QueueFacts]:
    """Facts for each queue name (exists=False for a missing one). Raises KeyRejected on 401,
    BusUnreachable when the namespace cannot be reached."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError, ServiceRequestError, ServiceResponseError
    from azure.servicebus.management import ServiceBusAdministrationClient

    from tripgenctl.azure import quiet_sdk_logging

    quiet_sdk_logging()
    out: list[QueueFacts] = []
    try:
        # SPEC client policy: exponential backoff, 3 tries, 30 s timeout
        client = ServiceBusAdministrationClient.from_connection_string(connection_string, retry_total=2, connection_timeout=timeout, read_timeout=timeout)
    except ValueError as exc:
        raise ToolError(f"the Service Bus connection string is malformed: {str(exc).splitlines()[0][:120]}") from None
    with client:
        for name in names:
            try:
                props = client.get_queue(name)
                runtime = client.get_queue_runtime_properties(name)
            except ResourceNotFoundError:
                out.append(QueueFacts(name=name, exists=False))
                continue
            except ClientAuthenticationError as exc:
                detail = _detail(exc)
                raise KeyRejected(f"Service Bus rejected the key (401{': ' + detail if detail else ''})") from None
            except (ServiceRequestError, ServiceResponseError) as exc:
                raise BusUnreachable(f"cannot reach the Service Bus namespace: {' '.join(str(getattr(exc, 'message', exc)).split())[:160]}") from None
            except HttpResponseError as exc:
                raise ToolError(f"Service Bus answered {exc.status_code}: {_detail(exc)}") from None
            ttl = props.default_message_time_to_live
            out.append(QueueFacts(
                name=name, exists=True, max_size_mb=props.max_size_in_megabytes,
                max_message_size_kb=getattr(props, "max_message_size_in_kilobytes", None),
                ttl_seconds=ttl.total_seconds() if ttl is not None else None,
                duplicate_detection=props.requires_duplicate_detection,
                active=runtime.active_message_count, dead_letter=runtime.dead_letter_message_count,
                scheduled=runtime.scheduled_message_count,
            ))
    return out


def _detail(exc) -> str:
    """The service's reason (e.g. 'InvalidSignature: The token has an invalid signature.'),
    without tracking ids; never the request's headers."""
    text = ""
    try:
        body = exc.response.text() if exc.response is not None else ""
    except Exception:  # noqa: BLE001
        body = ""
    if "<Detail>" in body:
        text = body.split("<Detail>", 1)[1].split("</Detail>", 1)[0]
    text = text.split(" TrackingId:", 1)[0].split(" To know more", 1)[0]
    return " ".join(text.split())[:160]
