"""The sandbox: a local Kubernetes API server with controllers and a kubelet that runs real
processes. Only `tripgenctl sandbox ...` commands and the tests import it."""
