"""Objects of any kind addressed by (apiVersion, plural), for ops that know the plural already:
the GitOps controllers, autoscalers and CronJobs `down` pauses (found by listing their group),
the pods a restart follows, the pods `status` reads. Unlike resources.py (addressed by kind, a
CRD's path found by discovery) these cost no discovery call, and their answers and errors are
Kube.fetch's: typed (NotFound, Conflict, Forbidden, Unavailable), carrying the answer's body
(`.body`, for its Status message) and the server's Retry-After (`.retry_after`, which retry.run
honours). Without a `what` an error names the request as fetch does ("GET <path>")."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from tripgenctl.kube import paths
from tripgenctl.kube.resources import FIELD_MANAGER, PATCH_TYPES

MERGE_PATCH = PATCH_TYPES["merge"]


def _at(kube, api_version: str, plural: str, name: str | None = None, namespace: str | None = None) -> str:
    return kube.api_path(api_version, plural, name, namespace=namespace)


def read(kube, api_version: str, plural: str, name: str, namespace: str | None = None, what: str | None = None) -> Any:
    """The object as the API sent it; None when it does not exist."""
    return kube.fetch("GET", _at(kube, api_version, plural, name, namespace), what=what, missing_ok=True)


def list_answer(kube, api_version: str, plural: str, namespace: str | None = None, selector: str | Mapping[str, str] | None = None, *,
                missing_ok: bool = False, what: str | None = None) -> Any:
    """The list answer as sent: items and metadata.resourceVersion (where a watch starts), with
    a label selector; None with missing_ok when the collection is not served (no CRD)."""
    query = paths.selector(selector) or None
    return kube.fetch("GET", _at(kube, api_version, plural, namespace=namespace), query=query, what=what, missing_ok=missing_ok)


def items(kube, api_version: str, plural: str, namespace: str | None = None) -> list[dict]:
    """The collection's items (one list call; an error answer raises)."""
    return kube.list_json(_at(kube, api_version, plural, namespace=namespace))


def merge_patch(kube, api_version: str, plural: str, name: str, change: dict, namespace: str | None = None, what: str | None = None) -> Any:
    """One merge patch (RFC 7386), field manager tripgenctl; the object as the API answered.
    Not retried here: the caller runs it under its retry.run policy."""
    return kube.fetch("PATCH", _at(kube, api_version, plural, name, namespace), change, content_type=MERGE_PATCH,
                      query={"fieldManager": FIELD_MANAGER}, what=what)


def watch(kube, api_version: str, plural: str, namespace: str | None = None, selector: str | Mapping[str, str] | None = None,
          resource_version: str | None = None, timeout_seconds: int = 60) -> Iterator[tuple[str, dict]]:
    """(type, object) events of the collection (those matching the label selector) from
    resource_version until the server ends the watch at timeout_seconds."""
    sel = paths.selector(selector).get("labelSelector")
    return kube.watch_json(_at(kube, api_version, plural, namespace=namespace), resource_version=resource_version,
                           timeout_seconds=timeout_seconds, selector=sel)
