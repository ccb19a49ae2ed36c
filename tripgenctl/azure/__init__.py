"""The Azure door: the ONLY package that imports azure SDKs, and only inside functions, so
`tripgenctl --help` and every non-Azure command never pay for them.

- `errors`:     SDK exceptions -> one-line ToolErrors (login hint, not found, in progress ...)
- `aks`:        managed cluster get / stop / start (ARM long-running operations) / user kubeconfig
- `servicebus`: queue properties and runtime counts through the administration client

Endpoints: ARM defaults to Azure's public cloud; TRIPGENCTL_ARM_ENDPOINT overrides it (the local
fakes). TLS trust follows requests/azure-core (REQUESTS_CA_BUNDLE). Credentials are
DefaultAzureCredential (az login, environment, managed / workload identity)."""
