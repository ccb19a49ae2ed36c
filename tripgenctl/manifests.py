"""The environment as data: load the YAML under manifests/, apply a profile from
manifests/profiles.yaml, render into a namespace, and hand back plain dicts. deploy, diff
and data init all render through here, so a profile or namespace means the same everywhere.

The files are revision 001 written for namespace `tripgen-dev`; rendering into another
namespace replaces that word in every string (object namespaces, service DNS names in env
values, RoleBinding subjects, cluster-scoped names that embed it)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tripgenctl.errors import UsageError
from tripgenctl.packaged import manifests_dir  # noqa: F401  (re-exported: callers ask manifests for its folder)

SOURCE_NAMESPACE = "tripgen-dev"
PROFILES_FILE = "profiles.yaml"
_NS_WORD = re.compile(r"\btripgen-dev\b")

# apply order: what others depend on first (kubectl apply -f dir has no such order)
KIND_ORDER = [
    "Namespace", "PersistentVolume", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
    "ConfigMap", "Secret", "PersistentVolumeClaim", "Service", "StatefulSet", "Deployment", "Job", "CronJob",
    "NetworkPolicy", "Ingress",
]
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass", "IngressClass"}


@dataclass
class Profile:
    name: str
    description: str = ""
    images: dict[str, str] = field(default_factory=dict)
    patches: list[dict] = field(default_factory=list)
    remove: list[dict] = field(default_factory=list)
    add: list[dict] = field(default_factory=list)




def _yaml_documents(path: Path) -> list[dict]:
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            raise UsageError(f"{path}: every document must be a Kubernetes object with apiVersion and kind")
    return docs


def load_dir(directory: Path) -> list[dict]:
    """The objects of the *.yaml/*.yml files directly in `directory` (not subdirectories:
    data-init/ and schedule/ are separate sets), in file-name order."""
    if not directory.is_dir():
        raise UsageError(f"manifests directory {directory} does not exist")
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.name != PROFILES_FILE and p.is_file())
    out: list[dict] = []
    for f in files:
        out.extend(_yaml_documents(f))
    return out


def load_profiles(directory: Path | None = None) -> tuple[str, dict[str, Profile]]:
    """(default profile name, profiles by name)."""
    import yaml

    path = (directory or manifests_dir()) / PROFILES_FILE
    if not path.exists():
        return "001", {"001": Profile("001")}
    data = yaml.safe_load(path.read_text()) or {}
    profiles = {}
    for name, body in (data.get("profiles") or {}).items():
        body = body or {}
        profiles[str(name)] = Profile(
            name=str(name),
            description=body.get("description", ""),
            images={str(k): str(v) for k, v in (body.get("images") or {}).items()},
            patches=list(body.get("patches") or []),
            remove=list(body.get("remove") or []),
            add=list(body.get("add") or []),
        )
    return str(data.get("default", "001")), profiles


def get_profile(name: str | None, directory: Path | None = None) -> Profile:
    default, profiles = load_profiles(directory)
    wanted = str(name or default)
    if wanted not in profiles:
        raise UsageError(f"unknown profile {wanted!r} (known: {', '.join(sorted(profiles))})")
    return profiles[wanted]


# ---- rendering ------------------------------------------------------------------------------

def render(namespace: str = SOURCE_NAMESPACE, profile: str | None = None, directory: Path | None = None, subdir: str | None = None,
           config=None) -> list[dict]:
    """Rendered objects of manifests/ (or manifests/<subdir>/), profile applied, in apply
    order. The profile always comes from manifests/profiles.yaml; `config` (the run's
    ToolConfig) has the last word on images and resources (None: the manifests as written)."""
    base = directory or manifests_dir()
    prof = get_profile(profile, base)
    objects = load_dir(base / subdir if subdir else base)
    if not subdir:
        objects = [o for o in objects if not _matches_any(o, prof.remove)] + copy.deepcopy(prof.add)
    objects = [apply_profile(o, prof) for o in objects]
    objects = [apply_config(o, config) for o in objects]
    objects = [set_namespace(o, namespace) for o in objects]
    return sort_objects(objects)


def apply_config(obj: dict, cfg) -> dict:
    """The config file's last word over the profile: `images` and `resources` per container name."""
    if cfg is None or not (cfg.images or cfg.resources):
        return obj
    obj = copy.deepcopy(obj)
    for c in containers(obj):
        if c.get("name") in cfg.images:
            c["image"] = cfg.images[c["name"]]
        if c.get("name") in cfg.resources:
            res = c.setdefault("resources", {})
            for part in ("requests", "limits"):
                res.setdefault(part, {}).update((cfg.resources[c["name"]] or {}).get(part) or {})
    return obj


def apply_profile(obj: dict, prof: Profile) -> dict:
    obj = copy.deepcopy(obj)
    for p in prof.patches:
        if _matches(obj, p.get("target") or {}):
            obj = merge(obj, p.get("patch") or {})
    if prof.images:
        for c in containers(obj):
            if c.get("image") in prof.images:
                c["image"] = prof.images[c["image"]]
    return strip_directives(obj)


def containers(obj: dict) -> list[dict]:
    """Every container and initContainer of a workload (Pod, Deployment, StatefulSet, Job, CronJob)."""
    spec = obj.get("spec") or {}
    pod = None
    if obj.get("kind") == "Pod":
        pod = spec
    elif obj.get("kind") == "CronJob":
        pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    else:
        pod = (spec.get("template") or {}).get("spec")
    if not pod:
        return []
    return list(pod.get("containers") or []) + list(pod.get("initContainers") or [])


def set_namespace(obj: dict, namespace: str) -> dict:
    """Place a namespaced object in `namespace`, and rename the source namespace wherever it
    appears as a word in a string value."""
    obj = _replace_ns(copy.deepcopy(obj), namespace) if namespace != SOURCE_NAMESPACE else copy.deepcopy(obj)
    if obj.get("kind") not in CLUSTER_SCOPED:
        obj.setdefault("metadata", {})["namespace"] = namespace
    return obj


def _replace_ns(value: Any, namespace: str) -> Any:
    if isinstance(value, str):
        return _NS_WORD.sub(namespace, value)
    if isinstance(value, dict):
        return {k: _replace_ns(v, namespace) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_ns(v, namespace) for v in value]
    return value


def sort_objects(objects: list[dict]) -> list[dict]:
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(objects, key=lambda o: order.get(o.get("kind", ""), len(order)))  # stable: file order within a kind


def ref(obj: dict) -> str:
    """kind/name as kubectl prints it (deployment.apps/user-service style is noisier)."""
    return f"{obj.get('kind', '?').lower()}/{(obj.get('metadata') or {}).get('name', '?')}"


def _matches(obj: dict, target: dict) -> bool:
    meta = obj.get("metadata") or {}
    return bool(target) and all(
        (obj.get("kind") if k == "kind" else meta.get("name") if k == "name" else obj.get(k)) == v for k, v in target.items()
    )


def _matches_any(obj: dict, targets: list[dict]) -> bool:
    return any(_matches(obj, t) for t in targets)


# ---- the merge used by profiles -------------------------------------------------------------

def item_key(item: Any) -> Any:
    """The identity of a list item for merging: `name`, else metadata.name."""
    if not isinstance(item, dict):
        return None
    if "name" in item:
        return ("name", item["name"])
    meta = item.get("metadata")
    if isinstance(meta, dict) and "name" in meta:
        return ("metadata.name", meta["name"])
    return None


def merge(base: Any, patch: Any) -> Any:
    """Strategic-merge-like: see the header of manifests/profiles.yaml."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list):
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and p.get("$patch") == "replace")]
        keyed = patch and all(item_key(p) is not None for p in patch) and all(item_key(b) is not None for b in base)
        if not keyed:
            return copy.deepcopy(patch)
        out = [copy.deepcopy(b) for b in base]
        for p in patch:
            idx = next((i for i, b in enumerate(out) if item_key(b) == item_key(p)), None)
            if isinstance(p, dict) and p.get("$patch") == "delete":
                if idx is not None:
                    out.pop(idx)
            elif idx is None:
                out.append(copy.deepcopy(p))
            else:
                out[idx] = merge(out[idx], p)
        return out
    return copy.deepcopy(patch)


def strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if k != "$patch"}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


REMEMBERED_REPLICAS = "tripgenctl.io/replicas"


def respect_scaled_down(desired: dict, live: dict | None) -> dict:
    """A workload `tripgenctl down` scaled to 0 stays at 0 through a deploy (and is no drift):
    the manifests' replica count comes back with `tripgenctl up`, not as a side effect."""
    if not live or desired.get("kind") not in ("Deployment", "StatefulSet"):
        return desired
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    if REMEMBERED_REPLICAS in annotations and (live.get("spec") or {}).get("replicas") == 0:
        desired = copy.deepcopy(desired)
        desired.setdefault("spec", {})["replicas"] = 0
    return desired
