"""`tripgenctl sandbox start|stop|status|reset|fault`: the local cluster for trying the runbook
safely and for the tests. Registered through tripgenctl's `tripgenctl.commands` entry point:
tripgenctl hands `register` a host with its error handling, options, renderer and confirmation,
so this distribution needs none of tripgenctl's internals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer

STATE_HELP = "Where the sandbox keeps its state (objects, PVC data, certificates, kubeconfig)."


def _state(state_dir: str) -> Path:
    return Path(state_dir)


def register(app: typer.Typer, host) -> None:
    handle_errors, options, report, render, confirm = host.handle_errors, host.options, host.report, host.render, host.confirm
    sandbox = typer.Typer(help="A local Kubernetes cluster with real PostgreSQL and Redis, for trying the runbook safely.", no_args_is_help=True)
    fault = typer.Typer(help="Inject faults that cannot come from a spec (for doctor tests and demos).", no_args_is_help=True)
    sandbox.add_typer(fault, name="fault")
    app.add_typer(sandbox, name="sandbox")

    @sandbox.command("start")
    @handle_errors
    def start(
        ctx: typer.Context,
        state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP),
        backoff_base: Optional[float] = typer.Option(None, "--backoff-base", help="First restart back-off in seconds (kubelet: 10)."),
        backoff_cap: Optional[float] = typer.Option(None, "--backoff-cap", help="Longest restart back-off in seconds (kubelet: 300)."),
        timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the API to answer."),
        azure: bool = typer.Option(True, "--azure/--no-azure", help="Also start the Azure fakes (ARM, token endpoint, Service Bus) in their own process."),
        gitops_crds: bool = typer.Option(False, "--gitops-crds", help="Also serve the Argo CD Application, Flux Kustomization/HelmRelease and KEDA ScaledObject CRDs (reduced published schemas)."),
    ) -> None:
        """Start the sandbox in the background and write <state-dir>/kubeconfig; with the Azure
        fakes (default) also <state-dir>/azure.env. The fakes run apart from the cluster: an
        Azure `cluster stop` stops the cluster (data kept) and `cluster start` brings it back."""
        from tripgen_sandbox import control

        state = _state(state_dir)
        was_running = control.status(state).running
        control.start(state, {"backoff_base": backoff_base, "backoff_cap": backoff_cap}, timeout=timeout)
        if azure:
            if not was_running:  # fakes left from an Azure `cluster stop` still say Stopped: restart them
                control.azure_stop(state)
            control.azure_start(state)
        st = control.status(state)
        if gitops_crds:
            from tripgen_sandbox import gitops

            gitops.install(st.kubeconfig)
        render(st, options(ctx).output)
        if options(ctx).output == "table":
            typer.echo(f"\nUse it:  export KUBECONFIG={st.kubeconfig}   (context tripgen-sandbox)")
            if st.azure_env:
                typer.echo(f"Azure:   source {st.azure_env}   (tripgenctl cluster / bus commands then use the local fakes)")

    @sandbox.command("stop")
    @handle_errors
    def stop(ctx: typer.Context, state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP)) -> None:
        """Stop every process the sandbox started, the Azure fakes too; objects and PVC data are kept."""
        from tripgen_sandbox import control

        control.azure_stop(_state(state_dir))
        render(control.stop(_state(state_dir)), options(ctx).output)

    @sandbox.command("status")
    @handle_errors
    def status(ctx: typer.Context, state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP)) -> None:
        """Show whether the sandbox (and its Azure fakes) runs, where, and what it holds."""
        from tripgen_sandbox import control

        st = control.status(_state(state_dir))
        report(st, options(ctx).output, ok=st.running)

    @sandbox.command("reset")
    @handle_errors
    def reset(
        ctx: typer.Context,
        state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    ) -> None:
        """Stop the sandbox and wipe its state (all objects and data)."""
        from tripgen_sandbox import control

        confirm(f"Wipe the sandbox state in {state_dir} (all objects and database data)?", yes)
        render(control.reset(_state(state_dir)), options(ctx).output)

    @fault.command("node-notready")
    @handle_errors
    def node_notready(
        node: str,
        minutes_ago: float = typer.Option(0.0, "--minutes-ago", help="Pretend the node went NotReady this many minutes ago."),
        clear: bool = typer.Option(False, "--clear", help="Make the node Ready again."),
        state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP),
    ) -> None:
        """Mark a node NotReady (its Ready condition's lastTransitionTime in the past)."""
        from tripgen_sandbox import control

        current = control.api_request(_state(state_dir), "/sandbox/faults").get("node-notready") or {}
        if clear:
            current.pop(node, None)
        else:
            since = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
            current[node] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        control.set_fault(_state(state_dir), "node-notready", current or None)
        typer.echo(f"node {node}: {'Ready' if clear else 'NotReady since ' + current[node]}")

    @fault.command("disk")
    @handle_errors
    def disk(
        pvc: str,
        used_percent: float = typer.Option(..., "--used-percent", help="Reported usage of the PVC's volume."),
        namespace: str = typer.Option("tripgen-dev", "-n", "--namespace"),
        state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP),
    ) -> None:
        """Make the kubelet report a PVC as this full."""
        from tripgen_sandbox import control

        current = control.api_request(_state(state_dir), "/sandbox/faults").get("disk") or {}
        current[f"{namespace}/{pvc}"] = used_percent
        control.set_fault(_state(state_dir), "disk", current)
        typer.echo(f"pvc {namespace}/{pvc}: reported {used_percent:.0f}% used")

    @fault.command("freeze")
    @handle_errors
    def freeze(
        ctx: typer.Context,
        pod: str,
        thaw: bool = typer.Option(False, "--thaw", help="Let the processes run again (SIGCONT)."),
        state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP),
    ) -> None:
        """Freeze every process of a pod's containers (SIGSTOP) until --thaw (SIGCONT): the
        server keeps its sockets and answers nothing, like a hung Redis or PostgreSQL. The pod's
        namespace is the global -n/--namespace."""
        import urllib.error

        from tripgenctl.errors import UsageError
        from tripgen_sandbox import control

        state = _state(state_dir)
        namespace = options(ctx).namespace
        try:
            control.api_request(state, f"/api/v1/namespaces/{namespace}/pods/{pod}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise UsageError(f"pod {namespace}/{pod} not found") from None
            raise
        current = control.api_request(state, "/sandbox/faults").get("freeze") or {}
        key = f"{namespace}/{pod}"
        if thaw:
            current.pop(key, None)
        else:
            current[key] = True
        control.set_fault(state, "freeze", current or None)
        typer.echo(f"pod {key}: {'thawed (SIGCONT)' if thaw else 'frozen (SIGSTOP)'}")

    @fault.command("set")
    @handle_errors
    def set_raw(
        name: str,
        value: str = typer.Argument(..., help="JSON value; 'null' clears the fault."),
        state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP),
    ) -> None:
        """Set any fault by name (the names `sandbox fault` accepts are listed in tripgen_sandbox/control.py)."""
        import json

        from tripgenctl.errors import UsageError
        from tripgen_sandbox import control

        try:
            parsed = json.loads(value)
        except ValueError:
            raise UsageError(f"fault value must be JSON, got {value!r}") from None
        typer.echo(json.dumps(control.set_fault(_state(state_dir), name, parsed)))

    @fault.command("api")
    @handle_errors
    def api(
        path: Optional[str] = typer.Option(None, "--path", help="Request path prefix (no query string), e.g. /api/v1/namespaces/dev."),
        regex: bool = typer.Option(False, "--regex", help="--path is a regular expression (re.search), e.g. '^/api/v1/namespaces/dev$'."),
        verb: Optional[str] = typer.Option(None, "--verb", help="Only this HTTP method (GET, PUT, PATCH, ...); default any."),
        status: Optional[int] = typer.Option(None, "--status", help="Answer with this HTTP code and a Status body, as kube-apiserver does."),
        hang: bool = typer.Option(False, "--hang", help="Never answer (until the faults are cleared)."),
        latency: Optional[float] = typer.Option(None, "--latency", help="Answer normally after this many seconds."),
        times: Optional[int] = typer.Option(None, "--times", help="Affect this many requests (default: until --clear)."),
        message: Optional[str] = typer.Option(None, "--message", help="The Status message (with --status)."),
        clear: bool = typer.Option(False, "--clear", help="Remove the API faults (only those for --path when given); hung requests then answer."),
        state_dir: str = typer.Option(".sandbox", "--state-dir", help=STATE_HELP),
    ) -> None:
        """Make API requests slow, hang, or fail: per verb and path, N times or until cleared.
        Rules are tried in the order added; the first that matches a request applies."""
        import json
        import urllib.error

        from tripgenctl.errors import UsageError
        from tripgen_sandbox import control

        try:
            if clear:
                rules = control.clear_api_faults(_state(state_dir), path)
            else:
                if not path:
                    raise UsageError("--path is required (or --clear)")
                if sum([status is not None, hang, latency is not None]) != 1:
                    raise UsageError("give exactly one of --status, --hang, --latency")
                rules = control.api_fault(_state(state_dir), path, verb=verb, status=status, hang=hang, latency=latency,
                                          times=times, regex=regex, message=message)
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("message") or exc.reason
            except ValueError:
                detail = exc.reason
            raise UsageError(str(detail)) from None
        if not rules:
            typer.echo("no API faults")
        for r in rules:
            effect = f"status {r['status']}" if r.get("status") else "hang" if r.get("hang") else f"latency {r['latency']}s"
            match = f"{r.get('verb') or '*'} {'~' if r.get('regex') else ''}{r['path']}"
            typer.echo(f"{match}: {effect}, " + (f"{r['times']} more time(s)" if r.get("times") is not None else "until cleared"))
