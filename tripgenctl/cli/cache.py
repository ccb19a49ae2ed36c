"""`tripgenctl cache flush`."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import gate, options


def register(app: typer.Typer) -> None:
    cache = typer.Typer(help="Redis cache operations.", no_args_is_help=True)
    app.add_typer(cache, name="cache")

    @cache.command("flush")
    def flush_cmd(
        ctx: typer.Context,
        db: Optional[int] = typer.Option(None, "--db", help="FLUSHDB this database number instead of FLUSHALL."),
        asynchronous: bool = typer.Option(False, "--async", help="FLUSHALL ASYNC."),
        dry_run: bool = option.dry_run("Show the plan (the key count) and change nothing."),
        yes: bool = option.yes(),
        allow_other_context: bool = option.allow_other_context(),
        log_format: str = option.log_format(),
    ) -> None:
        """Show DBSIZE, confirm, FLUSHALL (or FLUSHDB), show DBSIZE after."""
        from tripgenctl.ops import cache as ops_cache
        from tripgenctl.presentation.render import render

        opts = options(ctx)
        safety = gate(ctx, yes=yes, dry_run=dry_run, allow_other_context=allow_other_context, log_format=log_format)
        result = ops_cache.flush(opts.kube(), safety, db=db, asynchronous=asynchronous)
        if result is not None:
            render(result, opts.output)
