"""The Kubernetes door: the only module that imports the `kubernetes` SDK. It resolves the
kubeconfig the way kubectl does (--kubeconfig, KUBECONFIG with several paths, ~/.kube/config,
in-cluster service account) and turns SDK failures into one-line ToolErrors."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

from tripgenctl.config import ToolConfig
from tripgenctl.errors import ConnectionFailed, ProblemFound, ToolError, UsageError
from tripgenctl.kube.errors import UNAUTHORIZED, classify, for_status, is_timeout, raise_for_status, short, timeout_error
from tripgenctl.kube.sdk import use_submodules_only

use_submodules_only()  # before any `from kubernetes import ...` below

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass
class Kube:
    """Typed entry points to the API for one context and namespace."""

    api_client: Any
    namespace: str
    context_name: str
    server: str
    calls: list[str] = field(default_factory=list)  # "METHOD path" of every request (benchmarks)
    request_timeout: float | None = None  # connect + read deadline of every request but watches (seconds)
    # the run's configuration (workload names, deadlines), handed over by whoever connected:
    # ops read the environment's names from the connection to it, never from a file of their own
    config: ToolConfig = field(default_factory=ToolConfig, repr=False)

    @cached_property
    def core(self):
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    @cached_property
    def apps(self):
        from kubernetes import client

        return client.AppsV1Api(self.api_client)

    @cached_property
    def batch(self):
        from kubernetes import client

        return client.BatchV1Api(self.api_client)

    @cached_property
    def coordination(self):
        from kubernetes import client

        return client.CoordinationV1Api(self.api_client)

    @cached_property
    def networking(self):
        from kubernetes import client

        return client.NetworkingV1Api(self.api_client)

    @cached_property
    def rbac(self):
        from kubernetes import client

        return client.RbacAuthorizationV1Api(self.api_client)

    @cached_property
    def custom(self):
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    @cached_property
    def version(self):
        from kubernetes import client

        return client.VersionApi(self.api_client)

    @cached_property
    def dynamic(self):
        from kubernetes.dynamic import DynamicClient

        return DynamicClient(self.api_client)

    def auth_headers(self) -> dict[str, str]:
        cfg = self.api_client.configuration
        if cfg.refresh_api_key_hook is not None:
            cfg.refresh_api_key_hook(cfg)
        token = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
        return {"Authorization": token} if token else {}

    def get_json(self, path: str, accept_status: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        """GET an API path as plain JSON (no SDK models: fast, and works for paths the typed
        clients lack, e.g. metrics.k8s.io or a node's stats summary). Raises on transport errors."""
        import json as _json

        def go():
            resp = self.api_client.rest_client.request("GET", f"{self.server}{path}", headers={"Accept": "application/json", **self.auth_headers()})
            raw = resp.read()
            try:
                body = _json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            return resp.status, body

        status, body = call(go, f"GET {path}", self.server, self.request_timeout)
        if status == 401:
            raise ConnectionFailed(UNAUTHORIZED)
        return status, body

    def list_json(self, path: str) -> list[dict]:
        status, body = self.get_json(path)
        raise_for_status(status, body, f"GET {path}")
        return body.get("items", [])

    def ping(self) -> str:
        """The server's gitVersion; a ConnectionFailed when it cannot be reached."""
        return call(lambda: self.version.get_code().git_version, f"the API server {self.server}", self.server, self.request_timeout)

    # ---- generic objects (deploy, diff, secrets): plain dicts, any kind ------------------
    def resource_path(self, api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path of a kind (found by discovery, one call per group/version, cached)."""
        plural, namespaced = self._resource_info(api_version, kind)
        base = _api_base(api_version)
        path = f"{base}/namespaces/{namespace or self.namespace}/{plural}" if namespaced else f"{base}/{plural}"
        return f"{path}/{name}" if name else path

    def _resource_info(self, api_version: str, kind: str) -> tuple[str, bool]:
        cache = self.__dict__.setdefault("_discovery", {})
        if api_version not in cache:
            base = _api_base(api_version)
            status, body = self.get_json(base, accept_status=(200, 404))
            if status != 200 or not isinstance(body, dict):
                raise ProblemFound(f"the cluster does not serve {api_version}")
            cache[api_version] = {r["kind"]: (r["name"], bool(r.get("namespaced"))) for r in body.get("resources", []) if "/" not in r["name"]}
        if kind not in cache[api_version]:
            raise ProblemFound(f"the cluster does not serve {kind} in {api_version}")
        return cache[api_version][kind]

    def request_json(self, method: str, path: str, body: Any = None, content_type: str = "application/json", query: dict | None = None, what: str | None = None) -> tuple[int, Any]:
        """One request with a JSON body and JSON answer; (status, body). Transport failures
        raise; HTTP errors are returned for the caller to judge (404 is often an answer)."""
        status, answer, _ = self._send(method, path, body, content_type, query, what)
        return status, answer

    def _send(self, method: str, path: str, body: Any, content_type: str, query: dict | None, what: str | None) -> tuple[int, Any, str | None]:
        """(status, JSON answer, Retry-After header) of one request."""
        import json as _json
        from urllib.parse import urlencode

        url = f"{self.server}{path}" + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "Content-Type": content_type, **self.auth_headers()}
        payload = body  # the REST client serialises dicts for JSON and structured-YAML content types

        def go():
            resp = self.api_client.rest_client.request(method, url, headers=headers, body=payload)
            raw = resp.read()
            after = resp.getheader("Retry-After") if hasattr(resp, "getheader") else None
            try:
                return resp.status, (_json.loads(raw) if raw else None), after
            except ValueError:
                return resp.status, raw.decode(errors="replace"), after

        status, answer, after = call(go, what or f"{method} {path}", self.server, self.request_timeout)
        if status == 401:
            raise ConnectionFailed(UNAUTHORIZED)
        return status, answer, after

    def fetch(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json", query: dict | None = None,
              what: str | None = None, missing_ok: bool = False) -> Any:
        """One request whose HTTP errors raise the door's typed errors (NotFound, Conflict,
        Forbidden, Unavailable, KubeError), so callers outside kube/ never compare a status code.
        With `missing_ok` a 404 is an answer: None (a GET of something that may not exist, a
        DELETE of something already gone). A raised error carries the answer's body (`.body`,
        for its Status reason) and, for a 429/503, the server's Retry-After (`.retry_after`,
        seconds, for kube/retry.py)."""
        status, answer, after = self._send(method, path, body, content_type, query, what)
        if missing_ok and status == 404:
            return None
        error = for_status(status, answer, what or f"{method} {path}")
        if error is not None:
            error.body = answer
            error.retry_after = retry_after_seconds(after, answer)
            raise error
        return answer

    # ---- paths of built-in kinds (no discovery call: status reads in a fixed number of calls) ----
    def api_path(self, api_version: str, plural: str, name: str | None = None, *, namespace: str | None = None,
                 cluster: bool = False, sub: str | None = None) -> str:
        """The REST path of a collection (or one object, or its subresource) whose plural is
        known: `api_path("apps/v1", "deployments", "web", sub="scale")`. Namespaced in
        `namespace` (default: the Kube's) unless `cluster`."""
        base = _api_base(api_version)
        path = f"{base}/{plural}" if cluster else f"{base}/namespaces/{namespace or self.namespace}/{plural}"
        if name:
            path += f"/{name}"
        return f"{path}/{sub}" if sub else path

    def preferred_version(self, group: str, cache: dict | None = None) -> str | None:
        """The group's preferred version, or None when the cluster does not serve the group
        (a CRD that is not installed); other failures raise."""
        if cache is not None and group in cache:
            return cache[group]
        status, body = self.request_json("GET", _api_base(f"{group}/"))
        version = None
        if status == 200 and isinstance(body, dict):
            version = ((body.get("preferredVersion") or {}).get("version")) or next((v.get("version") for v in body.get("versions") or []), None)
        if cache is not None:
            cache[group] = version
        return version

    def can_i(self, verb: str, group: str, resource: str, namespace: str) -> tuple[bool, str] | None:
        """A SelfSubjectAccessReview (`kubectl auth can-i`): (allowed, reason), or None when the
        review itself got an error answer (the caller finds out at the write)."""
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"namespace": namespace, "verb": verb, "group": group, "resource": resource}}}
        status, body = self.request_json("POST", self.api_path("authorization.k8s.io/v1", "selfsubjectaccessreviews", cluster=True), review)
        if status in (200, 201) and isinstance(body, dict):
            st = body.get("status") or {}
            return bool(st.get("allowed")), st.get("reason") or ""
        return None

    def get_object(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        status, body = self.request_json("GET", self.resource_path(api_version, kind, namespace, name))
        if status == 404:
            return None
        _raise_for(status, body, f"get {kind.lower()}/{name}")
        return body

    def apply_object(self, obj: dict, field_manager: str = "tripgenctl", force: bool = True, dry_run: bool = False) -> dict:
        """Server-side apply (PATCH application/apply-patch+yaml); `force` takes over fields
        another manager changed by hand, as `kubectl apply --server-side --force-conflicts`."""
        meta = obj.get("metadata") or {}
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        path = self.resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        status, body = self.request_json("PATCH", path, obj, content_type="application/apply-patch+yaml", query=query)
        _raise_for(status, body, f"apply {obj['kind'].lower()}/{meta['name']}")
        return body

    def replace_object(self, obj: dict, field_manager: str = "tripgenctl") -> dict:
        """PUT (carries metadata.resourceVersion: a concurrent change is a 409, not lost)."""
        meta = obj["metadata"]
        path = self.resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        status, body = self.request_json("PUT", path, obj, query={"fieldManager": field_manager})
        _raise_for(status, body, f"update {obj['kind'].lower()}/{meta['name']}")
        return body

    def create_object(self, obj: dict, field_manager: str = "tripgenctl") -> tuple[int, Any]:
        """POST; (status, body) so callers can treat 409 AlreadyExists as an answer."""
        meta = obj["metadata"]
        path = self.resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        return self.request_json("POST", path, obj, query={"fieldManager": field_manager})

    def watch_json(self, path: str, resource_version: str | None = None, timeout_seconds: int = 60, stop: Callable[[], bool] | None = None,
                   selector: str | None = None) -> Iterator[tuple[str, dict]]:
        """(type, object) events of a watch on a list path (of the objects matching a label
        `selector`), until the server ends it (at timeout_seconds) or stop() is true after an
        event. The caller re-lists and re-watches."""
        import json as _json
        from urllib.parse import urlencode

        query = {"watch": "1", "timeoutSeconds": str(int(timeout_seconds)), "allowWatchBookmarks": "false"}
        if resource_version:
            query["resourceVersion"] = resource_version
        if selector:
            query["labelSelector"] = selector
        url = f"{self.server}{path}?{urlencode(query)}"
        resp = call(
            lambda: self.api_client.rest_client.request("GET", url, headers={"Accept": "application/json", **self.auth_headers()}, _request_timeout=(10, timeout_seconds + 10)),
            what=f"watch {path}",
        )
        raw = resp.response
        try:
            if resp.status != 200:
                body = raw.data
                raise ProblemFound(f"watch {path}: HTTP {resp.status} {body[:200].decode(errors='replace')}")
            buffer = b""
            for chunk in raw.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = _json.loads(line)
                    yield event.get("type", ""), event.get("object") or {}
                    if stop is not None and stop():
                        return
        except ToolError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken watch is one line like any transport error
            raise classify(exc, f"watch {path}", self.server, timeout_seconds + 10) from None
        finally:
            raw.release_conn()

    # ---- streams -----------------------------------------------------------------------
    def exec_stream(self, pod: str, command: list[str], container: str | None = None, stdin: bool = False, namespace: str | None = None):
        """An open WSClient (binary) for exec; the caller reads channels and closes it."""
        from kubernetes.stream import stream

        kwargs = dict(command=command, stdin=stdin, stdout=True, stderr=True, tty=False, _preload_content=False, binary=True)
        if container:
            kwargs["container"] = container
        return call(
            lambda: stream(self.core.connect_get_namespaced_pod_exec, pod, namespace or self.namespace, **kwargs),
            what=f"exec in pod {pod}",
        )

    PORT_FORWARD_CONNECT_TIMEOUT = 30.0

    def _open_forward(self, portforward, pod: str, ns: str, port: int):
        """One port-forward stream, or None when it fails or the API server does not answer
        within PORT_FORWARD_CONNECT_TIMEOUT (the SDK's connect has no deadline of its own)."""
        box: dict[str, Any] = {}

        def opener():
            try:
                box["socket"] = portforward(self.core.connect_get_namespaced_pod_portforward, pod, ns, ports=str(port)).socket(port)
            except Exception:  # noqa: BLE001 - one failed connection must not stop the listener
                pass

        t = threading.Thread(target=opener, daemon=True)
        t.start()
        t.join(self.PORT_FORWARD_CONNECT_TIMEOUT)
        return box.get("socket") if not t.is_alive() else None

    @contextlib.contextmanager
    def port_forward(self, pod: str, port: int, namespace: str | None = None) -> Iterator[tuple[str, int]]:
        """Forward a local ephemeral port on 127.0.0.1 to pod:port, like `kubectl port-forward`,
        for clients such as psycopg that need a real socket."""
        from kubernetes.stream import portforward

        ns = namespace or self.namespace
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        stop = threading.Event()

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        def serve():
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                remote = self._open_forward(portforward, pod, ns, port)
                if remote is None:  # failed or no answer within the deadline: the client sees the connection close
                    conn.close()
                    continue
                remote.setblocking(True)
                threading.Thread(target=pump, args=(conn, remote), daemon=True).start()
                threading.Thread(target=pump, args=(remote, conn), daemon=True).start()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield listener.getsockname()
        finally:
            stop.set()
            listener.close()


def _api_base(api_version: str) -> str:
    """/api/v1 for the core group, /apis/<group>/<version> for the others ("group/" alone: the
    group's discovery document)."""
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}".rstrip("/")


