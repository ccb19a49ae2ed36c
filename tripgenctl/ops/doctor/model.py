"""What doctor reports. The JSON output is `DoctorReport` as documented in docs/doctor.md."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("ok", "warning", "critical")


@dataclass
class Finding:
    check: str  # which check produced it (pending, image, crashloop, ...)
    severity: str  # ok | warning | critical
    object: str  # kind/name, e.g. pod/user-service-7d9f-abcde
    title: str  # one line: what is wrong
    evidence: str = ""  # the event message, the log tail, the number
    cause: str = ""  # the SPEC's cause
    fix: str = ""  # the SPEC's fix
    prevention: str = ""  # the SPEC's prevention
    command: str = ""  # what to run next

    __table__ = ("severity", "check", "object", "title", "command")


@dataclass
class DoctorReport:
    context: str
    namespace: str
    healthy: bool
    critical: int
    warnings: int
    checks_run: list[str]
    findings: list[Finding] = field(default_factory=list)
    api_calls: int = 0
    could_not_run: list[str] = field(default_factory=list)  # checks that could not run: unknown is not healthy

    def exit_code(self, fail_on: str = "critical", allow_skipped: bool = False) -> int:
        """1 for a critical finding, a check that could not run (unless allow_skipped: its
        question is unanswered, so "healthy" would be a guess), or a warning with fail_on warning."""
        if self.critical:
            return 1
        if self.could_not_run and not allow_skipped:
            return 1
        if fail_on == "warning" and self.warnings:
            return 1
        return 0
