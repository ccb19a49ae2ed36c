"""`tripgenctl cache flush`."""

from __future__ import annotations

from typing import Optional

import typer

from tripgenctl.cli.common import confirm, handle_errors, options


def register(app: typer.Typer) -> None:
    cache = typer.Typer(help="Redis cache operations.", no_args_is_help=True)
    app.add_typer(cache, name="cache")

    @cache.command("flush")
    @handle_errors
    def flush_cmd(
        ctx: typer.Context,
        db: Optional[int] = typer.Option(None, "--db", help="FLUSHDB this database number instead of FLUSHALL."),
        asynchronous: bool = typer.Option(False, "--async", help="FLUSHALL ASYNC."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Show the key count only."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    ) -> None:
        """Show DBSIZE, confirm, FLUSHALL (or FLUSHDB), show DBSIZE after."""
        from tripgenctl.ops import cache as ops_cache
        from tripgenctl.render import render

        opts = options(ctx)
        result = ops_cache.flush(opts.kube(), lambda q: confirm(q, yes), db=db, asynchronous=asynchronous, dry_run=dry_run)
        render(result, opts.output)
