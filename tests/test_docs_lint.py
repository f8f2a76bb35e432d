"""Markdown lint (pymarkdownlnt) and a spelling check (codespell) over the site's Markdown.

Configuration lives in pyproject.toml (``[tool.pymarkdown]``, ``[tool.codespell]``); the
project word list is ``docs/.wordlist.txt`` (one word per line).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["docs", "README.md", "CONTRIBUTING.md"]


def _existing() -> list[str]:
    return [t for t in TARGETS if (ROOT / t).exists()]


def test_markdown_lint() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pymarkdown", "--config", "pyproject.toml", "scan", "-r", *_existing()],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_spelling() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codespell_lib", *_existing()], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, "codespell found misspellings (add real words to docs/.wordlist.txt):\n" + proc.stdout


def test_linter_is_live(tmp_path: Path) -> None:
    """The lint catches a real problem, so a green run means something."""
    bad = tmp_path / "bad.md"
    bad.write_text("# Title\n\n\n\nSome text with teh typo.\n#Not a heading\n")
    lint = subprocess.run(
        [sys.executable, "-m", "pymarkdown", "--config", str(ROOT / "pyproject.toml"), "scan", str(bad)],
        capture_output=True,
        text=True,
    )
    spell = subprocess.run([sys.executable, "-m", "codespell_lib", str(bad)], capture_output=True, text=True)
    assert lint.returncode != 0 and spell.returncode != 0