def retry_after_seconds(header: str | None, body: Any = None) -> float | None:
    """The server's Retry-After (seconds or an HTTP date), else a Status body's
    details.retryAfterSeconds; None when it named no wait."""
    from tripgenctl.kube.retry import parse_retry_after

    seconds = parse_retry_after(header)
    if seconds is None and isinstance(body, dict):
        seconds = parse_retry_after((body.get("details") or {}).get("retryAfterSeconds"))
    return seconds


def answered(exc: BaseException) -> bool:
    """Did the API server answer (with an HTTP error status), as opposed to not being reached?
    An Unavailable without a status is a transport failure."""
    return bool(getattr(exc, "status", 0))


def _raise_for(status: int, body: Any, what: str) -> None:
    """HTTP errors of request_json as the door's typed one-line errors (kube/errors.py)."""
    raise_for_status(status, body, what)


def call(fn: Callable[[], Any], what: str = "the cluster", server: str = "", seconds: float | None = None) -> Any:
    """Run one SDK call, translating transport and auth failures into one-line errors."""
    try:
        return fn()
    except ToolError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        raise classify(exc, what, server, seconds) from None


def api_message(exc: Any) -> str:
    import json

    try:
        body = json.loads(exc.body)
        return body.get("message") or exc.reason
    except Exception:  # noqa: BLE001
        return f"{exc.status} {exc.reason}"


