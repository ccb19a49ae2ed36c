"""`tripgenctl status`: every workload and pod of the namespace in one view, read with a fixed
number of list calls. JSON (-o json) carries the same facts:
{namespace, context, overall, summary, workloads: [{kind, name, role, desired, ready, remembered,
scaled_down_by, scaled_down_at, excluded, state, since, age, image, drift, reasons, selector}],
awake_until (RFC3339 while `tripgenctl wake` keeps the nightly down away, null when not, and
"unknown (why)" when the namespace could not be read: then status also exits 2 when the API
could not answer (5xx, 429) and 1 when it refused (403), with one `error:` line on stderr),
pods: [{name, workload, phase, ready, is_ready, restarts, node, reason, age, ready_since}],
spec_drift: [{kind, name, container, field, expected, live, against ("manifests" | "down": changed
while asleep), by (the field managers owning it)}]}."""

from __future__ import annotations

import typer

from tripgenctl.cli.common import exit_for, options, config_of


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(ctx: typer.Context) -> None:
        """Workloads (desired/ready, remembered count, state and its age, image, drift) and pods;
        overall UP / DOWN / DEGRADED / TRANSITIONING."""
        from tripgenctl.ops import cost, workloads
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        kube = opts.kube()
        result = workloads.read(kube, manifests=True)
        result.cost_this_month = cost.summary_line(kube, config_of(ctx))
        render(result, opts.output)
        if result.exit_code:  # shown as unknown; a script must not read it as "none"
            typer.echo(f"error: {result.unknown_message()}", err=True)
        exit_for(result)
