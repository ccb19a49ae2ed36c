"""YAML written so that every reader sees the same values: kubectl (Go, YAML 1.1 rules: `y`, `n`,
`on` are booleans, `0o17` and `1_000` integers, `1e3` a float) as well as PyYAML. A string that any
of them would read as something else is quoted on output; on input, kubeconfig values stay the
strings they are (no date conversion that would change their text when written back).

A leaf module (PyYAML only): `-o yaml` (presentation/render.py) and the kubeconfig writer (ops/cluster.py)
use it."""

from __future__ import annotations

import re
from typing import Any

import yaml

BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
TIMESTAMP = "tag:yaml.org,2002:timestamp"

# What Go's YAML decoders resolve that PyYAML's safe resolver does not. Resolving them here makes
# the emitter refuse the plain style for such strings, so they come out quoted.
EXTRA_RESOLVERS = [
    (BOOL, re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")),
    (INT, re.compile(r"^[-+]?(?:0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)$"), list("-+0123456789")),
    (FLOAT, re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"), list("-+.0123456789")),
]


class QuotingDumper(yaml.SafeDumper):
    """SafeDumper that quotes every string another YAML reader would not read as a string."""


for _tag, _regexp, _first in EXTRA_RESOLVERS:
    QuotingDumper.add_implicit_resolver(_tag, _regexp, _first)


class StringLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp rule: `2026-01-01T00:00:00Z` stays that string."""


StringLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=QuotingDumper, default_flow_style=False, sort_keys=False, allow_unicode=True)


def load(text: str | bytes) -> Any:
    return yaml.load(text, Loader=StringLoader)  # noqa: S506 - StringLoader is a SafeLoader