DEFAULT_REQUEST_TIMEOUT = ToolConfig.request_timeout  # one default, the config's


def connect(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None,
            request_timeout: float | None = None, config: ToolConfig | None = None) -> Kube:
    """Load a configuration like kubectl: explicit file, KUBECONFIG (colon-separated, merged),
    ~/.kube/config, else the in-cluster service account. Every request made through the Kube
    has a connect + read deadline of `request_timeout` seconds (default: the config's
    request_timeout); watches pass their own. `config` is the run's configuration (the CLI
    loaded it once); without one, the defaults."""
    run_config = config if config is not None else ToolConfig()  # before `config` below names the SDK's module
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    from tripgenctl.kube import kubeconfig as kubeconfigs

    seconds = request_timeout if request_timeout is not None else run_config.request_timeout
    paths = kubeconfig or os.environ.get("KUBECONFIG")
    default = Path.home() / ".kube" / "config"
    use_in_cluster = not paths and not default.exists() and IN_CLUSTER_TOKEN.exists()
    configuration = client.Configuration()
    try:
        if use_in_cluster:
            config.load_incluster_config(client_configuration=configuration)
            ctx_name = "in-cluster"
            ns_default = IN_CLUSTER_TOKEN.with_name("namespace").read_text().strip() if IN_CLUSTER_TOKEN.with_name("namespace").exists() else None
        else:
            files = kubeconfigs.split_paths(paths) if paths else [str(default)]
            existing = [p for p in files if Path(p).exists()]
            if not existing:
                raise UsageError(f"no kubeconfig found at {', '.join(files)} (set --kubeconfig or KUBECONFIG)")
            for p in existing:
                if Path(p).is_dir():
                    raise UsageError(f"kubeconfig {p} is a directory, not a file")
            if len(existing) == 1:
                contexts, active = config.list_kube_config_contexts(config_file=existing[0])
                chosen = _pick_context(contexts, active, context)
                config.load_kube_config(config_file=existing[0], context=chosen["name"], client_configuration=configuration)
            else:
                merged = kubeconfigs.merge_files(existing)
                chosen = kubeconfigs.find_context(merged, context)
                loader = config.kube_config.KubeConfigLoader(config_dict=merged, active_context=chosen["name"])
                loader.load_and_set(configuration)
            ctx_name = chosen["name"]
            ns_default = (chosen.get("context") or {}).get("namespace")
    except ToolError:
        raise
    except (ConfigException, ValueError, KeyError, TypeError, OSError) as exc:
        raise UsageError(f"bad kubeconfig: {short(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - yaml errors and friends
        raise UsageError(f"bad kubeconfig: {type(exc).__name__}: {short(exc)}") from None
    configuration.retries = _retries()
    api_client = client.ApiClient(configuration)
    kube = Kube(api_client=api_client, namespace=namespace or ns_default or "tripgen-dev", context_name=ctx_name, server=configuration.host,
                request_timeout=seconds, config=run_config)
    _instrument(api_client, kube.calls, kube.server, seconds)
    return kube


def _pick_context(contexts, active, wanted):
    if wanted:
        for c in contexts or []:
            if c["name"] == wanted:
                return c
        raise UsageError(f'context "{wanted}" not found in the kubeconfig')
    if not active:
        raise UsageError("the kubeconfig has no current context (pass --context)")
    return active


def _retries():
    """One retry, as before (a pooled keep-alive connection the server closed), but never of a
    timeout: the request deadline is the whole budget, not one attempt's."""
    from urllib3.exceptions import MaxRetryError
    from urllib3.util.retry import Retry

    from tripgenctl.kube.errors import is_timeout

    class NoRetryOnTimeout(Retry):
        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            if error is not None and is_timeout(error):
                raise MaxRetryError(_pool, url, error) from error
            return super().increment(method, url, response, error, _pool, _stacktrace)

    # statuses are never retried here (not even a 429/503 carrying Retry-After, which urllib3
    # would otherwise retry out of sight): kube/retry.py's policy decides, where the caller says
    return NoRetryOnTimeout(total=1, status=0, redirect=0, respect_retry_after_header=False)


def _is_watch(url: str) -> bool:
    query = url.split("?", 1)[1] if "?" in url else ""
    return any(part in ("watch=1", "watch=true", "watch=True", "follow=true", "follow=True") for part in query.split("&"))


def _instrument(api_client, sink: list[str], server: str, seconds: float | None) -> None:
    """Every request made through this client: recorded as "METHOD /path" (constant-call-count
    benchmarks), given the connect + read deadline unless the caller set its own (watches,
    follows), and a timeout turned into the one-line Timeout naming the server."""
    rest = api_client.rest_client
    original = rest.request

    def request(method, url, *args, **kwargs):
        path = "/" + url.split("?", 1)[0].split("://", 1)[-1].split("/", 1)[-1]
        sink.append(f"{method} {path}")
        given = kwargs.get("_request_timeout") if len(args) < 4 else args[3]
        if given is None and seconds and not _is_watch(url):
            kwargs["_request_timeout"] = (seconds, seconds)
            given = seconds
        try:
            return original(method, url, *args, **kwargs)
        except ToolError:
            raise
        except Exception as exc:  # noqa: BLE001 - only timeouts are translated here; the rest is call()'s
            if is_timeout(exc):
                read = given[1] if isinstance(given, tuple) else given
                raise timeout_error(server, f"{method} {path}", read) from None
            raise

    rest.request = request
