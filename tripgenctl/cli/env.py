"""`tripgenctl env list`: the config's named environments, each read from its own cluster."""

from __future__ import annotations

import typer

from tripgenctl.cli.common import handle_errors, options, report


def register(app: typer.Typer) -> None:
    env = typer.Typer(help="Named environments (the config's environments tables) and their state.", no_args_is_help=True)
    app.add_typer(env, name="env")

    @env.command("list")
    @handle_errors
    def list_cmd(ctx: typer.Context) -> None:
        """Each environment: state (UP / DOWN / ... or unknown with the reason), namespace,
        context, newest backup, owner, expiry. Exit 1 when one could not be read."""
        from tripgenctl.config import load
        from tripgenctl.kube.client import connect
        from tripgenctl.ops import environments

        opts = options(ctx)
        result = environments.list_environments(
            opts.config or load(), lambda context, namespace: connect(kubeconfig=opts.kubeconfig, context=context, namespace=namespace))
        report(result, opts.output)
