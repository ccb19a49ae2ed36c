"""`tripgenctl cost [--month YYYY-MM]`: what the environment cost this month (or another one), day
by day from the in-cluster history, what stopping really saved, and the projection against the
monthly target. JSON (-o json) carries the same figures for scripts."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli.common import options, config_of


def register(app: typer.Typer) -> None:
    @app.command("cost")
    def cost(
        ctx: typer.Context,
        month: Optional[str] = typer.Option(None, "--month", metavar="YYYY-MM", help="The month to report (default: this one, so far and projected)."),
    ) -> None:
        """Up-time, down-time and stopped-time per day times the cost model (the config's cost section):
        the month so far, projected against the target, and what each kind of saving saved
        (scaling the namespace down saves no node cost; stopping the cluster does)."""
        from tripgenctl.ops import cost as ops
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        render(ops.report(opts.kube(), config_of(ctx), opts.namespace, month), opts.output)


