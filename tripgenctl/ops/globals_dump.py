"""Roles and other cluster-wide objects (`pg_dumpall --globals-only`): a database dump holds no
roles, so a server rebuilt from dumps alone has no login for the apps. Each backup keeps them
in `<file>.globals` (0600: it carries the roles' password verifiers), its sha256 in the backup's
metadata. Restoring them (`db restore --globals`) creates the roles that are missing and leaves
existing ones exactly as they are: replaying an old backup's `ALTER ROLE ... PASSWORD` would put
back a password the Secrets no longer hold (after `secrets rotate`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from tripgenctl.errors import ToolError
from tripgenctl.kube import execstream
from tripgenctl.ops import postgres

SUFFIX = ".globals"
DUMP = 'pg_dumpall --globals-only --no-password -U "$U"'
_ROLE_LINE = re.compile(r'^(?:CREATE|ALTER) ROLE ("(?:[^"]|"")+"|[^\s;]+)[\s;]')


def path_for(backup: Path) -> Path:
    return backup.with_name(backup.name + SUFFIX)


def dump(kube) -> bytes:
    limits = postgres.limits(kube)
    r = execstream.run(kube, postgres.pod_name(kube), ["sh", "-c", postgres.ENV_PRELUDE + DUMP], timeout=limits.exec,
                       what=f"pg_dumpall --globals-only in pod {postgres.pod_name(kube)}")
    if r.exit_code != 0:
        raise ToolError(f"backup failed: pg_dumpall --globals-only exited {r.exit_code}: {postgres.error_summary(r.stderr_text())}")
    return r.stdout


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _name(token: str) -> str:
    return token[1:-1].replace('""', '"') if token.startswith('"') else token


@dataclass
class GlobalsResult:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # existed already: left untouched

    def text(self) -> str:
        return (f"roles created: {', '.join(self.created) or 'none'}; "
                f"existing roles left as they are: {', '.join(self.kept) or 'none'}")


def apply(kube, path: Path, expected_sha256: str | None) -> GlobalsResult:
    data = path.read_bytes()
    if expected_sha256 and sha256(data) != expected_sha256:
        raise ToolError(f"refusing {path.name}: its sha256 does not match the backup's metadata; nothing was restored")
    existing = {row[0] for row in postgres.psql(kube, "SELECT rolname FROM pg_roles", "postgres")}
    result = GlobalsResult()
    lines = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        m = _ROLE_LINE.match(line)
        if m:
            role = _name(m.group(1))
            if role in existing:
                if role not in result.kept:
                    result.kept.append(role)
                continue
            if line.startswith("CREATE ROLE"):
                result.created.append(role)
        lines.append(line)
    script = ("\n".join(lines) + "\n").encode()
    limits = postgres.limits(kube)
    r = execstream.run(kube, postgres.pod_name(kube), ["sh", "-c", postgres.ENV_PRELUDE + 'psql -X -q -v ON_ERROR_STOP=1 -U "$U" -d postgres -f -'],
                       stdin=script, timeout=limits.exec, what=f"restore of roles in pod {postgres.pod_name(kube)}")
    if r.exit_code != 0:
        raise ToolError(f"restoring the roles of {path.name} failed (nothing restored): {postgres.error_summary(r.stderr_text(), path.name)}")
    return result
