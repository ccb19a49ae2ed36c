"""`tripgenctl deploy` and `tripgenctl diff`: the manifests against the cluster."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

import typer

from tripgenctl.cli import options as option
from tripgenctl.cli.common import confirm, exit_for, gate, options, report, config_of

PROFILE_HELP = "Design revision to deploy: 001 (default, from config) or 000."


@contextlib.contextmanager
def rollout_display() -> Iterator[Callable]:
    """A row per workload in the live display on a terminal; a line per change on a pipe (CI
    logs, cron). Both on stderr, so `-o json` output stays parseable. The op's question (prunes,
    a profile change) takes the display down first (presentation/prompts.py)."""
    from tripgenctl.presentation.reporter import reporter

    with reporter("deploy", stamp=False) as rep:

        def update(st) -> None:
            text = f"{st.ready}/{st.desired} ready" + (" (rolled out)" if st.done else f" ({st.detail})" if st.detail else "")
            rep.item(st.workload, text, True if st.done else None)

        yield update


def register(app: typer.Typer) -> None:
    @app.command("deploy")
    def deploy_cmd(
        ctx: typer.Context,
        profile: Optional[str] = option.profile(PROFILE_HELP),
        dry_run: bool = option.dry_run("Server-side dry run: show what would change, change nothing."),
        wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for every workload to roll out."),
        timeout: float = option.timeout(300.0, "Seconds to wait for the rollout (SPEC: deploy within 5 minutes)."),
        yes: bool = option.yes("Do not ask (it does not override the context guard: see --allow-other-context)."),
        allow_other_context: bool = option.allow_other_context(),
        change_profile: bool = typer.Option(False, "--change-profile", help="Allow a profile other than the one recorded on the namespace."),
        recreate: bool = typer.Option(False, "--recreate", help="Delete and create again objects whose change the API server refuses in place (the plan says what happens to the data)."),
    ) -> None:
        """Server-side apply of manifests/ (field manager tripgenctl), then wait for the rollout.
        Objects deployed before and no longer in the manifests are deleted (volumes kept); the
        plan (--dry-run) lists them, and that, a profile change or a recreate is asked first."""
        from tripgenctl.ops import deploy, guard

        cfg = config_of(ctx)
        opts = options(ctx)
        kube = opts.kube()
        guard.require_expected(kube, cfg, "deploy", allow_other_context=allow_other_context)

        if dry_run:
            with rollout_display() as show:
                result = deploy.deploy(kube, opts.namespace, profile or cfg.profile, dry_run=True, wait=wait, timeout=timeout,
                                       on_update=show, change_profile=change_profile, recreate=recreate, confirm=None)
            report(result, opts.output)
            return
        from tripgenctl.ops.safety import Change, Plan

        # the safety contract's trail: every real deploy leaves an Event (who, profile, result);
        # its one question (prunes, a profile change, a recreate) is asked inside, by the op
        plan = Plan("deploy", kube.context_name, opts.namespace, [Change("manifests", f"profile {profile or cfg.profile} applied")],
                    destructive=False)
        with gate(ctx, yes=yes, allow_other_context=allow_other_context).trail(kube, plan, approved=True) as record:

            def ask(question: str) -> None:
                record.approved = False  # a "no" at the question changed nothing: not a run to record
                confirm(question, yes)
                record.approved = True

            with rollout_display() as show:
                result = deploy.deploy(kube, opts.namespace, profile or cfg.profile, dry_run=False, wait=wait, timeout=timeout,
                                       on_update=show, change_profile=change_profile, recreate=recreate, confirm=ask)
            record.result, record.message = ("ok" if result.ok else "failed"), result.message
        report(result, opts.output)

    @app.command("diff")
    def diff_cmd(
        ctx: typer.Context,
        profile: Optional[str] = option.profile(PROFILE_HELP),
    ) -> None:
        """Manifests vs live objects, field by field; exit 1 when they differ (as kubectl diff)."""
        from tripgenctl.ops import diff
        from tripgenctl.presentation.render import is_machine, render

        opts = options(ctx)
        result = diff.diff(opts.kube(), opts.namespace, profile or config_of(ctx).profile)
        render(result, opts.output)
        if not is_machine(opts.output):
            summary = "no differences" if result.same else f"{len(result.differing)} object(s) differ, {len(result.missing)} missing"
            if result.missing:
                summary += f" (not in the cluster: {', '.join(result.missing)})"
            if result.extra:
                summary += f", {len(result.extra)} deployed before and no longer in the manifests (deploy prunes them): {', '.join(result.extra)}"
            typer.echo(summary)
        exit_for(result)
