"""Image references and the sandbox's registry: an image is "pullable" when its repository
and tag are in the configured catalog; anything else fails the way a registry answering
'manifest unknown' makes a real kubelet fail."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageRef:
    raw: str
    registry: str  # docker.io, tripgendev.azurecr.io, ...
    repository: str  # catalog key: "busybox", "bitnami/redis", "tripgendev.azurecr.io/trip-service"
    tag: str
    digest: str | None = None

    @property
    def canonical(self) -> str:
        """How containerd names it: docker.io/library/busybox:latest."""
        path = self.repository
        if self.registry == "docker.io":
            path = f"docker.io/{path if '/' in path else 'library/' + path}"
        return f"{path}@{self.digest}" if self.digest else f"{path}:{self.tag}"

    @property
    def image_id(self) -> str:
        """A stable fake digest, so imageID looks like a real one and is the same per tag."""
        digest = self.digest or "sha256:" + hashlib.sha256(self.canonical.encode()).hexdigest()
        base = self.canonical.rsplit("@", 1)[0].rsplit(":", 1)[0] if not self.digest else self.canonical.split("@")[0]
        return f"{base}@{digest}"

    @property
    def name(self) -> str:
        """The last path element without tag: busybox, postgresql, trip-service."""
        return self.repository.rsplit("/", 1)[-1]


def parse_image(image: str) -> ImageRef:
    raw = image.strip()
    rest, digest = (raw.split("@", 1) + [None])[:2] if "@" in raw else (raw, None)
    tag = "latest"
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
    first = rest.split("/", 1)[0]
    if "/" in rest and ("." in first or ":" in first or first == "localhost"):
        registry = first
        repo = rest if registry != "docker.io" else rest.split("/", 1)[1]
    else:
        registry, repo = "docker.io", rest
    if registry == "docker.io" and repo.startswith("library/"):
        repo = repo[len("library/"):]
    return ImageRef(raw=raw, registry=registry, repository=repo, tag=tag, digest=digest)


class ImagePullError(Exception):
    """The registry does not have this image; message as containerd reports it."""


def pull(catalog: dict[str, list[str]], image: str) -> ImageRef:
    ref = parse_image(image)
    tags = catalog.get(ref.repository)
    if tags is not None and (ref.digest or ref.tag in tags or "*" in tags):
        return ref
    where = ref.canonical
    raise ImagePullError(
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{where}": '
        f'failed to resolve reference "{where}": {where}: not found: manifest unknown: manifest unknown'
    )
