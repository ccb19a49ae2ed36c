"""Input checked before any call: a value that would be wrong in a request path, overflow a
clock, pick an output a command cannot write, or read a directory as a file is refused here
with one `error:` line and exit 2, before the cluster (or Azure) is asked anything.

Why here and not in ops: ops receive values already known to be well formed, and a bad value
fails the same way in every command (e.g. `-n 'a/../b'` would otherwise reach REST paths and
act on namespace b while the output names the other one)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from tripgenctl.errors import UsageError

# RFC 1123 label, as Kubernetes validates namespace names (and this tool's workload names)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL_MAX = 63

OUTPUTS = ("table", "json", "yaml")
# command path -> the -o values it writes, where they differ from OUTPUTS
OUTPUTS_BY_COMMAND = {"doctor": OUTPUTS + ("junit",)}

MAX_WAKE = timedelta(days=30)
MAX_SECONDS = 7 * 24 * 3600.0  # a --timeout beyond a week is a typo, and inf/nan break clocks
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def dns_label(value: str, what: str = "namespace") -> str:
    """`value` if it is a DNS-1123 label, else a UsageError saying what a name may hold."""
    if not isinstance(value, str) or len(value) > DNS_LABEL_MAX or not DNS_LABEL.match(value):
        raise UsageError(f"{what} {_shown(value)!r} is not a valid name: at most {DNS_LABEL_MAX} lowercase letters, digits "
                         "or '-', starting and ending with a letter or digit")
    return value


def workload_ref(value: str, what: str = "workload") -> str:
    """`name` or `kind/name` (as --exclude takes them); the name a DNS-1123 label."""
    kind, sep, name = value.partition("/")
    if sep:
        if not re.match(r"^[A-Za-z]+$", kind):
            raise UsageError(f"{what} {_shown(value)!r}: expected NAME or KIND/NAME (e.g. deployment/user-service)")
        dns_label(name, what)
    else:
        dns_label(value, what)
    return value


def outputs_for(command: str | None) -> tuple[str, ...]:
    return OUTPUTS_BY_COMMAND.get(command or "", OUTPUTS)


def output(value: str, command: str | None) -> str:
    """-o checked against what `command` (e.g. "status", "db list") can write."""
    allowed = outputs_for(command)
    if value not in allowed:
        where = f" of `{command}`" if command else ""
        choices = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
        raise UsageError(f"-o {_shown(value)!r} is not an output{where}: choose {choices}")
    return value


def duration(text: str, option: str = "--for", maximum: timedelta | None = MAX_WAKE) -> timedelta:
    """'3h', '90m', '1h30m', '2d', '45s' -> a timedelta, bounded by `maximum` and safe against
    overflow: the total is compared with the bound in plain integers before any timedelta or
    datetime exists (`99999999h` is refused, not an OverflowError), and absurdly long digit runs
    are refused before int() (which rejects more than 4300 digits with a ValueError)."""
    raw = text.strip().lower()
    parts = re.findall(r"(\d+)([dhms])", raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise UsageError(f"{option} {_shown(text)!r}: cannot read the duration (examples: 3h, 90m, 1h30m)")
    limit = maximum.total_seconds() if maximum is not None else MAX_SECONDS * 52
    total = 0
    for number, unit in parts:
        if len(number.lstrip("0")) > 12:  # far beyond any limit, however many digits
            total = limit + 1
            break
        total += int(number) * UNITS[unit]
    if total <= 0:
        raise UsageError(f"{option} {_shown(text)!r}: the duration must be more than 0")
    if total > limit:
        raise UsageError(f"{option} {_shown(text)!r} is longer than the limit of {_human(limit)}")
    return timedelta(seconds=total)


def seconds(value: float, option: str = "--timeout", maximum: float = MAX_SECONDS) -> float:
    """A number of seconds: finite, at least 0, at most `maximum`."""
    if value != value or value < 0 or value > maximum:  # value != value: NaN
        raise UsageError(f"{option} {value!r}: expected seconds from 0 to {maximum:g}")
    return value


def file_path(path: Path | str | None, what: str = "FILE") -> Path | None:
    """A path where a file is expected: a directory is refused (a missing file is the
    command's to report, with its own wording)."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what} {path} is a directory, not a file")
    return p


def _shown(value) -> str:
    """A value as quoted in an error line: long ones cut, so the line stays one readable line."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _human(total: float) -> str:
    days, rest = divmod(int(total), 86400)
    if days and not rest:
        return f"{days} days"
    hours, rest = divmod(int(total), 3600)
    if hours and not rest:
        return f"{hours} h"
    return f"{int(total)} s"
