"""The sample-data checks of sql/checks.sql, run over any psycopg connection: the CLI uses a
port-forward to postgresql-0, the tests a local PostgreSQL. Each block runs in its own
transaction, so one broken block (a missing table) fails that check and not the whole report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tripgenctl.errors import UsageError
from tripgenctl.packaged import sql_dir  # noqa: F401  (re-exported)

CHECKS_FILE = "checks.sql"




@dataclass
class Check:
    group: str
    query: str


@dataclass
class CheckResult:
    check: str
    expected: str
    found: str
    result: str  # pass | FAIL
    group: str = ""

    __table__ = ("check", "expected", "found", "result")

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
    checks: list[CheckResult] = field(default_factory=list)

    __sections__ = ("checks",)


def parse_checks(text: str) -> list[Check]:
    """Blocks of checks.sql: each starts with a `-- check: <group>` line; other comment lines
    at the start of a line are dropped, the rest is the block's one query."""
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("-- check:"):
            blocks.append((line.split(":", 1)[1].strip(), []))
        elif blocks and not line.startswith("--"):
            blocks[-1][1].append(line)
    out = []
    for name, body in blocks:
        query = "\n".join(body).strip().rstrip(";").strip()
        if query:
            out.append(Check(name, query))
    return out


def load_checks(path: Path | None = None) -> list[Check]:
    path = path or sql_dir() / CHECKS_FILE
    if not path.exists():
        raise UsageError(f"validation queries not found at {path} (set TRIPGENCTL_SQL to the sql/ directory)")
    checks = parse_checks(path.read_text())
    if not checks:
        raise UsageError(f"{path} has no `-- check:` blocks")
    return checks


def run_checks(conn, checks: list[Check] | None = None) -> list[CheckResult]:
    """Every check's rows; a block whose query fails becomes one failing row carrying the
    server's first error line (e.g. a missing table)."""
    import psycopg

    results: list[CheckResult] = []
    for check in checks if checks is not None else load_checks():
        try:
            with conn.transaction():
                with conn.cursor() as cur:
                    cur.execute(check.query)
                    rows = cur.fetchall()
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            results.append(CheckResult(check.group, "query runs", f"error: {first}", "FAIL", check.group))
            continue
        for row in rows:
            name, expected, found = (None if v is None else str(v) for v in row[:3])
            results.append(CheckResult(name or check.group, expected or "", found if found is not None else "NULL",
                                       "pass" if found == expected else "FAIL", check.group))
    return results


def report(results: list[CheckResult], database: str, target: str = "") -> ValidationReport:
    failed = [r for r in results if not r.ok]
    if failed:
        message = f"{len(failed)} of {len(results)} checks failed: " + "; ".join(f"{r.check}: expected {r.expected}, found {r.found}" for r in failed)
    else:
        message = f"all {len(results)} checks passed"
    return ValidationReport(database=database, ok=not failed, passed=len(results) - len(failed), failed=len(failed),
                            message=message, target=target, checks=results)


def validate_connection(conn, database: str = "", target: str = "") -> ValidationReport:
    return report(run_checks(conn), database or conn.info.dbname, target)
