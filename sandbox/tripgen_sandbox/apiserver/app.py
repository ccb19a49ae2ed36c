"""The sandbox's kube-apiserver: REST verbs over the store with the semantics clients rely on
(Status errors, resourceVersion conflicts, selectors, list+watch, the patch flavours, server-side
apply, dryRun, subresources), served by aiohttp over HTTPS."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
from typing import Any

import yaml
from aiohttp import web

from tripgen_sandbox import resources
from tripgen_sandbox.apierrors import ApiError, not_found
from tripgen_sandbox.apiserver import apply as ssa
from tripgen_sandbox.apiserver import crd, discovery, fields, tables
from tripgen_sandbox.apiserver.encode import JSON, TABLE, go_json, order_object, respond, status_response
from tripgen_sandbox.apiserver.defaults import apply_defaults, validate
from tripgen_sandbox.apiserver.validation import validate_update
from tripgen_sandbox.apiserver.patch import json_merge_patch, json_patch, strategic_merge_patch
from tripgen_sandbox.cluster import Cluster
from tripgen_sandbox.selectors import check_field_selector, parse_field_selector, parse_label_selector

log = logging.getLogger("tripgen_sandbox.apiserver")

STREAM_SUBRESOURCES = ("exec", "attach", "portforward")
# Registries with ReturnDeletedObject: true in 1.29 (pkg/registry/*/storage): a DELETE answers with
# the deleted object; every other registry answers a Success Status naming it.
RETURN_DELETED_OBJECT = frozenset({
    "pods", "services", "serviceaccounts", "nodes", "storageclasses.storage.k8s.io",
    "csidrivers.storage.k8s.io", "csinodes.storage.k8s.io", "volumeattachments.storage.k8s.io",
})


def _events_v1(obj: dict) -> list[dict]:
    from tripgen_sandbox.apiserver.events_v1 import to_v1

    return [to_v1(obj)]


def _slices(obj: dict) -> list[dict]:
    from tripgen_sandbox.apiserver.endpointslices import to_slices

    return to_slices(obj)


# read-only groups computed from stored objects: group -> (store key of the source, converter)
VIEWS = {"events.k8s.io": ("events", _events_v1), "discovery.k8s.io": ("endpoints", _slices)}


class Route:
    """A parsed resource path."""

    def __init__(self, rtype: resources.ResourceType, namespace: str | None, name: str | None, sub: str | None, rest: str = ""):
        self.type = rtype
        self.namespace = namespace
        self.name = name
        self.sub = sub
        self.rest = rest  # after a proxy subresource


def parse_path(path: str) -> Route | None:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if parts[0] == "api":
        group, version, rest = "", parts[1] if len(parts) > 1 else "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    rtype = resources.BY_PATH.get((group, version, plural))
    if rtype is None:
        raise ApiError(404, f"the server could not find the requested resource", "NotFound")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    extra = "/".join(rest[3:]) if len(rest) > 3 else ""
    if rtype.namespaced and namespace is None and name is not None and rtype.plural != "namespaces":
        raise ApiError(404, "the server could not find the requested resource", "NotFound")
    return Route(rtype, namespace, name, sub, extra)


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _bool(v: str | None) -> bool:
    return v is not None and v.lower() in ("true", "1", "")


def _manager(request: web.Request, default: str | None = None) -> str:
    fm = request.query.get("fieldManager")
    if fm:
        return fm
    ua = request.headers.get("User-Agent", "unknown")
    return default or ua.split("/", 1)[0].split(" ", 1)[0] or "unknown"


class ApiServer:
    def __init__(self, cluster: Cluster, auth):
        self.cluster = cluster
        self.store = cluster.store
        self.auth = auth
        self.server_address = ""
        crd.install(self.store)
        from tripgen_sandbox.apiserver.defaults import set_service_account_lookup

        set_service_account_lookup(lambda ns, name: self.store.get("serviceaccounts", ns, name) if ns else None)

    # ---- app -----------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        from tripgen_sandbox.apiserver import faults

        app = web.Application(middlewares=[self._middleware, faults.middleware(self.cluster)], client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        try:
            user = self.auth.authenticate(request)
            request["user"] = user
            key = f"{request.method} {request.path}"
            self.cluster.request_counts[key] = self.cluster.request_counts.get(key, 0) + 1
            return protobuf_answer(request, await handler(request))
        except ApiError as exc:
            retry = (exc.details or {}).get("retryAfterSeconds")
            return status_response(exc.status(), exc.code, headers={"Retry-After": str(retry)} if retry else None)
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug is a 500 Status, not a dropped connection
            log.exception("internal error on %s %s", request.method, request.path)
            err = ApiError(500, f"sandbox internal error: {type(exc).__name__}: {exc}")
            return status_response(err.status(), 500)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        if path == "/version":
            return respond(discovery.version_info(self.cluster.config.kubernetes_version))
        if path == "/api":
            return respond(discovery.api_versions(self.server_address))
        if path == "/apis":
            return respond(discovery.api_group_list())
        if path == "/sandbox/requests":
            return respond(self.cluster.request_counts)
        if path == "/sandbox/faults":
            return await self.faults(request)
        if path == "/sandbox/faults/api":
            return await self.api_faults(request)
        if path == "/openapi/v2":
            return openapi_v2_response(request)
        if path == "/openapi/v3":
            from tripgen_sandbox.apiserver import openapi

            return respond(openapi.index())
        if path.startswith("/openapi/v3/"):
            from tripgen_sandbox.apiserver import openapi

            body = openapi.document(path[len("/openapi/v3/"):])
            if body is None:
                raise ApiError(404, "the server could not find the requested resource")
            return web.Response(body=body, headers={"Content-Type": JSON})
        if path.startswith("/openapi"):
            raise ApiError(404, "the server could not find the requested resource")
        parts = [p for p in path.split("/") if p]
        if parts[0] == "api" and len(parts) == 2:
            doc = discovery.resource_list("", parts[1])
            if doc:
                return respond(doc)
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(parts[1])
            if doc:
                return respond(doc)
        if parts[0] == "apis" and len(parts) == 3:
            doc = discovery.resource_list(parts[1], parts[2])
            if doc:
                return respond(doc)
        route = parse_path(path)
        if route is None:
            raise ApiError(404, "the server could not find the requested resource")
        self.auth.authorize(request["user"], request.method, route)
        return await self.handle(request, route)

    async def faults(self, request: web.Request) -> web.Response:
        """Fault injection for tests and demos (admin only): {"name": ..., "value": ...};
        a null value clears the fault. The names are listed in tripgen_sandbox/control.py."""
        from tripgen_sandbox.apiserver import faults

        if not request["user"].is_admin:
            raise ApiError(403, "faults are for the sandbox admin")
        if request.method == "POST":
            body = await self._body(request)
            name, value = body.get("name"), body.get("value")
            if not name:
                raise ApiError(400, "fault name required")
            if name == "api" and value is not None:
                value = [faults.validate_rule(r) for r in (value if isinstance(value, list) else [value])]
            if value is None:
                self.cluster.faults.pop(name, None)
                if name == "api":
                    faults.cleared()
            else:
                self.cluster.faults[name] = value
            hook = getattr(self.cluster.kubelet, "on_fault", None)
            if hook is not None:  # faults the kubelet acts on (freeze) take effect before we answer
                hook(name)
        return respond(self.cluster.faults)

    async def api_faults(self, request: web.Request) -> web.Response:
        """POST a rule (apiserver/faults.py) to add it after the others; DELETE clears every
        rule, or with ?path=P only the rules for P. Answers with the rules now in force."""
        from tripgen_sandbox.apiserver import faults

        if not request["user"].is_admin:
            raise ApiError(403, "faults are for the sandbox admin")
        rules = self.cluster.faults.setdefault("api", [])
        if request.method == "POST":
            rules.append(faults.validate_rule(await self._body(request)))
        elif request.method == "DELETE":
            only = request.query.get("path")
            rules[:] = [r for r in rules if only is not None and r.get("path") != only]
            faults.cleared()
        elif request.method != "GET":
            raise ApiError(405, f"{request.method} is not allowed on /sandbox/faults/api")
        if not rules:
            self.cluster.faults.pop("api", None)
        return web.json_response(rules)

    # ---- verbs ---------------------------------------------------------------------------
    async def handle(self, request: web.Request, r: Route, converted: bool = False) -> web.StreamResponse:
        t = r.type
        m = request.method
        crd.FIELD_VALIDATION.set(request.query.get("fieldValidation", ""))
        if t.custom and not converted and resources.BY_KEY.get(t.key) is not t:
            return await crd.served_version(self, request, r)  # a non-storage version of a CRD
        if t.group == "metrics.k8s.io":
            from tripgen_sandbox.apiserver import metrics_api

            return respond(metrics_api.handle(self.cluster, r))
        if t.group in ("authorization.k8s.io", "authentication.k8s.io"):
            return await self.review(request, r)
        if r.sub:
            return await self.subresource(request, r)
        if t.group in VIEWS:
            return await self.view(request, r)
        if r.name is None and m in ("GET", "DELETE"):
            check_field_selector(t.group, t.plural, request.query.get("fieldSelector"))
        if r.name is None:
            if m == "GET":
                if _bool(request.query.get("watch")) and request.query.get("watch") is not None:
                    return await self.watch(request, r)
                return self.list(request, r)
            if m == "POST":
                return await self.create(request, r)
            if m == "DELETE":
                return await self.delete_collection(request, r)
            raise ApiError(405, f"method {m} not allowed")
        if m == "GET":
            obj = self.store.require(t.key, r.namespace, r.name)
            return self._respond_obj(request, obj)
        if m == "PUT":
            return await self.replace(request, r)
        if m == "PATCH":
            return await self.patch(request, r)
        if m == "DELETE":
            return await self.delete(request, r)
        raise ApiError(405, f"method {m} not allowed")

    def _respond_obj(self, request: web.Request, obj: dict, status: int = 200) -> web.Response:
        if _wants_table(request):
            return respond(tables.table(obj["kind"], [obj], obj["metadata"].get("resourceVersion", ""), request.query.get("includeObject", "Metadata")), status, TABLE)
        return respond(obj, status)

    def list(self, request: web.Request, r: Route) -> web.Response:
        t = r.type
        items, rv = self.store.list(t.key, r.namespace, request.query.get("labelSelector"), request.query.get("fieldSelector"))
        return self._list_response(request, t, items, rv)

    def _list_response(self, request: web.Request, t: resources.ResourceType, items: list[dict], rv: str) -> web.Response:
        items, list_meta = paginate(items, rv, request.query.get("limit"), request.query.get("continue"))
        if _wants_table(request):
            body = tables.table(t.kind, items, list_meta["resourceVersion"], request.query.get("includeObject", "Metadata"))
            body["metadata"] = list_meta
            return respond(body, 200, TABLE)
        for o in items:
            o.pop("apiVersion", None)
            o.pop("kind", None)
        return respond({"kind": t.list_kind, "apiVersion": t.api_version, "metadata": list_meta, "items": items})

    async def watch(self, request: web.Request, r: Route, source: str | None = None, convert=None) -> web.StreamResponse:
        """Stream watch events. For a view (source + convert) the source kind is watched and each
        event is converted, then filtered by the request's selectors."""
        t = r.type
        q = request.query
        rv = q.get("resourceVersion")
        if convert is None:
            w = self.store.watch(t.key, r.namespace, rv, q.get("labelSelector"), q.get("fieldSelector"))
        else:
            w = self.store.watch(source, r.namespace, rv)
            lsel, fsel = parse_label_selector(q.get("labelSelector")), parse_field_selector(q.get("fieldSelector"))
        as_table = _wants_table(request)
        resp = web.StreamResponse(headers={"Content-Type": JSON, "Transfer-Encoding": "chunked"})
        await resp.prepare(request)
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = _bool(q.get("allowWatchBookmarks")) and q.get("allowWatchBookmarks") is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(w.queue.get(), timeout=min(remaining, 30.0))
                except asyncio.TimeoutError:
                    if bookmarks:
                        bm = {"kind": t.kind, "apiVersion": t.api_version, "metadata": {"resourceVersion": self.store.resource_version}}
                        await resp.write(go_json({"type": "BOOKMARK", "object": bm}))
                    continue
                if item is None:
                    break
                type_, obj = item
                objs = [obj] if convert is None else [v for v in convert(obj) if lsel(v["metadata"].get("labels") or {}) and fsel(v)]
                for obj in objs:
                    if as_table:
                        obj = tables.table(t.kind, [obj], obj["metadata"].get("resourceVersion", ""), q.get("includeObject", "Metadata"))
                    await resp.write(go_json({"type": type_, "object": order_object(obj)}))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            w.close()
        try:
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return {}
        ctype = request.headers.get("Content-Type", "application/json")
        if "protobuf" in ctype:
            from tripgen_sandbox.apiserver.protobuf import decode_body

            return decode_body(raw)
        try:
            if "yaml" in ctype:
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, f"the body of the request was in an unknown format: {exc}")

    def _check_kind(self, t: resources.ResourceType, obj: dict) -> None:
        if not isinstance(obj, dict):
            raise ApiError(400, "the body of the request must be an object")
        kind = obj.get("kind")
        if kind and kind != t.kind:
            raise ApiError(400, f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API version ({t.api_version}) or kind {kind} != {t.kind}")

    def _prepare(self, t: resources.ResourceType, obj: dict, namespace: str | None) -> dict:
        obj.setdefault("metadata", {})
        if t.namespaced:
            body_ns = obj["metadata"].get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise ApiError(400, "the namespace of the provided object does not match the namespace sent on the request")
            obj["metadata"]["namespace"] = namespace or body_ns
        obj["apiVersion"] = t.api_version
        obj["kind"] = t.kind
        if t.custom or t.key == crd.CRD_KEY:
            crd.prepare(t, obj)  # CRDs and custom resources: their own admission (apiserver/crd.py)
            return obj
        apply_defaults(t.kind, obj)
        validate(t.kind, obj, t.group)
        return obj

    async def create(self, request: web.Request, r: Route) -> web.Response:
        t = r.type
        obj = await self._body(request)
        self._check_kind(t, obj)
        warnings = fields.check(request.query, t.api_version, t.kind, obj)
        self._prepare(t, obj, r.namespace)
        ssa.record_update(None, obj, _manager(request), t.api_version)
        created = self.store.create(t.key, obj, dry_run=request.query.get("dryRun") == "All")
        return respond(created, 201, headers=fields.warning_headers(warnings))

    async def replace(self, request: web.Request, r: Route) -> web.Response:
        t = r.type
        obj = await self._body(request)
        self._check_kind(t, obj)
        obj.setdefault("metadata", {})["name"] = obj["metadata"].get("name") or r.name
        if obj["metadata"]["name"] != r.name:
            raise ApiError(400, "the name of the object does not match the name on the URL")
        cur = self.store.require(t.key, r.namespace, r.name)
        warnings = fields.check(request.query, t.api_version, t.kind, obj)
        self._prepare(t, obj, r.namespace)
        validate_update(t.kind, obj, cur, t.group)
        ssa.record_update(cur, obj, _manager(request), t.api_version)
        updated = self.store.update(t.key, obj, dry_run=request.query.get("dryRun") == "All")
        return respond(updated, headers=fields.warning_headers(warnings))

    def _patched(self, ctype: str, cur: dict, body: Any, request: web.Request, t: resources.ResourceType) -> dict:
        if "apply-patch" in ctype:
            if not isinstance(body, dict):
                raise ApiError(400, "apply patch must be an object")
            self._check_kind(t, body)
            manager = request.query.get("fieldManager")
            if not manager:
                raise ApiError(400, "fieldManager must be set for apply patches")
            body.setdefault("metadata", {})
            applied = ssa.apply(cur, body, manager, _bool(request.query.get("force")) and request.query.get("force") is not None, t.api_version)
            if manager == "kubectl":
                ssa.sync_last_applied(cur, body, applied)
            return applied
        if "json-patch" in ctype:
            return json_patch(cur, body)
        if "strategic-merge-patch" in ctype:
            return strategic_merge_patch(cur, body)
        if "merge-patch" in ctype:
            return json_merge_patch(cur, body)
        raise ApiError(415, f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json")

    async def patch(self, request: web.Request, r: Route) -> web.Response:
        t = r.type
        ctype = request.headers.get("Content-Type", "")
        body = await self._body(request)
        dry = request.query.get("dryRun") == "All"
        cur = self.store.get(t.key, r.namespace, r.name)
        warnings = [] if "json-patch" in ctype else fields.check(request.query, t.api_version, t.kind, body, apply="apply-patch" in ctype)
        if cur is None:
            if "apply-patch" in ctype:
                self._check_kind(t, body)
                body.setdefault("metadata", {}).setdefault("name", r.name)
                new = ssa.apply(None, body, request.query.get("fieldManager") or "unknown", True, t.api_version)
                self._prepare(t, new, r.namespace)
                return respond(self.store.create(t.key, new, dry_run=dry), 201, headers=fields.warning_headers(warnings))
            raise not_found(t.plural, r.name, t.group)
        new = self._patched(ctype, cur, body, request, t)
        if not isinstance(new, dict):
            raise ApiError(422, "patch produced a non-object")
        new.setdefault("metadata", {})["name"] = r.name
        # a resourceVersion the patch itself carries (merge/strategic/apply body, or a JSON patch op
        # that sets it) is a precondition, as on a real server; otherwise the patch applies to the latest
        if not new["metadata"].get("resourceVersion"):
            new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        self._prepare(t, new, r.namespace)
        validate_update(t.kind, new, cur, t.group)
        if "apply-patch" not in ctype:
            ssa.record_update(cur, new, _manager(request), t.api_version)
        return respond(self.store.update(t.key, new, dry_run=dry), headers=fields.warning_headers(warnings))

    async def _delete_options(self, request: web.Request) -> dict:
        opts: dict[str, Any] = {}
        try:
            body = await self._body(request)
            if isinstance(body, dict):
                opts.update(body)
        except ApiError:
            pass
        q = request.query
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        if "gracePeriodSeconds" in q:
            opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
        if q.get("dryRun") == "All":
            opts["dryRun"] = ["All"]
        if opts.get("orphanDependents") is True:
            opts["propagationPolicy"] = "Orphan"
        return opts

    async def delete(self, request: web.Request, r: Route) -> web.Response:
        t = r.type
        opts = await self._delete_options(request)
        out = self.store.delete(
            t.key,
            r.namespace,
            r.name,
            propagation=opts.get("propagationPolicy"),
            dry_run="All" in (opts.get("dryRun") or []),
            grace_period=opts.get("gracePeriodSeconds"),
        )
        dry = "All" in (opts.get("dryRun") or [])
        if self.store.get(t.key, r.namespace, r.name) is not None and not dry:
            return respond(out)  # still there (graceful, finalizers): the object, as a real server answers
        if dry and (t.key == "pods" or out.get("metadata", {}).get("finalizers")):
            return respond(out)
        if t.key in RETURN_DELETED_OBJECT:
            return respond(out)
        details = {"name": r.name, "group": t.group, "kind": t.plural, "uid": out.get("metadata", {}).get("uid", "")}
        return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})

    async def delete_collection(self, request: web.Request, r: Route) -> web.Response:
        t = r.type
        opts = await self._delete_options(request)
        items, _ = self.store.list(t.key, r.namespace, request.query.get("labelSelector"), request.query.get("fieldSelector"))
        for o in items:
            try:
                self.store.delete(t.key, o["metadata"].get("namespace"), o["metadata"]["name"], propagation=opts.get("propagationPolicy"), dry_run="All" in (opts.get("dryRun") or []), grace_period=opts.get("gracePeriodSeconds"))
            except ApiError:
                pass
        return respond({"kind": t.list_kind, "apiVersion": t.api_version, "metadata": {}, "items": items})

    # ---- subresources --------------------------------------------------------------------
    async def subresource(self, request: web.Request, r: Route) -> web.StreamResponse:
        t, sub, m = r.type, r.sub, request.method
        if t.key == "pods" and sub in STREAM_SUBRESOURCES:
            from tripgen_sandbox import streams

            self.store.require("pods", r.namespace, r.name)
            if sub == "portforward":
                return await streams.portforward_handler(request, self.cluster, r.namespace, r.name)
            return await streams.exec_handler(request, self.cluster, r.namespace, r.name)
        if t.key == "pods" and sub == "log":
            from tripgen_sandbox.apiserver.logs import serve_log

            return await serve_log(request, self.cluster, r.namespace, r.name)
        if sub == "proxy":
            from tripgen_sandbox.apiserver.proxy import serve_proxy

            return await serve_proxy(request, self.cluster, r)
        if sub == "scale" and "scale" in t.subresources:
            return await self.scale(request, r)
        if (sub == "status" and t.has_status) or (sub == "approval" and t.kind == "CertificateSigningRequest"):
            body = await self._body(request) if m != "GET" else None  # before `cur`: see scale()
            cur = self.store.require(t.key, r.namespace, r.name)
            if m == "GET":
                return respond(cur)
            if m == "PUT":
                new = body
            elif m == "PATCH":
                new = self._patched(request.headers.get("Content-Type", ""), cur, body, request, t)
            else:
                raise ApiError(405, f"method {m} not allowed")
            new.setdefault("metadata", {})["name"] = r.name
            if t.namespaced:
                new["metadata"]["namespace"] = r.namespace
            if t.custom:
                crd.admit_status(t, new)
            return respond(self.store.update(t.key, new, subresource="status", dry_run=request.query.get("dryRun") == "All"))
        if t.key == "serviceaccounts" and sub == "token" and m == "POST":
            return respond(self.auth.token_request(self.store.require(t.key, r.namespace, r.name), await self._body(request)), 201)
        if t.key == "pods" and sub == "eviction" and m == "POST":
            self.store.delete("pods", r.namespace, r.name)
            return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)
        raise ApiError(404, "the server could not find the requested resource")

    async def scale(self, request: web.Request, r: Route) -> web.Response:
        t, m = r.type, request.method
        # Read the body before the object: no await may sit between reading `cur` and writing it back,
        # or a controller's status write in between turns a plain patch into a spurious 409.
        body = await self._body(request) if m != "GET" else None
        cur = self.store.require(t.key, r.namespace, r.name)

        def as_scale(o: dict) -> dict:
            if t.custom:
                return crd.scale_view(t, o)
            sel = o.get("spec", {}).get("selector") or {}
            if o.get("kind") == "ReplicationController":
                sel = {"matchLabels": sel}
            return {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {k: o["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in o["metadata"]},
                "spec": {"replicas": o.get("spec", {}).get("replicas", 0)},
                "status": {
                    "replicas": o.get("status", {}).get("replicas", 0),
                    "selector": ",".join(f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()),
                },
            }

        if m == "GET":
            return respond(as_scale(cur))
        scale = as_scale(cur)
        if m == "PUT":
            new_scale = body
        elif m == "PATCH":
            ctype = request.headers.get("Content-Type", "")
            if "json-patch" in ctype:
                new_scale = json_patch(scale, body)
            else:
                new_scale = json_merge_patch(scale, body)
        else:
            raise ApiError(405, f"method {m} not allowed")
        rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != cur["metadata"]["resourceVersion"]:
            from tripgen_sandbox.apierrors import conflict

            raise conflict(t.plural, r.name, t.group)
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, f'Scale.autoscaling "{r.name}" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0', "Invalid")
        new = copy.deepcopy(cur)
        if t.custom:
            crd.set_replicas(t, new, replicas)
        else:
            new["spec"]["replicas"] = replicas
        ssa.record_update(cur, new, _manager(request), t.api_version)
        updated = self.store.update(t.key, new, dry_run=request.query.get("dryRun") == "All")
        return respond(as_scale(updated))

    # ---- read-only views (events.k8s.io/v1 Events, discovery.k8s.io/v1 EndpointSlices) ------
    async def view(self, request: web.Request, r: Route) -> web.StreamResponse:
        source, convert = VIEWS[r.type.group]
        t, q = r.type, request.query
        if request.method != "GET":
            raise ApiError(405, f"{t.plural}.{t.group} is read-only in the sandbox; write core/v1 {source}", "MethodNotAllowed")
        if q.get("watch") is not None and _bool(q.get("watch")):
            return await self.watch(request, r, source, convert)
        lsel, fsel = parse_label_selector(q.get("labelSelector")), parse_field_selector(q.get("fieldSelector"))
        items = []
        for obj in self.store.list(source, r.namespace)[0]:
            items += [v for v in convert(obj) if lsel(v["metadata"].get("labels") or {}) and fsel(v)]
        items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        if r.name:
            found = next((v for v in items if v["metadata"]["name"] == r.name), None)
            if found is None:
                raise not_found(t.plural, r.name, t.group)
            return self._respond_obj(request, found)
        return self._list_response(request, t, items, self.store.resource_version)

    # ---- authorization.k8s.io / authentication.k8s.io reviews ---------------------------
    async def review(self, request: web.Request, r: Route) -> web.Response:
        from tripgen_sandbox.apiserver.reviews import review

        if request.method != "POST" or r.name:
            raise ApiError(405, f"{r.type.plural}.{r.type.group} only supports create", "MethodNotAllowed")
        body = await self._body(request)
        return respond(review(self.auth, request["user"], r.type, r.namespace, body), 201)


def protobuf_answer(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """A JSON object answer re-encoded as protobuf when the client prefers it and the kind has a
    protobuf form (apiserver/protobuf.py); everything else is left as it is."""
    from tripgen_sandbox.apiserver import protobuf

    if not isinstance(resp, web.Response) or resp.content_type != "application/json" or not protobuf.prefers_protobuf(request.headers.get("Accept", "")):
        return resp
    try:
        obj = json.loads(resp.body)
        body = protobuf.encode_object(obj) if isinstance(obj, dict) else None
    except Exception:  # noqa: BLE001 - an object the table cannot encode goes as JSON, the client's second choice
        log.exception("protobuf encoding failed on %s %s; answering JSON", request.method, request.path)
        body = None
    if body is None:
        return resp
    headers = {k: v for k, v in resp.headers.items() if k.lower() not in ("content-type", "content-length")}
    return web.Response(body=body, status=resp.status, headers=headers, content_type=protobuf.MEDIA_TYPE)


def openapi_v2_response(request: web.Request) -> web.Response:
    """/openapi/v2 as kube-apiserver answers it: the gnostic protobuf when the client asks for it
    (kubectl <= 1.28 always does), JSON otherwise; an ETag and 304 for a matching If-None-Match."""
    from tripgen_sandbox.apiserver import gnostic, openapi

    pb = "protobuf" in request.headers.get("Accept", "")
    etag, body = openapi.v2(pb)
    headers = {"ETag": f'"{etag}"', "Vary": "Accept"}
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={**headers, "Content-Type": gnostic.MEDIA_TYPE if pb else "application/json"})


def paginate(items: list[dict], rv: str, limit: str | None, token: str | None) -> tuple[list[dict], dict]:
    """limit/continue like the API server: the continue token names the last key served and the
    list's resourceVersion (the sandbox serves later pages from current state)."""
    meta: dict[str, Any] = {"resourceVersion": rv}
    if token:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            after = (state["ns"], state["name"])
            meta["resourceVersion"] = state["rv"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "continue key is not valid: the continue token could not be decoded")
        items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
    try:
        n = int(limit or 0)
    except ValueError:
        raise ApiError(400, f"invalid limit {limit!r}")
    if n > 0 and len(items) > n:
        last = items[n - 1]["metadata"]
        state = {"rv": meta["resourceVersion"], "ns": last.get("namespace", ""), "name": last["name"]}
        meta["continue"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        meta["remainingItemCount"] = len(items) - n
        items = items[:n]
    return items, meta
