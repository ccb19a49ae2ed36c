"""Translate azure-core exceptions into ToolErrors with one line a person can act on. Messages
carry ARM's error code and message (never a token, key or header)."""

from __future__ import annotations

import contextlib
from typing import Iterator

from tripgenctl.errors import ConnectionFailed, ToolError, UsageError

LOGIN_HINT = ("run `az login` (or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal, "
              "or use a managed or workload identity; -v shows what was tried)")


class AzureLoginRequired(ConnectionFailed):
    """No usable Azure credential, or Azure rejected the one we had (missing / expired)."""


class AzureNotFound(UsageError):
    pass


class OperationInProgress(ToolError):
    """ARM refused because another operation is running on the resource (409)."""


class AzureUnreachable(ConnectionFailed):
    pass


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def arm_error_parts(exc) -> tuple[str, str]:
    """(code, message) of an ARM error response, best effort."""
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) or ""
    message = getattr(err, "message", None) or ""
    if not code:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:  # noqa: BLE001 - not JSON
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = body["error"].get("code", "") or ""
            message = body["error"].get("message", "") or ""
    if not message:
        message = getattr(exc, "reason", None) or ""
    return code, _one_line(message)


def login_error(exc) -> AzureLoginRequired:
    code, _ = arm_error_parts(exc)
    if code in ("ExpiredAuthenticationToken", "InvalidAuthenticationTokenExpired"):
        return AzureLoginRequired(f"the Azure login has expired ({code}): {LOGIN_HINT}")
    from azure.identity import CredentialUnavailableError

    if isinstance(exc, CredentialUnavailableError) or "failed to retrieve a token" in str(exc):
        return AzureLoginRequired(f"no Azure credential found or it has expired: {LOGIN_HINT}")
    return AzureLoginRequired(f"Azure rejected the credential{f' ({code})' if code else ''}: {LOGIN_HINT}")


@contextlib.contextmanager
def translated(what: str, not_found: str | None = None) -> Iterator[None]:
    """Run SDK calls about `what`; raise ToolErrors instead of azure-core exceptions."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ToolError:
        raise
    except ClientAuthenticationError as exc:
        raise login_error(exc) from None
    except ResourceNotFoundError as exc:
        code, message = arm_error_parts(exc)
        raise AzureNotFound(not_found or f"{what}: not found ({code or 404}): {message}") from None
    except (ResourceExistsError, HttpResponseError) as exc:
        code, message = arm_error_parts(exc)
        status = getattr(exc, "status_code", None)
        if status == 409:
            raise OperationInProgress(f"{what}: refused by Azure ({code or 'Conflict'}): {message}") from None
        if status in (401,):
            raise login_error(exc) from None
        if status in (200, 201, 202, 204):  # a long-running operation that ended Failed/Canceled
            raise ToolError(f"{what}: the operation failed in Azure ({code or 'Failed'}): {message}") from None
        raise ToolError(f"{what}: Azure answered {status or 'an error'} {code}: {message}".rstrip(": ")) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise AzureUnreachable(f"cannot reach Azure for {what}: {_one_line(getattr(exc, 'message', None) or exc, 160)}") from None
