"""JUnit XML for CI: one testcase per check; critical findings are failures, warnings are
reported in system-out (and as failures with --fail-on warning)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from tripgenctl.ops.doctor.model import DoctorReport


def to_junit(report: DoctorReport, fail_on: str = "critical") -> str:
    suite = ET.Element("testsuite", name="tripgenctl doctor", tests=str(len(report.checks_run)))
    failures = 0
    for check in report.checks_run:
        case = ET.SubElement(suite, "testcase", classname=f"doctor.{report.namespace}", name=check)
        found = [f for f in report.findings if f.check == check and f.severity != "ok"]
        failing = [f for f in found if f.severity == "critical" or (fail_on == "warning" and f.severity == "warning")]
        if failing:
            failures += 1
            fail = ET.SubElement(case, "failure", message="; ".join(f"{f.object}: {f.title}" for f in failing)[:1000], type=failing[0].severity)
            fail.text = "\n".join(f"{f.object}: {f.title}\nevidence: {f.evidence}\nfix: {f.fix}\ntry: {f.command}" for f in failing)
        if found:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"[{f.severity}] {f.object}: {f.title} | {f.evidence}" for f in found)
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
