"""Every option that more than one command takes, declared once: its flags, short name,
default and the help most commands give it. A command writes `yes: bool = options.yes()` and
passes `help=` only where its own wording says something the shared one does not (what
--timeout waits for, what --dry-run shows). Checks of a value (seconds, workload names,
text|json) stay in the command bodies, after the root callback, where they always ran.

The root's global options (-o, -n, --config, --env, ...) are declared here too, so `-o` has one
declaration for every command that writes output."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import typer

DEFAULT_NAMESPACE = "tripgen-dev"

# ---- help texts shared by several commands ---------------------------------------------------

YES_HELP = "Do not ask."
YES_CRON_HELP = "Do not ask (cron). Without a terminal, required."
ALLOW_OTHER_CONTEXT_HELP = "Act even though the kube context is not one configured for the environment (expected_contexts). --yes does not imply it."
NO_SAFETY_BACKUP_HELP = "Skip the verified backup taken before rows are deleted or overwritten."
LOG_FORMAT_HELP = "text, or json: the run's trail as one JSON line on stderr."
RUN_LOG_FORMAT_HELP = "Progress lines: text or json (a terminal gets a live view)."
EXCLUDE_HELP = "Leave this workload alone (repeatable). The annotation tripgenctl.io/exclude=true does the same."
NOTIFY_HELP = "Webhook (Slack/Teams-compatible) told when the run fails or skips. With --scheduled, $TRIPGENCTL_NOTIFY_URL or config schedule.notify_url are used too."
WAIT_LOCK_HELP = "If another up/down holds the lock, wait for it instead of failing."
SUBSCRIPTION_HELP = "Azure subscription id (default: AZURE_SUBSCRIPTION_ID, then config azure.subscription)."
RESOURCE_GROUP_HELP = "Resource group (default: config azure.resource_group, rg-tripgen-dev)."
CLUSTER_NAME_HELP = "AKS cluster name (default: config azure.cluster_name, aks-tripgen-dev)."
BACKUP_DIR_HELP = "Where backups live (default from config: backups/)."
STORE_HELP = ("The team backup store, azure://<account>/<container> with an optional /<prefix> (default: $TRIPGENCTL_BACKUP_STORE, "
              "else the config's backup.store; alone: that one).")


# ---- per-command options ---------------------------------------------------------------------

def yes(help: str = YES_HELP) -> Any:
    return typer.Option(False, "--yes", "-y", help=help)


def dry_run(help: str) -> Any:
    return typer.Option(False, "--dry-run", help=help)


def allow_other_context(help: str = ALLOW_OTHER_CONTEXT_HELP) -> Any:
    return typer.Option(False, "--allow-other-context", help=help)


def timeout(default: float, help: str) -> Any:
    return typer.Option(default, "--timeout", help=help)


def no_wait(help: str) -> Any:
    return typer.Option(False, "--no-wait", help=help)


def exclude(help: str = EXCLUDE_HELP) -> Any:
    return typer.Option(None, "--exclude", help=help)


def log_format(help: str = LOG_FORMAT_HELP) -> Any:
    return typer.Option("text", "--log-format", help=help)


def backup_dir(help: str = BACKUP_DIR_HELP) -> Any:
    return typer.Option(None, "--backup-dir", help=help)


def no_safety_backup(help: str = NO_SAFETY_BACKUP_HELP, *aliases: str) -> Any:
    return typer.Option(False, "--no-safety-backup", *aliases, help=help)


def notify(help: str = NOTIFY_HELP) -> Any:
    return typer.Option(None, "--notify", metavar="URL", help=help)


def wait_lock(help: str = WAIT_LOCK_HELP) -> Any:
    return typer.Option(False, "--wait-lock", help=help)


def scheduled(help: str) -> Any:
    return typer.Option(False, "--scheduled", help=help)


def cluster(help: str) -> Any:
    return typer.Option(False, "--cluster", help=help)


def profile(help: str) -> Any:
    return typer.Option(None, "--profile", help=help)


def sql_dir(help: str) -> Any:
    return typer.Option(None, "--sql-dir", help=help)


def force(help: str) -> Any:
    return typer.Option(False, "--force", help=help)


def into(help: str) -> Any:
    return typer.Option(None, "--into", help=help)


def env_file(help: str) -> Any:
    return typer.Option(None, "--env-file", help=help)


def kubeconfig_file(help: str) -> Any:
    """`cluster start|credentials --file`: the kubeconfig fresh credentials are merged into."""
    return typer.Option(None, "--file", help=help)


def store(help: str = STORE_HELP) -> Any:
    return typer.Option(None, "--store", help=help)


def subscription(help: str = SUBSCRIPTION_HELP) -> Any:
    return typer.Option(None, "--subscription", help=help)


def resource_group(help: str = RESOURCE_GROUP_HELP) -> Any:
    return typer.Option(None, "--resource-group", "-g", help=help)


def cluster_name(help: str = CLUSTER_NAME_HELP) -> Any:
    return typer.Option(None, "--cluster-name", help=help)


# ---- a set of options several commands take, declared once -----------------------------------

def shared(**declared: tuple[Any, Callable[[], Any]]) -> Callable[[Callable], Callable]:
    """Give a command these options too: name -> (annotation, factory of its typer.Option). The
    command declares only its own parameters and receives the shared ones as keyword arguments
    (`**shared`), so commands that take the same set (up and down, env delete and gc) list it
    once. Typer reads the command's signature: the shared options go in after the context and
    the arguments, before the command's own options (that is their order in --help)."""

    def decorate(fn: Callable) -> Callable:
        own = inspect.signature(fn, eval_str=True)
        params = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        taken = {p.name for p in params} & set(declared)
        if taken:
            raise TypeError(f"{fn.__name__} declares {', '.join(sorted(taken))} itself and as shared")
        lead = 0
        while lead < len(params) and (params[lead].annotation is typer.Context or isinstance(params[lead].default, typer.models.ArgumentInfo)):
            lead += 1
        added = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=factory(), annotation=annotation)
                 for name, (annotation, factory) in declared.items()]

        @functools.wraps(fn)
        def command(*args, **kwargs):
            return fn(*args, **kwargs)

        command.__signature__ = own.replace(parameters=params[:lead] + added + params[lead:])  # type: ignore[attr-defined]
        command.__annotations__ = {**{p.name: p.annotation for p in params}, **{n: a for n, (a, _) in declared.items()},
                                   "return": own.return_annotation}
        return command

    return decorate


# ---- the root's global options (hoisted in front of the verb by app.GlobalFirstGroup) --------

def kubeconfig() -> Any:
    return typer.Option(None, "--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file.")


def context() -> Any:
    return typer.Option(None, "--context", help="Kubeconfig context to use.")


def namespace() -> Any:
    return typer.Option(None, "-n", "--namespace", help=f"Namespace of the environment (default from config: {DEFAULT_NAMESPACE}).")


def config() -> Any:
    return typer.Option(None, "--config", help="Config file (TOML; default ./tripgenctl.toml, then ~/.config/tripgenctl/config.toml).")


def env() -> Any:
    return typer.Option(None, "--env", help="A named environment of the config (its environments.NAME table): its context, namespace, profile and guard.")


def output() -> Any:
    return typer.Option("table", "-o", "--output", help="Output format: table, json or yaml (doctor also: junit).")


def verbose() -> Any:
    return typer.Option(0, "-v", "--verbose", count=True, help="More detail (never secret values).")


def version(callback: Callable[[bool], None]) -> Any:
    return typer.Option(False, "--version", callback=callback, is_eager=True, help="Show the version and exit.")
