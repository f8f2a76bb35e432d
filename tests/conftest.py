"""Shared test set-up.

The package under test is the one in this checkout's ``plugins/`` (not whatever is
installed), so worktrees and fresh clones test their own code.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "tests"))

IN_CI = bool(os.environ.get("CI"))


def require_tool(name: str) -> str:
    """Return the path of an external tool, or skip (locally) / fail (in CI) without it.

    ``.ci/run`` installs every tool the tests use, so in CI a missing tool is a defect.
    """
    path = shutil.which(name)
    if path:
        return path
    if IN_CI:
        pytest.fail(f"{name} is not installed; .ci/run should install it")
    pytest.skip(f"{name} is not installed (run .ci/run, or apt-get install it)")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("IMAGEFS_CACHE_DIR", str(Path(config.rootpath) / ".pytest_cache" / "imagefs-cache"))


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for running ``python -m imagefs`` from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "plugins"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env
