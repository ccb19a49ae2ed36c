"""The data checks of sql/checks.sql, run over any psycopg connection: the CLI uses a
port-forward to postgresql-0, the tests a local PostgreSQL. Each block runs in its own
transaction, so one broken block (a missing table) fails that check and not the whole report.

Two kinds of check, because a development database is used: integrity (`-- check:` blocks:
tables, foreign keys, orphans, ranges, coordinates) is always checked exactly; sample
expectations (`-- sample:` blocks: counts, the named users and their trips) by default only
ask for at least what the sample loaded, so a user added by hand passes, and with
expect_sample (`data validate --expect-sample`, and the data-validation Job) exactly that."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tripgenctl.errors import UsageError
from tripgenctl.packaged import sql_dir  # noqa: F401  (re-exported)

CHECKS_FILE = "checks.sql"
INTEGRITY, SAMPLE = "integrity", "sample"
MARKERS = {"-- check:": INTEGRITY, "-- sample:": SAMPLE}


@dataclass
class Check:
    group: str
    query: str
    kind: str = INTEGRITY  # integrity: (check, expected, found); sample: + (minimum, minimum_met)


@dataclass
class CheckResult:
    check: str
    expected: str
    found: str
    result: str  # pass | FAIL
    group: str = ""
    kind: str = INTEGRITY  # integrity | sample

    __table__ = ("kind", "check", "expected", "found", "result")

    @property
    def ok(self) -> bool:
        return self.result == "pass"


@dataclass
class ValidationReport:
    database: str
    ok: bool
    passed: int
    failed: int
    message: str
    target: str = ""
    sample: str = "at least"  # how sample expectations were checked: "at least" | "exact" (--expect-sample)
    checks: list[CheckResult] = field(default_factory=list)

    __sections__ = ("checks",)


def parse_checks(text: str) -> list[Check]:
    """Blocks of checks.sql: each starts with a `-- check: <group>` (integrity) or `-- sample:
    <group>` line; other comment lines at the start of a line are dropped, the rest is the
    block's one query."""
    blocks: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        marker = next((m for m in MARKERS if line.startswith(m)), None)
        if marker:
            blocks.append((line[len(marker):].strip(), MARKERS[marker], []))
        elif blocks and not line.startswith("--"):
            blocks[-1][2].append(line)
    out = []
    for name, kind, body in blocks:
        query = "\n".join(body).strip().rstrip(";").strip()
        if query:
            out.append(Check(name, query, kind))
    return out


def load_checks(path: Path | None = None) -> list[Check]:
    path = path or sql_dir() / CHECKS_FILE
    if not path.exists():
        raise UsageError(f"validation queries not found at {path} (set TRIPGENCTL_SQL to the sql/ directory)")
    checks = parse_checks(path.read_text())
    if not checks:
        raise UsageError(f"{path} has no `-- check:` blocks")
    return checks


def run_checks(session, checks: list[Check] | None = None, expect_sample: bool = False) -> list[CheckResult]:
    """Every check's rows; a block whose query fails becomes one failing row carrying the
    server's first error line (e.g. a missing table). A sample row passes when it meets its
    minimum, or with expect_sample when found = expected."""
    from tripgenctl import pg

    results: list[CheckResult] = []
    for check in checks if checks is not None else load_checks():
        try:
            rows = session.rows(check.query)
        except pg.QueryFailed as exc:
            results.append(CheckResult(check.group, "query runs", f"error: {exc.message}", "FAIL", check.group, check.kind))
            continue
        for row in rows:
            name, expected, found = (None if v is None else str(v) for v in row[:3])
            ok = found == expected
            if check.kind == SAMPLE and not expect_sample:
                if len(row) < 5:
                    raise UsageError(f"{CHECKS_FILE}: sample block {check.group!r} must return (check, expected, found, minimum, minimum_met)")
                expected, ok = (None if row[3] is None else str(row[3])), row[4] is True
            results.append(CheckResult(name or check.group, expected or "", found if found is not None else "NULL",
                                       "pass" if ok else "FAIL", check.group, check.kind))
    return results


def report(results: list[CheckResult], database: str, target: str = "", expect_sample: bool = False) -> ValidationReport:
    failed = [r for r in results if not r.ok]
    if failed:
        message = f"{len(failed)} of {len(results)} checks failed: " + "; ".join(f"{r.check}: expected {r.expected}, found {r.found}" for r in failed)
    else:
        message = f"all {len(results)} checks passed"
    return ValidationReport(database=database, ok=not failed, passed=len(results) - len(failed), failed=len(failed),
                            message=message, target=target, sample="exact" if expect_sample else "at least", checks=results)


def validate_session(session, database: str = "", target: str = "", expect_sample: bool = False) -> ValidationReport:
    return report(run_checks(session, expect_sample=expect_sample), database or session.database, target, expect_sample)


def validate_connection(conn, database: str = "", target: str = "", expect_sample: bool = False) -> ValidationReport:
    """validate_session() over a connection made elsewhere (a local PostgreSQL in the tests)."""
    from tripgenctl import pg

    return validate_session(pg.wrap(conn), database, target, expect_sample)
