"""`tripgenctl secrets init|check|rotate`: the environment's Secrets without ever showing a value."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import confirm, gate, options, report, config_of


def register(app: typer.Typer) -> None:
    secrets = typer.Typer(help="Create and check the environment's Secrets (values are never shown).", no_args_is_help=True)
    app.add_typer(secrets, name="secrets")

    @secrets.command("init")
    def init_cmd(
        ctx: typer.Context,
        env_file: Optional[Path] = option.env_file(".env-style file with POSTGRES_PASSWORD, REDIS_PASSWORD, JWT_SECRET, SERVICEBUS_CONNECTION_STRING, OPENAI_API_KEY, ... (the environment wins)."),
        force: bool = option.force("Replace existing Secrets (keys not supplied keep their current value)."),
        dry_run: bool = option.dry_run("Show what would be created, create nothing."),
        yes: bool = option.yes("With --force: do not ask before replacing Secrets. Without a terminal, required."),
        allow_other_context: bool = option.allow_other_context(),
    ) -> None:
        """Create postgresql-secret, redis-secret, jwt-secret, servicebus-connection, openai-api-key.
        Passwords and the JWT key are generated when not supplied; the OpenAI key and the
        Service Bus connection string must be supplied."""
        from tripgenctl.ops import secrets as ops
        from tripgenctl.presentation.render import render

        from tripgenctl.cli.validate import file_path

        opts = options(ctx)
        values = ops.sources(file_path(env_file, "--env-file"), os.environ)
        kube = opts.kube()
        if force and not dry_run:  # replacing live Secrets: the safety contract (ops/safety.py)
            from tripgenctl.ops.safety import Change, Plan

            safety = gate(ctx, yes=yes, allow_other_context=allow_other_context)
            safety.guard(kube, "secrets init --force")
            preview = ops.init(kube, opts.namespace, values, force=True, dry_run=True)
            replaced = [r for r in preview.secrets if r.action == "would replace"]
            plan = Plan("secrets init --force", kube.context_name, opts.namespace,
                        [Change(f"Secret {r.secret}", f"replaced (keys {', '.join(r.keys)}; {r.sources})") for r in replaced],
                        destructive=bool(replaced))
            result = safety.perform(kube, plan, lambda _backup: ops.init(kube, opts.namespace, values, force=True),
                                    outcome=lambda r: (True, ", ".join(f"{row.secret} {row.action}" for row in r.secrets)))
        else:
            result = ops.init(kube, opts.namespace, values, force=force, dry_run=dry_run)
        render(result, opts.output)

    @secrets.command("check")
    def check_cmd(ctx: typer.Context) -> None:
        """Each Secret, its keys, and whether each is present and non-empty; exit 1 if not."""
        from tripgenctl.ops import secrets as ops

        opts = options(ctx)
        result = ops.check(opts.kube(), opts.namespace)
        report(result, opts.output)

    @secrets.command("rotate")
    def rotate_cmd(
        ctx: typer.Context,
        credential: str = typer.Argument(..., help="postgres | redis | jwt | servicebus | openai"),
        env_file: Optional[Path] = option.env_file("Take the new value from this .env file (POSTGRES_PASSWORD, REDIS_PASSWORD, ...); the environment wins; generated when absent."),
        dry_run: bool = option.dry_run("Check and show the steps, change nothing."),
        yes: bool = option.yes("Do not ask (required without a terminal)."),
        timeout: float = option.timeout(300.0, "Seconds each restarted workload has to roll out Ready."),
    ) -> None:
        """Change a credential in its server (PostgreSQL ALTER ROLE, Redis CONFIG SET requirepass)
        and its Secret together, restart the workloads that read it one by one (each must become
        Ready), and put the old value back everywhere if any step fails. Exit 1 when it failed."""
        import sys

        from tripgenctl.ops import rotate, secrets as ops

        rotate.get_credential(credential)  # an unknown name is a usage error before any connection
        opts = options(ctx)
        values = ops.sources(env_file, os.environ)

        def ask(question: str) -> None:  # the command's one confirmation
            confirm(question, yes)

        def say(message: str) -> None:
            print(message, file=sys.stderr, flush=True)

        result = rotate.rotate(opts.kube(), credential, config_of(ctx), values, confirm=ask, dry_run=dry_run, timeout=timeout, say=say)
        report(result, opts.output)
