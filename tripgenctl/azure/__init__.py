"""The Azure door: the ONLY package that imports azure SDKs, and only inside functions, so
`tripgenctl --help` and every non-Azure command never pay for them.

- `errors`:     SDK exceptions -> one-line ToolErrors (login hint, not found, in progress ...)
- `aks`:        managed cluster get / stop / start (ARM long-running operations) / user kubeconfig
- `servicebus`: queue properties and runtime counts through the administration client

Endpoints: ARM defaults to Azure's public cloud; TRIPGENCTL_ARM_ENDPOINT overrides it (the local
fakes). TLS trust follows requests/azure-core (REQUESTS_CA_BUNDLE). Credentials are
DefaultAzureCredential (az login, environment, managed / workload identity)."""

from __future__ import annotations

# How much of the SDKs' own logging reaches the terminal: 0 (default) none, our one error line
# says what to do; 1 (-v) their warnings (e.g. DefaultAzureCredential's list of what it tried);
# 2+ (-vv) their info lines. Never debug: that level may carry request details. (No `logging`
# import at module level: the root command sets this on every run, --help included.)
_verbosity = 0


def set_verbosity(level: int) -> None:
    """Called by the root command with the -v count, before any Azure call."""
    global _verbosity
    _verbosity = max(0, int(level or 0))


def quiet_sdk_logging() -> None:
    """Keep the azure SDKs' log records off the terminal unless -v asked for them: without a
    handler of ours they reach logging's last-resort handler, which prints every WARNING (the
    15-line credential-chain dump before our one line)."""
    import logging
    import sys

    class CurrentStderr(logging.StreamHandler):
        """Writes to whatever sys.stderr is when a record is emitted (test runners swap it)."""

        def emit(self, record):
            self.stream = sys.stderr
            super().emit(record)

    logger = logging.getLogger("azure")
    for old in list(logger.handlers):
        if getattr(old, "_tripgenctl", False):
            logger.removeHandler(old)
    logger.propagate = False
    if _verbosity <= 0:
        handler: logging.Handler = logging.NullHandler()
        logger.setLevel(logging.CRITICAL + 1)
    else:
        handler = CurrentStderr(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.setLevel(logging.WARNING if _verbosity == 1 else logging.INFO)
    handler._tripgenctl = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
