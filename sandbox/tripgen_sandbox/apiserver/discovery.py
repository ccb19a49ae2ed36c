"""Discovery documents (/api, /apis, /api/v1, /apis/G/V) built from the resource table, in the
shapes kubectl and the Python client parse."""

from __future__ import annotations

from tripgen_sandbox import resources


def version_info(git_version: str) -> dict:
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-04-16T00:00:00Z",
        "goVersion": "go1.21.9",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_doc(group: str, versions: list[str]) -> dict:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def api_group_list() -> dict:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_doc(g, vs) for g, vs in resources.groups().items()],
    }


def api_group(group: str) -> dict | None:
    vs = resources.groups().get(group)
    if not vs:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, vs)}


def resource_list(group: str, version: str) -> dict | None:
    types = [t for t in resources.TYPES if t.group == group and t.version == version]
    if not types:
        return None
    items = []
    for t in types:
        entry = {
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": list(t.verbs),
        }
        if t.short_names:
            entry["shortNames"] = list(t.short_names)
        if t.categories:
            entry["categories"] = list(t.categories)
        entry["storageVersionHash"] = ""
        items.append(entry)
        for sub in t.subresources:
            sub_entry = {"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"]}
            if sub == "scale":
                sub_entry.update(kind="Scale", group="autoscaling", version="v1")
            elif sub in ("exec", "attach", "portforward", "proxy"):
                sub_entry.update(kind={"proxy": "NodeProxyOptions" if t.kind == "Node" else f"{t.kind}ProxyOptions"}.get(sub, f"Pod{sub.capitalize()}Options"), verbs=["create", "get"])
            elif sub == "log":
                sub_entry.update(kind="Pod", verbs=["get"])
            elif sub == "eviction":
                sub_entry.update(kind="Eviction", group="policy", version="v1", verbs=["create"])
            elif sub == "token":
                sub_entry.update(kind="TokenRequest", group="authentication.k8s.io", version="v1", verbs=["create"])
            items.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version, "resources": items}
