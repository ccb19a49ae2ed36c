"""REST paths of the kinds the typed objects (pods, secrets, namespaces, leases, jobs) serve,
and their one DELETE (404: already gone),
made here so that no module outside kube/ spells an API path. Core kinds live under /api/v1,
the others under /apis/<group>/<version>."""

from __future__ import annotations


def core(plural: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    """/api/v1[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]"""
    return _join("/api/v1", plural, namespace, name, sub)


def grouped(group_version: str, plural: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    """/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]"""
    return _join(f"/apis/{group_version}", plural, namespace, name, sub)


def _join(base: str, plural: str, namespace: str | None, name: str | None, sub: str | None) -> str:
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    if name:
        path += f"/{name}"
        if sub:
            path += f"/{sub}"
    return path


def selector(labels: dict[str, str] | str | None) -> dict[str, str]:
    """The `labelSelector` query of a list ({} for none): a dict as k=v,k=v, a string as given."""
    if not labels:
        return {}
    text = labels if isinstance(labels, str) else ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return {"labelSelector": text}


def delete(kube, path: str, what: str, body: dict | None = None) -> bool:
    """DELETE an object: True when the server took the request, False when it was already gone
    (a 404 is that answer, whatever the body of a success looks like); other errors are typed."""
    from tripgenctl.kube.errors import raise_for_status

    status, answer = kube.request_json("DELETE", path, body, what=what)
    if status == 404:
        return False
    raise_for_status(status, answer, what)
    return True
