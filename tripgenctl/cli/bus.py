"""`tripgenctl bus check`: the servicebus-connection Secret against Azure Service Bus — parse the
connection string (naming a missing part), authenticate, and compare the SPEC's three queues
(max size, max message size where the tier reports it, TTL 14 days, duplicate detection off)
with their active / dead-letter / scheduled counts. Exit 1 when anything is wrong. The
connection string, key and SAS are never printed. JSON: {ok, namespace, key_name, source,
findings, fix, queues: [{queue, state, max_size_mb, max_message_kb, ttl, duplicate_detection,
active, dead_letter, scheduled, problems}]}."""

from __future__ import annotations

import typer

from tripgenctl.cli.common import options, report


def register(app: typer.Typer) -> None:
    bus_app = typer.Typer(help="Azure Service Bus used by the apps.", no_args_is_help=True)

    @bus_app.command("check")
    def check(ctx: typer.Context) -> None:
        """Check the servicebus-connection Secret against the Service Bus namespace and queues."""
        from tripgenctl.ops.bus import check_from_secret

        opts = options(ctx)
        result = check_from_secret(opts.kube(), opts.namespace)
        report(result, opts.output)

    app.add_typer(bus_app, name="bus")
