"""A wrong type for any key of any config section is one line naming the key, exit 2, before any
command runs (issue 15: `[backup] dir = 5` used to end in `unexpected TypeError`, and
`[thresholds] restarts = "many"` let doctor report healthy)."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from tests.helpers import invoke
from tripgenctl import config

WRONG = {str: 5, int: "many", float: "many", bool: "yes", list: "x", dict: 5}


def _wrong_value(hint):
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    return WRONG[origin or hint]


def _toml(value) -> str:
    return config.dumps({"v": value}).split("=", 1)[1].strip()


def cases():
    for name, cls in [(None, config.ToolConfig), *config.SECTIONS.items(), ("environments.dev", config.Environment)]:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if (f.name in ("source", "environment") and cls is config.ToolConfig) or (cls is config.ToolConfig and f.name in config.SECTIONS):
                continue
            yield pytest.param(name, f.name, _wrong_value(hints[f.name]), id=f"{name or 'top'}.{f.name}")


@pytest.mark.parametrize("section,key,value", list(cases()))
def test_wrong_type_is_one_line_naming_the_key(section, key, value, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text((f"[{section}]\n" if section else "") + f"{key} = {_toml(value)}\n")
    result = invoke("--config", str(path), "-n", "x", "status")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and key in lines[0] and "must be" in lines[0], lines
    assert "unexpected" not in result.output and "Traceback" not in result.output


def test_right_types_still_load(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('namespace = "ns"\n[thresholds]\nrestarts = 3\nmemory_percent = 80\n[backup]\ndir = "b"\n'
                    '[schedule]\nholidays = ["2026-12-25"]\nnotify_url = "https://x"\n')
    cfg = config.load(str(path))
    assert cfg.thresholds.restarts == 3 and cfg.thresholds.memory_percent == 80.0 and cfg.backup.dir == "b"


def test_help_works_whatever_the_config_says(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[thresholds]\nrestarts = \"many\"\n")
    result = invoke("--config", str(path), "doctor", "--help")
    assert result.exit_code == 0 and "Usage" in result.output
