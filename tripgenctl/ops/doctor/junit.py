"""JUnit XML for CI: one testcase per check; critical findings are failures, warnings are
reported in system-out (and as failures with --fail-on warning); a check that could not run is
an <error> (JUnit's "the test could not execute"), or <skipped> with --allow-skipped."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from tripgenctl.ops.doctor.model import DoctorReport


def to_junit(report: DoctorReport, fail_on: str = "critical", allow_skipped: bool = False) -> str:
    suite = ET.Element("testsuite", name="tripgenctl doctor", tests=str(len(report.checks_run)))
    failures = errors = skipped = 0
    for check in report.checks_run:
        case = ET.SubElement(suite, "testcase", classname=f"doctor.{report.namespace}", name=check)
        found = [f for f in report.findings if f.check == check and f.severity != "ok"]
        if check in report.could_not_run:
            why = next((f.title for f in found), "check could not run")
            if allow_skipped:
                skipped += 1
                ET.SubElement(case, "skipped", message=why[:1000])
            else:
                errors += 1
                ET.SubElement(case, "error", message=why[:1000], type="could-not-run").text = "\n".join(f"{f.title}\nevidence: {f.evidence}" for f in found)
        failing = [f for f in found if (f.severity == "critical" or (fail_on == "warning" and f.severity == "warning"))
                   and not (check in report.could_not_run and f.title.startswith("check could not run"))]
        if failing:
            failures += 1
            fail = ET.SubElement(case, "failure", message="; ".join(f"{f.object}: {f.title}" for f in failing)[:1000], type=failing[0].severity)
            fail.text = "\n".join(f"{f.object}: {f.title}\nevidence: {f.evidence}\nfix: {f.fix}\ntry: {f.command}" for f in failing)
        if found:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"[{f.severity}] {f.object}: {f.title} | {f.evidence}" for f in found)
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    if skipped:
        suite.set("skipped", str(skipped))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
