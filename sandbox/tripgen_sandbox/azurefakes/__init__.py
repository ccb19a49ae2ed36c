"""Local stand-ins for the Azure endpoints tripgenctl talks to, faithful at the HTTP level so the
real SDKs run unpatched against them: ARM managedClusters (with ARM-style long-running
operations), the Service Bus management (ATOM) API with SAS validation, and an App Service
style managed-identity token endpoint for azure-identity.

`FakeAzure` (server.py) runs them in a background thread for tests; `python -m
tripgen_sandbox.azurefakes` runs them as a process for the sandbox and the demo."""

from tripgen_sandbox.azurefakes.server import FakeAzure, FakeAzureConfig

__all__ = ["FakeAzure", "FakeAzureConfig"]
