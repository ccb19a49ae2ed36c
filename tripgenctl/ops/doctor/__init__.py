"""`tripgenctl doctor`: the SPEC's troubleshooting table and alert thresholds as checks over one
snapshot of the namespace (a constant number of list calls), plus a few live probes (database
query, Redis PING, app health) run concurrently."""

from tripgenctl.ops.doctor.model import DoctorReport, Finding  # noqa: F401
from tripgenctl.ops.doctor.runner import CHECKS, run_doctor  # noqa: F401
