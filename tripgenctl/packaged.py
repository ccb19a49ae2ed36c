"""Where the files tripgenctl ships live: the Kubernetes manifests and the SQL. An installed wheel
carries them as package data (`tripgenctl/_data/`, copied from the repository's top-level
manifests/ and sql/ when the wheel is built, so those folders stay the one source); an editable
install or a plain checkout reads the top-level folders themselves. An environment variable
still wins, for a team that keeps its own copy."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

MANIFESTS_ENV = "TRIPGENCTL_MANIFESTS"
SQL_ENV = "TRIPGENCTL_SQL"


def _data_dir(name: str, env_var: str) -> Path:
    override = os.environ.get(env_var)
    if override:
        return Path(override)
    packaged = Path(str(files("tripgenctl") / "_data" / name))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def manifests_dir() -> Path:
    return _data_dir("manifests", MANIFESTS_ENV)


def sql_dir() -> Path:
    return _data_dir("sql", SQL_ENV)
